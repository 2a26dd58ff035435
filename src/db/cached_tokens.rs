//! The token broker's tables: `cached_token` (sealed access tokens shared by replicas) and the
//! credentials and states an exchange reads and writes. (Who may exchange for a cache key is
//! `leases`.)

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::leases;
use super::sealed::Sealed;
use super::token_trail::{NewTokenDelivery, NewTokenIssue};
use crate::domain::{ApplicationStatus, SellerStatus};

/// A stored access token (still sealed). Like every row that carries [`Sealed`] bytes, it has no
/// `Debug`.
#[derive(Clone)]
pub struct CachedTokenRow {
    pub sealed_token: Sealed,
    pub issue_id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Everything an exchange for a seller needs, with the token stored for it, if any.
pub struct SellerGrantRow {
    pub tenant_disabled: bool,
    pub seller_id: Uuid,
    pub application_id: Uuid,
    pub seller_status: SellerStatus,
    pub sealed_refresh_token: Sealed,
    pub client_id: String,
    pub sealed_client_secret: Sealed,
    /// The previous client secret, only while it has not expired.
    pub sealed_previous_client_secret: Option<Sealed>,
    pub application_status: ApplicationStatus,
    pub cached_token: Option<Sealed>,
    pub cached_issue_id: Option<Uuid>,
    pub cached_issued_at: Option<DateTime<Utc>>,
    pub cached_expires_at: Option<DateTime<Utc>>,
    /// Whether the stored token will do (see [`Freshness`]).
    pub stored_fresh: bool,
    /// The generation of the cache key's exchange lease, read with the stored token.
    pub lease_generation: Option<i64>,
    /// The lease's generation when this read took it (see [`GrantRead::lease`]).
    pub lease_taken: Option<i64>,
    /// Whether a holder's lease was running when the stored token was read.
    pub lease_running: bool,
}

/// Everything a grantless exchange needs, with the token stored for it, if any.
pub struct ApplicationGrantRow {
    pub tenant_disabled: bool,
    pub application_id: Uuid,
    pub client_id: String,
    pub sealed_client_secret: Sealed,
    /// The previous client secret, only while it has not expired.
    pub sealed_previous_client_secret: Option<Sealed>,
    pub application_status: ApplicationStatus,
    pub cached_token: Option<Sealed>,
    pub cached_issue_id: Option<Uuid>,
    pub cached_issued_at: Option<DateTime<Utc>>,
    pub cached_expires_at: Option<DateTime<Utc>>,
    /// Whether the stored token will do (see [`Freshness`]).
    pub stored_fresh: bool,
    /// The generation of the cache key's exchange lease, read with the stored token.
    pub lease_generation: Option<i64>,
    /// The lease's generation when this read took it (see [`GrantRead::lease`]).
    pub lease_taken: Option<i64>,
    /// Whether a holder's lease was running when the stored token was read.
    pub lease_running: bool,
}

/// When a stored token will do for a caller: it expires at or after `expires_after` (if set) and
/// was issued at or after `issued_since` (if set). The grant reads compare in SQL, and
/// [`Freshness::admits`] the same way in Rust.
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    pub expires_after: Option<DateTime<Utc>>,
    pub issued_since: Option<DateTime<Utc>>,
}

impl Freshness {
    pub fn admits(&self, stored: &CachedTokenRow) -> bool {
        self.expires_after.is_none_or(|t| stored.expires_at >= t)
            && self.issued_since.is_none_or(|t| stored.issued_at >= t)
    }
}

/// How a grant is read: when its stored token will do, and whether to take the cache key's
/// exchange lease (see `leases`) in the same statement if it will not.
#[derive(Debug, Clone, Copy)]
pub struct GrantRead<'a> {
    pub freshness: Freshness,
    /// The lease to take (its id and how long it lasts) if the stored token will not do and
    /// the caller may exchange.
    pub lease: Option<(Uuid, Duration)>,
    /// A seller's application must have this LWA client id for a lease to be taken.
    pub client_id: Option<&'a str>,
}

impl GrantRead<'_> {
    fn lease_id(&self) -> Option<Uuid> {
        self.lease.map(|(id, _)| id)
    }

    fn lease_ms(&self) -> i64 {
        self.lease.map_or(0, |(_, ttl)| leases::ttl_millis(ttl))
    }
}

