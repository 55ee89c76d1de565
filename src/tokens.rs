//! The configured access tokens against the store's, at start and at every reload: seed
//! the store with a configured token when it has none (a live run), and tell the operator,
//! once, what a run will do when the two disagree: a configured token that cannot be read
//! (a missing variable or file), or one that differs from the token `auth` (or a refresh)
//! stored, which wins.
//!
//! Must not log or format a token; two are compared only through their SHA-256 digests,
//! which are kept in memory to say each thing once.

use crate::config::{AccountSettings, SecretSource};
use crate::store::{AccountRow, Store, StoreResult};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// An account and the digest of a configured token.
type Noticed = (String, [u8; 32]);

/// What has been said already in this process, so a reload does not repeat it.
#[derive(Debug, Clone, Default)]
pub struct TokenNotices {
    said: Arc<Mutex<HashSet<Noticed>>>,
}

impl TokenNotices {
    /// True the first time `account` meets this configured token.
    fn first_time(&self, account: &str, token: &SecretString) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.expose_secret().as_bytes()).into();
        let mut said = self.said.lock().unwrap_or_else(|e| e.into_inner());
        said.insert((account.to_string(), digest))
    }
}

/// How the run treats tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// A live run: seed the store, publish with the stored token.
    Live,
    /// A dry run: touch nothing, say what a live run would do.
    Dry,
}

/// Seeds `account`'s configured token into `row` (live, when the store has none) and
/// reports a token that cannot be read or that the stored one overrides.
pub async fn apply(
    store: &Store,
    account: &AccountSettings,
    row: &AccountRow,
    usage: TokenUse,
    notices: &TokenNotices,
    now: i64,
) -> StoreResult<()> {
    let name = &account.name;
    let stored = row.token();
    if let Some(problem) = &account.token_problem {
        match (&stored, usage) {
            (Some(_), _) => tracing::warn!(
                account = %name,
                "{problem}; publishing with the token stored by `feed2threads auth {name}` \
                 (or an earlier run) instead"
            ),
            (None, TokenUse::Live) => tracing::error!(
                account = %name,
                "{}",
                missing_reason(account).unwrap_or_default()
            ),
            (None, TokenUse::Dry) => tracing::warn!(
                account = %name,
                "{problem}; the dry run needs no token, but a live run would pause the account \
                 until it can be read or `feed2threads auth {name}` stores one"
            ),
        }
    }
    let Some(configured) = &account.token else {
        return Ok(());
    };
    let differs = stored
        .as_ref()
        .is_some_and(|s| s.expose_secret() != configured.expose_secret());
    if stored.is_none()
        && usage == TokenUse::Live
        && store.seed_token(row.id, configured, now).await?
    {
        tracing::info!(account = %name, "stored the configured access token");
    }
    if differs && notices.first_time(name, configured) {
        tracing::warn!(
            account = %name,
            stored_by = row.token_source.as_deref().unwrap_or("unknown"),
            "the configured access token ({}) differs from the one in the store; the stored \
             one is used (a configured token only seeds an empty store). To publish with the \
             configured one, import it: {}; to keep the stored one, remove the token from the \
             config",
            describe(account.token_source.as_ref()),
            switch_command(name, account.token_source.as_ref())
        );
    }
    Ok(())
}

/// Why `account` has no token when its configured one cannot be read and none is stored:
/// the reason its publisher pauses it with, naming the key and the fix.
pub fn missing_reason(account: &AccountSettings) -> Option<String> {
    let problem = account.token_problem.as_ref()?;
    let name = &account.name;
    // A running daemon cannot see a variable set after it started; a file it can.
    let fix = match &account.token_source {
        Some(SecretSource::Env(var)) => format!("set {var} and restart the daemon"),
        Some(SecretSource::File(_)) => "fix the file and reload (SIGHUP)".to_string(),
        _ => "fix the config and reload (SIGHUP)".to_string(),
    };
    Some(format!(
        "no access token: {problem}; {fix}, or run `feed2threads auth {name}` to store one"
    ))
}

/// Where the configured token comes from, in the config's words.
fn describe(source: Option<&SecretSource>) -> String {
    match source {
        Some(SecretSource::Env(var)) => format!("access_token_env = {var:?}"),
        Some(SecretSource::File(path)) => format!("access_token_file = {path:?}"),
        Some(SecretSource::Literal) | None => "access_token".to_string(),
    }
}

/// The command that imports the configured token into the store.
fn switch_command(account: &str, source: Option<&SecretSource>) -> String {
    match source {
        Some(SecretSource::Env(var)) => {
            format!("`printenv {var} | feed2threads auth {account} --token-file -`")
        }
        Some(SecretSource::File(path)) => {
            format!("`feed2threads auth {account} --token-file {path}`")
        }
        Some(SecretSource::Literal) | None => {
            format!("`feed2threads auth {account} --token-file FILE` with the token in FILE")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_configured_token_is_noticed_once_per_account() {
        let notices = TokenNotices::default();
        let a = SecretString::from("token-a");
        let b = SecretString::from("token-b");
        assert!(notices.first_time("desk", &a));
        assert!(!notices.clone().first_time("desk", &a));
        assert!(notices.first_time("desk", &b));
        assert!(notices.first_time("sport", &a));
    }

    #[test]
    fn the_switch_command_names_the_configured_source() {
        let env = SecretSource::Env("DESK_TOKEN".into());
        assert_eq!(
            switch_command("desk", Some(&env)),
            "`printenv DESK_TOKEN | feed2threads auth desk --token-file -`"
        );
        assert_eq!(describe(Some(&env)), "access_token_env = \"DESK_TOKEN\"");
        let file = SecretSource::File("/run/token".into());
        assert!(switch_command("desk", Some(&file)).contains("--token-file /run/token"));
    }
}
