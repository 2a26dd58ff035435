//! `POST /auth/o2/token`: the vault as a drop-in Login with Amazon for unmodified SP-API SDKs.
//!
//! The SDK keeps its code and changes only its LWA endpoint and credentials: `refresh_token` is
//! the vault's seller id, `client_id` the application's LWA client id, `client_secret` a tenant
//! API key with scope `tokens`. Answers use LWA's own shapes and statuses. Tokens come from the
//! same broker (cache, single flight, records) as `/v1`, recorded with `via: lwa_compat`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;
use serde::Serialize;
use uuid::Uuid;

use super::access_tokens::requester;
use super::input::{read_limited, wipe};
use super::revealing;
use crate::amazon::lwa::{self, ErrorBody, TokenRequest};
use crate::auth::{client_address, limit_tenant, Authenticator, Principal, RateInfo};
use crate::domain::{grantless_scope, ClientId, Scope};
use crate::error::lwa::LwaError;
use crate::error::ApiError;
use crate::telemetry::RequestId;
use crate::workflows::tokens::{Broker, Delivered, Via, Want};
use crate::workflows::Error;

/// Settings of the compatible endpoint.
#[derive(Debug, Clone, Copy)]
pub struct CompatSettings {
    /// The least remaining lifetime of a token handed out here (for SDKs that ignore
    /// `expires_in`).
    pub min_ttl_seconds: i64,
}

#[derive(Serialize)]
struct Success<'a> {
    access_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    token_type: &'static str,
    expires_in: i64,
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
    /// `sellingpartnerapi::client_credential:rotation` (one of them; repeats and extra spaces
    /// are folded away; at most 256 bytes).
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
#[utoipa::path(post, operation_id = "lwa_token", path = "/auth/o2/token", tag = "lwa-compatible",
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
        let request = lwa::parse_token_request(content_type, &body);
        // The body held the API key: wiped now that the request holds it in secret types.
        wipe(body);
        let request = request.map_err(LwaError::bad_request)?;
        serve(
            &req,
            &request_id,
            &request,
            &auth,
            &broker,
            *settings.get_ref(),
        )
        .await
    };
    let mut response = match answer.await {
        Ok(response) => response,
        Err(err) => err.response(),
    };
    // The tenant's `RateLimit-*` headers, as `require_key` writes them for `/v1`.
    let rate = req.extensions().get::<RateInfo>().copied();
    if let Some(rate) = rate {
        rate.write_headers(response.headers_mut());
    }
    response
}

async fn serve(
    req: &HttpRequest,
    request_id: &RequestId,
    request: &TokenRequest,
    auth: &Authenticator,
    broker: &Broker,
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
        .map_err(LwaError::from)?;
    let tenant = match principal {
        Principal::Tenant(tenant) if tenant.scopes.contains(Scope::Tokens) => tenant,
        _ => return Err(ApiError::Unauthenticated.into()),
    };
    limit_tenant(req, tenant.tenant_id).map_err(LwaError::from)?;
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
            .map_err(LwaError::from)?;
        return Ok(success(&delivered, Some(sent.expose_secret())));
    }

    let scope = grantless_scope(request.scope.as_deref().unwrap_or_default())
        .map_err(|why| LwaError::new(StatusCode::BAD_REQUEST, "invalid_scope", why))?;
    let client_id =
        ClientId::parse(client_id).map_err(|_| LwaError::invalid_client("Unknown client_id."))?;
    let delivered = broker
        .grantless_token_for_client(&who, &client_id, scope, want)
        .await
        .map_err(|err| match err {
            Error::NotFound(_) => LwaError::invalid_client("Unknown client_id."),
            err => err.into(),
        })?;
    Ok(success(&delivered, None))
}

fn success(delivered: &Delivered, refresh_token: Option<&str>) -> HttpResponse {
    revealing(StatusCode::OK).json(Success {
        access_token: delivered.token.expose_secret(),
        refresh_token,
        token_type: "bearer",
        expires_in: delivered.expires_in(),
    })
}
