//! Keeps this replica's caches fresh: listens for `NOTIFY spvault_invalidate` and tells every
//! cache what changed. Any gap in the connection is reported too, since notifications sent
//! meanwhile are lost; caches then drop what they hold and stop trusting it until the listener is
//! back.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;

use crate::db::notify::{Invalidation, CHANNEL};

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

pub async fn run(pool: PgPool, caches: Caches) {
    loop {
        if let Err(err) = listen(&pool, &caches).await {
            tracing::warn!(error = %err, "invalidation listener lost its connection; reconnecting");
        }
        caches.listener_changed(false);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn listen(pool: &PgPool, caches: &Caches) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    caches.listener_changed(true);
    loop {
        // `try_recv` returns `None` when the connection was lost; `run` reconnects.
        let Some(notification) = listener.try_recv().await? else {
            return Ok(());
        };
        match Invalidation::parse(notification.payload()) {
            Some(what) => caches.invalidate(what),
            None => tracing::warn!(payload = notification.payload(), "unknown invalidation"),
        }
    }
}
