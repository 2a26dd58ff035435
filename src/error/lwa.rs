//! Errors in Login with Amazon's own shape and statuses (`{"error", "error_description"}`), for
//! the LWA-compatible endpoint: SDKs handle these as they would LWA's.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;

use super::{ApiError, UPSTREAM_RETRY_AFTER_SECS};
use crate::amazon::lwa::ErrorBody;
use crate::domain::CredentialKind;
use crate::workflows;

/// An answer in LWA's error shape.
pub struct LwaError {
    status: StatusCode,
    body: ErrorBody,
    retry_after: Option<u64>,
}

impl LwaError {
    pub fn new(status: StatusCode, error: &str, description: &str) -> Self {
        Self {
            status,
            body: ErrorBody::new(error, description),
            retry_after: None,
        }
    }

    /// A body that did not parse, as the protocol's parser describes it.
    pub fn bad_request(body: ErrorBody) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body,
            retry_after: None,
        }
    }

    pub fn invalid_request(description: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn invalid_client(description: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    pub fn invalid_grant(description: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    pub fn unavailable(description: &str) -> Self {
        Self {
            retry_after: Some(UPSTREAM_RETRY_AFTER_SECS),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                description,
            )
        }
    }

    pub fn response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs));
        }
        response.json(self.body)
    }
}

/// Authentication failures, in LWA's words.
impl From<ApiError> for LwaError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::RateLimited {
                retry_after_secs, ..
            } => LwaError {
                retry_after: Some(retry_after_secs.max(1)),
                ..LwaError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "Too many failed authentications; try again later.",
                )
            },
            ApiError::Busy { retry_after_secs } => LwaError {
                retry_after: Some(retry_after_secs.max(1)),
                ..LwaError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "The vault is verifying too many new keys at once; try again shortly.",
                )
            },
            ApiError::Unavailable(_) => {
                LwaError::unavailable("The vault is temporarily unavailable.")
            }
            ApiError::TenantDisabled => {
                LwaError::invalid_client("The tenant of this key is disabled.")
            }
            _ => LwaError::invalid_client(
                "Client authentication failed: client_secret must be a tenant API key with scope tokens.",
            ),
        }
    }
}

/// What went wrong below the handler, as LWA would say it.
impl From<workflows::Error> for LwaError {
    fn from(err: workflows::Error) -> Self {
        use workflows::Error as E;
        match err {
            E::NotFound(_) => {
                LwaError::invalid_grant("The refresh token is not a seller of this tenant.")
            }
            E::ClientMismatch => {
                LwaError::invalid_client("The client_id is not the seller's application's.")
            }
            E::TenantDisabled => LwaError::invalid_client("The tenant of this key is disabled."),
            E::SellerRevoked => LwaError::invalid_grant(
                "The seller's authorization was revoked at Login with Amazon; it must authorize again.",
            ),
            E::ClientRejected => LwaError::invalid_client(
                "Login with Amazon rejected this application's client credentials; replace its client secret.",
            ),
            E::Unreadable(CredentialKind::ClientSecret) => LwaError::invalid_client(
                "The stored client secret cannot be decrypted; replace it.",
            ),
            E::Unreadable(_) => {
                LwaError::invalid_grant("The stored refresh token cannot be decrypted; replace it.")
            }
            E::LwaRefused(code) => {
                tracing::error!(lwa_error = %code, "LWA refused the exchange");
                LwaError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "Login with Amazon refused the exchange.",
                )
            }
            E::Upstream => LwaError::unavailable("Login with Amazon is unavailable."),
            E::Invalid { message, .. } => LwaError::invalid_request(&message),
            err @ (E::Conflict(_)
            | E::TooSoon { .. }
            | E::SpApiRefused { .. }
            | E::SpApiUnavailable(_)
            | E::RecordUnwritten(_)
            | E::KeysUnavailable(_)
            | E::Database(_)
            | E::Internal(_)) => {
                tracing::error!(error = %err, "the LWA-compatible endpoint could not serve a token");
                LwaError::unavailable("The vault is temporarily unavailable.")
            }
        }
    }
}
