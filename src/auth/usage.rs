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

    /// Writes what was noted; on failure keeps it for the next round, and logs.
    pub async fn flush(&self, pool: &PgPool) {
        if let Err(err) = self.write(pool).await {
            tracing::warn!(error = %err, "could not record key use; will retry");
        }
    }

    /// Writes what was noted; on failure keeps it for the next round. One round of the
    /// background task (every `FLUSH_INTERVAL`, see `startup`).
    pub async fn write(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let ids = self.take();
        if ids.is_empty() {
            return Ok(());
        }
        if let Err(err) = api_keys::touch_keys(pool, &ids, Utc::now()).await {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.extend(ids);
            return Err(err);
        }
        Ok(())
    }
}
