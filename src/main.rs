//! The `feed2threads` binary: parse the command line, set up logging, dispatch, and map
//! errors to exit codes (0 ok, 1 runtime failure, 2 usage or config error).

use clap::Parser;
use feed2threads::cli::{Cli, LogFormat};
use feed2threads::config::{ConfigError, Settings, resolve_path};
use feed2threads::{app, logging};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(
        cli.log_format == LogFormat::Json,
        cli.log_format == LogFormat::Text,
    );
    // Needs no config: it makes a value for one.
    if matches!(cli.command, feed2threads::cli::Command::DeskPassword) {
        return match app::desk_password(&mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    let path = resolve_path(cli.config.as_deref());
    let settings = match Settings::load(&path) {
        Ok(s) => s,
        Err(e) => return config_error(&e),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(app::dispatch(&settings, cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("config error: {e}");
    ExitCode::from(2)
}
