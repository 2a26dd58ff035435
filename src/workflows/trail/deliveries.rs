//! Durable delivery records with group commit.
//!
//! A token may leave only after its delivery row is committed, and paying one transaction per
//! request would cap throughput at the commit rate. So requests hand their row to the writers,
//! which insert everything waiting in one statement — one commit — and only then answer each
//! request. Concurrent requests share commits; each still waits for its own row to be durable.
//!
//! The writers form a pipeline: one batch commits while the next one fills. A writer that has
//! rows waits for the commit in flight to end before it takes everything that arrived meanwhile
//! and commits it, so batches grow with the load (PostgreSQL's cost is mostly per statement and
//! commit; see BENCHMARKS.md). Only if the commit in flight takes longer than `STALL` does the
//! next batch commit beside it, so one slow commit does not hold up every request behind it.

use std::collections::HashSet;
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
/// Writers: while one commits, the other gathers the next batch (and commits beside the first
/// only if that one stalls).
const WRITERS: usize = 2;
/// How long a gathered batch waits for the commit in flight before it is committed beside it. A
/// commit takes 0.5–3 ms here under load; this is for the one held up by the disk or a lock.
const STALL: Duration = Duration::from_millis(5);
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

/// What the writers share: the queue, and the turn to commit.
struct Shared {
    receiver: Mutex<mpsc::Receiver<Pending>>,
    committing: Arc<Mutex<()>>,
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
        let shared = Arc::new(Shared {
            receiver: Mutex::new(receiver),
            committing: Arc::new(Mutex::new(())),
        });
        let writers = (0..WRITERS)
            .map(|_| {
                let (pool, shared, task) = (pool.clone(), Arc::clone(&shared), task.clone());
                background::service(task.clone(), RESTART, move || {
                    let (pool, shared, task) = (pool.clone(), Arc::clone(&shared), task.clone());
                    async move {
                        task.succeeded();
                        write_batches(pool, shared).await;
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

async fn write_batches(pool: PgPool, shared: Arc<Shared>) {
    loop {
        let mut batch = Vec::new();
        let turn = {
            // One writer gathers at a time.
            let mut receiver = shared.receiver.lock().await;
            if receiver.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return;
            }
            // Wait for the commit in flight (rows arriving meanwhile join this batch), unless it
            // stalls.
            let turn = tokio::time::timeout(STALL, Arc::clone(&shared.committing).lock_owned())
                .await
                .ok();
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(pending) => batch.push(pending),
                    Err(_) => break,
                }
            }
            turn
        };
        commit(&pool, batch).await;
        drop(turn);
    }
}

/// Commits one batch and answers each of its requests.
async fn commit(pool: &PgPool, batch: Vec<Pending>) {
    let (rows, waiting): (Vec<NewTokenDelivery>, Vec<_>) =
        batch.into_iter().map(|p| (p.row, p.done)).unzip();
    let started = Instant::now();
    let result = token_trail::insert_token_deliveries(pool, &rows).await;
    crate::metrics::audit_batch(rows.len(), started.elapsed(), result.is_ok());
    let outcome = match result {
        Ok(written) if written == rows.len() as u64 => Ok(None),
        // Something was refused: which rows are on record decides, row by row.
        Ok(_) => token_trail::recorded_token_deliveries(pool, &rows)
            .await
            .map(|ids| Some(ids.into_iter().collect::<HashSet<Uuid>>())),
        Err(err) => Err(err),
    };
    match outcome {
        Ok(recorded) => {
            for (row, done) in rows.iter().zip(waiting) {
                let outcome = match &recorded {
                    Some(recorded) if !recorded.contains(&row.id) => Err(DeliveryError::Refused),
                    _ => Ok(()),
                };
                let _ = done.send(outcome);
            }
        }
        Err(err) => {
            tracing::error!(error = %err, rows = rows.len(), "could not write delivery records");
            for done in waiting {
                let _ = done.send(Err(DeliveryError::Unwritten(err.to_string())));
            }
        }
    }
}
