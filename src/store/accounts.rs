//! Accounts: who publishes, with which token, and whether publishing is paused.

use super::{Store, StoreResult};
use crate::store::on;
use secrecy::SecretString;

#[derive(Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: i64,
    pub name: String,
    access_token: Option<String>,
    pub token_source: Option<String>,
    pub token_issued_at: Option<i64>,
    pub token_expires_at: Option<i64>,
    pub threads_user_id: Option<String>,
    pub username: Option<String>,
    pub paused_reason: Option<String>,
    pub quota_total: Option<i64>,
    pub quota_duration: Option<i64>,
    pub quota_usage: Option<i64>,
    pub quota_checked_at: Option<i64>,
}

impl AccountRow {
    /// The stored token, wrapped so it cannot be printed by accident.
    pub fn token(&self) -> Option<SecretString> {
        self.access_token
            .as_ref()
            .map(|t| SecretString::from(t.clone()))
    }
}

// Hand-written so the token can never reach a log line through `{:?}`.
impl std::fmt::Debug for AccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("has_token", &self.access_token.is_some())
            .field("token_expires_at", &self.token_expires_at)
            .field("paused_reason", &self.paused_reason)
            .finish_non_exhaustive()
    }
}

const ACCOUNT_COLUMNS: &str = "id, name, access_token, token_source, token_issued_at, \
    token_expires_at, threads_user_id, username, paused_reason, quota_total, quota_duration, \
    quota_usage, quota_checked_at";

impl Store {
    /// The account row for `name`, created on first sight.
    pub async fn ensure_account(&self, name: &str, now: i64) -> StoreResult<AccountRow> {
        on!(self.pool(), |c| sqlx::query(
            "INSERT INTO accounts (name, created_at, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now)
        .bind(now)
        .execute(c)
        .await?
        .rows_affected());
        self.account_by_name(name)
            .await?
            .ok_or_else(|| super::StoreError::NotFound(format!("account {name}")))
    }

    pub async fn account_by_name(&self, name: &str) -> StoreResult<Option<AccountRow>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ?"
            ))
        ))
        .bind(name)
        .fetch_optional(c)
        .await?))
    }

    pub async fn account_by_id(&self, id: i64) -> StoreResult<Option<AccountRow>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?"
            ))
        ))
        .bind(id)
        .fetch_optional(c)
        .await?))
    }

    pub async fn list_accounts(&self) -> StoreResult<Vec<AccountRow>> {
        Ok(on!(self.pool(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
            crate::store::numbered(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name"
            ))
        ))
        .fetch_all(c)
        .await?))
    }

    /// The configured token seeds the store only when none is stored yet: after that the
    /// stored (refreshed or `auth`-obtained) token wins. Returns whether it was stored.
    /// An account without a token can only be paused for lacking one, so seeding one
    /// lifts the pause (a token variable set, then a reload).
    pub async fn seed_token(
        &self,
        account_id: i64,
        token: &SecretString,
        now: i64,
    ) -> StoreResult<bool> {
        use secrecy::ExposeSecret;
        let done = on!(self.pool(), |c| sqlx::query(
            "UPDATE accounts SET access_token = $1, token_source = 'config', \
             token_issued_at = NULL, token_expires_at = NULL, paused_reason = NULL, \
             updated_at = $2 WHERE id = $3 AND access_token IS NULL",
        )
        .bind(token.expose_secret())
        .bind(now)
        .bind(account_id)
        .execute(c)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Store a new token atomically with what we know of it; clears a token-related pause.
    pub async fn store_token(
        &self,
        account_id: i64,
        token: &SecretString,
        source: &str,
        issued_at: Option<i64>,
        expires_at: Option<i64>,
        now: i64,
    ) -> StoreResult<()> {
        use secrecy::ExposeSecret;
        on!(self.pool(), |c| sqlx::query(
            "UPDATE accounts SET access_token = $1, token_source = $2, token_issued_at = $3, \
             token_expires_at = $4, paused_reason = NULL, updated_at = $5 WHERE id = $6",
        )
        .bind(token.expose_secret())
        .bind(source)
        .bind(issued_at)
        .bind(expires_at)
        .bind(now)
        .bind(account_id)
        .execute(c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// What we learned about the current token (e.g. from `debug_token`).
    pub async fn set_token_times(
        &self,
        account_id: i64,
        issued_at: Option<i64>,
        expires_at: Option<i64>,
        now: i64,
    ) -> StoreResult<()> {
        on!(self.pool(), |c| sqlx::query(
            "UPDATE accounts SET token_issued_at = COALESCE($1, token_issued_at), \
             token_expires_at = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(issued_at)
        .bind(expires_at)
        .bind(now)
        .bind(account_id)
        .execute(c)
        .await?
        .rows_affected());
        Ok(())
    }

    pub async fn set_profile(
        &self,
        account_id: i64,
        user_id: &str,
        username: &str,
        now: i64,
    ) -> StoreResult<()> {
        on!(self.pool(), |c| {
            sqlx::query(
            "UPDATE accounts SET threads_user_id = $1, username = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(user_id)
        .bind(username)
        .bind(now)
        .bind(account_id)
        .execute(c)
        .await?.rows_affected()
        });
        Ok(())
    }

    /// Pause publishing for the account (`None` resumes it).
    pub async fn set_paused(
        &self,
        account_id: i64,
        reason: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        on!(self.pool(), |c| sqlx::query(
            "UPDATE accounts SET paused_reason = $1, updated_at = $2 WHERE id = $3"
        )
        .bind(reason)
        .bind(now)
        .bind(account_id)
        .execute(c)
        .await?
        .rows_affected());
        Ok(())
    }

    pub async fn set_quota(
        &self,
        account_id: i64,
        usage: i64,
        total: i64,
        duration: i64,
        now: i64,
    ) -> StoreResult<()> {
        on!(self.pool(), |c| sqlx::query(
            "UPDATE accounts SET quota_usage = $1, quota_total = $2, quota_duration = $3, \
             quota_checked_at = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(usage)
        .bind(total)
        .bind(duration)
        .bind(now)
        .bind(now)
        .bind(account_id)
        .execute(c)
        .await?
        .rows_affected());
        Ok(())
    }
}
