//! The commands' bodies, one file each, and [`dispatch`], which runs the one the command
//! line names and turns its result into an exit code.
//!
//! Read-only commands (`status`, `queue list`, `preview`, `check`) and those that act
//! through the store (`release`, `queue approve|edit|release|retry|drop`, `auth`) never
//! take the daemon lock:
//! they work beside a running daemon. Only `run` (live) does.
//!
//! Must not: wire the daemon's components (that is `app`'s) or hold SQL.

pub mod auth;
pub mod check;
pub mod desk_password;
pub mod import_opml;
pub mod preview;
pub mod queue;
pub mod release;
pub mod run;
pub mod status;

use crate::cli::Command;
use crate::config::Settings;
use anyhow::Result;
use std::process::ExitCode;

/// Run one command; the `Ok` value is the process exit code.
pub async fn dispatch(settings: &Settings, command: Command) -> Result<ExitCode> {
    let mut stdout = std::io::stdout();
    match command {
        Command::Run(args) => run::run(settings, args).await,
        Command::Check => {
            check::check(settings, &mut stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Preview(args) => {
            preview::preview(settings, &args, &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => {
            let ok = status::status(settings, &args, &mut stdout).await?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Release(args) => {
            release::release(settings, &args, &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::DeskPassword => {
            desk_password::run(&mut stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Queue(cmd) => {
            queue::queue(settings, cmd, &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Auth(args) => {
            auth::auth(settings, args, &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportOpml(args) => {
            import_opml::import_opml(settings, &args, &mut stdout)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The store for a command that is not `run`: the file, opened (and created and migrated
/// if missing) without the daemon lock.
pub(crate) async fn open_store(settings: &Settings) -> Result<crate::store::Store> {
    use anyhow::Context;
    crate::store::Store::open(&settings.store_url)
        .await
        .with_context(|| format!("store.url = {:?}", settings.store_url))
}

/// A string cut to `n` characters with an ellipsis.
pub(crate) fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC), or `-`.
pub(crate) fn format_time(unix: Option<i64>) -> String {
    unix.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map_or("-".to_string(), |d| {
            d.format("%Y-%m-%d %H:%M:%S").to_string()
        })
}
