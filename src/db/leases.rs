//! `exchange_lease`: who may exchange for a cache key right now, across every replica.
//!
//! A lease is taken in one statement (free, or its holder's time ran out) and given back by its
//! holder when the exchange's result is committed. Nothing holds a connection meanwhile.

use std::time::Duration;

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// Takes the lease of `cache_key` for `ttl` unless another holder's lease is still running.
/// True when `lease_id` holds it now.
pub async fn take_lease(
    conn: impl PgExecutor<'_>,
    cache_key: Uuid,
    tenant_id: Uuid,
    lease_id: Uuid,
    ttl: Duration,
) -> Result<bool, sqlx::Error> {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let taken = sqlx::query_scalar!(
        "insert into exchange_lease (cache_key, tenant_id, lease_id, expires_at)
         values ($1, $2, $3, now() + make_interval(secs => $4::bigint / 1000.0))
         on conflict (cache_key) do update
         set tenant_id = excluded.tenant_id, lease_id = excluded.lease_id,
             expires_at = excluded.expires_at
         where exchange_lease.expires_at <= now()
         returning lease_id",
        cache_key,
        tenant_id,
        lease_id,
        ttl_ms
    )
    .fetch_optional(conn)
    .await?;
    Ok(taken == Some(lease_id))
}

/// Gives the lease back, if `lease_id` still holds it.
pub async fn release_lease(
    conn: &mut PgConnection,
    cache_key: Uuid,
    lease_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "delete from exchange_lease where cache_key = $1 and lease_id = $2",
        cache_key,
        lease_id
    )
    .execute(conn)
    .await?;
    Ok(())
}
