//! The `application` table. Every query is scoped by the owning tenant (but for the
//! auto-rotation pass and the metrics, which look across tenants and return ids or counts only).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::sealed::Sealed;
use crate::domain::{ApplicationStatus, BrowserUrl, ClientId, DisplayName, Limit, SolutionId};

pub const NAME_CONSTRAINT: &str = "application_name_key";
pub const CLIENT_ID_CONSTRAINT: &str = "application_client_id_key";

#[derive(Debug, Clone)]
pub struct ApplicationRow {
    pub id: Uuid,
    pub name: String,
    pub client_id: String,
    pub status: ApplicationStatus,
    pub client_secret_updated_at: DateTime<Utc>,
    pub client_secret_expires_at: Option<DateTime<Utc>>,
    pub previous_client_secret_expires_at: Option<DateTime<Utc>>,
    pub auto_rotate: bool,
    pub rotation_requested_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub solution_id: Option<String>,
    pub draft: bool,
    /// `None`: the vault's own callback.
    pub redirect_uri: Option<String>,
    /// Its SP-API calls go to Amazon's sandbox hosts.
    pub sandbox: bool,
}

pub struct NewApplication<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: &'a DisplayName,
    pub client_id: &'a ClientId,
    pub sealed_secret: &'a [u8],
    pub secret_expires_at: Option<DateTime<Utc>>,
    pub solution_id: Option<&'a SolutionId>,
    pub draft: bool,
    pub redirect_uri: Option<&'a BrowserUrl>,
    pub auto_rotate: bool,
    pub sandbox: bool,
}

#[tracing::instrument(skip_all, fields(id = %app.id))]
pub async fn insert_application(
    conn: &mut PgConnection,
    app: NewApplication<'_>,
) -> Result<ApplicationRow, sqlx::Error> {
    sqlx::query_as!(
        ApplicationRow,
        "insert into application (id, tenant_id, name, client_id, client_secret, client_secret_expires_at,
                                  solution_id, draft, redirect_uri, auto_rotate, sandbox)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         returning id, name, client_id, status as \"status: ApplicationStatus\", client_secret_updated_at,
                   client_secret_expires_at, previous_client_secret_expires_at, auto_rotate,
                   rotation_requested_at, created_at, solution_id, draft, redirect_uri, sandbox",
        app.id,
        app.tenant_id,
        app.name.as_str(),
        app.client_id.as_str(),
        app.sealed_secret,
        app.secret_expires_at,
        app.solution_id.map(SolutionId::as_str),
        app.draft,
        app.redirect_uri.map(BrowserUrl::as_str),
        app.auto_rotate,
        app.sandbox
    )
    .fetch_one(conn)
    .await
}

/// A page of the tenant's applications; with `expiring_by`, only those whose current secret
/// expires by then.
#[tracing::instrument(skip(pool))]
pub async fn list_applications(
    pool: &PgPool,
    tenant_id: Uuid,
    before: Uuid,
    limit: Limit,
    expiring_by: Option<DateTime<Utc>>,
) -> Result<Vec<ApplicationRow>, sqlx::Error> {
    sqlx::query_as!(
        ApplicationRow,
        "select id, name, client_id, status as \"status: ApplicationStatus\", client_secret_updated_at,
                client_secret_expires_at, previous_client_secret_expires_at, auto_rotate,
                rotation_requested_at, created_at, solution_id, draft, redirect_uri, sandbox
         from application
         where tenant_id = $1 and id < $2
           and ($4::timestamptz is null or client_secret_expires_at <= $4)
         order by id desc limit $3",
        tenant_id,
        before,
        limit.fetch(),
        expiring_by
    )
    .fetch_all(pool)
    .await
}

#[tracing::instrument(skip(conn))]
pub async fn find_application(
    conn: impl PgExecutor<'_>,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<ApplicationRow>, sqlx::Error> {
    sqlx::query_as!(
        ApplicationRow,
        "select id, name, client_id, status as \"status: ApplicationStatus\", client_secret_updated_at,
                client_secret_expires_at, previous_client_secret_expires_at, auto_rotate,
                rotation_requested_at, created_at, solution_id, draft, redirect_uri, sandbox
         from application where tenant_id = $1 and id = $2",
        tenant_id,
        id
    )
    .fetch_optional(conn)
    .await
}

/// What `PATCH /v1/applications/{id}` changes: `None` keeps a field; `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct ApplicationChanges<'a> {
    pub name: Option<&'a DisplayName>,
    pub solution_id: Option<Option<&'a SolutionId>>,
    pub draft: Option<bool>,
    pub redirect_uri: Option<Option<&'a BrowserUrl>>,
    pub auto_rotate: Option<bool>,
    pub sandbox: Option<bool>,
}

