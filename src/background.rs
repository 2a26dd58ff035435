//! Background tasks that never die silently.
//!
//! Every task of the process (the invalidation listener, trail partitions and retention, the
//! key-use recorder, the delivery writers, metrics upkeep) runs under a supervisor here. A round
//! that returns an error or panics is a failure: it is logged with the task's name, counted in
//! `spvault_background_task_failures_total{task}`, and the task is listed in `/readyz`
//! (`failing_tasks`) and in `spvault_background_tasks_failing{task}` until it works again. The
//! task is retried with jittered exponential backoff, for ever.
//!
//! Task names are fixed words, never identifiers: `/readyz` and `/metrics` need no key.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::FutureExt;
use tokio::task::JoinHandle;

use crate::readiness::Readiness;

/// When a task runs again.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// After a round that worked (periodic tasks only).
    pub every: Duration,
    /// After the first failure; doubled (with jitter) after each further one, up to `max_retry`.
    pub first_retry: Duration,
    pub max_retry: Duration,
}

impl Schedule {
    fn retries(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.first_retry)
            .with_max_delay(self.max_retry)
            .without_max_times()
            .build()
    }
}

/// One task's standing, shared by its supervisor and (for long-running tasks) the task itself.
#[derive(Clone)]
pub struct Task(Arc<Standing>);

struct Standing {
    name: &'static str,
    readiness: Arc<Readiness>,
    failing: AtomicBool,
    /// How often the task has been seen to work: a long-running task that worked since its last
    /// failure starts its backoff afresh.
    successes: AtomicU64,
}

impl Task {
    pub fn new(name: &'static str, readiness: Arc<Readiness>) -> Self {
        crate::metrics::background_task_registered(name);
        Self(Arc::new(Standing {
            name,
            readiness,
            failing: AtomicBool::new(false),
            successes: AtomicU64::new(0),
        }))
    }

    pub fn name(&self) -> &'static str {
        self.0.name
    }

    /// The task works (again).
    pub fn succeeded(&self) {
        self.0.successes.fetch_add(1, Ordering::Relaxed);
        if self.0.failing.swap(false, Ordering::SeqCst) {
            tracing::info!(task = self.0.name, "background task works again");
            self.0.readiness.task_recovered(self.0.name);
            crate::metrics::background_task_failing(self.0.name, false);
        }
    }

    /// One round failed: logged and counted; the task shows as failing until it works again.
    pub fn failed(&self, error: &str) {
        tracing::error!(
            task = self.0.name,
            error,
            "background task failed; will retry"
        );
        crate::metrics::background_task_failed(self.0.name);
        if !self.0.failing.swap(true, Ordering::SeqCst) {
            self.0.readiness.task_failing(self.0.name);
            crate::metrics::background_task_failing(self.0.name, true);
        }
    }

    fn successes(&self) -> u64 {
        self.0.successes.load(Ordering::Relaxed)
    }
}

/// A task that is stopped (the process shuts down, or a test's runtime ends) is no longer failing.
impl Drop for Standing {
    fn drop(&mut self) {
        if *self.failing.get_mut() {
            self.readiness.task_recovered(self.name);
            crate::metrics::background_task_failing(self.name, false);
        }
    }
}

/// Runs `round` at once and then every `schedule.every`, for ever. A round that fails (an error
/// or a panic) is retried after the backoff of `schedule` instead.
pub fn periodic<F, Fut>(task: Task, schedule: Schedule, mut round: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut retries = schedule.retries();
        loop {
            let delay = match run_guarded(round()).await {
                Ok(()) => {
                    task.succeeded();
                    retries = schedule.retries();
                    schedule.every
                }
                Err(error) => {
                    task.failed(&error);
                    retries.next().unwrap_or(schedule.max_retry)
                }
            };
            tokio::time::sleep(delay).await;
        }
    })
}