/// A seller's grant, and, as `read` asks, its exchange lease, in one statement. The lease is
/// taken only where the exchange would go ahead: the stored token will not do, the tenant is
/// enabled, the seller and its application are not refused by LWA, and the client id matches
/// (as `workflows::tokens::exchange::read` decides from the row), by `take_exchange_lease`, as
/// `leases::take_lease` does. `lease_taken` counts every lease given back before this one was
/// taken; `lease_generation` those before the snapshot in which the stored token was read.
pub async fn load_seller_grant(
    conn: impl PgExecutor<'_>,
    tenant_id: Uuid,
    seller_id: Uuid,
    read: &GrantRead<'_>,
) -> Result<Option<SellerGrantRow>, sqlx::Error> {
    sqlx::query_as!(
        SellerGrantRow,
        r#"with g as (
               select t.disabled as tenant_disabled, s.id as seller_id, s.application_id,
                      s.status as seller_status, s.refresh_token, a.client_id, a.client_secret,
                      case when a.previous_client_secret_expires_at > now()
                           then a.previous_client_secret end as previous_client_secret,
                      a.status as application_status,
                      c.sealed_token, c.issue_id, c.issued_at, c.expires_at,
                      (c.cache_key is not null
                       and ($3::timestamptz is null or c.expires_at >= $3)
                       and ($4::timestamptz is null or c.issued_at >= $4)) is true as stored_fresh,
                      l.generation, (l.expires_at > now()) is true as lease_running
               from seller s
               join tenant t on t.id = s.tenant_id
               join application a on a.id = s.application_id and a.tenant_id = s.tenant_id
               left join cached_token c on c.cache_key = s.id
               left join exchange_lease l on l.cache_key = s.id
               where s.tenant_id = $1 and s.id = $2
           ), taken as (
               select take_exchange_lease(g.seller_id, $1, $5, $6) as generation
               from g
               where $5::uuid is not null and not g.stored_fresh and not g.tenant_disabled
                 and g.seller_status = 'active' and g.application_status = 'active'
                 and ($7::text is null or g.client_id = $7)
           )
           select g.tenant_disabled as "tenant_disabled!", g.seller_id as "seller_id!",
                  g.application_id as "application_id!",
                  g.seller_status as "seller_status!: SellerStatus",
                  g.refresh_token as "sealed_refresh_token!: Sealed", g.client_id as "client_id!",
                  g.client_secret as "sealed_client_secret!: Sealed",
                  g.previous_client_secret as "sealed_previous_client_secret?: Sealed",
                  g.application_status as "application_status!: ApplicationStatus",
                  g.sealed_token as "cached_token?: Sealed", g.issue_id as "cached_issue_id?",
                  g.issued_at as "cached_issued_at?", g.expires_at as "cached_expires_at?",
                  g.stored_fresh as "stored_fresh!", g.generation as "lease_generation?",
                  k.generation as "lease_taken?", g.lease_running as "lease_running!"
           from g left join taken k on true"#,
        tenant_id,
        seller_id,
        read.freshness.expires_after,
        read.freshness.issued_since,
        read.lease_id(),
        read.lease_ms(),
        read.client_id,
    )
    .fetch_optional(conn)
    .await
}

