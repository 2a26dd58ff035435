//! Keeps this replica's caches fresh: listens for `NOTIFY spvault_invalidate` and tells every
//! cache what changed. Any gap in the connection is reported too, since notifications sent
//! meanwhile are lost; caches then drop what they hold and stop trusting it until the listener is
//! back.
//!
//! A connection can also die without closing (a half-open TCP connection behind a NAT or a load
//! balancer): nothing arrives, and nothing says so. So the listener checks that it still hears:
//! every [`HEARTBEAT_EVERY`] it sends a ping of its own on the channel, over a second connection,
//! and a ping not heard back within [`HEARTBEAT_DEADLINE`] counts as a lost connection. Caches
//! are trusted only from the first ping heard on a new connection.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::time::Instant;
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

/// How often the listener pings itself.
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);
/// How long a ping may take to come back before the connection counts as lost.
pub const HEARTBEAT_DEADLINE: Duration = Duration::from_millis(1500);

/// Listens until the connection is lost or goes deaf (the only ways it ends: always an error),
/// calling `connected` once it hears its own first ping. The caches are trusted from then, and
/// told when it stops, however it stops (an error, a panic, being cancelled). Run again by its
/// supervisor (see `startup`).
pub async fn listen_once(
    pool: PgPool,
    caches: Caches,
    connected: impl FnOnce(),
) -> anyhow::Result<()> {
    let _stopped = Disconnected(&caches);
    listen(&pool, &caches, connected).await?;
    anyhow::bail!("the listener's connection was lost, or it stopped hearing its own pings")
}

/// Tells the caches, when dropped, that the listener stopped.
struct Disconnected<'a>(&'a Caches);

impl Drop for Disconnected<'_> {
    fn drop(&mut self) {
        self.0.listener_changed(false);
        crate::metrics::invalidation_listener(false);
    }
}

async fn listen(
    pool: &PgPool,
    caches: &Caches,
    connected: impl FnOnce(),
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    let mut heartbeat = Heartbeat::start(pool).await?;
    let mut ticks = tokio::time::interval(HEARTBEAT_EVERY);
    let mut connected = Some(connected);
    loop {
        tokio::select! {
            received = listener.try_recv() => {
                // `None`: the connection was closed.
                let Some(notification) = received? else {
                    return Ok(());
                };
                let payload = notification.payload();
                if heartbeat.heard(payload) {
                    if let Some(connected) = connected.take() {
                        caches.listener_changed(true);
                        crate::metrics::invalidation_listener(true);
                        connected();
                    }
                } else if !is_ping(payload) {
                    match Invalidation::parse(payload) {
                        Some(what) => caches.invalidate(what),
                        None => tracing::warn!(payload, "unknown invalidation"),
                    }
                }
            }
            _ = ticks.tick() => {
                if heartbeat.overdue() {
                    tracing::warn!("invalidation listener stopped hearing its own pings");
                    return Ok(());
                }
                heartbeat.ping().await?;
            }
        }
    }
}

const PING: &str = "ping:";

fn is_ping(payload: &str) -> bool {
    payload.starts_with(PING)
}

/// The listener's pings, sent over a connection of their own (not the pool's, whose
/// connections may all be busy under load) and expected back on the listening one.
struct Heartbeat {
    connection: PgConnection,
    /// This listener's pings carry its own id; other replicas' pings are ignored.
    payload: String,
    /// When the oldest ping not yet heard back was sent.
    outstanding: Option<Instant>,
}

impl Heartbeat {
    async fn start(pool: &PgPool) -> Result<Self, sqlx::Error> {
        Ok(Self {
            connection: PgConnection::connect_with(&pool.connect_options()).await?,
            payload: format!("{PING}{}", Uuid::new_v4()),
            outstanding: None,
        })
    }

    async fn ping(&mut self) -> Result<(), sqlx::Error> {
        notify::send(&mut self.connection, &self.payload).await?;
        self.outstanding.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Whether `payload` is this listener's own ping (which answers every ping sent before it).
    fn heard(&mut self, payload: &str) -> bool {
        if payload != self.payload {
            return false;
        }
        self.outstanding = None;
        true
    }

    fn overdue(&self) -> bool {
        self.outstanding
            .is_some_and(|sent| sent.elapsed() > HEARTBEAT_DEADLINE)
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
