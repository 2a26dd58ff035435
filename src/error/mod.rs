//! The errors of the HTTP API: [`ApiError`], rendered as `application/problem+json` (RFC 9457),
//! and [`lwa::LwaError`], Login with Amazon's own shape for the LWA-compatible endpoint. Each has
//! one mapping from the workflows' error (`workflows::Error`), here.
//!
//! Every `/v1` handler returns `Result<_, ApiError>`. Callers see a stable `code` and a `detail`
//! meant for people; the cause chain of an internal error goes to the log only.

pub mod lwa;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::telemetry;
use crate::workflows;

/// How long to tell callers to wait after LWA stayed unavailable.
pub const UPSTREAM_RETRY_AFTER_SECS: u64 = 5;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a `422 validation_failed` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"type": "about:blank", "title": "Not Found", "status": 404,
    "code": "not_found", "detail": "seller 7c0e0a4e-2c53-4a8e-9f7e-0c1d2e3f4a5b not found",
    "request_id": "0192f5a4-8a55-7d2e-b6a8-3c1f5e0c9d10"}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    pub code: &'static str,
    pub detail: String,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<ProblemErrors>,
}

/// The `errors` of a problem: the invalid fields of a `422`, or Amazon's own errors of a
/// `409 sp_api_refused`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ProblemErrors {
    Fields(Vec<FieldError>),
    Amazon(Vec<crate::amazon::sp_api::SpApiError>),
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Malformed(String),
    #[error("missing, malformed, unknown, revoked or expired API key")]
    Unauthenticated,
    #[error("the tenant of this API key is disabled")]
    TenantDisabled,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error(
        "the seller's authorization was revoked at Login with Amazon; replace its refresh token"
    )]
    SellerAuthorizationRevoked,
    #[error(
        "Login with Amazon rejected this application's client credentials; replace its client secret"
    )]
    ClientCredentialsRejected,
    #[error(
        "the stored {0} cannot be decrypted where it is (it was altered or copied from another \
         row); replace it"
    )]
    CredentialUnreadable(&'static str),
    #[error("request body is larger than 64 KiB")]
    PayloadTooLarge,
    /// A body for the SP-API proxy over its own, larger limit.
    #[error("request body is larger than 10 MiB")]
    ProxyPayloadTooLarge,
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("one or more fields are invalid")]
    Validation(Vec<FieldError>),
    #[error("{detail}")]
    RateLimited {
        detail: &'static str,
        retry_after_secs: u64,
    },
    #[error("the vault is verifying too many new API keys at once; try again shortly")]
    Busy { retry_after_secs: u64 },
    #[error("Login with Amazon is unavailable; try again later")]
    UpstreamUnavailable { retry_after_secs: u64 },
    #[error("the Selling Partner API refused the call (status {status}); see errors")]
    SpApiRefused {
        status: u16,
        errors: Vec<crate::amazon::sp_api::SpApiError>,
    },
    #[error("the Selling Partner API is unavailable; try again later")]
    SpApiUnavailable { retry_after_secs: u64 },
    #[error("the vault's database is unavailable; nothing was served or changed")]
    Unavailable(#[source] anyhow::Error),
    #[error(
        "this tenant's secrets cannot be opened by this replica: its master keys are misconfigured"
    )]
    KeysUnavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed_request",
            Self::Unauthenticated => "unauthenticated",
            Self::TenantDisabled => "tenant_disabled",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::SellerAuthorizationRevoked => "seller_authorization_revoked",
            Self::ClientCredentialsRejected => "client_credentials_rejected",
            Self::CredentialUnreadable(_) => "credential_unreadable",
            Self::PayloadTooLarge | Self::ProxyPayloadTooLarge => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::Validation(_) => "validation_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::UpstreamUnavailable { .. } | Self::SpApiUnavailable { .. } => {
                "upstream_unavailable"
            }
            Self::SpApiRefused { .. } => "sp_api_refused",
            Self::Busy { .. } | Self::Unavailable(_) | Self::KeysUnavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited {
                retry_after_secs, ..
            }
            | Self::UpstreamUnavailable { retry_after_secs }
            | Self::Busy { retry_after_secs }
            | Self::SpApiUnavailable { retry_after_secs } => Some((*retry_after_secs).max(1)),
            Self::Unavailable(_) | Self::KeysUnavailable(_) => Some(1),
            _ => None,
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code: self.code(),
            detail: self.to_string(),
            request_id: telemetry::current_request_id(),
            errors: match self {
                Self::Validation(errors) => Some(ProblemErrors::Fields(errors.clone())),
                Self::SpApiRefused { errors, .. } => Some(ProblemErrors::Amazon(errors.clone())),
                _ => None,
            },
        }
    }
}

