//! What the vault does, one module per capability. Each workflow owns its transactions, its
//! locks, its audit events and the invalidation of the caches it makes stale. Handlers, the
//! command line, `spvault dev` and the benchmark harness call these functions and nothing below
//! them, so every rule here holds whoever asks, and is tested below HTTP.
//!
//! - `tenancy`     — tenants and API keys
//! - `credentials` — applications (client secrets) and sellers (refresh tokens)
//! - `onboarding`  — consent links and the OAuth callback that makes (or renews) sellers
//! - `tokens`      — the token broker: cache, single flight, exchanges at LWA
//! - `proxy`       — the SP-API proxy: callers' SP-API calls made with tokens they never see
//! - `trail`       — the audit trail: change events, durable deliveries, retention, queries

pub mod credentials;
mod error;
pub mod onboarding;
pub mod proxy;
mod secrets;
pub mod tenancy;
pub mod tokens;
pub mod trail;

use std::sync::Arc;

use sqlx::PgPool;

pub use error::{Error, Result};

use crate::invalidation::Caches;
use crate::keystore::KeyStore;

/// What the workflows act on: the database, the tenants' data keys, and this replica's caches
/// (told at once about a change this replica commits; other replicas hear of it by `NOTIFY`).
#[derive(Clone)]
pub struct Vault {
    pool: PgPool,
    keystore: Arc<KeyStore>,
    caches: Caches,
}

impl Vault {
    pub fn new(pool: PgPool, keystore: Arc<KeyStore>, caches: Caches) -> Self {
        Self {
            pool,
            keystore,
            caches,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A change about to be committed: what goes on record, and which cached state it makes stale.
struct Change {
    action: &'static str,
    resource_type: &'static str,
    resource_id: uuid::Uuid,
    stale: Option<crate::invalidation::Invalidation>,
}

impl Change {
    fn new(action: &'static str, resource_type: &'static str, resource_id: uuid::Uuid) -> Self {
        Self {
            action,
            resource_type,
            resource_id,
            stale: None,
        }
    }

    /// Caches that hold `what` must drop it, on every replica.
    fn making_stale(self, what: crate::invalidation::Invalidation) -> Self {
        Self {
            stale: Some(what),
            ..self
        }
    }
}

/// The end of every change: its audit event and the notice to other replicas in its own
/// transaction (so both happen exactly when it commits), the commit, then this replica's caches
/// at once.
async fn commit_change(
    vault: &Vault,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    actor: &trail::Actor,
    change: Change,
) -> Result<()> {
    actor
        .record(
            &mut tx,
            change.action,
            change.resource_type,
            change.resource_id,
        )
        .await?;
    if let Some(what) = change.stale {
        crate::invalidation::announce(&mut tx, what).await?;
    }
    tx.commit().await?;
    if let Some(what) = change.stale {
        vault.caches.invalidate(what);
    }
    Ok(())
}
