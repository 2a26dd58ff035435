//! Prometheus metrics (the `metrics` facade, rendered by `metrics-exporter-prometheus`).
//!
//! Labels are bounded: route templates (never raw paths), the standard methods (anything else is
//! `other`), status codes, fixed outcome and task names. No tenant, seller or key identifier is
//! ever a label: `/metrics` needs no key.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use metrics::{counter, gauge, histogram, Counter, Histogram, SharedString};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

const SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const ROWS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same handle).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("spvault_audit_batch_rows".into()),
                        &ROWS,
                    )
                })
                .expect("static buckets are valid");
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (an embedding program's): keep a private one.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Folds recorded histogram samples into their buckets; run every few seconds (the exporter
/// keeps raw samples until this runs, which would grow without bound between scrapes).
pub fn upkeep() {
    install().run_upkeep();
}

/// One request. `route` must be a template or a fixed name, never the raw path; `method` is the
/// caller's, and anything but a standard method is counted as `other` (every made-up method
/// would otherwise be a new series, kept for ever).
///
/// A route's template is `'static`, so its series' handles are kept per thread: the request then
/// costs two atomic updates, not two registry lookups with their labels allocated and hashed.
pub fn record_request(route: Cow<'static, str>, method: &str, status: u16, elapsed: Duration) {
    let method = method_label(method);
    let seconds = elapsed.as_secs_f64();
    match route {
        Cow::Borrowed(route) => REQUEST_SERIES.with_borrow_mut(|series| {
            let (requests, duration) = series
                .entry((route, method, status))
                .or_insert_with(|| request_series(route, method, status));
            requests.increment(1);
            duration.record(seconds);
        }),
        Cow::Owned(route) => {
            let (requests, duration) = request_series(route, method, status);
            requests.increment(1);
            duration.record(seconds);
        }
    }
}

/// A request series: its route template, method and status.
type RequestLabels = (&'static str, &'static str, u16);

thread_local! {
    /// This thread's handles of the request series it has served: bounded like the labels are.
    static REQUEST_SERIES: RefCell<HashMap<RequestLabels, (Counter, Histogram)>> =
        RefCell::new(HashMap::new());
}

fn request_series(
    route: impl Into<SharedString>,
    method: &'static str,
    status: u16,
) -> (Counter, Histogram) {
    // The handles belong to the recorder in place when they are made: make sure it is ours (a
    // no-op once the application has installed it, as it does before serving).
    install();
    let route = route.into();
    let requests = counter!(
        "spvault_http_requests_total",
        "route" => route.clone(),
        "method" => method,
        "status" => status.to_string()
    );
    let duration = histogram!(
        "spvault_http_request_duration_seconds",
        "route" => route,
        "method" => method
    );
    (requests, duration)
}

/// The methods of RFC 9110 and PATCH, as themselves; anything else as `other`.
fn method_label(method: &str) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    STANDARD
        .into_iter()
        .find(|standard| *standard == method)
        .unwrap_or("other")
}

/// A token request answered from memory or not.
pub fn token_cache(hit: bool) {
    static TOKEN_CACHE: HitsAndMisses = HitsAndMisses::new("spvault_token_cache_total");
    TOKEN_CACHE.count(hit);
}

/// A cache's counter of hits and misses (`result` = `hit` or `miss`), each series' handle made
/// once for the process: a hit is counted on every request the cache serves.
struct HitsAndMisses {
    name: &'static str,
    hits: OnceLock<Counter>,
    misses: OnceLock<Counter>,
}

impl HitsAndMisses {
    const fn new(name: &'static str) -> Self {
        Self {
            name,
            hits: OnceLock::new(),
            misses: OnceLock::new(),
        }
    }

    fn count(&self, hit: bool) {
        let (cell, result) = if hit {
            (&self.hits, "hit")
        } else {
            (&self.misses, "miss")
        };
        cell.get_or_init(|| {
            // The handle belongs to the recorder in place when it is made: make sure it is ours.
            install();
            counter!(self.name, "result" => result)
        })
        .increment(1);
    }
}

/// One exchange attempt at LWA: `issued`, `rejected` (a verdict on the credentials) or
/// `transient` (retried or given up).
pub fn lwa_exchange(outcome: &'static str, elapsed: Duration) {
    counter!("spvault_lwa_exchanges_total", "outcome" => outcome).increment(1);
    histogram!("spvault_lwa_exchange_duration_seconds").record(elapsed.as_secs_f64());
}