/// Database failures: an unreachable database is `503 unavailable`, anything else is a bug.
impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&err) {
            Self::Unavailable(err.into())
        } else {
            Self::Internal(anyhow::Error::new(err).context("database query failed"))
        }
    }
}

/// What went wrong below the handlers, as the API states it.
impl From<workflows::Error> for ApiError {
    fn from(err: workflows::Error) -> Self {
        use workflows::Error as E;
        match err {
            E::NotFound(what) => Self::NotFound(what),
            E::Conflict(message) => Self::Conflict(message),
            E::TooSoon {
                detail,
                retry_after_secs,
            } => Self::RateLimited {
                detail,
                retry_after_secs,
            },
            E::Invalid { field, message } => Self::validation(field, message),
            E::TenantDisabled => Self::TenantDisabled,
            E::ClientMismatch => {
                Self::NotFound("the seller's application has another client id".into())
            }
            E::SellerRevoked => Self::SellerAuthorizationRevoked,
            E::ClientRejected => Self::ClientCredentialsRejected,
            E::Unreadable(kind) => Self::CredentialUnreadable(kind.label()),
            E::LwaRefused(code) => {
                tracing::error!(lwa_error = %code, "LWA refused the exchange");
                Self::UpstreamUnavailable {
                    retry_after_secs: UPSTREAM_RETRY_AFTER_SECS,
                }
            }
            E::Upstream => Self::UpstreamUnavailable {
                retry_after_secs: UPSTREAM_RETRY_AFTER_SECS,
            },
            E::SpApiRefused { status, errors } => Self::SpApiRefused { status, errors },
            E::SpApiUnavailable(why) => {
                tracing::warn!(failure = %why, "SP-API stayed unavailable");
                Self::SpApiUnavailable {
                    retry_after_secs: UPSTREAM_RETRY_AFTER_SECS,
                }
            }
            E::RecordUnwritten(reason) => {
                Self::Unavailable(anyhow::anyhow!("delivery record: {reason}"))
            }
            E::KeysUnavailable(err) => Self::KeysUnavailable(err),
            E::Database(err) => err.into(),
            E::Internal(err) => Self::Internal(err),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::TenantDisabled | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_)
            | Self::SellerAuthorizationRevoked
            | Self::ClientCredentialsRejected
            | Self::CredentialUnreadable(_)
            | Self::SpApiRefused { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge | Self::ProxyPayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy { .. }
            | Self::UpstreamUnavailable { .. }
            | Self::SpApiUnavailable { .. }
            | Self::Unavailable(_)
            | Self::KeysUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(err) => tracing::error!(error = ?err, "internal error"),
            Self::Unavailable(err) => tracing::warn!(error = ?err, "database unavailable"),
            Self::KeysUnavailable(err) => {
                tracing::error!(error = ?err, "master keys misconfigured")
            }
            Self::CredentialUnreadable(what) => {
                tracing::error!(
                    credential = what,
                    "a stored credential does not open in its place"
                )
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(PROBLEM_JSON);
        if let Some(secs) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        if matches!(self, Self::Unauthenticated) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(self.problem())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = ApiError::Internal(anyhow::anyhow!("password=hunter2 leaked"));
        let problem = err.problem();
        assert_eq!(problem.detail, "internal error");
        assert_eq!(problem.code, "internal");
        assert_eq!(problem.status, 500);
    }

    #[test]
    fn validation_errors_list_their_fields() {
        let problem = ApiError::validation("name", "must not be empty").problem();
        assert_eq!(problem.status, 422);
        let Some(ProblemErrors::Fields(errors)) = problem.errors else {
            panic!("no field errors")
        };
        assert_eq!(errors[0].field, "name");
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let err = ApiError::RateLimited {
            detail: "too many",
            retry_after_secs: 0,
        };
        let response = err.error_response();
        assert_eq!(response.headers().get("retry-after").unwrap(), "1");
    }
}
