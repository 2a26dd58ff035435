//! Every SQL statement of the vault lives under this module, one file per table family, each
//! function named for what it does. Tenant-owned rows are only ever reached through a tenant id.

pub mod api_keys;
pub mod applications;
pub mod audit_events;
pub mod authorization_links;
pub mod cached_tokens;
pub mod data_keys;
pub mod leases;
pub mod notify;
pub mod restricted_tokens;
mod sealed;
pub mod sellers;
mod statuses;
pub mod tenants;
pub mod token_trail;

use std::time::Duration;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool, Postgres};

pub use sealed::Sealed;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Creates the database if it does not exist yet. Several replicas may race to do so.
pub async fn create_database_if_missing(url: &SecretString) -> anyhow::Result<()> {
    let url = url.expose_secret();
    if Postgres::database_exists(url)
        .await
        .context("could not reach PostgreSQL to check the database exists")?
    {
        return Ok(());
    }
    match Postgres::create_database(url).await {
        Ok(()) => Ok(()),
        // Another replica created it between our check and our create.
        Err(err) if matches!(sql_state(&err).as_deref(), Some("42P04" | "23505")) => Ok(()),
        Err(err) => Err(err).context("could not create the database"),
    }
}

/// The options of `url`; the connections name themselves `spvault` in `pg_stat_activity`
/// unless the URL names them.
pub fn connect_options(url: &SecretString) -> anyhow::Result<PgConnectOptions> {
    let options = url
        .expose_secret()
        .parse::<PgConnectOptions>()
        .context("DATABASE_URL is not a valid PostgreSQL URL")?;
    Ok(match options.get_application_name() {
        Some(_) => options,
        None => options.application_name("spvault"),
    })
}

/// A pooled connection idle for this long is checked (a round trip) before it is used again.
pub const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

/// A pool that fails fast (503) instead of queueing forever when the database is gone.
///
/// sqlx checks every connection with a round trip before each use by default, which doubled the
/// round trips of the token path (one statement each, most of them). Here, as in HikariCP, only a
/// connection that sat idle for [`CHECK_IDLE_AFTER`] is checked: one in steady use that the
/// server dropped (a restart, a failover) fails its next statement once, and the pool then
/// discards it. (The delivery writers try a batch again on a fresh connection; see
/// `workflows::trail::deliveries`.)
pub fn pool(options: PgConnectOptions, max_connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max_connections.max(2))
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_IDLE_AFTER {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options)
}

/// Applies pending migrations. sqlx holds a PostgreSQL advisory lock meanwhile, so replicas that
/// start together apply each migration once.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("could not apply database migrations")
}

/// Whether every migration this build knows is applied (for `/readyz`).
pub async fn migrations_applied(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied: Vec<i64> =
        sqlx::query_scalar!("select version from _sqlx_migrations where success order by version")
            .fetch_all(pool)
            .await?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .all(|m| applied.binary_search(&m.version).is_ok()))
}

pub fn sql_state(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

/// Whether `err` says the connection is gone rather than that the statement failed: an I/O
/// error, or the server ending the session (`57P01`–`57P05`: shut down, restarted, idle for too
/// long).
pub fn connection_lost(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Io(_))
        || sql_state(err).is_some_and(|state| state.starts_with("57P"))
}

/// The name of the unique constraint `err` violated, if that is what it is.
pub fn violated_unique_constraint(err: &sqlx::Error) -> Option<&str> {
    let db = err.as_database_error()?;
    if db.is_unique_violation() {
        db.constraint()
    } else {
        None
    }
}

/// The name of the foreign key constraint `err` violated, if that is what it is.
pub fn violated_foreign_key(err: &sqlx::Error) -> Option<&str> {
    let db = err.as_database_error()?;
    if db.is_foreign_key_violation() {
        db.constraint()
    } else {
        None
    }
}

/// Errors that mean "try again later" (the database unreachable or busy, a deadlock) rather
/// than "the query is wrong".
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exception; 57P0x: the server is shutting down or restarting;
        // 53xxx: out of resources; 40001 and 40P01: a serialization failure or deadlock, where
        // trying again is the remedy.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("57P0")
                || code.starts_with("53")
                || code == "40001"
                || code == "40P01"
        }),
        _ => false,
    }
}
