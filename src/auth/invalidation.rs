//! Keeps this replica's key states fresh: listens for `NOTIFY spvault_invalidate` and drops what
//! changed. Any gap in the connection drops everything, and until the listener is back the
//! authenticator reads key states from the database on every request.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;

use super::Authenticator;
use crate::db::notify::{Invalidation, CHANNEL};

pub async fn run(pool: PgPool, auth: Arc<Authenticator>) {
    loop {
        if let Err(err) = listen(&pool, &auth).await {
            tracing::warn!(error = %err, "invalidation listener lost its connection; reconnecting");
        }
        auth.set_listener_connected(false);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn listen(pool: &PgPool, auth: &Authenticator) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    auth.set_listener_connected(true);
    loop {
        // `try_recv` returns `None` when the connection was lost. Reconnecting is left to `run`,
        // which also drops every cached state: notifications sent meanwhile are gone.
        let Some(notification) = listener.try_recv().await? else {
            return Ok(());
        };
        match Invalidation::parse(notification.payload()) {
            Some(what) => auth.invalidate(what),
            None => tracing::warn!(payload = notification.payload(), "unknown invalidation"),
        }
    }
}
