//! Token upkeep for one account: learn when the stored token expires, refresh it in time,
//! and decide what a rejected token (code 190) means.
//!
//! The configured token only seeds the store (`app::sync_config`); from then on the
//! stored token wins, and every refresh is stored atomically before it is used
//! (`Store::store_token`). A token the API rejects gets exactly one refresh attempt; if
//! that fails the account is paused with a reason that says how to re-authorize, and its
//! posts stay queued. Other accounts are not affected: each worker has its own keeper.
//!
//! Must not log or format a token: tokens stay inside `SecretString` and are exposed only
//! to compare two of them.

use crate::store::{AccountRow, Store, StoreError};
use crate::threads::{ErrorAction, ThreadsClient, ThreadsError};
use secrecy::{ExposeSecret, SecretString};
use std::time::{Duration, Instant};

/// A refresh needs a token at least this old (threads-api.md §1.7).
pub const MIN_REFRESH_AGE: i64 = 86_400;
/// What a refreshed token lives when the answer leaves out `expires_in`.
const DEFAULT_LIFETIME: i64 = 60 * 86_400;

/// The token to publish with, or why there is none.
#[derive(Debug, Clone)]
pub enum TokenState {
    Ready(SecretString),
    Paused(String),
}

/// Whether a token issued at `issued` (when known) and expiring at `expires` should be
/// refreshed now: old enough to be refreshable, inside the refresh window, not expired.
pub fn refresh_due(issued: Option<i64>, expires: i64, now: i64, window: Duration) -> bool {
    let window = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
    let old_enough = issued.is_none_or(|at| now.saturating_sub(at) >= MIN_REFRESH_AGE);
    now < expires && now >= expires.saturating_sub(window) && old_enough
}

/// When a token refreshed at `now` expires: the API's `expires_in` (saturating), or the
/// documented lifetime when it is missing or beyond any date.
fn expiry(now: i64, expires_in: Option<u64>) -> i64 {
    let life = expires_in
        .and_then(|s| i64::try_from(s).ok())
        .unwrap_or(DEFAULT_LIFETIME);
    now.saturating_add(life)
}

/// The advice every token pause carries.
pub fn reauth_advice(account: &str) -> String {
    format!("run `feed2threads auth {account}` to authorize the account again")
}

/// Keeps one account's token usable.
#[derive(Debug)]
pub struct TokenKeeper {
    account_id: i64,
    account: String,
    window: Duration,
    check_every: Duration,
    next_check: Option<Instant>,
    /// Why an account with no token has none when its configured token could not be
    /// read (the key, the variable or file, the fix): its pause reason.
    configured_problem: Option<String>,
}

impl TokenKeeper {
    /// `window`: refresh once the token is this close to expiry; `check_every`: how often
    /// to look (a refresh that failed for a passing reason is retried at that pace).
    pub fn new(account_id: i64, account: &str, window: Duration, check_every: Duration) -> Self {
        TokenKeeper {
            account_id,
            account: account.to_string(),
            window,
            check_every,
            next_check: None,
            configured_problem: None,
        }
    }

    /// The account's configured token could not be read: a pause for lacking a token
    /// gives `reason` (`crate::tokens::missing_reason`), which names the key and the fix.
    pub fn with_configured_problem(mut self, reason: Option<String>) -> Self {
        self.configured_problem = reason;
        self
    }

    /// The token to use now, after learning its expiry or refreshing it when due.
    /// Costs an API call only when a check is due (at start, then every `check_every`).
    pub async fn upkeep(
        &mut self,
        store: &Store,
        client: &ThreadsClient,
        row: &AccountRow,
        now: i64,
    ) -> Result<TokenState, StoreError> {
        let Some(token) = row.token() else {
            let reason = match &self.configured_problem {
                Some(reason) => reason.clone(),
                None => format!(
                    "no access token is stored for this account; {} (or set access_token in the config)",
                    reauth_advice(&self.account)
                ),
            };
            return self.pause(store, reason, now).await;
        };
        if self.next_check.is_some_and(|at| Instant::now() < at) {
            return Ok(TokenState::Ready(token));
        }
        self.next_check = Some(Instant::now() + self.check_every);

        let mut issued = row.token_issued_at;
        let mut expires = row.token_expires_at;
        if expires.is_none() {
            match client.debug_token(&token, &token).await {
                Ok(info) if info.is_valid => {
                    let learned_issued = info.issued_at.filter(|t| *t > 0);
                    let learned_expires = info.expires_at.filter(|t| *t > 0);
                    store
                        .set_token_times(self.account_id, learned_issued, learned_expires, now)
                        .await?;
                    issued = learned_issued.or(issued);
                    expires = learned_expires;
                    tracing::info!(
                        account = %self.account,
                        expires_at = %learned_expires
                            .map_or_else(|| "never".to_string(), |t| crate::human::when(t, now)),
                        "learned the access token's expiry"
                    );
                    if learned_expires.is_none() {
                        // 0 or absent: a token that does not expire needs no refresh.
                        return Ok(TokenState::Ready(token));
                    }
                }
                Ok(_) => {
                    let why = "debug_token says the access token is not valid".to_string();
                    return self.recover(store, client, &token, &why, now).await;
                }
                Err(e) if e.action() == ErrorAction::TokenProblem => {
                    return self
                        .recover(store, client, &token, &e.to_string(), now)
                        .await;
                }
                Err(e) => {
                    // debug_token may be refused to non-testers; a refresh also tells us
                    // the expiry (it fails harmlessly on a token younger than 24 h).
                    tracing::info!(
                        account = %self.account,
                        "cannot read the token's expiry ({e}); refreshing it instead"
                    );
                    return self.refresh(store, client, token, now).await;
                }
            }
        }
        match expires {
            Some(exp) if refresh_due(issued, exp, now, self.window) => {
                self.refresh(store, client, token, now).await
            }
            _ => Ok(TokenState::Ready(token)),
        }
    }

