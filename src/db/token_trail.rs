//! `token_issue` and `token_delivery`: one row per exchange attempt at LWA, one per token handed
//! out. Both are partitioned by month on their UUIDv7 ids (see the migration).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::db::audit_events::TimeRange;
use crate::domain::Limit;

#[derive(Debug, Clone)]
pub struct TokenIssueRow {
    pub id: Uuid,
    pub seller_id: Option<Uuid>,
    pub application_id: Uuid,
    pub grant_type: String,
    pub scope: Option<String>,
    pub outcome: String,
    pub error_code: Option<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub lwa_latency_ms: i32,
    pub token_fingerprint: Option<String>,
    pub api_key_id: Option<Uuid>,
    pub request_id: String,
    pub client_secret: Option<String>,
    /// For a Restricted Data Token: the fingerprint of the resource set it covers.
    pub resource_set_fingerprint: Option<String>,
}

#[derive(Clone, Copy)]
pub struct NewTokenIssue<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub seller_id: Option<Uuid>,
    pub application_id: Uuid,
    pub grant_type: &'a str,
    pub scope: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub lwa_latency_ms: i32,
    pub token_fingerprint: Option<&'a str>,
    /// `None` for an exchange no key asked for: a seller's consent arriving at the callback, or
    /// the vault's own use of a token.
    pub api_key_id: Option<Uuid>,
    pub request_id: &'a str,
    /// Which of the application's secrets was used: `current` or `previous`.
    pub client_secret: Option<&'a str>,
    /// For a Restricted Data Token: the fingerprint of the resource set it was asked for.
    pub resource_set_fingerprint: Option<&'a str>,
}

pub async fn insert_token_issue(
    conn: impl PgExecutor<'_>,
    issue: NewTokenIssue<'_>,
) -> Result<(), sqlx::Error> {
    let outcome = if issue.error_code.is_none() {
        "issued"
    } else {
        "lwa_error"
    };
    sqlx::query!(
        "insert into token_issue (id, tenant_id, seller_id, application_id, grant_type, scope,
                                  outcome, error_code, issued_at, expires_at, lwa_latency_ms,
                                  token_fingerprint, api_key_id, request_id, client_secret,
                                  resource_set_fingerprint)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        issue.id,
        issue.tenant_id,
        issue.seller_id,
        issue.application_id,
        issue.grant_type,
        issue.scope,
        outcome,
        issue.error_code,
        issue.issued_at,
        issue.expires_at,
        issue.lwa_latency_ms,
        issue.token_fingerprint,
        issue.api_key_id,
        issue.request_id,
        issue.client_secret,
        issue.resource_set_fingerprint
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Default, Clone, Copy)]
pub struct IssueFilter {
    pub seller_id: Option<Uuid>,
    pub application_id: Option<Uuid>,
}

pub async fn list_token_issues(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: IssueFilter,
    range: TimeRange,
    before: Uuid,
    limit: Limit,
) -> Result<Vec<TokenIssueRow>, sqlx::Error> {
    sqlx::query_as!(
        TokenIssueRow,
        "select id, seller_id, application_id, grant_type, scope, outcome, error_code, issued_at,
                expires_at, lwa_latency_ms, token_fingerprint, api_key_id, request_id, client_secret,
                resource_set_fingerprint
         from token_issue
         where tenant_id = $1 and id < $2
           and ($3::uuid is null or seller_id = $3)
           and ($4::uuid is null or application_id = $4)
           and ($5::timestamptz is null or issued_at >= $5)
           and ($6::timestamptz is null or issued_at < $6)
         order by id desc limit $7",
        tenant_id,
        before,
        filter.seller_id,
        filter.application_id,
        range.since,
        range.until,
        limit.fetch()
    )
    .fetch_all(pool)
    .await
}

