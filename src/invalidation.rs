//! Keeps this replica's caches fresh: listens for `NOTIFY spvault_invalidate` and tells every
//! cache what changed. Any gap in the connection is reported too, since notifications sent
//! meanwhile are lost; caches then drop what they hold and stop trusting it until the listener is
//! back.

use std::sync::Arc;

use sqlx::postgres::PgListener;
use sqlx::PgPool;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::notify::{self, CHANNEL};

/// What changed. The payload carries ids only, never a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    Key(Uuid),
    Tenant(Uuid),
    /// A seller's refresh token was replaced, its status changed, or it was deleted.
    Seller(Uuid),
    /// An application's client secret was replaced or its status changed.
    Application(Uuid),
}

impl Invalidation {
    pub fn payload(self) -> String {
        match self {
            Self::Key(id) => format!("key:{id}"),
            Self::Tenant(id) => format!("tenant:{id}"),
            Self::Seller(id) => format!("seller:{id}"),
            Self::Application(id) => format!("application:{id}"),
        }
    }

    pub fn parse(payload: &str) -> Option<Self> {
        let (kind, id) = payload.split_once(':')?;
        let id = Uuid::parse_str(id).ok()?;
        match kind {
            "key" => Some(Self::Key(id)),
            "tenant" => Some(Self::Tenant(id)),
            "seller" => Some(Self::Seller(id)),
            "application" => Some(Self::Application(id)),
            _ => None,
        }
    }
}

/// Tells every replica, when `conn`'s transaction commits, that `what` changed.
pub async fn announce(conn: &mut PgConnection, what: Invalidation) -> Result<(), sqlx::Error> {
    notify::send(conn, &what.payload()).await
}

/// A cache that must forget what another replica changed.
pub trait Invalidate: Send + Sync {
    fn invalidate(&self, what: Invalidation);

    /// The listener connected (`true`) or lost its connection (`false`).
    fn listener_changed(&self, connected: bool);
}

/// Every cache of this process. Handlers invalidate through it right after committing a change
/// (the notification reaches the other replicas); the listener through it for theirs.
#[derive(Clone)]
pub struct Caches(Arc<Vec<Arc<dyn Invalidate>>>);

impl Caches {
    pub fn new(caches: Vec<Arc<dyn Invalidate>>) -> Self {
        Self(Arc::new(caches))
    }

    pub fn invalidate(&self, what: Invalidation) {
        self.0.iter().for_each(|cache| cache.invalidate(what));
    }

    fn listener_changed(&self, connected: bool) {
        self.0
            .iter()
            .for_each(|cache| cache.listener_changed(connected));
    }
}

/// Listens until the connection is lost (the only way it ends: always an error), calling
/// `connected` once it listens. The caches are told when it listens and when it stops, however
/// it stops (an error, a panic, being cancelled). Run again by its supervisor (see `startup`).
pub async fn listen_once(
    pool: PgPool,
    caches: Caches,
    connected: impl FnOnce(),
) -> anyhow::Result<()> {
    let _stopped = Disconnected(&caches);
    listen(&pool, &caches, connected).await?;
    anyhow::bail!("the listener's connection was lost")
}

/// Tells the caches, when dropped, that the listener stopped.
struct Disconnected<'a>(&'a Caches);

impl Drop for Disconnected<'_> {
    fn drop(&mut self) {
        self.0.listener_changed(false);
    }
}

async fn listen(
    pool: &PgPool,
    caches: &Caches,
    connected: impl FnOnce(),
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    caches.listener_changed(true);
    connected();
    loop {
        // `try_recv` returns `None` when the connection was lost.
        let Some(notification) = listener.try_recv().await? else {
            return Ok(());
        };
        match Invalidation::parse(notification.payload()) {
            Some(what) => caches.invalidate(what),
            None => tracing::warn!(payload = notification.payload(), "unknown invalidation"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let id = Uuid::now_v7();
        for what in [
            Invalidation::Key(id),
            Invalidation::Tenant(id),
            Invalidation::Seller(id),
            Invalidation::Application(id),
        ] {
            assert_eq!(Invalidation::parse(&what.payload()), Some(what));
        }
        assert_eq!(Invalidation::parse("seller:x"), None);
        assert_eq!(Invalidation::parse(&format!("order:{id}")), None);
    }
}
