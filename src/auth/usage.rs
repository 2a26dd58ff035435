//! `last_used_at`, written in batches: a request only notes its key in memory (at most once per
//! key every 30 s); a background task writes the noted keys every 30 s. The contract allows the
//! column to lag by up to a minute.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db::api_keys;

pub const FLUSH_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct UsageRecorder {
    pending: Mutex<HashSet<Uuid>>,
}

impl UsageRecorder {
    pub fn record(&self, key_id: Uuid) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key_id);
    }

    fn take(&self) -> Vec<Uuid> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.drain().collect()
    }

    /// Writes what was noted; on failure keeps it for the next round.
    pub async fn flush(&self, pool: &PgPool) {
        let ids = self.take();
        if ids.is_empty() {
            return;
        }
        if let Err(err) = api_keys::touch_keys(pool, &ids, Utc::now()).await {
            tracing::warn!(error = %err, keys = ids.len(), "could not record key use; will retry");
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.extend(ids);
        }
    }

    /// Runs forever, flushing every `FLUSH_INTERVAL`.
    pub async fn run(&self, pool: PgPool) {
        let mut ticker = tokio::time::interval(FLUSH_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.flush(&pool).await;
        }
    }
}
