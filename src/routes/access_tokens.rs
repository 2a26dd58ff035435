//! `POST /v1/sellers/{id}/access-token` and `POST /v1/applications/{id}/grantless-token`
//! (tenant keys with scope `tokens`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{parse_fields, JsonBody, OptionalJsonBody};
use crate::auth::{client_address, TenantCaller, TokensScope};
use crate::domain::rules::MAX_MIN_TTL_SECONDS;
use crate::domain::GRANTLESS_SCOPES;
use crate::error::ApiError;
use crate::telemetry::RequestId;
use crate::workflows::tokens::{Broker, Requester, Via, Want};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessTokenRequest {
    /// The token must have at least this many seconds left (0–3000); the refresh skew applies
    /// when it is larger.
    #[schema(minimum = 0, maximum = 3000)]
    #[serde(default, deserialize_with = "super::input::whole_number")]
    min_ttl_seconds: Option<i64>,
    /// Exchange at LWA even if a fresh token is cached.
    force_refresh: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantlessTokenRequest {
    #[schema(example = "sellingpartnerapi::notifications")]
    scope: String,
}

/// The body of a token handed out, one rendering for every kind of token: the token in a field
/// named for its kind, then its type, its life, where it came from and the call that minted it.
/// Each use declares the type (its name, its OpenAPI example) and the documentation of the
/// fields that differ; `$type::revealed` is the `200` that answers with it.
macro_rules! token_body {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(#[$token_meta:meta])* $token:ident,
            $(#[$source_meta:meta])* source,
            $(#[$issue_meta:meta])* issue_id,
        }
    ) => {
        #[derive(serde::Serialize, utoipa::ToSchema)]
        $(#[$meta])*
        pub struct $name {
            $(#[$token_meta])*
            $token: String,
            token_type: &'static str,
            /// Seconds of life left.
            expires_in: i64,
            #[serde(serialize_with = "crate::routes::timestamps::rfc3339")]
            expires_at: chrono::DateTime<chrono::Utc>,
            #[serde(serialize_with = "crate::routes::timestamps::rfc3339")]
            issued_at: chrono::DateTime<chrono::Utc>,
            $(#[$source_meta])*
            source: &'static str,
            $(#[$issue_meta])*
            issue_id: uuid::Uuid,
        }

        impl $name {
            /// `200` with the token, kept out of caches.
            fn revealed(delivered: &$crate::workflows::tokens::Delivered) -> actix_web::HttpResponse {
                use secrecy::ExposeSecret;
                $crate::routes::revealing(actix_web::http::StatusCode::OK).json(Self {
                    $token: delivered.token.expose_secret().to_owned(),
                    token_type: "bearer",
                    expires_in: delivered.expires_in(),
                    expires_at: delivered.expires_at,
                    issued_at: delivered.issued_at,
                    source: delivered.source.as_str(),
                    issue_id: delivered.issue_id,
                })
            }
        }
    };
}
pub(super) use token_body;

token_body! {
    #[schema(example = json!({"access_token": "Atza|IwEBIA…", "token_type": "bearer", "expires_in": 3412,
        "expires_at": "2026-11-28T13:00:00Z", "issued_at": "2026-11-28T12:00:00Z", "source": "cache",
        "issue_id": "0192f5a4-8a55-7d2e-b6a8-3c1f5e0c9d10"}))]
    pub struct AccessToken {
        access_token,
        /// `cache` or `lwa`.
        source,
        /// The exchange that minted the token (see `/v1/token-issues`).
        issue_id,
    }
}

/// `min_ttl_seconds` of a token request: 0 when absent.
pub(super) fn min_ttl_seconds(value: Option<i64>) -> Result<i64, String> {
    match value {
        None => Ok(0),
        Some(n @ 0..=MAX_MIN_TTL_SECONDS) => Ok(n),
        Some(_) => Err(format!("must be from 0 to {MAX_MIN_TTL_SECONDS}")),
    }
}

pub fn requester(
    caller_tenant: Uuid,
    caller_key: Uuid,
    request_id: &RequestId,
    req: &HttpRequest,
    via: Via,
) -> Requester {
    Requester {
        tenant_id: caller_tenant,
        api_key_id: Some(caller_key),
        request_id: request_id.as_str().to_owned(),
        client_ip: client_address(req).to_string(),
        via,
    }
}

/// A seller's access token: from the cache, or exchanged at LWA. Recorded before it is returned.
#[utoipa::path(post, operation_id = "seller_access_token", path = "/v1/sellers/{seller_id}/access-token", tag = "tokens",
    security(("tenant_key" = ["tokens"])), params(("seller_id" = Uuid, Path)),
    request_body(content = Option<AccessTokenRequest>, description = "optional"),
    responses((status = 200, body = AccessToken),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json",
            description = "seller_authorization_revoked or client_credentials_rejected"),
        (status = 503, body = crate::error::Problem, content_type = "application/problem+json",
            description = "upstream_unavailable (with Retry-After), or unavailable")))]
pub async fn seller_access_token(
    caller: TenantCaller<TokensScope>,
    request_id: RequestId,
    req: HttpRequest,
    broker: web::Data<Broker>,
    path: web::Path<Uuid>,
    OptionalJsonBody(body): OptionalJsonBody<AccessTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let seller_id = path.into_inner();
    parse_fields! {
        min_ttl = "min_ttl_seconds" => min_ttl_seconds(body.min_ttl_seconds),
    };
    let who = requester(caller.tenant_id, caller.key_id, &request_id, &req, Via::V1);
    let want = Want {
        min_ttl_seconds: min_ttl,
        force_refresh: body.force_refresh.unwrap_or(false),
    };
    let delivered = broker.seller_token(&who, seller_id, None, want).await?;
    Ok(AccessToken::revealed(&delivered))
}

/// A grantless token (client credentials) of an application, cached like seller tokens.
#[utoipa::path(post, operation_id = "grantless_token", path = "/v1/applications/{application_id}/grantless-token", tag = "tokens",
    security(("tenant_key" = ["tokens"])), params(("application_id" = Uuid, Path)),
    request_body = GrantlessTokenRequest,
    responses((status = 200, body = AccessToken),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json", description = "client_credentials_rejected"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn grantless_token(
    caller: TenantCaller<TokensScope>,
    request_id: RequestId,
    req: HttpRequest,
    broker: web::Data<Broker>,
    path: web::Path<Uuid>,
    JsonBody(body): JsonBody<GrantlessTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let application_id = path.into_inner();
    parse_fields! {
        scope = "scope" => GRANTLESS_SCOPES
            .iter()
            .find(|s| **s == body.scope)
            .copied()
            .ok_or_else(|| format!("must be one of {}", GRANTLESS_SCOPES.join(", "))),
    };
    let who = requester(caller.tenant_id, caller.key_id, &request_id, &req, Via::V1);
    let delivered = broker
        .grantless_token(&who, application_id, scope, Want::default())
        .await?;
    Ok(AccessToken::revealed(&delivered))
}
