//! Cross-replica cache invalidation through PostgreSQL `NOTIFY`.
//!
//! A change that must take effect on every replica within a second (revoking a key, disabling or
//! deleting a tenant) sends a notification in its own transaction, so it is delivered exactly when
//! the change commits. Every replica listens (see the `invalidation` module).

use sqlx::PgConnection;

pub const CHANNEL: &str = "spvault_invalidate";

/// Sends `payload` on the invalidation channel when `conn`'s transaction commits.
pub async fn send(conn: &mut PgConnection, payload: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("select pg_notify($1, $2)", CHANNEL, payload)
        .execute(conn)
        .await?;
    Ok(())
}
