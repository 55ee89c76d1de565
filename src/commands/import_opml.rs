//! `import-opml FILE --account NAME`: print `[[feeds]]` blocks; the work is `crate::opml`.

use crate::cli::ImportOpmlArgs;
use crate::config::Settings;
use anyhow::Result;
use std::io::Write;

pub fn import_opml(settings: &Settings, args: &ImportOpmlArgs, out: &mut dyn Write) -> Result<()> {
    let mut out = out;
    crate::opml::import(settings, &args.file, &args.account, &mut out)?;
    Ok(())
}
