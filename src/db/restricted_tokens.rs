//! Restricted Data Tokens: stored sealed in `cached_token` like access tokens, under a cache key
//! of the seller and the canonical resource set (so they go with the seller: a replaced refresh
//! token or a deleted seller takes them along), and recorded in `token_issue` with the resource
//! set's fingerprint.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::token_trail::NewTokenIssue;
use crate::domain::{ApplicationStatus, SellerStatus};

/// What a Tokens API call for a seller needs, with the token stored under `cache_key`, if any.
#[derive(Debug)]
pub struct RestrictedGrantRow {
    pub tenant_disabled: bool,
    pub application_id: Uuid,
    pub client_id: String,
    pub region: String,
    pub sandbox: bool,
    pub seller_status: SellerStatus,
    pub application_status: ApplicationStatus,
    /// As sealed: the fence of the commit checks they are still the seller's.
    pub sealed_refresh_token: Vec<u8>,
    pub sealed_client_secret: Vec<u8>,
    pub cached_token: Option<Vec<u8>>,
    pub cached_issue_id: Option<Uuid>,
    pub cached_issued_at: Option<DateTime<Utc>>,
    pub cached_expires_at: Option<DateTime<Utc>>,
}

pub async fn load_restricted_grant(
    conn: impl PgExecutor<'_>,
    tenant_id: Uuid,
    seller_id: Uuid,
    cache_key: Uuid,
) -> Result<Option<RestrictedGrantRow>, sqlx::Error> {
    sqlx::query_as!(
        RestrictedGrantRow,
        r#"select t.disabled as tenant_disabled, s.application_id, a.client_id, s.region,
                  a.sandbox, s.status as "seller_status: SellerStatus",
                  a.status as "application_status: ApplicationStatus",
                  s.refresh_token as sealed_refresh_token,
                  a.client_secret as sealed_client_secret,
                  c.sealed_token as "cached_token?", c.issue_id as "cached_issue_id?",
                  c.issued_at as "cached_issued_at?", c.expires_at as "cached_expires_at?"
           from seller s
           join tenant t on t.id = s.tenant_id
           join application a on a.id = s.application_id and a.tenant_id = s.tenant_id
           left join cached_token c on c.cache_key = $3 and c.seller_id = s.id
           where s.tenant_id = $1 and s.id = $2"#,
        tenant_id,
        seller_id,
        cache_key
    )
    .fetch_optional(conn)
    .await
}

/// Records a Restricted Data Token the Tokens API just issued, in one statement: its
/// `token_issue` row (with the resource set's fingerprint) and the sealed token in
/// `cached_token` under `cache_key` (unless a newer one is there already).
pub async fn record_issued_restricted_token(
    conn: &mut PgConnection,
    issue: &NewTokenIssue<'_>,
    resource_set_fingerprint: &str,
    cache_key: Uuid,
    sealed_token: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "with issue as (
             insert into token_issue (id, tenant_id, seller_id, application_id, grant_type,
                                      outcome, issued_at, expires_at, lwa_latency_ms,
                                      token_fingerprint, api_key_id, request_id,
                                      resource_set_fingerprint)
             values ($1, $2, $3, $4, $5, 'issued', $6, $7, $8, $9, $10, $11, $12)
         )
         insert into cached_token (cache_key, tenant_id, application_id, seller_id,
                                   sealed_token, issue_id, issued_at, expires_at)
         values ($13, $2, $4, $3, $14, $1, $6, $7)
         on conflict (cache_key) do update
         set sealed_token = excluded.sealed_token, issue_id = excluded.issue_id,
             issued_at = excluded.issued_at, expires_at = excluded.expires_at
         where cached_token.issued_at <= excluded.issued_at",
        issue.id,
        issue.tenant_id,
        issue.seller_id,
        issue.application_id,
        issue.grant_type,
        issue.issued_at,
        expires_at,
        issue.lwa_latency_ms,
        issue.token_fingerprint,
        issue.api_key_id,
        issue.request_id,
        resource_set_fingerprint,
        cache_key,
        sealed_token
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a Tokens API call whose token is not kept: a failure (`error_code` set), or a token
/// minted for credentials replaced meanwhile.
pub async fn insert_restricted_issue(
    conn: &mut PgConnection,
    issue: &NewTokenIssue<'_>,
    resource_set_fingerprint: &str,
) -> Result<(), sqlx::Error> {
    let outcome = if issue.error_code.is_none() {
        "issued"
    } else {
        "lwa_error"
    };
    sqlx::query!(
        "insert into token_issue (id, tenant_id, seller_id, application_id, grant_type, outcome,
                                  error_code, issued_at, expires_at, lwa_latency_ms,
                                  token_fingerprint, api_key_id, request_id,
                                  resource_set_fingerprint)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        issue.id,
        issue.tenant_id,
        issue.seller_id,
        issue.application_id,
        issue.grant_type,
        outcome,
        issue.error_code,
        issue.issued_at,
        issue.expires_at,
        issue.lwa_latency_ms,
        issue.token_fingerprint,
        issue.api_key_id,
        issue.request_id,
        resource_set_fingerprint
    )
    .execute(conn)
    .await?;
    Ok(())
}
