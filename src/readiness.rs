//! Whether this replica should receive traffic, beyond the database checks `/readyz` makes itself:
//! set by the parts that find a problem at run time (the key store, background tasks).

use std::sync::RwLock;

/// Why the service should not receive traffic, if it should not (beyond the database checks).
#[derive(Default)]
pub struct Readiness {
    problem: RwLock<Option<String>>,
}

impl Readiness {
    pub fn problem(&self) -> Option<String> {
        self.problem
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_problem(&self, problem: impl Into<String>) {
        *self.problem.write().unwrap_or_else(|e| e.into_inner()) = Some(problem.into());
    }
}