/// Runs `run`, a task that works for long stretches (a listener, a writer), until it returns
/// `Ok` (its work is over, as when its queue is closed). When it returns an error or panics it
/// is started again after the backoff of `schedule`. It calls [`Task::succeeded`] itself once
/// it works, which also starts the backoff afresh.
pub fn service<F, Fut>(task: Task, schedule: Schedule, mut run: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut retries = schedule.retries();
        loop {
            let successes = task.successes();
            match run_guarded(run()).await {
                Ok(()) => return,
                Err(error) => task.failed(&error),
            }
            if task.successes() != successes {
                retries = schedule.retries();
            }
            tokio::time::sleep(retries.next().unwrap_or(schedule.max_retry)).await;
        }
    })
}

/// Runs `round` to its end; an error or a panic comes back as its message.
async fn run_guarded(round: impl Future<Output = anyhow::Result<()>>) -> Result<(), String> {
    match AssertUnwindSafe(round).catch_unwind().await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(format!("{err:#}")),
        Err(panic) => Err(format!("panicked: {}", panic_message(panic.as_ref()))),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(message) = panic.downcast_ref::<&'static str>() {
        message
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message
    } else {
        "a panic without a message"
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    const FAST: Schedule = Schedule {
        every: Duration::from_millis(1),
        first_retry: Duration::from_millis(1),
        max_retry: Duration::from_millis(2),
    };

    /// Waits (without a deadline: the test runner's own timeout is the bound) until `done`.
    async fn until(done: impl Fn() -> bool) {
        while !done() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn a_panicking_round_is_reported_and_retried_until_it_works() {
        let readiness = Arc::new(Readiness::default());
        let task = Task::new("test_panicking_round", Arc::clone(&readiness));
        let rounds = Arc::new(AtomicUsize::new(0));
        let failing_after_the_panic = Arc::new(AtomicBool::new(false));
        let handle = periodic(task, FAST, {
            let (rounds, readiness) = (Arc::clone(&rounds), Arc::clone(&readiness));
            let failing = Arc::clone(&failing_after_the_panic);
            move || {
                let round = rounds.fetch_add(1, Ordering::SeqCst);
                if round == 1 {
                    failing.store(
                        readiness.failing_tasks() == ["test_panicking_round"],
                        Ordering::SeqCst,
                    );
                }
                async move {
                    match round {
                        0 => panic!("the first round panics"),
                        1 => anyhow::bail!("the second fails"),
                        _ => Ok(()),
                    }
                }
            }
        });
        // The fourth round starts only after the third worked.
        until(|| rounds.load(Ordering::SeqCst) > 3).await;
        assert!(failing_after_the_panic.load(Ordering::SeqCst));
        assert!(
            readiness.failing_tasks().is_empty(),
            "it works again: {:?}",
            readiness.failing_tasks()
        );
        assert!(!handle.is_finished(), "the supervisor lives on");
        handle.abort();
    }

    #[tokio::test]
    async fn a_failing_task_shows_until_it_works_and_when_it_is_stopped() {
        let readiness = Arc::new(Readiness::default());
        let task = Task::new("test_failing_task", Arc::clone(&readiness));
        let handle = periodic(task, FAST, || async { anyhow::bail!("never works") });
        until(|| readiness.failing_tasks() == ["test_failing_task"]).await;
        handle.abort();
        let _ = handle.await;
        assert!(
            readiness.failing_tasks().is_empty(),
            "a stopped task is not failing"
        );
    }

    #[tokio::test]
    async fn a_service_runs_again_after_a_panic_and_ends_when_its_work_is_over() {
        let readiness = Arc::new(Readiness::default());
        let task = Task::new("test_service", Arc::clone(&readiness));
        let starts = Arc::new(AtomicUsize::new(0));
        let handle = service(task.clone(), FAST, {
            let (starts, task) = (Arc::clone(&starts), task.clone());
            move || {
                let start = starts.fetch_add(1, Ordering::SeqCst);
                let task = task.clone();
                async move {
                    if start == 0 {
                        panic!("the first run panics");
                    }
                    task.succeeded();
                    Ok(())
                }
            }
        });
        handle
            .await
            .expect("the supervisor ends when the work is over");
        assert_eq!(starts.load(Ordering::SeqCst), 2);
        assert!(readiness.failing_tasks().is_empty());
    }
}
