//! Retention of the trail: partitions are made ahead of time and whole months older than the
//! retention are dropped; what is left of the boundary month goes in small batches, so no
//! statement holds locks for long, whatever the table sizes.

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;

use crate::db::token_trail;

const BATCH: i64 = 5_000;
/// Both tasks run hourly (see `startup`); a failed round is retried sooner.
pub const INTERVAL: Duration = Duration::from_secs(3600);

/// One round of both: partitions ahead, then old months dropped and old rows deleted in batches.
pub async fn enforce(pool: &PgPool, retention_days: u32) -> anyhow::Result<u64> {
    keep_partitions_ahead(pool).await?;
    remove_expired(pool, retention_days).await
}

/// Makes the coming months' partitions. A task of its own, so that a retention that fails does
/// not also stop the partitions every delivery needs.
pub async fn keep_partitions_ahead(pool: &PgPool) -> anyhow::Result<()> {
    token_trail::ensure_partitions(pool).await?;
    Ok(())
}

/// Drops the months past `retention_days` and deletes the rest of the boundary month in batches;
/// returns how many rows went.
pub async fn remove_expired(pool: &PgPool, retention_days: u32) -> anyhow::Result<u64> {
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
            if deleted > 0 {
                tracing::info!(rows = deleted, "deleted trail rows past retention");
            }
            return Ok(deleted);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
