//! Retention of the trail: partitions are made ahead of time and whole months older than the
//! retention are dropped; what is left of the boundary month goes in small batches, so no
//! statement holds locks for long, whatever the table sizes.

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;

use crate::db::token_trail;

const BATCH: i64 = 5_000;
const INTERVAL: Duration = Duration::from_secs(3600);

/// One round: partitions ahead, old months dropped, old rows deleted in batches.
pub async fn enforce(pool: &PgPool, retention_days: u32) -> anyhow::Result<u64> {
    token_trail::ensure_partitions(pool).await?;
    // Settings keep the days within reason; a date out of range is an error, never a panic.
    let cutoff = chrono::TimeDelta::try_days(i64::from(retention_days))
        .and_then(|retention| Utc::now().checked_sub_signed(retention))
        .ok_or_else(|| anyhow::anyhow!("a retention of {retention_days} days is out of range"))?;
    let dropped = token_trail::drop_partitions_before(pool, cutoff).await?;
    if dropped > 0 {
        tracing::info!(
            partitions = dropped,
            "dropped trail partitions past retention"
        );
    }
    let mut deleted = 0;
    loop {
        let n = token_trail::delete_trail_before(pool, cutoff, BATCH).await?;
        deleted += n;
        if n == 0 {
            return Ok(deleted);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn run(pool: PgPool, retention_days: u32) {
    let mut ticker = tokio::time::interval(INTERVAL);
    loop {
        ticker.tick().await;
        match enforce(&pool, retention_days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "deleted trail rows past retention"),
            Err(err) => tracing::warn!(error = %err, "retention round failed; will retry"),
        }
    }
}
