//! `tenant_data_key` and `master_key_check`: the stored half of the key hierarchy.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::sealed::Sealed;

pub struct WrappedKeyRow {
    pub tenant_id: Uuid,
    pub master_key_id: i32,
    pub wrapped_key: Sealed,
}

pub async fn find_master_key_check(
    pool: &PgPool,
    master_key_id: i32,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar!(
        "select sealed from master_key_check where master_key_id = $1",
        master_key_id
    )
    .fetch_optional(pool)
    .await
}

/// Stores the check value of a master key seen for the first time (a racing replica may win).
pub async fn insert_master_key_check(
    pool: &PgPool,
    master_key_id: i32,
    sealed: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into master_key_check (master_key_id, sealed) values ($1, $2)
         on conflict (master_key_id) do nothing",
        master_key_id,
        sealed
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// One wrapped data key per master key in use: enough to prove each configured key opens them.
pub async fn sample_per_master_key(pool: &PgPool) -> Result<Vec<WrappedKeyRow>, sqlx::Error> {
    sqlx::query_as!(
        WrappedKeyRow,
        r#"select distinct on (master_key_id) tenant_id, master_key_id,
                  wrapped_key as "wrapped_key: Sealed"
           from tenant_data_key order by master_key_id, tenant_id"#
    )
    .fetch_all(pool)
    .await
}

pub async fn insert_data_key(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    master_key_id: i32,
    wrapped_key: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into tenant_data_key (tenant_id, master_key_id, wrapped_key) values ($1, $2, $3)
         on conflict (tenant_id) do nothing",
        tenant_id,
        master_key_id,
        wrapped_key
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find_data_key(
    pool: &PgPool,
    tenant_id: Uuid,
) -> Result<Option<WrappedKeyRow>, sqlx::Error> {
    sqlx::query_as!(
        WrappedKeyRow,
        r#"select tenant_id, master_key_id, wrapped_key as "wrapped_key: Sealed"
           from tenant_data_key where tenant_id = $1"#,
        tenant_id
    )
    .fetch_optional(pool)
    .await
}

/// Locks up to `limit` data keys not yet wrapped by `current`, skipping ones another rotation
/// holds.
pub async fn lock_keys_to_rewrap(
    conn: &mut PgConnection,
    current: i32,
    limit: i64,
) -> Result<Vec<WrappedKeyRow>, sqlx::Error> {
    sqlx::query_as!(
        WrappedKeyRow,
        r#"select tenant_id, master_key_id, wrapped_key as "wrapped_key: Sealed" from tenant_data_key
           where master_key_id <> $1 order by tenant_id limit $2 for update skip locked"#,
        current,
        limit
    )
    .fetch_all(conn)
    .await
}

pub async fn count_keys_to_rewrap(pool: &PgPool, current: i32) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from tenant_data_key where master_key_id <> $1"#,
        current
    )
    .fetch_one(pool)
    .await
}

pub async fn rewrap(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    master_key_id: i32,
    wrapped_key: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update tenant_data_key set master_key_id = $2, wrapped_key = $3 where tenant_id = $1",
        tenant_id,
        master_key_id,
        wrapped_key
    )
    .execute(conn)
    .await?;
    Ok(())
}