pub async fn find_issue_by_fingerprint(
    pool: &PgPool,
    tenant_id: Uuid,
    fingerprint: &str,
) -> Result<Option<TokenIssueRow>, sqlx::Error> {
    sqlx::query_as!(
        TokenIssueRow,
        "select id, seller_id, application_id, grant_type, scope, outcome, error_code, issued_at,
                expires_at, lwa_latency_ms, token_fingerprint, api_key_id, request_id, client_secret,
                resource_set_fingerprint
         from token_issue where tenant_id = $1 and token_fingerprint = $2
         order by id desc limit 1",
        tenant_id,
        fingerprint
    )
    .fetch_optional(pool)
    .await
}

#[derive(Debug, Clone)]
pub struct TokenDeliveryRow {
    pub id: Uuid,
    pub issue_id: Uuid,
    pub seller_id: Option<Uuid>,
    pub application_id: Uuid,
    pub api_key_id: Uuid,
    pub source: String,
    pub via: String,
    pub kind: String,
    pub delivered_at: DateTime<Utc>,
    pub request_id: String,
    pub client_ip: String,
    pub proxy_method: Option<String>,
    pub proxy_path: Option<String>,
    pub proxy_status: Option<i16>,
}

/// The SP-API call a proxied delivery's token was used for.
#[derive(Debug, Clone)]
pub struct ProxiedCall {
    pub method: String,
    /// Without the query.
    pub path: String,
    /// Amazon's status; `None` when Amazon never answered.
    pub status: Option<i16>,
}

/// A delivery to record. `seller_id` is `None` for grantless tokens.
#[derive(Debug, Clone)]
pub struct NewTokenDelivery {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub issue_id: Uuid,
    pub seller_id: Option<Uuid>,
    pub application_id: Uuid,
    pub api_key_id: Uuid,
    pub source: &'static str,
    pub via: &'static str,
    /// `access_token` or `restricted_data_token`.
    pub kind: &'static str,
    pub delivered_at: DateTime<Utc>,
    pub request_id: String,
    pub client_ip: String,
    /// For `via = "proxy"`: the call the token was used for.
    pub proxy: Option<ProxiedCall>,
}

/// Records one delivery in the caller's transaction if the tenant is (still) enabled; whether it
/// was. (The caller's locks keep the seller or application there.)
pub async fn insert_token_delivery(
    conn: &mut PgConnection,
    row: &NewTokenDelivery,
) -> Result<bool, sqlx::Error> {
    let written = sqlx::query!(
        "insert into token_delivery (id, tenant_id, issue_id, seller_id, application_id,
                                     api_key_id, source, via, delivered_at, request_id, client_ip,
                                     kind)
         select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
         from tenant where id = $2 and not disabled",
        row.id,
        row.tenant_id,
        row.issue_id,
        row.seller_id,
        row.application_id,
        row.api_key_id,
        row.source,
        row.via,
        row.delivered_at,
        row.request_id,
        row.client_ip,
        row.kind
    )
    .execute(conn)
    .await?;
    Ok(written.rows_affected() == 1)
}

/// The nil UUID stands for "no seller" (a grantless token) in the batch's seller column.
const NO_SELLER: Uuid = Uuid::nil();

/// A batch of deliveries as columns, one array per column of `token_delivery`: what `unnest`
/// takes. A new column is a field here, its push in `push`, and its place in each of the three
/// lists of `insert_token_deliveries` (the insert's columns, `unnest`'s arrays and their names).
#[derive(Default)]
struct DeliveryColumns<'a> {
    ids: Vec<Uuid>,
    tenants: Vec<Uuid>,
    issues: Vec<Uuid>,
    sellers: Vec<Uuid>,
    applications: Vec<Uuid>,
    keys: Vec<Uuid>,
    sources: Vec<&'a str>,
    vias: Vec<&'a str>,
    times: Vec<DateTime<Utc>>,
    requests: Vec<&'a str>,
    ips: Vec<&'a str>,
    kinds: Vec<&'a str>,
    proxy_methods: Vec<Option<&'a str>>,
    proxy_paths: Vec<Option<&'a str>>,
    proxy_statuses: Vec<Option<i16>>,
}

