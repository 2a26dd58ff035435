//! Per-tenant request limits (GCRA, from `governor`): a tenant's keys together get
//! `per_second` requests a second with bursts of `burst`; beyond that, `429 rate_limited` with
//! `Retry-After`. Answers carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.

use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

use crate::error::ApiError;

type Limiter = RateLimiter<Uuid, DashMapStateStore<Uuid>, DefaultClock, StateInformationMiddleware>;

pub struct TenantRateLimit {
    limiter: Option<Limiter>,
    burst: u32,
}

/// What a request learned about its tenant's budget (for the response headers).
#[derive(Debug, Clone, Copy)]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u64,
}

impl TenantRateLimit {
    /// `per_second == 0` turns the limit off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let burst = burst.max(per_second);
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let quota = Quota::per_second(rate).allow_burst(NonZeroU32::new(burst).unwrap_or(rate));
            RateLimiter::dashmap(quota).with_middleware::<StateInformationMiddleware>()
        });
        Self { limiter, burst }
    }

    /// Counts one request of the tenant. `Ok(None)` when there is no limit; `Err` when the
    /// tenant is over it. Either way the answer's headers say where the tenant stands.
    pub fn check(&self, tenant_id: Uuid) -> Result<Option<RateInfo>, Limited> {
        let Some(limiter) = &self.limiter else {
            return Ok(None);
        };
        match limiter.check_key(&tenant_id) {
            Ok(snapshot) => Ok(Some(RateInfo {
                limit: self.burst,
                remaining: snapshot.remaining_burst_capacity(),
                reset_secs: 1,
            })),
            Err(not_until) => {
                let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
                let retry_after_secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                Err(Limited {
                    info: RateInfo {
                        limit: self.burst,
                        remaining: 0,
                        reset_secs: retry_after_secs,
                    },
                    retry_after_secs,
                })
            }
        }
    }
}

/// A request over its tenant's limit.
#[derive(Debug, Clone, Copy)]
pub struct Limited {
    pub info: RateInfo,
    pub retry_after_secs: u64,
}

impl From<Limited> for ApiError {
    fn from(limited: Limited) -> Self {
        ApiError::RateLimited {
            detail: "too many requests for this tenant; slow down",
            retry_after_secs: limited.retry_after_secs,
        }
    }
}

impl RateInfo {
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        for (name, value) in [
            ("ratelimit-limit", u64::from(self.limit)),
            ("ratelimit-remaining", u64::from(self.remaining)),
            ("ratelimit-reset", self.reset_secs),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_beyond_its_burst_is_limited_and_others_are_not() {
        let limit = TenantRateLimit::new(1, 3);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        for expected_remaining in [2, 1, 0] {
            assert_eq!(
                limit.check(a).unwrap().unwrap().remaining,
                expected_remaining
            );
        }
        let limited = limit.check(a).unwrap_err();
        assert_eq!(limited.info.remaining, 0);
        assert_eq!(ApiError::from(limited).code(), "rate_limited");
        assert!(limit.check(b).is_ok());
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limit = TenantRateLimit::new(0, 0);
        for _ in 0..1000 {
            assert!(limit.check(Uuid::now_v7()).unwrap().is_none());
        }
    }
}
