//! PostgreSQL advisory locks: the one place the lock protocol of exchanges and credential
//! changes is written down and taken.
//!
//! Advisory locks order exchanges against each other and against changes of the credentials
//! they use, across every replica. Each is held until its transaction ends:
//! - the exchange lock of a cache key (a seller's id, or a grantless key), exclusive: one exchange
//!   per seller (or application and scope) at a time; replacing a seller's refresh token or
//!   deleting the seller takes it too, so it waits for an exchange in flight;
//! - the application lock, in the two-integer key space (distinct from the one-integer space of
//!   the exchange locks): exchanges take it shared, replacing the client secret or deleting the
//!   application takes it exclusive.
//!
//! Keys fold all 128 bits of the id: UUIDv7 ids made in one millisecond share their high half.

use sqlx::PgConnection;
use uuid::Uuid;

fn lock_key(id: Uuid) -> i64 {
    let (high, low) = id.as_u64_pair();
    (high ^ low) as i64
}

fn application_lock_key(application_id: Uuid) -> (i32, i32) {
    let key = lock_key(application_id) as u64;
    ((key >> 32) as u32 as i32, key as u32 as i32)
}

/// Takes the right to exchange for `cache_key` with `application_id`'s credentials.
///
/// Look for a stored token (and read the credentials) in a *later* statement: a statement's
/// snapshot is taken when it starts, so a lookup in the locking statement itself would not see
/// what another transaction committed while this one waited for the lock.
pub async fn lock_exchange(
    conn: &mut PgConnection,
    cache_key: Uuid,
    application_id: Uuid,
) -> Result<(), sqlx::Error> {
    let (app_high, app_low) = application_lock_key(application_id);
    sqlx::query!(
        "select pg_advisory_xact_lock($1), pg_advisory_xact_lock_shared($2, $3)",
        lock_key(cache_key),
        app_high,
        app_low
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Waits for an exchange in flight for the tenant's seller, and keeps others out until the
/// transaction ends: for changing or deleting its refresh token. False (and no lock taken) when
/// the tenant has no such seller, so that no tenant can hold up another's exchanges.
pub async fn lock_seller_for_change(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    seller_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let locked = sqlx::query!(
        "select pg_advisory_xact_lock($3) from seller where tenant_id = $1 and id = $2",
        tenant_id,
        seller_id,
        lock_key(seller_id)
    )
    .fetch_optional(conn)
    .await?;
    Ok(locked.is_some())
}

/// Waits for every exchange in flight with the tenant's application's credentials, and keeps
/// new ones out until the transaction ends: for changing or deleting the client secret. False
/// (and no lock taken) when the tenant has no such application.
pub async fn lock_application_for_change(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    application_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let (high, low) = application_lock_key(application_id);
    let locked = sqlx::query!(
        "select pg_advisory_xact_lock($3, $4) from application where tenant_id = $1 and id = $2",
        tenant_id,
        application_id,
        high,
        low
    )
    .fetch_optional(conn)
    .await?;
    Ok(locked.is_some())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_made_in_the_same_millisecond_lock_apart() {
        // UUIDv7 ids made together share their timestamp (the high half).
        let ids: Vec<Uuid> = (0..20_000).map(|_| Uuid::now_v7()).collect();
        let keys: HashSet<i64> = ids.iter().map(|&id| lock_key(id)).collect();
        assert_eq!(keys.len(), ids.len());
        let application_keys: HashSet<(i32, i32)> =
            ids.iter().map(|&id| application_lock_key(id)).collect();
        assert_eq!(application_keys.len(), ids.len());
    }
}