    /// A call was rejected with a token error. One refresh attempt (unless the store
    /// already holds a different token, e.g. from `auth`); if it fails, pause.
    pub async fn recover(
        &mut self,
        store: &Store,
        client: &ThreadsClient,
        failed: &SecretString,
        why: &str,
        now: i64,
    ) -> Result<TokenState, StoreError> {
        if let Some(row) = store.account_by_id(self.account_id).await?
            && let Some(stored) = row.token()
            && stored.expose_secret() != failed.expose_secret()
        {
            tracing::info!(account = %self.account, "using the newly stored access token");
            return Ok(TokenState::Ready(stored));
        }
        match client.refresh_token(failed).await {
            Ok(new) => {
                self.store_refreshed(store, &new.access_token, new.expires_in, now)
                    .await?;
                tracing::warn!(
                    account = %self.account,
                    "the access token was rejected ({why}); refreshed it"
                );
                Ok(TokenState::Ready(new.access_token))
            }
            Err(e) => {
                let reason = format!(
                    "Threads rejected the access token ({why}) and refreshing it failed ({e}); {}",
                    reauth_advice(&self.account)
                );
                self.pause(store, reason, now).await
            }
        }
    }

    async fn refresh(
        &mut self,
        store: &Store,
        client: &ThreadsClient,
        token: SecretString,
        now: i64,
    ) -> Result<TokenState, StoreError> {
        match client.refresh_token(&token).await {
            Ok(new) => {
                self.store_refreshed(store, &new.access_token, new.expires_in, now)
                    .await?;
                Ok(TokenState::Ready(new.access_token))
            }
            Err(e) if is_dead_token(&e) => {
                let reason = format!(
                    "the access token can no longer be refreshed ({e}); {}",
                    reauth_advice(&self.account)
                );
                self.pause(store, reason, now).await
            }
            Err(e) => {
                // Too young, throttled, API down: the token still works; try again later.
                tracing::warn!(
                    account = %self.account,
                    "cannot refresh the access token now ({e}); will try again"
                );
                Ok(TokenState::Ready(token))
            }
        }
    }

    async fn store_refreshed(
        &self,
        store: &Store,
        token: &SecretString,
        expires_in: Option<u64>,
        now: i64,
    ) -> Result<(), StoreError> {
        let expires = expiry(now, expires_in);
        store
            .store_token(
                self.account_id,
                token,
                "refresh",
                Some(now),
                Some(expires),
                now,
            )
            .await?;
        tracing::info!(
            account = %self.account,
            expires_at = %crate::human::when(expires, now),
            "access token refreshed and stored"
        );
        crate::metrics::set_token_expiry(&self.account, expires);
        Ok(())
    }

    /// Pause the account with `reason` (which must say how to fix it), loudly.
    pub async fn pause(
        &mut self,
        store: &Store,
        reason: String,
        now: i64,
    ) -> Result<TokenState, StoreError> {
        store
            .set_paused(self.account_id, Some(&reason), now)
            .await?;
        tracing::error!(
            account = %self.account,
            "PUBLISHING PAUSED for this account: {reason}; its posts stay queued"
        );
        // Look again soon after someone fixes it (a new token clears the pause).
        self.next_check = None;
        Ok(TokenState::Paused(reason))
    }
}

/// The refresh was refused because the token itself is invalid or expired (not merely too
/// young, throttled or unreachable).
fn is_dead_token(e: &ThreadsError) -> bool {
    e.api().is_some_and(|a| a.is_token_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_800_000_000;

    #[test]
    fn any_expires_in_from_the_api_gives_an_expiry_without_panicking() {
        assert_eq!(expiry(NOW, Some(3600)), NOW + 3600);
        assert_eq!(expiry(NOW, None), NOW + DEFAULT_LIFETIME);
        assert_eq!(expiry(NOW, Some(u64::MAX)), NOW + DEFAULT_LIFETIME);
        assert_eq!(expiry(NOW, Some(i64::MAX as u64)), i64::MAX);
        // A corrupt issue time does not overflow the age check either.
        assert!(refresh_due(Some(i64::MIN), i64::MAX, NOW, Duration::MAX));
        assert!(refresh_due(
            Some(i64::MIN),
            NOW + DAY,
            NOW,
            Duration::from_secs(2 * 86_400)
        ));
    }

    #[test]
    fn refresh_inside_the_window_only() {
        let w = Duration::from_secs(15 * 86_400);
        // 50 days old, 10 left: due.
        assert!(refresh_due(Some(NOW - 50 * DAY), NOW + 10 * DAY, NOW, w));
        // 30 days left: not yet.
        assert!(!refresh_due(Some(NOW - 30 * DAY), NOW + 30 * DAY, NOW, w));
        // Younger than 24 h: the API would refuse.
        assert!(!refresh_due(Some(NOW - 3600), NOW + 10 * DAY, NOW, w));
        // Unknown age: try.
        assert!(refresh_due(None, NOW + 10 * DAY, NOW, w));
        // Expired: too late, only re-authorization helps.
        assert!(!refresh_due(Some(NOW - 70 * DAY), NOW - 1, NOW, w));
    }

    #[test]
    fn advice_names_the_command() {
        assert!(reauth_advice("newsroom").contains("feed2threads auth newsroom"));
    }
}
