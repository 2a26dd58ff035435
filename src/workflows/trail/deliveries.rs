//! Durable delivery records with group commit.
//!
//! A token may leave only after its delivery row is committed, and paying one transaction per
//! request would cap throughput at the commit rate. So requests hand their row to a few writer
//! tasks; each writer takes every row waiting (up to a batch), inserts them in one statement —
//! one commit — and only then answers each request. Concurrent requests share commits; each still
//! waits for its own row to be durable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::background::{self, Schedule, Task};
use crate::db::token_trail::{self, NewTokenDelivery};

/// How many rows one commit carries at most.
const MAX_BATCH: usize = 1024;
/// Writers committing at once: while one commits, the other gathers. More writers make more,
/// smaller commits, and PostgreSQL's cost is mostly per commit (see BENCHMARKS.md); one writer
/// makes the largest batches but lets one slow commit stall every request behind it.
const WRITERS: usize = 2;
/// How soon a writer that died is started again.
const RESTART: Schedule = Schedule {
    every: Duration::ZERO,
    first_retry: Duration::from_millis(100),
    max_retry: Duration::from_secs(5),
};

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The row could not be written: nothing may be delivered.
    #[error("the delivery record could not be written: {0}")]
    Unwritten(String),
    /// The tenant was disabled or deleted, or the seller deleted, before the record committed.
    #[error("the tenant or seller is gone or disabled")]
    Refused,
}

struct Pending {
    row: NewTokenDelivery,
    done: oneshot::Sender<Result<(), DeliveryError>>,
}

#[derive(Clone)]
pub struct DeliveryWriter {
    queue: mpsc::Sender<Pending>,
}

impl DeliveryWriter {
    /// Connections the writers need: one each.
    pub const CONNECTIONS: u32 = WRITERS as u32;

    /// Starts the writers on the current runtime, each supervised as `task`: one that panics
    /// is started again (the requests of its batch get `503`; the queue is kept).
    pub fn start(pool: PgPool, task: Task) -> (Self, Vec<JoinHandle<()>>) {
        let (queue, receiver) = mpsc::channel(MAX_BATCH * WRITERS * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        let writers = (0..WRITERS)
            .map(|_| {
                let (pool, receiver, task) = (pool.clone(), Arc::clone(&receiver), task.clone());
                background::service(task.clone(), RESTART, move || {
                    let (pool, receiver, task) =
                        (pool.clone(), Arc::clone(&receiver), task.clone());
                    async move {
                        task.succeeded();
                        write_batches(pool, receiver).await;
                        Ok(())
                    }
                })
            })
            .collect();
        (Self { queue }, writers)
    }

    /// Records one delivery; returns once it is committed.
    pub async fn record(&self, row: NewTokenDelivery) -> Result<(), DeliveryError> {
        let (done, result) = oneshot::channel();
        self.queue
            .send(Pending { row, done })
            .await
            .map_err(|_| DeliveryError::Unwritten("the audit writer has stopped".into()))?;
        result
            .await
            .map_err(|_| DeliveryError::Unwritten("the audit writer stopped".into()))?
    }
}

async fn write_batches(pool: PgPool, receiver: Arc<Mutex<mpsc::Receiver<Pending>>>) {
    loop {
        let mut batch = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return;
            }
        }
        let rows: Vec<NewTokenDelivery> = batch.iter().map(|p| p.row.clone()).collect();
        let started = Instant::now();
        let result = token_trail::insert_token_deliveries(&pool, &rows).await;
        crate::metrics::audit_batch(rows.len(), started.elapsed(), result.is_ok());
        match result {
            Ok(written) => {
                let written: std::collections::HashSet<Uuid> = written.into_iter().collect();
                for pending in batch {
                    let outcome = if written.contains(&pending.row.id) {
                        Ok(())
                    } else {
                        Err(DeliveryError::Refused)
                    };
                    let _ = pending.done.send(outcome);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, rows = rows.len(), "could not write delivery records");
                for pending in batch {
                    let _ = pending
                        .done
                        .send(Err(DeliveryError::Unwritten(err.to_string())));
                }
            }
        }
    }
}
