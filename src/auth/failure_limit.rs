//! The failed-authentication limit: after `limit` failures within `window`, from one client
//! address or for one key id, keys not already known to be valid are refused (429) without being
//! checked until the window has passed. This bounds how much argon2 work a wrong key can cause.

use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::sync::Cache;
use uuid::Uuid;

struct Window {
    started: Instant,
    failures: u32,
}

struct Counter<K> {
    windows: Cache<K, Arc<Mutex<Window>>>,
}

impl<K: Hash + Eq + Send + Sync + Clone + 'static> Counter<K> {
    fn new(window: Duration) -> Self {
        Self {
            // An entry lives one window from its first failure; the cap bounds memory under attack.
            windows: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(window)
                .build(),
        }
    }

    fn blocked_for(&self, key: &K, limit: u32, window: Duration) -> Option<Duration> {
        let entry = self.windows.get(key)?;
        let w = entry.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = w.started.elapsed();
        (w.failures >= limit && elapsed < window).then(|| window - elapsed)
    }

    fn record(&self, key: K, window: Duration) {
        let entry = self.windows.get_with(key, || {
            Arc::new(Mutex::new(Window {
                started: Instant::now(),
                failures: 0,
            }))
        });
        let mut w = entry.lock().unwrap_or_else(|e| e.into_inner());
        if w.started.elapsed() >= window {
            *w = Window {
                started: Instant::now(),
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }
}

pub struct FailureLimiter {
    limit: u32,
    window: Duration,
    by_address: Counter<IpAddr>,
    by_key: Counter<Uuid>,
}

impl FailureLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            by_address: Counter::new(window),
            by_key: Counter::new(window),
        }
    }

    /// How long the address must wait, if it is limited.
    pub fn address_blocked_for(&self, address: IpAddr) -> Option<Duration> {
        self.by_address
            .blocked_for(&address, self.limit, self.window)
    }

    /// How long anyone presenting this key id must wait, if it is limited.
    pub fn key_blocked_for(&self, key_id: Uuid) -> Option<Duration> {
        self.by_key.blocked_for(&key_id, self.limit, self.window)
    }

    pub fn record_failure(&self, address: IpAddr, key_id: Option<Uuid>) {
        self.by_address.record(address, self.window);
        if let Some(id) = key_id {
            self.by_key.record(id, self.window);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_limited_after_the_limit_and_others_are_not() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..2 {
            limiter.record_failure(a, None);
        }
        assert!(limiter.address_blocked_for(a).is_none());
        limiter.record_failure(a, None);
        let wait = limiter.address_blocked_for(a).unwrap();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(58));
        assert!(limiter.address_blocked_for(b).is_none());
    }

    #[test]
    fn a_key_id_is_limited_across_addresses() {
        let limiter = FailureLimiter::new(2, Duration::from_secs(60));
        let id = Uuid::now_v7();
        limiter.record_failure("10.0.0.1".parse().unwrap(), Some(id));
        limiter.record_failure("10.0.0.2".parse().unwrap(), Some(id));
        assert!(limiter.key_blocked_for(id).is_some());
        assert!(limiter.key_blocked_for(Uuid::now_v7()).is_none());
    }

    #[test]
    fn the_limit_lifts_when_the_window_has_passed() {
        let limiter = FailureLimiter::new(1, Duration::from_millis(50));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        limiter.record_failure(a, None);
        assert!(limiter.address_blocked_for(a).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(limiter.address_blocked_for(a).is_none());
    }
}
