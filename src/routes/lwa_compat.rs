//! `POST /auth/o2/token`: the vault as a drop-in Login with Amazon for unmodified SP-API SDKs.
//!
//! The SDK keeps its code and changes only its LWA endpoint and credentials: `refresh_token` is
//! the vault's seller id, `client_id` the application's LWA client id, `client_secret` a tenant
//! API key with scope `tokens`. Answers use LWA's own shapes and statuses. Tokens come from the
//! same broker (cache, single flight, records) as `/v1`, recorded with `via: lwa_compat`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use secrecy::ExposeSecret;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::extract::read_limited;
use super::tokens::requester;
use crate::auth::{client_address, limit_tenant, Authenticator, Principal};
use crate::db::applications;
use crate::domain::{ClientId, Scope};
use crate::error::ApiError;
use crate::lwa::{self, ErrorBody, TokenRequest};
use crate::telemetry::RequestId;
use crate::tokens::{Broker, BrokerError, Delivered, Via, Want, UPSTREAM_RETRY_AFTER_SECS};

/// Settings of the compatible endpoint.
#[derive(Debug, Clone, Copy)]
pub struct CompatSettings {
    /// The least remaining lifetime of a token handed out here (for SDKs that ignore
    /// `expires_in`).
    pub min_ttl_seconds: i64,
}

const SCOPES: [&str; 2] = [
    "sellingpartnerapi::notifications",
    "sellingpartnerapi::client_credential:rotation",
];

#[derive(Serialize)]
struct Success<'a> {
    access_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    token_type: &'static str,
    expires_in: i64,
}

/// An answer in LWA's error shape.
struct LwaError {
    status: StatusCode,
    body: ErrorBody,
    retry_after: Option<u64>,
}

impl LwaError {
    fn new(status: StatusCode, error: &str, description: &str) -> Self {
        Self {
            status,
            body: ErrorBody::new(error, description),
            retry_after: None,
        }
    }

    fn invalid_request(description: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_client(description: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    fn invalid_grant(description: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    fn unavailable(description: &str) -> Self {
        Self {
            retry_after: Some(UPSTREAM_RETRY_AFTER_SECS),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                description,
            )
        }
    }

    fn response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs));
        }
        response.json(self.body)
    }
}

/// Authentication failures, in LWA's words.
fn from_auth_error(err: ApiError) -> LwaError {
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
        ApiError::Unavailable(_) => LwaError::unavailable("The vault is temporarily unavailable."),
        ApiError::TenantDisabled => LwaError::invalid_client("The tenant of this key is disabled."),
        _ => LwaError::invalid_client(
            "Client authentication failed: client_secret must be a tenant API key with scope tokens.",
        ),
    }
}

fn from_broker_error(err: BrokerError) -> LwaError {
    match err {
        BrokerError::NotFound => LwaError::invalid_grant("The refresh token is not a seller of this tenant."),
        BrokerError::ClientMismatch => {
            LwaError::invalid_client("The client_id is not the seller's application's.")
        }
        BrokerError::TenantDisabled => LwaError::invalid_client("The tenant of this key is disabled."),
        BrokerError::SellerRevoked => LwaError::invalid_grant(
            "The seller's authorization was revoked at Login with Amazon; it must authorize again.",
        ),
        BrokerError::ClientRejected => LwaError::invalid_client(
            "Login with Amazon rejected this application's client credentials; replace its client secret.",
        ),
        BrokerError::Unreadable("client secret") => LwaError::invalid_client(
            "The stored client secret cannot be decrypted; replace it.",
        ),
        BrokerError::Unreadable(_) => {
            LwaError::invalid_grant("The stored refresh token cannot be decrypted; replace it.")
        }
        BrokerError::LwaRefused(code) => {
            tracing::error!(lwa_error = %code, "LWA refused the exchange");
            LwaError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Login with Amazon refused the exchange.",
            )
        }
        BrokerError::Upstream => LwaError::unavailable("Login with Amazon is unavailable."),
        BrokerError::RecordUnwritten(_)
        | BrokerError::Keys(_)
        | BrokerError::Database(_)
        | BrokerError::Internal(_) => {
            tracing::error!(error = %err, "the LWA-compatible endpoint could not serve a token");
            LwaError::unavailable("The vault is temporarily unavailable.")
        }
    }
}

/// The request, as the OpenAPI document describes it (the handler parses leniently).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CompatTokenRequest {
    /// `refresh_token` or `client_credentials`.
    grant_type: String,
    /// The seller's id at the vault (for `refresh_token`).
    refresh_token: Option<String>,
    /// The application's LWA client id.
    client_id: String,
    /// A tenant API key with scope `tokens`.
    client_secret: String,
    /// For `client_credentials`: `sellingpartnerapi::notifications` or
    /// `sellingpartnerapi::client_credential:rotation`.
    scope: Option<String>,
}

/// LWA's success body, as the vault answers it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CompatTokenResponse {
    access_token: String,
    /// The seller id that was sent (absent for `client_credentials`).
    refresh_token: Option<String>,
    token_type: String,
    /// The token's true remaining lifetime, in seconds.
    expires_in: i64,
}