#[tracing::instrument(skip(conn))]
pub async fn update_application(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    changes: ApplicationChanges<'_>,
) -> Result<Option<ApplicationRow>, sqlx::Error> {
    sqlx::query_as!(
        ApplicationRow,
        "update application
         set name = coalesce($3, name),
             solution_id = case when $4 then $5 else solution_id end,
             draft = coalesce($6, draft),
             redirect_uri = case when $7 then $8 else redirect_uri end,
             auto_rotate = coalesce($9, auto_rotate),
             sandbox = coalesce($10, sandbox)
         where tenant_id = $1 and id = $2
         returning id, name, client_id, status as \"status: ApplicationStatus\", client_secret_updated_at, client_secret_expires_at, previous_client_secret_expires_at, auto_rotate, rotation_requested_at, created_at, solution_id, draft, redirect_uri, sandbox",
        tenant_id,
        id,
        changes.name.map(DisplayName::as_str),
        changes.solution_id.is_some(),
        changes.solution_id.flatten().map(SolutionId::as_str),
        changes.draft,
        changes.redirect_uri.is_some(),
        changes.redirect_uri.flatten().map(BrowserUrl::as_str),
        changes.auto_rotate,
        changes.sandbox
    )
    .fetch_optional(conn)
    .await
}

/// The sealed current secret, its row locked until the transaction ends (a replacement reads it
/// to keep it as the previous one).
pub async fn lock_current_secret(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<Sealed>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select client_secret as "client_secret: Sealed"
           from application where tenant_id = $1 and id = $2 for update"#,
        tenant_id,
        id
    )
    .fetch_optional(conn)
    .await
}

/// The previous secret to keep after a replacement: sealed in its own place, until `until`.
pub struct PreviousSecret<'a> {
    pub sealed: &'a [u8],
    pub until: DateTime<Utc>,
}

/// Replaces the sealed client secret and the previous one (`None`: no previous secret); the
/// application is `active` again and no rotation is awaited any more.
#[tracing::instrument(skip(conn, sealed_secret, previous))]
pub async fn replace_client_secret(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    sealed_secret: &[u8],
    expires_at: Option<DateTime<Utc>>,
    previous: Option<PreviousSecret<'_>>,
) -> Result<Option<ApplicationRow>, sqlx::Error> {
    let (previous_sealed, previous_until) = match previous {
        Some(p) => (Some(p.sealed), Some(p.until)),
        None => (None, None),
    };
    sqlx::query_as!(
        ApplicationRow,
        "update application
         set client_secret = $3, client_secret_expires_at = $4, client_secret_updated_at = now(),
             previous_client_secret = $5, previous_client_secret_expires_at = $6,
             status = 'active', rotation_requested_at = null
         where tenant_id = $1 and id = $2
         returning id, name, client_id, status as \"status: ApplicationStatus\", client_secret_updated_at,
                   client_secret_expires_at, previous_client_secret_expires_at, auto_rotate,
                   rotation_requested_at, created_at, solution_id, draft, redirect_uri, sandbox",
        tenant_id,
        id,
        sealed_secret,
        expires_at,
        previous_sealed,
        previous_until
    )
    .fetch_optional(conn)
    .await
}

/// Records when the current secret expires (Amazon's expiry notice).
pub async fn record_secret_expiry(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<Option<ApplicationRow>, sqlx::Error> {
    sqlx::query_as!(
        ApplicationRow,
        "update application set client_secret_expires_at = $3
         where tenant_id = $1 and id = $2
         returning id, name, client_id, status as \"status: ApplicationStatus\", client_secret_updated_at,
                   client_secret_expires_at, previous_client_secret_expires_at, auto_rotate,
                   rotation_requested_at, created_at, solution_id, draft, redirect_uri, sandbox",
        tenant_id,
        id,
        expires_at
    )
    .fetch_optional(conn)
    .await
}

/// Sets (or with `None` clears) when a rotation was last asked of Amazon.
pub async fn set_rotation_requested(
    conn: impl PgExecutor<'_>,
    tenant_id: Uuid,
    id: Uuid,
    at: Option<DateTime<Utc>>,
) -> Result<Option<ApplicationRow>, sqlx::Error> {
    sqlx::query_as!(
        ApplicationRow,
        "update application set rotation_requested_at = $3
         where tenant_id = $1 and id = $2
         returning id, name, client_id, status as \"status: ApplicationStatus\", client_secret_updated_at,
                   client_secret_expires_at, previous_client_secret_expires_at, auto_rotate,
                   rotation_requested_at, created_at, solution_id, draft, redirect_uri, sandbox",
        tenant_id,
        id,
        at
    )
    .fetch_optional(conn)
    .await
}

/// Marks a rotation as asked of Amazon now, unless one was asked less than a minute ago (Amazon
/// allows the call once a minute): `Some(when the one before was asked)` when marked, `None`
/// when too soon or no such application. The row is locked, so concurrent callers mark once.
pub async fn claim_rotation_request(
    conn: impl PgExecutor<'_>,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<Option<DateTime<Utc>>>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"with before as (
               select id, rotation_requested_at from application
               where tenant_id = $1 and id = $2 for update
           )
           update application a set rotation_requested_at = now()
           from before
           where a.id = before.id
             and (before.rotation_requested_at is null
                  or before.rotation_requested_at <= now() - interval '1 minute')
           returning before.rotation_requested_at as "previous?""#,
        tenant_id,
        id
    )
    .fetch_optional(conn)
    .await
}

