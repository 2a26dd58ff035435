//! The `api_key` table: tenant keys and operator keys (which have no tenant).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{DisplayName, Limit, Scopes};

#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What authentication needs to know about a key, with its tenant's state.
#[derive(Debug, Clone)]
pub struct KeyCredentialRow {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub scopes: Vec<String>,
    pub key_hash: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
    pub tenant_disabled: bool,
}

pub struct NewApiKey<'a> {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub name: &'a DisplayName,
    pub scopes: &'a Scopes,
    pub key_hash: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
}

#[tracing::instrument(skip_all, fields(id = %key.id))]
pub async fn insert_api_key(
    conn: &mut PgConnection,
    key: NewApiKey<'_>,
) -> Result<ApiKeyRow, sqlx::Error> {
    sqlx::query_as!(
        ApiKeyRow,
        "insert into api_key (id, tenant_id, name, scopes, key_hash, expires_at)
         values ($1, $2, $3, $4, $5, $6)
         returning id, tenant_id, name, scopes, created_at, expires_at, last_used_at, revoked_at",
        key.id,
        key.tenant_id,
        key.name.as_str(),
        &key.scopes.as_strings(),
        key.key_hash,
        key.expires_at
    )
    .fetch_one(conn)
    .await
}

#[tracing::instrument(skip(pool))]
pub async fn list_tenant_keys(
    pool: &PgPool,
    tenant_id: Uuid,
    before: Uuid,
    limit: Limit,
) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as!(
        ApiKeyRow,
        "select id, tenant_id, name, scopes, created_at, expires_at, last_used_at, revoked_at
         from api_key where tenant_id = $1 and id < $2 order by id desc limit $3",
        tenant_id,
        before,
        limit.fetch()
    )
    .fetch_all(pool)
    .await
}

#[tracing::instrument(skip(pool))]
pub async fn list_operator_keys(pool: &PgPool) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as!(
        ApiKeyRow,
        "select id, tenant_id, name, scopes, created_at, expires_at, last_used_at, revoked_at
         from api_key where tenant_id is null order by id"
    )
    .fetch_all(pool)
    .await
}

#[tracing::instrument(skip(pool))]
pub async fn find_key_credential(
    pool: &PgPool,
    id: Uuid,
) -> Result<Option<KeyCredentialRow>, sqlx::Error> {
    sqlx::query_as!(
        KeyCredentialRow,
        r#"select k.id, k.tenant_id, k.scopes, k.key_hash, k.expires_at,
                  k.revoked_at is not null as "revoked!",
                  coalesce(t.disabled, false) as "tenant_disabled!"
           from api_key k left join tenant t on t.id = k.tenant_id
           where k.id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await
}

/// A tenant key after `revoke_tenant_key`, and whether this call revoked it (it may have been
/// revoked before).
#[derive(Debug)]
pub struct RevokedKey {
    pub key: ApiKeyRow,
    pub newly_revoked: bool,
}

/// Revokes a tenant's key (only if it is the tenant's), returning it as it is now.
#[tracing::instrument(skip(conn))]
pub async fn revoke_tenant_key(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<RevokedKey>, sqlx::Error> {
    let row = sqlx::query!(
        r#"with before as (
               select id, revoked_at from api_key where id = $1 and tenant_id = $2 for update
           )
           update api_key k set revoked_at = coalesce(k.revoked_at, now())
           from before where k.id = before.id
           returning k.id, k.tenant_id, k.name, k.scopes, k.created_at, k.expires_at,
                     k.last_used_at, k.revoked_at, before.revoked_at is null as "newly_revoked!""#,
        id,
        tenant_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| RevokedKey {
        key: ApiKeyRow {
            id: row.id,
            tenant_id: row.tenant_id,
            name: row.name,
            scopes: row.scopes,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        },
        newly_revoked: row.newly_revoked,
    }))
}

#[tracing::instrument(skip(conn))]
pub async fn revoke_operator_key(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        "update api_key set revoked_at = coalesce(revoked_at, now())
         where id = $1 and tenant_id is null",
        id
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The tenant's usable admin keys (not revoked, not expired), other than `except`.
pub async fn count_other_admin_keys(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    except: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from api_key
           where tenant_id = $1 and id <> $2 and revoked_at is null
             and (expires_at is null or expires_at > now()) and 'admin' = any(scopes)"#,
        tenant_id,
        except
    )
    .fetch_one(conn)
    .await
}

/// Records that keys were used (batched; `last_used_at` may lag by up to a minute).
pub async fn touch_keys(pool: &PgPool, ids: &[Uuid], at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update api_key set last_used_at = greatest(last_used_at, $2) where id = any($1)",
        ids,
        at
    )
    .execute(pool)
    .await?;
    Ok(())
}
