//! Liveness and readiness.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::readiness::Readiness;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the check passed, else `unavailable`.
    status: &'static str,
    /// Why the vault is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Background tasks whose last round failed (they are retried; the log has the details and
    /// `/metrics` counts them). They do not make the vault unready by themselves.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(example = json!(["trail_retention"]))]
    failing_tasks: Vec<&'static str>,
}

/// The process is running.
#[utoipa::path(get, operation_id = "healthz", path = "/healthz", tag = "operations",
    responses((status = 200, body = Health, example = json!({"status": "ok"}))))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        reason: None,
        failing_tasks: Vec::new(),
    })
}

/// The database answers, every migration is applied and the master key matches the database.
/// Failing background tasks are listed, but the answer stays `200` for them: they fail alike
/// on every replica (they all share the database), serving goes on without them for hours,
/// and taking every replica out of service at once would turn a late cleanup into an outage.
/// Alert on `spvault_background_tasks_failing` instead.
#[utoipa::path(get, operation_id = "readyz", path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(pool: web::Data<PgPool>, readiness: web::Data<Readiness>) -> HttpResponse {
    let reason = match crate::db::migrations_applied(&pool).await {
        Ok(true) => readiness.problem(),
        Ok(false) => Some("database migrations are not all applied".to_owned()),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check could not reach the database");
            Some("the database does not answer".to_owned())
        }
    };
    let failing_tasks = readiness.failing_tasks();
    match reason {
        None => HttpResponse::Ok().json(Health {
            status: "ok",
            reason: None,
            failing_tasks,
        }),
        Some(reason) => HttpResponse::ServiceUnavailable().json(Health {
            status: "unavailable",
            reason: Some(reason),
            failing_tasks,
        }),
    }
}

/// `GET /metrics`: the process's metrics, and gauges of the client secrets of every
/// application (counts only: the endpoint needs no key).
pub async fn metrics(
    pool: web::Data<PgPool>,
    vault: web::Data<crate::workflows::Vault>,
) -> HttpResponse {
    let mut text = crate::metrics::render(&pool);
    match crate::workflows::credentials::secret_lifecycle::secret_counts(&vault).await {
        Ok(counts) => text.push_str(&crate::metrics::secret_gauges(
            counts.expiring_within_7_days,
            counts.expiring_within_30_days,
            counts.rejected,
        )),
        Err(err) => {
            tracing::warn!(error = %err, "could not count applications' secrets for /metrics")
        }
    }
    HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(text)
}
