//! The `tenant` table.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{Limit, TenantName};

#[derive(Debug, Clone)]
pub struct TenantRow {
    pub id: Uuid,
    pub name: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

pub const NAME_CONSTRAINT: &str = "tenant_name_key";

#[tracing::instrument(skip(conn))]
pub async fn insert_tenant(
    conn: &mut PgConnection,
    id: Uuid,
    name: &TenantName,
) -> Result<TenantRow, sqlx::Error> {
    sqlx::query_as!(
        TenantRow,
        "insert into tenant (id, name) values ($1, $2)
         returning id, name, disabled, created_at",
        id,
        name.as_str()
    )
    .fetch_one(conn)
    .await
}

#[tracing::instrument(skip(pool))]
pub async fn list_tenants(
    pool: &PgPool,
    before: Uuid,
    limit: Limit,
) -> Result<Vec<TenantRow>, sqlx::Error> {
    sqlx::query_as!(
        TenantRow,
        "select id, name, disabled, created_at from tenant
         where id < $1 order by id desc limit $2",
        before,
        limit.fetch()
    )
    .fetch_all(pool)
    .await
}

#[tracing::instrument(skip(pool))]
pub async fn find_tenant(pool: &PgPool, id: Uuid) -> Result<Option<TenantRow>, sqlx::Error> {
    sqlx::query_as!(
        TenantRow,
        "select id, name, disabled, created_at from tenant where id = $1",
        id
    )
    .fetch_optional(pool)
    .await
}

/// Locks the tenant's row for the rest of the transaction; serialises changes to its keys.
pub async fn lock_tenant(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let row = sqlx::query_scalar!("select id from tenant where id = $1 for update", id)
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

#[tracing::instrument(skip(conn))]
pub async fn update_tenant(
    conn: &mut PgConnection,
    id: Uuid,
    name: Option<&TenantName>,
    disabled: Option<bool>,
) -> Result<Option<TenantRow>, sqlx::Error> {
    sqlx::query_as!(
        TenantRow,
        "update tenant set name = coalesce($2, name), disabled = coalesce($3, disabled)
         where id = $1
         returning id, name, disabled, created_at",
        id,
        name.map(TenantName::as_str),
        disabled
    )
    .fetch_optional(conn)
    .await
}

/// Deletes the tenant; its keys and everything else it owns go with it (`on delete cascade`).
#[tracing::instrument(skip(conn))]
pub async fn delete_tenant(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!("delete from tenant where id = $1", id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn find_tenant_by_name(
    pool: &PgPool,
    name: &TenantName,
) -> Result<Option<TenantRow>, sqlx::Error> {
    sqlx::query_as!(
        TenantRow,
        "select id, name, disabled, created_at from tenant where name = $1",
        name.as_str()
    )
    .fetch_optional(pool)
    .await
}
