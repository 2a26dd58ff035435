//! `exchange_lease`: who may exchange for a cache key right now, across every replica.
//!
//! A lease is taken in one statement (free, or its holder's time ran out): [`take_lease`], or
//! the read of an exchange's credentials itself (`cached_tokens::load_seller_grant`), which takes
//! it only if the stored token will not do. Its holder gives it back in the commit that records
//! the exchange's result. Nothing holds a connection meanwhile.
//! A lease given back stays as a row that has run out, with its `generation` counted up: a reader
//! that saw generation `g` (in the same snapshot as the cache key's stored token) and then takes
//! the lease at `g` knows that no exchange stored anything in between.

use std::time::Duration;

use sqlx::PgExecutor;
use uuid::Uuid;

/// Takes the lease of `cache_key` for `ttl` unless another holder's lease is still running
/// (`take_exchange_lease`, the one rule for it). When `lease_id` holds it now: the lease's
/// generation (the number of times it was given back).
pub async fn take_lease(
    conn: impl PgExecutor<'_>,
    cache_key: Uuid,
    tenant_id: Uuid,
    lease_id: Uuid,
    ttl: Duration,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select take_exchange_lease($1, $2, $3, $4) as "generation?""#,
        cache_key,
        tenant_id,
        lease_id,
        ttl_millis(ttl)
    )
    .fetch_one(conn)
    .await
}

/// A lease's length as `take_exchange_lease` takes it, in milliseconds.
pub(crate) fn ttl_millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

/// Gives the lease back, if `lease_id` still holds it.
pub async fn release_lease(
    conn: impl PgExecutor<'_>,
    cache_key: Uuid,
    lease_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update exchange_lease set expires_at = now(), generation = generation + 1
         where cache_key = $1 and lease_id = $2",
        cache_key,
        lease_id
    )
    .execute(conn)
    .await?;
    Ok(())
}
