//! The token broker's tables: `cached_token` (sealed access tokens shared by replicas) and the
//! credentials and states an exchange reads and writes. (The locks that order exchanges and
//! credential changes are in `locks`.)

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::token_trail::NewTokenIssue;
use crate::domain::{ApplicationStatus, SellerStatus};

/// A stored access token (still sealed).
#[derive(Debug, Clone)]
pub struct CachedTokenRow {
    pub sealed_token: Vec<u8>,
    pub issue_id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Everything an exchange for a seller needs, with the token stored for it, if any.
#[derive(Debug)]
pub struct SellerGrantRow {
    pub tenant_disabled: bool,
    pub seller_id: Uuid,
    pub application_id: Uuid,
    pub seller_status: SellerStatus,
    pub sealed_refresh_token: Vec<u8>,
    pub client_id: String,
    pub sealed_client_secret: Vec<u8>,
    /// The previous client secret, only while it has not expired.
    pub sealed_previous_client_secret: Option<Vec<u8>>,
    pub application_status: ApplicationStatus,
    pub cached_token: Option<Vec<u8>>,
    pub cached_issue_id: Option<Uuid>,
    pub cached_issued_at: Option<DateTime<Utc>>,
    pub cached_expires_at: Option<DateTime<Utc>>,
}

/// Everything a grantless exchange needs, with the token stored for it, if any.
#[derive(Debug)]
pub struct ApplicationGrantRow {
    pub tenant_disabled: bool,
    pub application_id: Uuid,
    pub client_id: String,
    pub sealed_client_secret: Vec<u8>,
    /// The previous client secret, only while it has not expired.
    pub sealed_previous_client_secret: Option<Vec<u8>>,
    pub application_status: ApplicationStatus,
    pub cached_token: Option<Vec<u8>>,
    pub cached_issue_id: Option<Uuid>,
    pub cached_issued_at: Option<DateTime<Utc>>,
    pub cached_expires_at: Option<DateTime<Utc>>,
}

pub async fn load_seller_grant(
    conn: impl PgExecutor<'_>,
    tenant_id: Uuid,
    seller_id: Uuid,
) -> Result<Option<SellerGrantRow>, sqlx::Error> {
    sqlx::query_as!(
        SellerGrantRow,
        r#"select t.disabled as tenant_disabled, s.id as seller_id, s.application_id,
                  s.status as "seller_status: SellerStatus",
                  s.refresh_token as sealed_refresh_token, a.client_id,
                  a.client_secret as sealed_client_secret,
                  case when a.previous_client_secret_expires_at > now() then a.previous_client_secret end
                      as "sealed_previous_client_secret?",
                  a.status as "application_status: ApplicationStatus",
                  c.sealed_token as "cached_token?", c.issue_id as "cached_issue_id?",
                  c.issued_at as "cached_issued_at?", c.expires_at as "cached_expires_at?"
           from seller s
           join tenant t on t.id = s.tenant_id
           join application a on a.id = s.application_id and a.tenant_id = s.tenant_id
           left join cached_token c on c.cache_key = s.id
           where s.tenant_id = $1 and s.id = $2"#,
        tenant_id,
        seller_id
    )
    .fetch_optional(conn)
    .await
}

pub async fn load_application_grant(
    conn: impl PgExecutor<'_>,
    tenant_id: Uuid,
    application_id: Uuid,
    cache_key: Uuid,
) -> Result<Option<ApplicationGrantRow>, sqlx::Error> {
    sqlx::query_as!(
        ApplicationGrantRow,
        r#"select t.disabled as tenant_disabled, a.id as application_id, a.client_id,
                  a.client_secret as sealed_client_secret,
                  case when a.previous_client_secret_expires_at > now() then a.previous_client_secret end
                      as "sealed_previous_client_secret?",
                  a.status as "application_status: ApplicationStatus",
                  c.sealed_token as "cached_token?", c.issue_id as "cached_issue_id?",
                  c.issued_at as "cached_issued_at?", c.expires_at as "cached_expires_at?"
           from application a
           join tenant t on t.id = a.tenant_id
           left join cached_token c on c.cache_key = $3
           where a.tenant_id = $1 and a.id = $2"#,
        tenant_id,
        application_id,
        cache_key
    )
    .fetch_optional(conn)
    .await
}

/// Records a token LWA just issued, in one statement: its `token_issue` row (`issue`, with the
/// token's fingerprint), the sealed token in `cached_token` under `cache_key` (unless a newer one
/// is there already), and the seller's `last_token_issued_at`.
pub async fn record_issued_token(
    conn: &mut PgConnection,
    issue: &NewTokenIssue<'_>,
    cache_key: Uuid,
    sealed_token: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "with issue as (
             insert into token_issue (id, tenant_id, seller_id, application_id, grant_type, scope,
                                      outcome, issued_at, expires_at, lwa_latency_ms,
                                      token_fingerprint, api_key_id, request_id, client_secret)
             values ($1, $2, $3, $4, $5, $6, 'issued', $7, $8, $9, $10, $11, $12, $15)
         ), cached as (
             insert into cached_token (cache_key, tenant_id, application_id, seller_id, scope,
                                       sealed_token, issue_id, issued_at, expires_at)
             values ($13, $2, $4, $3, $6, $14, $1, $7, $8)
             on conflict (cache_key) do update
             set sealed_token = excluded.sealed_token, issue_id = excluded.issue_id,
                 issued_at = excluded.issued_at, expires_at = excluded.expires_at
             where cached_token.issued_at <= excluded.issued_at
         )
         update seller set last_token_issued_at = $7 where id = $3",
        issue.id,
        issue.tenant_id,
        issue.seller_id,
        issue.application_id,
        issue.grant_type,
        issue.scope,
        issue.issued_at,
        expires_at,
        issue.lwa_latency_ms,
        issue.token_fingerprint,
        issue.api_key_id,
        issue.request_id,
        cache_key,
        sealed_token,
        issue.client_secret
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether the credentials an exchange used (sealed, as it read them) are still its subject's,
/// with their rows locked `for share` until the transaction ends: a replacement (or deletion)
/// then commits wholly before this check or after the transaction. A seller's exchange used its
/// refresh token and its application's secret; a grantless one only the secret. An exchange that
/// fell back to the previous secret (`previous_client_secret`) used both secrets: both must be
/// unchanged.
pub async fn credentials_still_current(
    conn: &mut PgConnection,
    seller_id: Option<Uuid>,
    application_id: Uuid,
    sealed_refresh_token: Option<&[u8]>,
    sealed_client_secret: &[u8],
    previous_client_secret: Option<&[u8]>,
) -> Result<bool, sqlx::Error> {
    let found = match (seller_id, sealed_refresh_token) {
        (Some(seller_id), Some(refresh_token)) => sqlx::query_scalar!(
            "select s.id from seller s join application a on a.id = s.application_id
             where s.id = $1 and s.refresh_token = $2 and a.id = $3 and a.client_secret = $4
               and ($5::bytea is null or a.previous_client_secret = $5)
             for share of s, a",
            seller_id,
            refresh_token,
            application_id,
            sealed_client_secret,
            previous_client_secret
        )
        .fetch_optional(conn)
        .await?
        .is_some(),
        _ => sqlx::query_scalar!(
            "select id from application where id = $1 and client_secret = $2
               and ($3::bytea is null or previous_client_secret = $3)
             for share",
            application_id,
            sealed_client_secret,
            previous_client_secret
        )
        .fetch_optional(conn)
        .await?
        .is_some(),
    };
    Ok(found)
}

pub async fn drop_cached_tokens_of_seller(
    conn: &mut PgConnection,
    seller_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!("delete from cached_token where seller_id = $1", seller_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Grantless tokens of the application (made with its client secret).
pub async fn drop_grantless_tokens_of_application(
    conn: &mut PgConnection,
    application_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "delete from cached_token where application_id = $1 and seller_id is null",
        application_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// LWA said `invalid_grant`: remembered until the refresh token is replaced.
pub async fn mark_seller_revoked(
    conn: &mut PgConnection,
    seller_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update seller set status = 'authorization_revoked' where id = $1",
        seller_id
    )
    .execute(&mut *conn)
    .await?;
    drop_cached_tokens_of_seller(conn, seller_id).await
}

/// LWA said `invalid_client`: remembered until the client secret is replaced.
pub async fn mark_application_rejected(
    conn: &mut PgConnection,
    application_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update application set status = 'client_credentials_rejected' where id = $1",
        application_id
    )
    .execute(conn)
    .await?;
    Ok(())
}
