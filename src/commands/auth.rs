//! `auth ACCOUNT [--token-file FILE|-]`: connect a Threads account; the flow itself is
//! `crate::auth`. This file decides where an imported token comes from: a file, standard
//! input, `$FEED2THREADS_IMPORT_TOKEN`, or (warned) `--token` on the command line.
//!
//! Must not put a token into a message: errors name the file, never its content.

use super::UsageError;
use crate::auth::AuthError;
use crate::cli::AuthArgs;
use crate::config::Settings;
use anyhow::Result;
use secrecy::SecretString;
use std::io::{Read, Write};
use std::path::Path;

/// The variable a token may be imported from (the environment is private to the user,
/// unlike the command line).
const TOKEN_VAR: &str = "FEED2THREADS_IMPORT_TOKEN";
/// A token is a few hundred bytes; more is not a token file.
const MAX_TOKEN_BYTES: u64 = 64 * 1024;

pub async fn auth(settings: &Settings, args: AuthArgs, out: &mut (dyn Write + Send)) -> Result<()> {
    if settings.account(&args.account).is_none() {
        let e = AuthError::UnknownAccount(args.account.clone());
        return Err(UsageError(e.to_string()).into());
    }
    let token = imported_token(&args)?;
    // `Stdin` (not its lock) keeps this future `Send`.
    let mut input = std::io::BufReader::new(std::io::stdin());
    let mut out = out;
    crate::auth::run(settings, &args.account, token, &mut input, &mut out).await?;
    Ok(())
}

/// The token to import, if one is given; `None` runs the OAuth flow.
fn imported_token(args: &AuthArgs) -> Result<Option<SecretString>, UsageError> {
    if let Some(path) = &args.token_file {
        return read_token(path).map(Some);
    }
    if let Some(token) = &args.token {
        // A closed stderr loses the warning, never the import.
        let _ = writeln!(
            std::io::stderr(),
            "warning: --token puts the token on the command line, where every user of this \
             host can read it (ps, /proc); use --token-file FILE, or --token-file - to read it \
             from standard input"
        );
        return Ok(Some(SecretString::from(token.trim())));
    }
    Ok(std::env::var(TOKEN_VAR)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .map(SecretString::from))
}

/// The token in `path` (`-`: standard input), alone on its line.
fn read_token(path: &Path) -> Result<SecretString, UsageError> {
    let from_stdin = path == Path::new("-");
    let shown = if from_stdin {
        "standard input".to_string()
    } else {
        path.display().to_string()
    };
    let mut text = String::new();
    let read = if from_stdin {
        std::io::stdin()
            .take(MAX_TOKEN_BYTES)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_TOKEN_BYTES).read_to_string(&mut text))
    };
    read.map_err(|e| UsageError(format!("cannot read the token from {shown}: {e}")))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(UsageError(format!(
            "{shown} is empty; it should hold the long-lived access token"
        )));
    }
    if token.split_whitespace().nth(1).is_some() {
        return Err(UsageError(format!(
            "{shown} holds more than the token (several words or lines); it should hold the \
             long-lived access token alone"
        )));
    }
    Ok(SecretString::from(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_token_file_is_read_trimmed_and_checked_without_showing_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "  THQVJlonglived\n").unwrap();
        assert_eq!(read_token(&file).unwrap().expose_secret(), "THQVJlonglived");
        std::fs::write(&file, "\n").unwrap();
        let err = read_token(&file).unwrap_err().to_string();
        assert!(
            err.ends_with("is empty; it should hold the long-lived access token"),
            "{err}"
        );
        std::fs::write(&file, "{\"access_token\": \"THQVJsecret\"}\n").unwrap();
        let err = read_token(&file).unwrap_err().to_string();
        assert!(err.contains("more than the token"), "{err}");
        assert!(!err.contains("THQVJsecret"), "{err}");
        let err = read_token(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot read the token from "), "{err}");
    }
}
