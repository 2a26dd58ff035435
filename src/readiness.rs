//! Whether this replica should receive traffic, beyond the database checks `/readyz` makes itself:
//! set by the parts that find a problem at run time (the key store, background tasks).

use std::sync::RwLock;

/// Why the service should not receive traffic, if it should not (beyond the database checks).
#[derive(Default)]
pub struct Readiness {
    problem: RwLock<Option<&'static str>>,
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
}
