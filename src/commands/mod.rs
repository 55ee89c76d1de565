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
mod migrate_store;
pub mod preview;
pub mod queue;
pub mod release;
pub mod run;
pub mod status;

use crate::cli::Command;
use crate::config::{ConfigError, Settings, chosen_path, resolve_path};
use anyhow::Result;
use std::io::Write;
use std::process::ExitCode;

/// A mistake in what the command was asked (an account or feed the config does not
/// have): exit 2, like a config error, rather than 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit code of a command's error: 2 for a [`UsageError`], 1 for the rest.
pub fn exit_code_of(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    }
}

/// The settings `command` runs with: the config file's, or the built-in defaults when
/// there is no file where none was named and the command needs no account
/// ([`Command::works_without_config`]), with a note on stderr saying so.
pub fn load_settings(
    cli_path: Option<&std::path::Path>,
    command: &Command,
) -> Result<Settings, ConfigError> {
    let path = resolve_path(cli_path);
    match Settings::load(&path) {
        Err(ConfigError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound
                && chosen_path(cli_path).is_none()
                && command.works_without_config() =>
        {
            let _ = writeln!(
                std::io::stderr(),
                "note: no config file ({}); using the built-in defaults",
                path.display()
            );
            Settings::builtin()
        }
        other => other,
    }
}

/// Run one command; the `Ok` value is the process exit code.
pub async fn dispatch(settings: &Settings, command: Command) -> Result<ExitCode> {
    let mut stdout = std::io::stdout();
    if command.reports_config_warnings() {
        let mut stderr = std::io::stderr();
        for warning in settings.warnings() {
            // A closed stderr loses the warning, never the command.
            let _ = writeln!(stderr, "warning: {warning}");
        }
    }
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
        Command::MigrateStore(args) => {
            migrate_store::migrate_store(settings, &args, &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The store for a command that is not `run`: the file, opened (and created and migrated
/// if missing) without the daemon lock.
pub(crate) async fn open_store(settings: &Settings) -> Result<crate::store::Store> {
    use anyhow::Context;
    crate::store::Store::open_with(&settings.store_url, settings.store_options())
        .await
        .with_context(|| {
            format!(
                "store.url = {:?}",
                crate::feed::redact::redact_url(&settings.store_url)
            )
        })
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

/// Unix seconds as RFC 3339 with the zone (`2026-07-01T10:00:00+02:00`, 25 characters),
/// or `-`.
pub(crate) fn format_time(unix: Option<i64>) -> String {
    unix.map_or_else(|| "-".to_string(), crate::human::timestamp)
}
