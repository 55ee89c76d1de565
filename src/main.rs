//! The `feed2threads` binary: parse the command line, set up logging, dispatch, and map
//! errors to exit codes (0 ok, 1 runtime failure, 2 usage or config error).
//!
//! Nothing here may panic on a closed stderr (`feed2threads run 2>&1 | head -1`):
//! messages go through `say`, which drops what cannot be written.

use clap::Parser;
use feed2threads::cli::{Cli, LogFormat};
use feed2threads::{commands, logging};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(
        cli.log_format == LogFormat::Json,
        cli.log_format == LogFormat::Text,
    );
    // Needs no config: it makes a value for one.
    if matches!(cli.command, feed2threads::cli::Command::DeskPassword) {
        return match commands::desk_password::run(&mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                say(&format!("error: {e:#}"));
                ExitCode::from(1)
            }
        };
    }
    let settings = match commands::load_settings(cli.config.as_deref(), &cli.command) {
        Ok(s) => s,
        Err(e) => {
            say(&format!("config error: {e}"));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            say(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::dispatch(&settings, cli.command)) {
        Ok(code) => code,
        Err(e) => {
            say(&format!("error: {e:#}"));
            ExitCode::from(commands::exit_code_of(&e))
        }
    }
}

/// One line on stderr; nothing if stderr is closed.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
