//! `desk-password`: read a password, print its argon2 hash for `http.desk_password_hash`.
//! Needs no config (it makes a value for one).

use anyhow::{Context, Result, bail};
use std::io::{BufRead, IsTerminal, Write};

/// On a terminal the password is read twice, without echo.
pub fn run(out: &mut dyn Write) -> Result<()> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    without_echo(interactive, || desk_password(&mut input, out, interactive))
}

/// Runs `f` with the terminal's echo off (when `on` and the terminal allows it).
fn without_echo<T>(on: bool, f: impl FnOnce() -> T) -> T {
    #[cfg(unix)]
    if on {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        if let Ok(saved) = tcgetattr(&stdin) {
            let mut quiet = saved.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            let _ = tcsetattr(&stdin, OptionalActions::Now, &quiet);
            let result = f();
            let _ = tcsetattr(&stdin, OptionalActions::Now, &saved);
            return result;
        }
    }
    let _ = on;
    f()
}

/// `desk-password`: a password on standard input (not on the command line, which every
/// user of the host can read), its argon2 hash on standard output. On a terminal the
/// password is not echoed and is asked twice.
pub fn desk_password(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    interactive: bool,
) -> Result<()> {
    let read = |input: &mut dyn BufRead| -> Result<String> {
        let mut line = String::new();
        input
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    };
    if interactive {
        eprint!("desk password: ");
    }
    let password = read(input)?;
    if interactive {
        eprint!("\nagain: ");
        let again = read(input)?;
        eprintln!();
        if again != password {
            bail!("the two passwords differ; nothing was printed");
        }
    }
    if password.chars().count() < 12 {
        bail!(
            "the password is shorter than 12 characters; the desk is a door to the newsroom's account"
        );
    }
    let hash = crate::desk::password::hash(&password).map_err(anyhow::Error::msg)?;
    writeln!(out, "{hash}")?;
    if interactive {
        eprintln!(
            "put it in the config as  [http] desk_password_hash = \"{hash}\"  (or in a file named by desk_password_hash_file)"
        );
    }
    Ok(())
}