/// A drop-in Login with Amazon token endpoint for SP-API SDKs (form or JSON body).
#[utoipa::path(post, path = "/auth/o2/token", tag = "lwa-compatible",
    request_body(content(
        (CompatTokenRequest = "application/x-www-form-urlencoded"),
        (CompatTokenRequest = "application/json"))),
    responses((status = 200, body = CompatTokenResponse),
        (status = 400, body = ErrorBody,
            description = "invalid_request, unsupported_grant_type, invalid_scope, invalid_grant"),
        (status = 401, body = ErrorBody, description = "invalid_client"),
        (status = 408, body = ErrorBody, description = "the request did not arrive in time"),
        (status = 413, body = ErrorBody, description = "the body is over 64 KiB"),
        (status = 429, body = ErrorBody, description = "too many failed authentications or requests"),
        (status = 500, body = ErrorBody, description = "server_error"),
        (status = 503, body = ErrorBody, description = "temporarily_unavailable")))]
pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    request_id: RequestId,
    auth: web::Data<Authenticator>,
    broker: web::Data<Broker>,
    pool: web::Data<PgPool>,
    settings: web::Data<CompatSettings>,
) -> HttpResponse {
    let mut payload = payload.into_inner();
    let answer = async {
        let body = read_limited(&req, &mut payload)
            .await
            .map_err(|err| match err {
                ApiError::PayloadTooLarge => LwaError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request",
                    "The request body is larger than 64 KiB.",
                ),
                _ => LwaError::invalid_request("The request body could not be read."),
            })?;
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let request = lwa::parse_token_request(content_type, &body).map_err(|body| LwaError {
            status: StatusCode::BAD_REQUEST,
            body,
            retry_after: None,
        })?;
        serve(
            &req,
            &request_id,
            &request,
            &auth,
            &broker,
            &pool,
            *settings.get_ref(),
        )
        .await
    };
    match answer.await {
        Ok(response) => response,
        Err(err) => err.response(),
    }
}

async fn serve(
    req: &HttpRequest,
    request_id: &RequestId,
    request: &TokenRequest,
    auth: &Authenticator,
    broker: &Broker,
    pool: &PgPool,
    settings: CompatSettings,
) -> Result<HttpResponse, LwaError> {
    let grant_type = request
        .grant_type
        .as_deref()
        .ok_or_else(|| LwaError::invalid_request("grant_type is required."))?;
    if !matches!(grant_type, "refresh_token" | "client_credentials") {
        return Err(LwaError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Only the refresh_token and client_credentials grants are supported.",
        ));
    }
    let (Some(client_id), Some(key)) = (&request.client_id, &request.client_secret) else {
        return Err(LwaError::invalid_request(
            "client_id and client_secret are required.",
        ));
    };
    let principal = auth
        .authenticate(Some(key.expose_secret()), client_address(req))
        .await
        .map_err(from_auth_error)?;
    let tenant = match principal {
        Principal::Tenant(tenant) if tenant.scopes.contains(Scope::Tokens) => tenant,
        _ => return Err(from_auth_error(ApiError::Unauthenticated)),
    };
    limit_tenant(req, tenant.tenant_id).map_err(from_auth_error)?;
    let who = requester(
        tenant.tenant_id,
        tenant.key_id,
        request_id,
        req,
        Via::LwaCompat,
    );
    let want = Want {
        min_ttl_seconds: settings.min_ttl_seconds,
        force_refresh: false,
    };

    if grant_type == "refresh_token" {
        let sent = request
            .refresh_token
            .as_ref()
            .ok_or_else(|| LwaError::invalid_request("refresh_token is required."))?;
        let seller_id = Uuid::try_parse(sent.expose_secret().trim()).map_err(|_| {
            LwaError::invalid_grant("The refresh token must be the seller's id at the vault.")
        })?;
        let delivered = broker
            .seller_token(&who, seller_id, Some(client_id), want)
            .await
            .map_err(from_broker_error)?;
        return Ok(success(&delivered, Some(sent.expose_secret())));
    }

    let scope = request.scope.as_deref().unwrap_or_default().trim();
    if scope.is_empty() || !scope.split(' ').all(|s| SCOPES.contains(&s)) {
        return Err(LwaError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The requested scope is invalid, unknown, or malformed.",
        ));
    }
    let client_id =
        ClientId::parse(client_id).map_err(|_| LwaError::invalid_client("Unknown client_id."))?;
    let application =
        applications::find_application_by_client_id(pool, tenant.tenant_id, &client_id)
            .await
            .map_err(|err| from_broker_error(BrokerError::Database(err)))?
            .ok_or_else(|| LwaError::invalid_client("Unknown client_id."))?;
    let delivered = broker
        .grantless_token(&who, application.id, scope, want)
        .await
        .map_err(from_broker_error)?;
    Ok(success(&delivered, None))
}

fn success(delivered: &Delivered, refresh_token: Option<&str>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(Success {
            access_token: delivered.access_token.expose_secret(),
            refresh_token,
            token_type: "bearer",
            expires_in: (delivered.expires_at - Utc::now()).num_seconds().max(0),
        })
}
