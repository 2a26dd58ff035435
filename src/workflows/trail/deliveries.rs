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
//!
//! A committed batch's answers go back through `super::replies`: one wake-up for each HTTP worker
//! thread, not one for each request.
//!
//! Each writer connects when it starts, and keeps its connection between batches: a connection
//! given back to the pool is checked with a round trip to PostgreSQL, which would cost one per
//! batch. A writer checks its own only after it sat idle (as the pool does), and takes a fresh
//! one after any error.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::replies::ReplyTo;
use crate::background::{self, Schedule, Task};
use crate::db::token_trail;
pub use crate::db::token_trail::NewTokenDelivery;
use crate::db::{self, CHECK_IDLE_AFTER};

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
    reply: ReplyTo<Result<(), DeliveryError>>,
}

#[derive(Clone)]
pub struct DeliveryWriter {
    queue: mpsc::Sender<Pending>,
    /// Dropped with the last handle: the writers' thread then ends.
    _alive: Arc<oneshot::Sender<()>>,
}

/// The name of the writers' thread (15 bytes: what `ps` and `perf` show of it).
pub const WRITERS_THREAD: &str = "spvault-writers";

impl DeliveryWriter {
    /// Connections the writers need: one each.
    pub const CONNECTIONS: u32 = WRITERS as u32;
    /// How the writers' connections name themselves to PostgreSQL (`pg_stat_activity`).
    pub const APPLICATION_NAME: &'static str = "spvault delivery writer";

    /// Starts the writers on a thread of their own, each supervised as `task`: one that panics
    /// is started again (the requests of its batch get `503`; the queue is kept). The thread
    /// ends when the last handle to the writers is dropped.
    ///
    /// Their own thread, with a single-threaded runtime, because every token waits for their
    /// commits: there, a commit's answer from PostgreSQL wakes the writer on the thread that
    /// reads it, and the next batch's turn passes from one writer to the other without waking
    /// another thread (on the shared multi-threaded runtime, both cost a cross-thread wake-up
    /// between every two commits).
    pub fn start(pool: PgPool, task: Task) -> std::io::Result<(Self, Vec<JoinHandle<()>>)> {
        let (queue, receiver) = mpsc::channel(MAX_BATCH * WRITERS * 4);
        let shared = Arc::new(Shared {
            receiver: Mutex::new(receiver),
            committing: Arc::new(Mutex::new(())),
        });
        // The runtime is made, and dropped, on the writers' own thread: a runtime may not be
        // dropped inside another's async context (the vault's start-up, should the thread fail).
        let (alive, all_dropped) = oneshot::channel::<()>();
        let (started, runtime) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(WRITERS_THREAD.into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => return drop(started.send(Err(err))),
                };
                let _ = started.send(Ok(runtime.handle().clone()));
                runtime.block_on(async {
                    let _ = all_dropped.await;
                });
            })?;
        let runtime = runtime
            .recv()
            .map_err(|_| std::io::Error::other("the writers' thread ended at its start"))??;
        let writers = {
            let _inside = runtime.enter();
            (0..WRITERS)
                .map(|_| {
                    let (pool, shared, task) = (pool.clone(), Arc::clone(&shared), task.clone());
                    background::service(task.clone(), RESTART, move || {
                        let (pool, shared, task) =
                            (pool.clone(), Arc::clone(&shared), task.clone());
                        async move {
                            task.succeeded();
                            write_batches(pool, shared).await;
                            Ok(())
                        }
                    })
                })
                .collect()
        };
        Ok((
            Self {
                queue,
                _alive: Arc::new(alive),
            },
            writers,
        ))
    }

    /// Records one delivery; returns once it is committed.
    pub async fn record(&self, row: NewTokenDelivery) -> Result<(), DeliveryError> {
        let (reply, result) = ReplyTo::this_task();
        self.queue
            .send(Pending { row, reply })
            .await
            .map_err(|_| DeliveryError::Unwritten("the audit writer has stopped".into()))?;
        result
            .await
            .map_err(|_| DeliveryError::Unwritten("the audit writer stopped".into()))?
    }
}

/// A writer's connection, kept between batches.
struct Held {
    pool: PgPool,
    conn: Option<PoolConnection<Postgres>>,
    last_used: Instant,
}

impl Held {
    /// The connection, checked first if it sat idle; a fresh one if there is none.
    async fn connection(&mut self) -> Result<&mut PgConnection, sqlx::Error> {
        if self.last_used.elapsed() >= CHECK_IDLE_AFTER {
            if let Some(conn) = self.conn.as_mut() {
                if conn.ping().await.is_err() {
                    self.conn = None;
                }
            }
        }
        self.last_used = Instant::now();
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        Ok(&mut **self.conn.insert(conn))
    }

