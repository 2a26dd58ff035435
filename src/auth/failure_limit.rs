//! The failed-authentication limit: after `limit` failures within `window` from one client
//! address, keys from that address that are not already known to be valid are refused (429)
//! without being checked until the window has passed. This bounds how much guessing (and argon2
//! work) one address can cause.
//!
//! It counts per address only, never per key id: failures sent by others must never lock a key
//! out (a tenant could otherwise keep the operator's key answering 429). IPv6 addresses count per
//! /64, the block one subscriber gets, so rotating through one's own /64 does not buy more tries.
//!
//! Flooding cannot lift a block:
//! - An address that reached the limit moves to `blocked`, which is never evicted for room: it
//!   stays refused until its window has passed, whatever else arrives meanwhile.
//! - `blocked` is bounded (`capacity`). Filling it takes `limit` failures from each of `capacity`
//!   addresses within one window; if that happens all the same, the limiter fails closed rather
//!   than forget a block: for one window, every address not already blocked is refused too (keys
//!   known to be valid keep working, as always).
//! - Addresses still below the limit are counted in a bounded cache, whose eviction can forget a
//!   partial count. That gives its address at most `limit - 1` more tries, and evicting it takes a
//!   flood of failures from other addresses, each of them a try that is counted: a flood never
//!   buys more tries than it spends.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::sync::Cache;

/// Blocked addresses held at most (some 50 bytes each).
const BLOCKED_CAPACITY: usize = 250_000;
/// Addresses below the limit counted at most.
const COUNTING_CAPACITY: u64 = 100_000;

struct Window {
    started: Instant,
    failures: u32,
}

struct Blocked {
    /// Address (or /64) → the end of the window in which it reached the limit.
    until: HashMap<IpAddr, Instant>,
    /// While set and not passed: the table was full, and every address is refused.
    overflow_until: Option<Instant>,
}

pub struct FailureLimiter {
    limit: u32,
    window: Duration,
    capacity: usize,
    counting: Cache<IpAddr, Arc<Mutex<Window>>>,
    blocked: Mutex<Blocked>,
}

/// What the limit counts for an address: IPv4 addresses one by one, IPv6 per /64.
fn bucket(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
    }
}

impl FailureLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self::with_capacity(limit, window, COUNTING_CAPACITY, BLOCKED_CAPACITY)
    }

    fn with_capacity(limit: u32, window: Duration, counting: u64, blocked: usize) -> Self {
        Self {
            limit: limit.max(1),
            window,
            capacity: blocked,
            // An entry lives one window from its first failure.
            counting: Cache::builder()
                .max_capacity(counting)
                .time_to_live(window)
                .build(),
            blocked: Mutex::new(Blocked {
                until: HashMap::new(),
                overflow_until: None,
            }),
        }
    }

    fn blocked(&self) -> std::sync::MutexGuard<'_, Blocked> {
        self.blocked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long the address must wait, if it is limited.
    pub fn blocked_for(&self, address: IpAddr) -> Option<Duration> {
        let key = bucket(address);
        let now = Instant::now();
        let mut blocked = self.blocked();
        match blocked.until.get(&key) {
            Some(until) if *until > now => return Some(*until - now),
            Some(_) => {
                blocked.until.remove(&key);
            }
            None => {}
        }
        match blocked.overflow_until {
            Some(until) if until > now => Some(until - now),
            _ => None,
        }
    }

    pub fn record_failure(&self, address: IpAddr) {
        let key = bucket(address);
        let entry = self.counting.get_with(key, || {
            Arc::new(Mutex::new(Window {
                started: Instant::now(),
                failures: 0,
            }))
        });
        let ends = {
            let mut w = entry.lock().unwrap_or_else(|e| e.into_inner());
            if w.started.elapsed() >= self.window {
                *w = Window {
                    started: Instant::now(),
                    failures: 0,
                };
            }
            w.failures = w.failures.saturating_add(1);
            if w.failures < self.limit {
                return;
            }
            w.started + self.window
        };
        self.block(key, ends);
        self.counting.invalidate(&key);
    }

    fn block(&self, key: IpAddr, until: Instant) {
        let now = Instant::now();
        let mut blocked = self.blocked();
        if blocked.until.len() >= self.capacity && !blocked.until.contains_key(&key) {
            if blocked.overflow_until.is_some_and(|end| end > now) {
                return;
            }
            blocked.until.retain(|_, until| *until > now);
            if blocked.until.len() >= self.capacity {
                // Every block in the table ends within one window; so does this.
                blocked.overflow_until = Some(now + self.window);
                tracing::warn!(
                    blocked = blocked.until.len(),
                    "the failed-authentication limit is full: refusing every key not known to be \
                     valid for one window"
                );
                return;
            }
        }
        blocked.until.insert(key, until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(n))
    }

    #[test]
    fn an_address_is_limited_after_the_limit_and_others_are_not() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(60));
        let a = ip("10.0.0.1");
        for _ in 0..2 {
            limiter.record_failure(a);
        }
        assert!(limiter.blocked_for(a).is_none());
        limiter.record_failure(a);
        let wait = limiter.blocked_for(a).unwrap();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(58));
        assert!(limiter.blocked_for(ip("10.0.0.2")).is_none());
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(60));
        for host in [
            "2001:db8:1:2::1",
            "2001:db8:1:2::2",
            "2001:db8:1:2:ffff:ffff:ffff:ffff",
        ] {
            limiter.record_failure(ip(host));
        }
        assert!(limiter.blocked_for(ip("2001:db8:1:2::99")).is_some());
        assert!(limiter.blocked_for(ip("2001:db8:1:3::1")).is_none());
        // An IPv4 address written as IPv6 is the IPv4 address, not a /64.
        limiter.record_failure(ip("::ffff:10.0.0.1"));
        assert!(limiter.blocked_for(ip("::ffff:10.0.0.2")).is_none());
    }

    #[test]
    fn a_flood_of_other_addresses_does_not_lift_a_block() {
        let limiter = FailureLimiter::with_capacity(2, Duration::from_secs(60), 10, 10);
        let a = ip("10.0.0.1");
        limiter.record_failure(a);
        limiter.record_failure(a);
        for n in 0..1_000u32 {
            let other = v4(0x0b00_0000 + n);
            limiter.record_failure(other);
            limiter.counting.run_pending_tasks();
        }
        assert!(limiter.blocked_for(a).is_some());
    }

    #[test]
    fn a_full_table_fails_closed() {
        let limiter = FailureLimiter::with_capacity(1, Duration::from_secs(60), 10, 3);
        for n in 1..=3u32 {
            limiter.record_failure(v4(0x0a00_0000 + n));
        }
        let fresh = ip("192.0.2.1");
        assert!(limiter.blocked_for(fresh).is_none());
        // A fourth address reaches the limit with the table full: no block is forgotten, and
        // nobody new is let through for a window.
        limiter.record_failure(ip("10.9.9.9"));
        for n in 1..=3u32 {
            assert!(limiter.blocked_for(v4(0x0a00_0000 + n)).is_some());
        }
        assert!(limiter.blocked_for(fresh).is_some());
    }

    #[test]
    fn the_limit_lifts_when_the_window_has_passed() {
        let limiter = FailureLimiter::new(1, Duration::from_millis(50));
        let a = ip("10.0.0.1");
        limiter.record_failure(a);
        assert!(limiter.blocked_for(a).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(limiter.blocked_for(a).is_none());
        assert!(limiter.blocked.lock().unwrap().until.is_empty());
    }
}
