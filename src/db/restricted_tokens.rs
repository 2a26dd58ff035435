//! Restricted Data Tokens: stored sealed in `cached_token` like access tokens, under a cache key
//! of the seller and the canonical resource set (so they go with the seller: a replaced refresh
//! token or a deleted seller takes them along), and recorded in `token_issue` with the resource
//! set's fingerprint. They are recorded as access tokens are, by `cached_tokens::record_token`
//! and `token_trail::insert_token_issue`.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::sealed::Sealed;
use crate::domain::{ApplicationStatus, SellerStatus};

/// What a Tokens API call for a seller needs, with the token stored under `cache_key`, if any.
pub struct RestrictedGrantRow {
    pub tenant_disabled: bool,
    pub application_id: Uuid,
    pub client_id: String,
    pub region: String,
    pub sandbox: bool,
    pub seller_status: SellerStatus,
    pub application_status: ApplicationStatus,
    /// As sealed: the fence of the commit checks they are still the seller's.
    pub sealed_refresh_token: Sealed,
    pub sealed_client_secret: Sealed,
    pub cached_token: Option<Sealed>,
    pub cached_issue_id: Option<Uuid>,
    pub cached_issued_at: Option<DateTime<Utc>>,
    pub cached_expires_at: Option<DateTime<Utc>>,
    /// The generation of the cache key's lease, read with the stored token (see `leases`).
    pub lease_generation: Option<i64>,
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
                  s.refresh_token as "sealed_refresh_token: Sealed",
                  a.client_secret as "sealed_client_secret: Sealed",
                  c.sealed_token as "cached_token?: Sealed", c.issue_id as "cached_issue_id?",
                  c.issued_at as "cached_issued_at?", c.expires_at as "cached_expires_at?",
                  l.generation as "lease_generation?"
           from seller s
           join tenant t on t.id = s.tenant_id
           join application a on a.id = s.application_id and a.tenant_id = s.tenant_id
           left join cached_token c on c.cache_key = $3 and c.seller_id = s.id
           left join exchange_lease l on l.cache_key = $3
           where s.tenant_id = $1 and s.id = $2"#,
        tenant_id,
        seller_id,
        cache_key
    )
    .fetch_optional(conn)
    .await
}