impl<'a> DeliveryColumns<'a> {
    fn new(rows: &'a [NewTokenDelivery]) -> Self {
        let mut columns = Self::with_capacity(rows.len());
        for row in rows {
            columns.push(row);
        }
        columns
    }

    fn with_capacity(n: usize) -> Self {
        Self {
            ids: Vec::with_capacity(n),
            tenants: Vec::with_capacity(n),
            issues: Vec::with_capacity(n),
            sellers: Vec::with_capacity(n),
            applications: Vec::with_capacity(n),
            keys: Vec::with_capacity(n),
            sources: Vec::with_capacity(n),
            vias: Vec::with_capacity(n),
            times: Vec::with_capacity(n),
            requests: Vec::with_capacity(n),
            ips: Vec::with_capacity(n),
            kinds: Vec::with_capacity(n),
            proxy_methods: Vec::with_capacity(n),
            proxy_paths: Vec::with_capacity(n),
            proxy_statuses: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, row: &'a NewTokenDelivery) {
        self.ids.push(row.id);
        self.tenants.push(row.tenant_id);
        self.issues.push(row.issue_id);
        self.sellers.push(row.seller_id.unwrap_or(NO_SELLER));
        self.applications.push(row.application_id);
        self.keys.push(row.api_key_id);
        self.sources.push(row.source);
        self.vias.push(row.via);
        self.times.push(row.delivered_at);
        self.requests.push(&row.request_id);
        self.ips.push(&row.client_ip);
        self.kinds.push(row.kind);
        let proxy = row.proxy.as_ref();
        self.proxy_methods.push(proxy.map(|p| p.method.as_str()));
        self.proxy_paths.push(proxy.map(|p| p.path.as_str()));
        self.proxy_statuses.push(proxy.and_then(|p| p.status));
    }
}

/// Records many deliveries in one statement (one commit); returns how many were recorded.
///
/// A delivery is recorded only if its tenant exists and is enabled, and its seller (or, for a
/// grantless token, its application) exists. The checks are made once per distinct tenant,
/// seller and application of the batch (`= any(…)`, one index probe each), not per row. The
/// batch's tenants are locked `for share` until the commit, so a tenant disabled (or deleted)
/// meanwhile waits for the commit or is seen disabled: the tenant check holds at the commit. A
/// seller's or application's existence is checked as of the statement's start, which comes after
/// every request of the batch handed its row over: a request made after a deletion committed
/// never gets a token. (Locking them too, `for key share`, would cost a lock per distinct seller
/// per batch: about a sixth more work per row; see BENCHMARKS.md.)
///
/// Nothing is returned per row: when fewer rows than given were recorded (something was refused),
/// `recorded_token_deliveries` says which.
pub async fn insert_token_deliveries(
    conn: impl PgExecutor<'_>,
    rows: &[NewTokenDelivery],
) -> Result<u64, sqlx::Error> {
    let c = DeliveryColumns::new(rows);
    let done = sqlx::query!(
        r#"with tenant_ok as (select id from tenant where id = any($2) and not disabled
                              order by id for share),
                seller_ok as (select id from seller where id = any($4)),
                application_ok as (select id from application where id = any($5))
           insert into token_delivery (id, tenant_id, issue_id, seller_id, application_id,
                                       api_key_id, source, via, delivered_at, request_id, client_ip,
                                       kind, proxy_method, proxy_path, proxy_status)
           select d.id, d.tenant_id, d.issue_id,
                  nullif(d.seller_id, '00000000-0000-0000-0000-000000000000'),
                  d.application_id, d.api_key_id, d.source, d.via, d.delivered_at, d.request_id,
                  d.client_ip, d.kind, d.proxy_method, d.proxy_path, d.proxy_status
           from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[],
                       $7::text[], $8::text[], $9::timestamptz[], $10::text[], $11::text[],
                       $12::text[], $13::text[], $14::text[], $15::smallint[])
                as d(id, tenant_id, issue_id, seller_id, application_id, api_key_id, source, via,
                     delivered_at, request_id, client_ip, kind, proxy_method, proxy_path,
                     proxy_status)
           where d.tenant_id in (select id from tenant_ok)
             and case when d.seller_id = '00000000-0000-0000-0000-000000000000'
                      then d.application_id in (select id from application_ok)
                      else d.seller_id in (select id from seller_ok) end"#,
        &c.ids,
        &c.tenants,
        &c.issues,
        &c.sellers,
        &c.applications,
        &c.keys,
        &c.sources[..] as &[&str],
        &c.vias[..] as &[&str],
        &c.times,
        &c.requests[..] as &[&str],
        &c.ips[..] as &[&str],
        &c.kinds[..] as &[&str],
        &c.proxy_methods[..] as &[Option<&str>],
        &c.proxy_paths[..] as &[Option<&str>],
        &c.proxy_statuses[..] as &[Option<i16>]
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Which of `rows` are on record (after `insert_token_deliveries` recorded fewer than given).
pub async fn recorded_token_deliveries(
    conn: impl PgExecutor<'_>,
    rows: &[NewTokenDelivery],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut tenants: Vec<Uuid> = rows.iter().map(|r| r.tenant_id).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    sqlx::query_scalar!(
        "select id from token_delivery where tenant_id = any($1) and id = any($2)",
        &tenants,
        &ids
    )
    .fetch_all(conn)
    .await
}

#[derive(Debug, Default, Clone, Copy)]
pub struct DeliveryFilter {
    pub seller_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
}

pub async fn list_token_deliveries(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: DeliveryFilter,
    range: TimeRange,
    before: Uuid,
    limit: Limit,
) -> Result<Vec<TokenDeliveryRow>, sqlx::Error> {
    sqlx::query_as!(
        TokenDeliveryRow,
        "select id, issue_id, seller_id, application_id, api_key_id, source, via, kind,
                delivered_at, request_id, client_ip, proxy_method, proxy_path, proxy_status
         from token_delivery
         where tenant_id = $1 and id < $2
           and ($3::uuid is null or seller_id = $3)
           and ($4::uuid is null or api_key_id = $4)
           and ($5::timestamptz is null or delivered_at >= $5)
           and ($6::timestamptz is null or delivered_at < $6)
         order by id desc limit $7",
        tenant_id,
        before,
        filter.seller_id,
        filter.api_key_id,
        range.since,
        range.until,
        limit.fetch()
    )
    .fetch_all(pool)
    .await
}

/// Keeps monthly partitions ready for the coming months.
pub async fn ensure_partitions(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query!("select ensure_trail_partitions(now(), 2)")
        .execute(pool)
        .await?;
    Ok(())
}

/// Drops whole months older than `cutoff`; returns how many partitions went.
pub async fn drop_partitions_before(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
) -> Result<i32, sqlx::Error> {
    let dropped = sqlx::query_scalar!("select drop_trail_partitions_before($1)", cutoff)
        .fetch_one(pool)
        .await?;
    Ok(dropped.unwrap_or(0))
}

/// Deletes up to `batch` rows older than `cutoff` from each trail table; returns how many.
pub async fn delete_trail_before(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let issues = sqlx::query!(
        "delete from token_issue where id in (
             select id from token_issue where id < uuid_v7_floor($1) limit $2)",
        cutoff,
        batch
    )
    .execute(pool)
    .await?;
    let deliveries = sqlx::query!(
        "delete from token_delivery where (tenant_id, id) in (
             select tenant_id, id from token_delivery where id < uuid_v7_floor($1) limit $2)",
        cutoff,
        batch
    )
    .execute(pool)
    .await?;
    let events = sqlx::query!(
        "delete from audit_event where id in (
             select id from audit_event where at < $1 limit $2)",
        cutoff,
        batch
    )
    .execute(pool)
    .await?;
    Ok(issues.rows_affected() + deliveries.rows_affected() + events.rows_affected())
}