/// An application's grant for a grantless token under `cache_key`, and, as `read` asks, its
/// exchange lease, in one statement (as [`load_seller_grant`]).
pub async fn load_application_grant(
    conn: impl PgExecutor<'_>,
    tenant_id: Uuid,
    application_id: Uuid,
    cache_key: Uuid,
    read: &GrantRead<'_>,
) -> Result<Option<ApplicationGrantRow>, sqlx::Error> {
    sqlx::query_as!(
        ApplicationGrantRow,
        r#"with g as (
               select t.disabled as tenant_disabled, a.id as application_id, a.client_id,
                      a.client_secret,
                      case when a.previous_client_secret_expires_at > now()
                           then a.previous_client_secret end as previous_client_secret,
                      a.status as application_status,
                      c.sealed_token, c.issue_id, c.issued_at, c.expires_at,
                      (c.cache_key is not null
                       and ($4::timestamptz is null or c.expires_at >= $4)
                       and ($5::timestamptz is null or c.issued_at >= $5)) is true as stored_fresh,
                      l.generation, (l.expires_at > now()) is true as lease_running
               from application a
               join tenant t on t.id = a.tenant_id
               left join cached_token c on c.cache_key = $3
               left join exchange_lease l on l.cache_key = $3
               where a.tenant_id = $1 and a.id = $2
           ), taken as (
               select take_exchange_lease($3, $1, $6, $7) as generation
               from g
               where $6::uuid is not null and not g.stored_fresh and not g.tenant_disabled
                 and g.application_status = 'active'
           )
           select g.tenant_disabled as "tenant_disabled!", g.application_id as "application_id!",
                  g.client_id as "client_id!", g.client_secret as "sealed_client_secret!: Sealed",
                  g.previous_client_secret as "sealed_previous_client_secret?: Sealed",
                  g.application_status as "application_status!: ApplicationStatus",
                  g.sealed_token as "cached_token?: Sealed", g.issue_id as "cached_issue_id?",
                  g.issued_at as "cached_issued_at?", g.expires_at as "cached_expires_at?",
                  g.stored_fresh as "stored_fresh!", g.generation as "lease_generation?",
                  k.generation as "lease_taken?", g.lease_running as "lease_running!"
           from g left join taken k on true"#,
        tenant_id,
        application_id,
        cache_key,
        read.freshness.expires_after,
        read.freshness.issued_since,
        read.lease_id(),
        read.lease_ms(),
    )
    .fetch_optional(conn)
    .await
}

/// Records a new token, in one statement: its `token_issue` row (`issue`, with the token's
/// fingerprint), the sealed token in `cached_token` under `cache_key` (unless a newer one is there
/// already), and, for an access token, the seller's `last_token_issued_at`.
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
                                      token_fingerprint, api_key_id, request_id, client_secret,
                                      resource_set_fingerprint)
             values ($1, $2, $3, $4, $5, $6, 'issued', $7, $8, $9, $10, $11, $12, $15, $16)
         ), cached as (
             insert into cached_token (cache_key, tenant_id, application_id, seller_id, scope,
                                       sealed_token, issue_id, issued_at, expires_at)
             values ($13, $2, $4, $3, $6, $14, $1, $7, $8)
             on conflict (cache_key) do update
             set sealed_token = excluded.sealed_token, issue_id = excluded.issue_id,
                 issued_at = excluded.issued_at, expires_at = excluded.expires_at
             where cached_token.issued_at <= excluded.issued_at
         )
         -- (A Restricted Data Token, which has a resource set, is not an access token.)
         update seller set last_token_issued_at = $7 where id = $3 and $16::text is null",
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
        issue.client_secret,
        issue.resource_set_fingerprint
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The credentials an exchange (or a Tokens API call) used, as it read them (sealed): what must
/// still be its subject's for its result to be kept. A seller's exchange used its refresh token
/// and its application's secret; a grantless one only the secret. An exchange that fell back to
/// the previous secret (`previous_client_secret`) used both secrets: both must be unchanged.
#[derive(Clone, Copy)]
pub struct Fence<'a> {
    pub seller_id: Option<Uuid>,
    pub application_id: Uuid,
    pub sealed_refresh_token: Option<&'a [u8]>,
    pub sealed_client_secret: &'a [u8],
    pub sealed_previous_client_secret: Option<&'a [u8]>,
}

/// Whether `fence`'s credentials are still its subject's, with their rows locked `for share`
/// until the transaction ends: a replacement (or deletion) then commits wholly before this check
/// or after the transaction. (The check is the SQL function `credentials_still_current` of the
/// migrations, which [`record_token`] calls too.)
pub async fn credentials_still_current(
    conn: &mut PgConnection,
    fence: &Fence<'_>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select credentials_still_current($1, $2, $3, $4, $5) as "current!""#,
        fence.seller_id,
        fence.application_id,
        fence.sealed_client_secret,
        fence.sealed_previous_client_secret,
        fence.sealed_refresh_token
    )
    .fetch_one(conn)
    .await
}

/// A new token to record: an access token from LWA, or a Restricted Data Token from the Tokens
/// API (whose `issue` has the resource set's fingerprint, and whose delivery's `kind` says so).
pub struct NewToken<'a> {
    /// The credentials it was obtained with.
    pub fence: Fence<'a>,
    /// Its `token_issue` row, with the token's fingerprint.
    pub issue: NewTokenIssue<'a>,
    pub cache_key: Uuid,
    pub sealed_token: &'a [u8],
    pub expires_at: DateTime<Utc>,
    /// The lease of `cache_key` held by the call, given back in the same commit.
    pub lease_id: Uuid,
    /// Its delivery to a caller, if it goes to one (else it only goes into the caches).
    pub delivery: Option<&'a NewTokenDelivery>,
}

