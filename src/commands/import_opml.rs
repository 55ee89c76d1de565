//! `import-opml FILE --account NAME`: print `[[feeds]]` blocks; the work is `crate::opml`.

use super::UsageError;
use crate::cli::ImportOpmlArgs;
use crate::config::Settings;
use crate::opml::OpmlError;
use anyhow::Result;
use std::io::Write;

pub fn import_opml(settings: &Settings, args: &ImportOpmlArgs, out: &mut dyn Write) -> Result<()> {
    let mut out = out;
    match crate::opml::import(settings, &args.file, &args.account, &mut out) {
        Ok(_) => Ok(()),
        // `--account` names an account the config does not have: a usage error (exit 2).
        Err(e @ OpmlError::UnknownAccount(_)) => Err(UsageError(e.to_string()).into()),
        Err(e) => Err(e.into()),
    }
}