/// An application the auto-rotation pass claimed.
#[derive(Debug, Clone)]
pub struct DueRotation {
    pub tenant_id: Uuid,
    pub application_id: Uuid,
    /// Its `rotation_requested_at` before the claim (put back if the rotation fails).
    pub previously_requested_at: Option<DateTime<Utc>>,
}

/// Claims up to `limit` applications with auto-rotation whose current secret expires by
/// `expiring_by` and for which no rotation was asked since `asked_before` (of enabled tenants):
/// marks them as asked now, in one statement. Rows another replica is claiming are skipped, so
/// replicas running the pass together claim each application once.
pub async fn claim_due_rotations(
    conn: impl PgExecutor<'_>,
    expiring_by: DateTime<Utc>,
    asked_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DueRotation>, sqlx::Error> {
    sqlx::query_as!(
        DueRotation,
        r#"with due as (
               select a.id, a.rotation_requested_at
               from application a join tenant t on t.id = a.tenant_id
               where a.auto_rotate and not t.disabled
                 and a.client_secret_expires_at is not null and a.client_secret_expires_at <= $1
                 and (a.rotation_requested_at is null or a.rotation_requested_at < $2)
               order by a.client_secret_expires_at
               limit $3
               for update of a skip locked
           )
           update application a set rotation_requested_at = now()
           from due where a.id = due.id
           returning a.tenant_id, a.id as application_id,
                     due.rotation_requested_at as previously_requested_at"#,
        expiring_by,
        asked_before,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Counts across all tenants, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecretCounts {
    pub expiring_within_7_days: i64,
    pub expiring_within_30_days: i64,
    pub rejected: i64,
}

pub async fn count_secret_states(pool: &PgPool) -> Result<SecretCounts, sqlx::Error> {
    let row = sqlx::query!(
        r#"select
               count(*) filter (where client_secret_expires_at <= now() + interval '7 days') as "within_7!",
               count(*) filter (where client_secret_expires_at <= now() + interval '30 days') as "within_30!",
               count(*) filter (where status = 'client_credentials_rejected') as "rejected!"
           from application"#
    )
    .fetch_one(pool)
    .await?;
    Ok(SecretCounts {
        expiring_within_7_days: row.within_7,
        expiring_within_30_days: row.within_30,
        rejected: row.rejected,
    })
}

/// Deletes the application; fails with a foreign-key violation while sellers use it.
#[tracing::instrument(skip(conn))]
pub async fn delete_application(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        "delete from application where tenant_id = $1 and id = $2",
        tenant_id,
        id
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn find_application_by_client_id(
    conn: impl PgExecutor<'_>,
    tenant_id: Uuid,
    client_id: &ClientId,
) -> Result<Option<ApplicationRow>, sqlx::Error> {
    sqlx::query_as!(
        ApplicationRow,
        "select id, name, client_id, status as \"status: ApplicationStatus\", client_secret_updated_at,
                client_secret_expires_at, previous_client_secret_expires_at, auto_rotate,
                rotation_requested_at, created_at, solution_id, draft, redirect_uri, sandbox
         from application where tenant_id = $1 and client_id = $2",
        tenant_id,
        client_id.as_str()
    )
    .fetch_optional(conn)
    .await
}

/// Records that the tenant applied Amazon's notification `notification_id`; `false` if it had
/// already (then nothing else may change).
pub async fn record_notification(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    notification_id: &str,
    notification_type: &str,
    application_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        "insert into amazon_notification (tenant_id, notification_id, notification_type, application_id)
         values ($1, $2, $3, $4) on conflict do nothing",
        tenant_id,
        notification_id,
        notification_type,
        application_id
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The application a notification the tenant already applied was about.
pub async fn find_notification(
    conn: impl PgExecutor<'_>,
    tenant_id: Uuid,
    notification_id: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "select application_id from amazon_notification where tenant_id = $1 and notification_id = $2",
        tenant_id,
        notification_id
    )
    .fetch_optional(conn)
    .await
}

/// An application whose secret expires soon with no rotation in flight (for the daily warning).
#[derive(Debug, Clone)]
pub struct UnattendedExpiry {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub client_secret_expires_at: Option<DateTime<Utc>>,
}

/// Applications (of every tenant) whose current secret expires by `expiring_by` and for which no
/// rotation was asked since `asked_since`.
pub async fn unattended_expiries(
    pool: &PgPool,
    expiring_by: DateTime<Utc>,
    asked_since: DateTime<Utc>,
) -> Result<Vec<UnattendedExpiry>, sqlx::Error> {
    sqlx::query_as!(
        UnattendedExpiry,
        "select tenant_id, id, client_secret_expires_at from application
         where client_secret_expires_at <= $1
           and (rotation_requested_at is null or rotation_requested_at < $2)
         order by client_secret_expires_at limit 1000",
        expiring_by,
        asked_since
    )
    .fetch_all(pool)
    .await
}
