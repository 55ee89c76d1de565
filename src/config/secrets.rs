//! Secrets in the config: a token or app secret given literally, through an environment
//! variable (`_env`) or a file (`_file`, where `$CREDENTIALS_DIRECTORY/` may be written
//! literally for systemd's `LoadCredential=`), read into `SecretString`.
//!
//! Must not put a secret's value into an error, a log line or printed config: printing
//! goes through [`serialize_redacted`].

use super::ConfigError;
use super::key_error;
use secrecy::{ExposeSecret, SecretString};
use serde::Serializer;
use std::path::PathBuf;

/// What `check` prints instead of a secret.
pub const REDACTED: &str = "[redacted]";

/// Where a configured secret comes from, for `check` to print instead of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Written in the file: printed as [`REDACTED`].
    Literal,
    /// `_env`: the variable's name.
    Env(String),
    /// `_file`: the path as written.
    File(String),
}

/// The three ways one secret may be given; at most one may be.
pub(super) struct SecretKeys {
    pub literal: Option<SecretString>,
    pub env: Option<String>,
    pub file: Option<String>,
}

impl SecretKeys {
    /// Giving more than one form is a mistake in the file itself, whatever the secret's
    /// use: a [`ConfigError::Conflict`] naming all three keys.
    pub fn check_one(&self, key: &str) -> Result<(), ConfigError> {
        let given = [
            self.literal.is_some(),
            self.env.is_some(),
            self.file.is_some(),
        ];
        if given.iter().filter(|b| **b).count() > 1 {
            return Err(ConfigError::Conflict {
                key: key.to_owned(),
                alternatives: vec![key.to_owned(), format!("{key}_env"), format!("{key}_file")],
            });
        }
        Ok(())
    }

    /// Where the secret comes from, if one is configured.
    pub fn source(&self) -> Option<SecretSource> {
        match (&self.literal, &self.env, &self.file) {
            (Some(_), _, _) => Some(SecretSource::Literal),
            (None, Some(var), _) => Some(SecretSource::Env(var.clone())),
            (None, None, Some(path)) => Some(SecretSource::File(path.clone())),
            (None, None, None) => None,
        }
    }

    /// The three raw keys that say `source` (the literal one redacted).
    pub fn from_source(source: Option<&SecretSource>) -> SecretKeys {
        let mut keys = SecretKeys {
            literal: None,
            env: None,
            file: None,
        };
        match source {
            Some(SecretSource::Literal) => keys.literal = Some(SecretString::from(REDACTED)),
            Some(SecretSource::Env(var)) => keys.env = Some(var.clone()),
            Some(SecretSource::File(path)) => keys.file = Some(path.clone()),
            None => {}
        }
        keys
    }

    /// The secret, if one is configured; an error names the `_env`/`_file` key and the
    /// variable or path, never the value.
    pub fn read(self, key: &str) -> Result<Option<SecretString>, ConfigError> {
        self.check_one(key)?;
        if let Some(value) = self.literal {
            return Ok(Some(SecretString::from(value.expose_secret().trim())));
        }
        if let Some(var) = self.env {
            return match std::env::var(&var) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(SecretString::from(v.trim()))),
                _ => Err(key_error(
                    format!("{key}_env"),
                    format!("environment variable {var} is not set or empty"),
                )),
            };
        }
        if let Some(path) = self.file {
            let path = expand_credentials_dir(&path);
            return match std::fs::read_to_string(&path) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(SecretString::from(v.trim()))),
                Ok(_) => Err(key_error(
                    format!("{key}_file"),
                    format!("{} is empty", path.display()),
                )),
                Err(e) => Err(key_error(
                    format!("{key}_file"),
                    format!("cannot read {}: {e}", path.display()),
                )),
            };
        }
        Ok(None)
    }
}

/// `$CREDENTIALS_DIRECTORY/name` (systemd `LoadCredential=`) may be written literally.
fn expand_credentials_dir(path: &str) -> PathBuf {
    for prefix in ["$CREDENTIALS_DIRECTORY/", "${CREDENTIALS_DIRECTORY}/"] {
        if let Some(rest) = path.strip_prefix(prefix)
            && let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY")
        {
            return PathBuf::from(dir).join(rest);
        }
    }
    PathBuf::from(path)
}

/// `serialize_with` for a secret: [`REDACTED`] when there is one, whatever its value.
pub(super) fn serialize_redacted<S: Serializer>(
    value: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => s.serialize_str(REDACTED),
        None => s.serialize_none(),
    }
}
