//! The `application` table. Every query is scoped by the owning tenant.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

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
    pub created_at: DateTime<Utc>,
    pub solution_id: Option<String>,
    pub draft: bool,
    /// `None`: the vault's own callback.
    pub redirect_uri: Option<String>,
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
}

#[tracing::instrument(skip_all, fields(id = %app.id))]
pub async fn insert_application(
    conn: &mut PgConnection,
    app: NewApplication<'_>,
) -> Result<ApplicationRow, sqlx::Error> {
    sqlx::query_as!(
        ApplicationRow,
        "insert into application (id, tenant_id, name, client_id, client_secret, client_secret_expires_at,
                                  solution_id, draft, redirect_uri)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         returning id, name, client_id, status as \"status: ApplicationStatus\", client_secret_updated_at, client_secret_expires_at, created_at, solution_id, draft, redirect_uri",
        app.id,
        app.tenant_id,
        app.name.as_str(),
        app.client_id.as_str(),
        app.sealed_secret,
        app.secret_expires_at,
        app.solution_id.map(SolutionId::as_str),
        app.draft,
        app.redirect_uri.map(BrowserUrl::as_str)
    )
    .fetch_one(conn)
    .await
}

#[tracing::instrument(skip(pool))]
pub async fn list_applications(
    pool: &PgPool,
    tenant_id: Uuid,
    before: Uuid,
    limit: Limit,
) -> Result<Vec<ApplicationRow>, sqlx::Error> {
    sqlx::query_as!(
        ApplicationRow,
        "select id, name, client_id, status as \"status: ApplicationStatus\", client_secret_updated_at, client_secret_expires_at, created_at,
                solution_id, draft, redirect_uri
         from application where tenant_id = $1 and id < $2 order by id desc limit $3",
        tenant_id,
        before,
        limit.fetch()
    )
    .fetch_all(pool)
    .await
}

#[tracing::instrument(skip(pool))]
pub async fn find_application(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<ApplicationRow>, sqlx::Error> {
    sqlx::query_as!(
        ApplicationRow,
        "select id, name, client_id, status as \"status: ApplicationStatus\", client_secret_updated_at, client_secret_expires_at, created_at,
                solution_id, draft, redirect_uri
         from application where tenant_id = $1 and id = $2",
        tenant_id,
        id
    )
    .fetch_optional(pool)
    .await
}

/// What `PATCH /v1/applications/{id}` changes: `None` keeps a field; `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct ApplicationChanges<'a> {
    pub name: Option<&'a DisplayName>,
    pub solution_id: Option<Option<&'a SolutionId>>,
    pub draft: Option<bool>,
    pub redirect_uri: Option<Option<&'a BrowserUrl>>,
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
             redirect_uri = case when $7 then $8 else redirect_uri end
         where tenant_id = $1 and id = $2
         returning id, name, client_id, status as \"status: ApplicationStatus\", client_secret_updated_at, client_secret_expires_at, created_at, solution_id, draft, redirect_uri",
        tenant_id,
        id,
        changes.name.map(DisplayName::as_str),
        changes.solution_id.is_some(),
        changes.solution_id.flatten().map(SolutionId::as_str),
        changes.draft,
        changes.redirect_uri.is_some(),
        changes.redirect_uri.flatten().map(BrowserUrl::as_str)
    )
    .fetch_optional(conn)
    .await
}

/// Replaces the sealed client secret; the application is `active` again.
#[tracing::instrument(skip(conn, sealed_secret))]
pub async fn replace_client_secret(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    sealed_secret: &[u8],
    expires_at: Option<DateTime<Utc>>,
) -> Result<Option<ApplicationRow>, sqlx::Error> {
    sqlx::query_as!(
        ApplicationRow,
        "update application
         set client_secret = $3, client_secret_expires_at = $4, client_secret_updated_at = now(),
             status = 'active'
         where tenant_id = $1 and id = $2
         returning id, name, client_id, status as \"status: ApplicationStatus\", client_secret_updated_at, client_secret_expires_at, created_at, solution_id, draft, redirect_uri",
        tenant_id,
        id,
        sealed_secret,
        expires_at
    )
    .fetch_optional(conn)
    .await
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
    pool: &PgPool,
    tenant_id: Uuid,
    client_id: &ClientId,
) -> Result<Option<ApplicationRow>, sqlx::Error> {
    sqlx::query_as!(
        ApplicationRow,
        "select id, name, client_id, status as \"status: ApplicationStatus\", client_secret_updated_at, client_secret_expires_at, created_at,
                solution_id, draft, redirect_uri
         from application where tenant_id = $1 and client_id = $2",
        tenant_id,
        client_id.as_str()
    )
    .fetch_optional(pool)
    .await
}