/// What [`record_token`] did.
#[derive(Debug, Clone, Copy)]
pub struct TokenRecorded {
    /// The fence held: the token was stored.
    pub current: bool,
    /// The delivery was recorded (the fence held and the tenant is enabled).
    pub delivered: bool,
}

/// Ends an exchange (or a Tokens API call) that got a token, in one statement and so one commit:
/// locks and checks the fence (as [`credentials_still_current`]); records the issue; only if the
/// fence held, stores the sealed token under the cache key (unless a newer one is there), sets
/// the seller's `last_token_issued_at` (for an access token) and, if there is a delivery and the
/// tenant is enabled, records the delivery; and gives the lease back. (The delivery cannot fail
/// alone: it goes to a table partitioned like the issue's, with values this code chose.)
pub async fn record_token(
    conn: impl PgExecutor<'_>,
    token: &NewToken<'_>,
) -> Result<TokenRecorded, sqlx::Error> {
    let NewToken {
        fence,
        issue,
        delivery,
        ..
    } = token;
    let recorded = sqlx::query!(
        r#"with fence as (
               select credentials_still_current($3, $4, $16, $17, $18) as current
           ), issue as (
               insert into token_issue (id, tenant_id, seller_id, application_id, grant_type,
                                        scope, outcome, issued_at, expires_at, lwa_latency_ms,
                                        token_fingerprint, api_key_id, request_id, client_secret,
                                        resource_set_fingerprint)
               values ($1, $2, $3, $4, $5, $6, 'issued', $7, $8, $9, $10, $11, $12, $15, $28)
           ), cached as (
               insert into cached_token (cache_key, tenant_id, application_id, seller_id, scope,
                                         sealed_token, issue_id, issued_at, expires_at)
               select $13, $2, $4, $3, $6, $14, $1, $7, $8 from fence where current
               on conflict (cache_key) do update
               set sealed_token = excluded.sealed_token, issue_id = excluded.issue_id,
                   issued_at = excluded.issued_at, expires_at = excluded.expires_at
               where cached_token.issued_at <= excluded.issued_at
           ), last_issued as (
               -- (A Restricted Data Token, which has a resource set, is not an access token.)
               update seller set last_token_issued_at = $7
               where id = $3 and $28::text is null and (select current from fence)
           ), released as (
               update exchange_lease set expires_at = now(), generation = generation + 1
               where cache_key = $13 and lease_id = $19
           ), delivered as (
               insert into token_delivery (id, tenant_id, issue_id, seller_id, application_id,
                                           api_key_id, source, via, delivered_at, request_id,
                                           client_ip, kind)
               select $20, $2, $1, $3, $4, $21, $22, $23, $24, $25, $26, $27
               from tenant t, fence f
               where $20::uuid is not null and t.id = $2 and not t.disabled and f.current
               returning id
           )
           select (select current from fence) as "current!",
                  exists (select 1 from delivered) as "delivered!""#,
        issue.id,
        issue.tenant_id,
        issue.seller_id,
        issue.application_id,
        issue.grant_type,
        issue.scope,
        issue.issued_at,
        token.expires_at,
        issue.lwa_latency_ms,
        issue.token_fingerprint,
        issue.api_key_id,
        issue.request_id,
        token.cache_key,
        token.sealed_token,
        issue.client_secret,
        fence.sealed_client_secret,
        fence.sealed_previous_client_secret,
        fence.sealed_refresh_token,
        token.lease_id,
        delivery.map(|d| d.id),
        delivery.map(|d| d.api_key_id),
        delivery.map(|d| d.source),
        delivery.map(|d| d.via),
        delivery.map(|d| d.delivered_at),
        delivery.map(|d| d.request_id.as_str()),
        delivery.map(|d| d.client_ip.as_str()),
        delivery.map(|d| d.kind),
        issue.resource_set_fingerprint,
    )
    .fetch_one(conn)
    .await?;
    Ok(TokenRecorded {
        current: recorded.current,
        delivered: recorded.delivered,
    })
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
