//! `POST /v1/sellers/{id}/restricted-data-token` (tenant keys with scope `tokens`): a Restricted
//! Data Token for the operations that return personal data.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::access_tokens::{min_ttl_seconds, requester, token_body};
use super::input::{parse_fields, JsonBody};
use crate::auth::{TenantCaller, TokensScope};
use crate::domain::{ResourceInput, ResourceSet};
use crate::error::{ApiError, FieldError};
use crate::telemetry::RequestId;
use crate::workflows::tokens::{RestrictedDataTokens, Via, Want};

/// One restricted operation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestrictedResourceRequest {
    /// The operation's HTTP method (any case).
    #[schema(
        example = "GET",
        pattern = "^([Gg][Ee][Tt]|[Pp][Uu][Tt]|[Pp][Oo][Ss][Tt]|[Dd][Ee][Ll][Ee][Tt][Ee])$"
    )]
    method: String,
    /// The operation's path as it will be called, without query or fragment.
    #[schema(
        example = "/orders/v0/orders/902-1845936-5435065/address",
        min_length = 1,
        max_length = 512,
        pattern = "^/[!\"$->@-~]*$"
    )]
    path: String,
    /// Personal data asked of the Orders API (Orders paths only): `buyerInfo`,
    /// `shippingAddress`, `buyerTaxInformation`.
    #[schema(example = json!(["buyerInfo", "shippingAddress"]))]
    data_elements: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestrictedDataTokenRequest {
    /// 1–50 operations the token covers.
    restricted_resources: Vec<RestrictedResourceRequest>,
    /// The application the token is for, when it is another than the seller's (a delegation).
    #[schema(example = "amzn1.sellerapps.app.0bf296b5-36a6-4942-a13e-EXAMPLEfcd28")]
    target_application: Option<String>,
    /// The token must have at least this many seconds left (0–3000); the refresh skew applies
    /// when it is larger.
    #[schema(minimum = 0, maximum = 3000)]
    min_ttl_seconds: Option<i64>,
    /// Ask the Tokens API even if a fresh token is cached.
    force_refresh: Option<bool>,
}

token_body! {
    #[schema(example = json!({"restricted_data_token": "Atz.sprdt|IQEBLjAsAhRmHjNgHpi0U-Dme37rR6CuUpSREXAMPLE",
        "token_type": "bearer", "expires_in": 3412, "expires_at": "2026-11-28T13:00:00Z",
        "issued_at": "2026-11-28T12:00:00Z", "source": "cache",
        "issue_id": "0192f5a4-8a55-7d2e-b6a8-3c1f5e0c9d10"}))]
    pub struct RestrictedDataToken {
        /// Send it in `x-amz-access-token` to the operations it covers.
        restricted_data_token,
        /// `cache` or `sp_api`.
        #[schema(example = "sp_api")]
        source,
        /// The Tokens API call that minted the token (see `/v1/token-issues`).
        issue_id,
    }
}

/// A seller's Restricted Data Token for a set of restricted operations: from the cache (per
/// seller and canonical resource set), or from SP-API's Tokens API. Recorded before it is
/// returned.
#[utoipa::path(post, path = "/v1/sellers/{seller_id}/restricted-data-token", tag = "tokens",
    security(("tenant_key" = ["tokens"])), params(("seller_id" = Uuid, Path)),
    request_body = RestrictedDataTokenRequest,
    responses((status = 200, body = RestrictedDataToken,
            headers(("cache-control" = String, description = "no-store"))),
        (status = 400, body = crate::error::Problem, content_type = "application/problem+json",
            description = "malformed_request"),
        (status = 401, body = crate::error::Problem, content_type = "application/problem+json",
            description = "unauthenticated"),
        (status = 403, body = crate::error::Problem, content_type = "application/problem+json",
            description = "forbidden (no `tokens` scope) or tenant_disabled"),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json",
            description = "sp_api_refused (the Tokens API's own 400 or 403, with Amazon's \
                `errors`), seller_authorization_revoked or client_credentials_rejected"),
        (status = 413, body = crate::error::Problem, content_type = "application/problem+json",
            description = "payload_too_large"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json",
            description = "validation_failed: 1–50 resources; methods GET, PUT, POST, DELETE; \
                paths starting with `/`, at most 512 characters, without query or fragment; \
                `data_elements` (buyerInfo, shippingAddress, buyerTaxInformation) on Orders \
                paths only"),
        (status = 429, body = crate::error::Problem, content_type = "application/problem+json",
            description = "rate_limited (the tenant's limit, or the seller's Tokens API queue \
                is full; with Retry-After)"),
        (status = 503, body = crate::error::Problem, content_type = "application/problem+json",
            description = "upstream_unavailable (LWA or the Tokens API, after retries; with \
                Retry-After), or unavailable")))]
pub async fn restricted_data_token(
    caller: TenantCaller<TokensScope>,
    request_id: RequestId,
    req: HttpRequest,
    workflow: web::Data<RestrictedDataTokens>,
    path: web::Path<Uuid>,
    JsonBody(body): JsonBody<RestrictedDataTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let seller_id = path.into_inner();
    let inputs: Vec<ResourceInput<'_>> = body
        .restricted_resources
        .iter()
        .map(|r| ResourceInput {
            method: &r.method,
            path: &r.path,
            data_elements: r.data_elements.as_deref(),
        })
        .collect();
    parse_fields! {
        set = .. => ResourceSet::parse(&inputs, body.target_application.as_deref())
            .map_err(|problems| problems.into_iter().map(|(f, m)| FieldError::new(f, m))),
        min_ttl = "min_ttl_seconds" => min_ttl_seconds(body.min_ttl_seconds),
    };
    let who = requester(caller.tenant_id, caller.key_id, &request_id, &req, Via::V1);
    let want = Want {
        min_ttl_seconds: min_ttl,
        force_refresh: body.force_refresh.unwrap_or(false),
    };
    let delivered = workflow
        .restricted_data_token(&who, seller_id, &set, want)
        .await?;
    Ok(RestrictedDataToken::revealed(&delivered))
}
