//! Whether this replica should receive traffic, beyond the database checks `/readyz` makes itself:
//! set by the parts that find a problem at run time (the key store), and which background tasks
//! are failing (see `background`).

use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};

/// Why the service should not receive traffic, if it should not (beyond the database checks),
/// and which background tasks are failing.
#[derive(Default)]
pub struct Readiness {
    problem: RwLock<Option<&'static str>>,
    /// Failing background tasks by name, with how many of their instances fail.
    failing: Mutex<BTreeMap<&'static str, usize>>,
}

impl Readiness {
    pub fn problem(&self) -> Option<String> {
        self.problem
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .map(str::to_owned)
    }

    /// `problem` is a fixed sentence: `/readyz` needs no key, so no tenant, key or other
    /// identifier may reach it (log those where the problem is found).
    pub fn set_problem(&self, problem: &'static str) {
        *self.problem.write().unwrap_or_else(|e| e.into_inner()) = Some(problem);
    }

    /// An instance of the background task `name` started failing.
    pub fn task_failing(&self, name: &'static str) {
        *self.failing().entry(name).or_default() += 1;
    }

    /// An instance of the background task `name` works again (or was stopped).
    pub fn task_recovered(&self, name: &'static str) {
        let mut failing = self.failing();
        if let Some(count) = failing.get_mut(name) {
            *count -= 1;
            if *count == 0 {
                failing.remove(name);
            }
        }
    }

    /// The background tasks failing now, by name.
    pub fn failing_tasks(&self) -> Vec<&'static str> {
        self.failing().keys().copied().collect()
    }

    fn failing(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, usize>> {
        self.failing.lock().unwrap_or_else(|e| e.into_inner())
    }
}
