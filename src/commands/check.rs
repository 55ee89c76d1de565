//! `check`: the config resolved, secrets redacted. The printing is the config's own
//! (`Settings::to_redacted_toml`); this only adds the closing line.

use crate::config::Settings;
use anyhow::Result;
use std::io::Write;

pub fn check(settings: &Settings, out: &mut dyn Write) -> Result<()> {
    write!(out, "{}", settings.to_redacted_toml()?)?;
    writeln!(
        out,
        "# ok: {} account(s), {} feed(s)",
        settings.accounts.len(),
        settings.feeds.len()
    )?;
    Ok(())
}
