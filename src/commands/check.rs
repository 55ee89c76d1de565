//! `check`: the config resolved, secrets redacted. The printing is the config's own
//! (`Settings::render_redacted`); this only adds the closing line.

use crate::config::Settings;
use anyhow::Result;
use std::io::Write;

pub fn check(settings: &Settings, out: &mut dyn Write) -> Result<()> {
    write!(out, "{}", settings.render_redacted())?;
    writeln!(
        out,
        "# ok: {} account(s), {} feed(s)",
        settings.accounts.len(),
        settings.feeds.len()
    )?;
    Ok(())
}