/// One group commit of delivery records.
pub fn audit_batch(rows: usize, elapsed: Duration, ok: bool) {
    histogram!("spvault_audit_batch_rows").record(rows as f64);
    histogram!("spvault_audit_write_duration_seconds").record(elapsed.as_secs_f64());
    if !ok {
        counter!("spvault_audit_write_failures_total").increment(1);
    }
}

/// One call through the SP-API proxy: its operation family (a closed set, `other` for the
/// rest) and the class of Amazon's status (`2xx`…, or `none` when Amazon never answered).
pub fn sp_api_proxied(family: &'static str, status: Option<u16>) {
    let class = match status {
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) => "other",
        None => "none",
    };
    counter!("spvault_sp_api_proxy_calls_total", "family" => family, "status" => class)
        .increment(1);
}

/// An API key found in or missing from the verification cache.
pub fn key_cache(hit: bool) {
    static KEY_CACHE: HitsAndMisses = HitsAndMisses::new("spvault_key_cache_total");
    KEY_CACHE.count(hit);
}

/// Whether the invalidation listener hears notifications (it checks with its own pings).
pub fn invalidation_listener(connected: bool) {
    gauge!("spvault_invalidation_listener_connected").set(if connected { 1.0 } else { 0.0 });
    if !connected {
        counter!("spvault_invalidation_listener_losses_total").increment(1);
    }
}

/// A background task's series exist from its start (at 0), so an alert on them never waits for
/// a first failure.
pub fn background_task_registered(task: &'static str) {
    counter!("spvault_background_task_failures_total", "task" => task).increment(0);
    gauge!("spvault_background_tasks_failing", "task" => task).increment(0.0);
}

/// A round of the background task `task` failed (an error or a panic).
pub fn background_task_failed(task: &'static str) {
    counter!("spvault_background_task_failures_total", "task" => task).increment(1);
}

/// An instance of the background task `task` started (`true`) or stopped failing.
pub fn background_task_failing(task: &'static str, failing: bool) {
    let gauge = gauge!("spvault_background_tasks_failing", "task" => task);
    if failing {
        gauge.increment(1.0);
    } else {
        gauge.decrement(1.0);
    }
}

/// A key refused unchecked: its address is over the failed-authentication limit
/// (`address_limited`), or too many new keys are being verified at once (`busy`).
pub fn auth_refused(reason: &'static str) {
    counter!("spvault_auth_refusals_total", "reason" => reason).increment(1);
}

pub fn argon2_verification() {
    counter!("spvault_argon2_verifications_total").increment(1);
}

/// Gauges of every application's client secret, as Prometheus text: how many expire within 7
/// and within 30 days (or have expired), and how many LWA rejected. Rendered per scrape from the
/// database, not kept in the process-wide recorder.
pub fn secret_gauges(within_7_days: i64, within_30_days: i64, rejected: i64) -> String {
    format!(
        "# HELP spvault_application_secrets_expiring Applications whose current client secret expires within the window (or has expired).\n\
         # TYPE spvault_application_secrets_expiring gauge\n\
         spvault_application_secrets_expiring{{within=\"7d\"}} {within_7_days}\n\
         spvault_application_secrets_expiring{{within=\"30d\"}} {within_30_days}\n\
         # HELP spvault_applications_client_credentials_rejected Applications whose client credentials LWA rejected.\n\
         # TYPE spvault_applications_client_credentials_rejected gauge\n\
         spvault_applications_client_credentials_rejected {rejected}\n"
    )
}

/// The process's metrics as Prometheus text.
pub fn render(pool: &PgPool) -> String {
    let handle = install();
    let size = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    gauge!("spvault_db_pool_connections", "state" => "idle").set(f64::from(idle));
    gauge!("spvault_db_pool_connections", "state" => "in_use")
        .set(f64::from(size.saturating_sub(idle)));
    handle.run_upkeep();
    handle.render()
}

/// `GET /metrics`
pub async fn serve(pool: web::Data<PgPool>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(render(&pool))
}

/// Prometheus' text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standard_methods_are_labels_of_their_own() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("PATCH"), "PATCH");
        assert_eq!(method_label("get"), "other", "methods are case-sensitive");
        assert_eq!(method_label("FOO1"), "other");
        assert_eq!(method_label(""), "other");
    }
}