    /// After an error the connection may be broken: it goes back to the pool (which checks it).
    fn release(&mut self) {
        self.conn = None;
    }
}

async fn write_batches(pool: PgPool, shared: Arc<Shared>) {
    let mut held = Held {
        pool,
        conn: None,
        last_used: Instant::now(),
    };
    // Connected before the first token waits for it: opening a connection (TLS and all) takes
    // longer than many commits. (If the database cannot be reached now, the first batch tries
    // again.)
    if let Err(err) = held.connection().await {
        held.release();
        tracing::warn!(error = %err, "the delivery writer could not connect yet");
    }
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
        commit(&mut held, batch).await;
        drop(turn);
    }
}

/// Commits one batch and answers each of its requests.
async fn commit(held: &mut Held, batch: Vec<Pending>) {
    let (rows, waiting): (Vec<NewTokenDelivery>, Vec<_>) =
        batch.into_iter().map(|p| (p.row, p.reply)).unzip();
    let started = Instant::now();
    let outcome = record(held, &rows, started).await;
    if outcome.is_err() {
        held.release();
    }
    match outcome {
        Ok(recorded) => ReplyTo::answer_all(rows.iter().zip(waiting).map(|(row, reply)| {
            let outcome = match &recorded {
                Some(recorded) if !recorded.contains(&row.id) => Err(DeliveryError::Refused),
                _ => Ok(()),
            };
            (reply, outcome)
        })),
        Err(err) => {
            tracing::error!(error = %err, rows = rows.len(), "could not write delivery records");
            ReplyTo::answer_all(
                waiting
                    .into_iter()
                    .map(|reply| (reply, Err(DeliveryError::Unwritten(err.to_string())))),
            );
        }
    }
}

/// Inserts `rows` in one statement (one commit); if some were refused, which ones are on record.
async fn record(
    held: &mut Held,
    rows: &[NewTokenDelivery],
    started: Instant,
) -> Result<Option<HashSet<Uuid>>, sqlx::Error> {
    let result = match insert(held, rows).await {
        // The server dropped the connection kept since the last batch (a restart, a failover):
        // once more on a fresh one. Had the first try committed after all, the second one's ids
        // are taken and it fails: the rows are on record, and the tokens do not leave.
        Err(err) if db::connection_lost(&err) => {
            held.release();
            insert(held, rows).await
        }
        result => result,
    };
    crate::metrics::audit_batch(rows.len(), started.elapsed(), result.is_ok());
    match result? {
        written if written == rows.len() as u64 => Ok(None),
        // Something was refused: which rows are on record decides, row by row.
        _ => token_trail::recorded_token_deliveries(held.connection().await?, rows)
            .await
            .map(|ids| Some(ids.into_iter().collect())),
    }
}

async fn insert(held: &mut Held, rows: &[NewTokenDelivery]) -> Result<u64, sqlx::Error> {
    token_trail::insert_token_deliveries(held.connection().await?, rows).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::postgres::PgPoolOptions;

    use super::*;
    use crate::readiness::Readiness;

    /// The threads of this process named `name`.
    fn threads_named(name: &str) -> usize {
        std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks
                    .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                    .filter(|comm| comm.trim_end() == name)
                    .count()
            })
            .unwrap_or(0)
    }

    /// Whether the count of threads named `name` becomes `n` within a few seconds (a new
    /// thread names itself once it runs).
    async fn threads_become(name: &str, n: usize) -> bool {
        for _ in 0..250 {
            if threads_named(name) == n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    #[test]
    fn the_writers_run_on_a_thread_of_their_own_that_ends_with_their_last_handle() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            // Nothing listens there: the writers only try to connect.
            let pool = PgPoolOptions::new()
                .acquire_timeout(Duration::from_millis(200))
                .connect_lazy("postgres://postgres@127.0.0.1:1/none")
                .unwrap();
            let task = Task::new("delivery_writer", Arc::new(Readiness::default()));
            let (writer, _handles) = DeliveryWriter::start(pool, task).unwrap();
            assert!(threads_become(WRITERS_THREAD, 1).await);
            let second = writer.clone();
            drop(writer);
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(threads_named(WRITERS_THREAD), 1, "a handle is still held");
            drop(second);
            assert!(
                threads_become(WRITERS_THREAD, 0).await,
                "the writers' thread outlived every handle"
            );
        });
    }
}
