//! The token trail (tenant keys with scope `audit`): `GET /v1/token-issues`,
//! `GET /v1/token-deliveries`, `POST /v1/token-issues/lookup`.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::input::{parse_fields, parse_time, parse_uuid, JsonBody, PageQuery};
use crate::auth::{AuditScope, TenantCaller};
use crate::domain::{Page, MAX_CREDENTIAL_BYTES};
use crate::error::ApiError;
use crate::workflows::trail::queries::{
    self, DeliveryFilter, IssueFilter, TimeRange, TokenDeliveryRow, TokenIssueRow,
};
use crate::workflows::Vault;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenIssue {
    id: Uuid,
    seller_id: Option<Uuid>,
    application_id: Uuid,
    /// `refresh_token`, `client_credentials`, `authorization_code`, or `restricted_data_token`
    /// (a call of SP-API's Tokens API).
    grant_type: String,
    scope: Option<String>,
    /// `issued` or `lwa_error`.
    outcome: String,
    /// LWA's error (`invalid_grant`, …) or the transport failure (`timeout`, `http_503`, …).
    error_code: Option<String>,
    issued_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    lwa_latency_ms: i32,
    /// HMAC-SHA-256 of the token under a key the vault holds, hex, 32 characters.
    token_fingerprint: Option<String>,
    api_key_id: Option<Uuid>,
    request_id: String,
    /// Which of the application's client secrets the exchange used: `current`, or `previous`
    /// (kept after a rotation until it expires) when LWA refused the current one.
    #[schema(example = "current")]
    client_secret: Option<String>,
    /// For a Restricted Data Token: the fingerprint of the canonical resource set it covers
    /// (SHA-256 of the Tokens API request body the vault sent, hex, 32 characters).
    resource_set_fingerprint: Option<String>,
}

impl From<TokenIssueRow> for TokenIssue {
    fn from(row: TokenIssueRow) -> Self {
        Self {
            id: row.id,
            seller_id: row.seller_id,
            application_id: row.application_id,
            grant_type: row.grant_type,
            scope: row.scope,
            outcome: row.outcome,
            error_code: row.error_code,
            issued_at: row.issued_at,
            expires_at: row.expires_at,
            lwa_latency_ms: row.lwa_latency_ms,
            token_fingerprint: row.token_fingerprint,
            api_key_id: row.api_key_id,
            request_id: row.request_id,
            client_secret: row.client_secret,
            resource_set_fingerprint: row.resource_set_fingerprint,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenDelivery {
    id: Uuid,
    issue_id: Uuid,
    seller_id: Option<Uuid>,
    application_id: Uuid,
    api_key_id: Uuid,
    /// `cache`, `lwa`, or `sp_api` (a Restricted Data Token fresh from the Tokens API).
    source: String,
    /// `v1`, `lwa_compat` or `proxy` (the vault used the token for the caller's SP-API call;
    /// the token never left the vault).
    via: String,
    /// `access_token` or `restricted_data_token`.
    #[schema(example = "access_token")]
    kind: String,
    delivered_at: DateTime<Utc>,
    request_id: String,
    client_ip: String,
    /// For `via: "proxy"`: the SP-API call the token was used for.
    #[serde(skip_serializing_if = "Option::is_none")]
    proxy: Option<ProxiedCall>,
}

/// An SP-API call made through the vault's proxy.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"method": "GET", "path": "/orders/v0/orders", "status": 200}))]
pub struct ProxiedCall {
    method: String,
    /// The operation's path, without the query.
    path: String,
    /// Amazon's status; `null` when Amazon never answered.
    status: Option<u16>,
}

impl From<TokenDeliveryRow> for TokenDelivery {
    fn from(row: TokenDeliveryRow) -> Self {
        Self {
            id: row.id,
            issue_id: row.issue_id,
            seller_id: row.seller_id,
            application_id: row.application_id,
            api_key_id: row.api_key_id,
            source: row.source,
            via: row.via,
            kind: row.kind,
            delivered_at: row.delivered_at,
            request_id: row.request_id,
            client_ip: row.client_ip,
            proxy: match (row.proxy_method, row.proxy_path) {
                (Some(method), Some(path)) => Some(ProxiedCall {
                    method,
                    path,
                    status: row.proxy_status.and_then(|s| u16::try_from(s).ok()),
                }),
                _ => None,
            },
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct IssueQuery {
    #[param(value_type = Option<Uuid>)]
    seller_id: Option<String>,
    #[param(value_type = Option<Uuid>)]
    application_id: Option<String>,
    #[param(value_type = Option<DateTime<Utc>>)]
    since: Option<String>,
    #[param(value_type = Option<DateTime<Utc>>)]
    until: Option<String>,
    #[param(value_type = Option<u16>)]
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveryQuery {
    #[param(value_type = Option<Uuid>)]
    seller_id: Option<String>,
    #[param(value_type = Option<Uuid>)]
    api_key_id: Option<String>,
    #[param(value_type = Option<DateTime<Utc>>)]
    since: Option<String>,
    #[param(value_type = Option<DateTime<Utc>>)]
    until: Option<String>,
    #[param(value_type = Option<u16>)]
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupRequest {
    /// A token someone found (in a log, say): an access token or a Restricted Data Token.
    #[schema(value_type = String, example = "Atza|IwEBIA…")]
    access_token: SecretString,
}

/// One row per exchange attempt at LWA, newest first.
#[utoipa::path(get, operation_id = "list_token_issues", path = "/v1/token-issues", tag = "audit", security(("tenant_key" = ["audit"])),
    params(IssueQuery), responses((status = 200, body = Page<TokenIssue>)))]
pub async fn list_issues(
    caller: TenantCaller<AuditScope>,
    vault: web::Data<Vault>,
    query: web::Query<IssueQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit.clone(),
        cursor: query.cursor.clone(),
    };
    parse_fields! {
        seller_id = "seller_id" => parse_uuid(query.seller_id.as_deref()),
        application_id = "application_id" => parse_uuid(query.application_id.as_deref()),
        since = "since" => parse_time(query.since.as_deref()),
        until = "until" => parse_time(query.until.as_deref()),
        limit = "limit" => page.limit(),
        cursor = "cursor" => page.cursor(),
    };
    let filter = IssueFilter {
        seller_id,
        application_id,
    };
    let range = TimeRange { since, until };
    let rows =
        queries::token_issues(&vault, caller.tenant_id, filter, range, cursor, limit).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(rows, limit, |r| r.id).map(TokenIssue::from)))
}

/// One row per token handed out, newest first.
#[utoipa::path(get, operation_id = "list_token_deliveries", path = "/v1/token-deliveries", tag = "audit",
    security(("tenant_key" = ["audit"])),
    params(DeliveryQuery), responses((status = 200, body = Page<TokenDelivery>)))]
pub async fn list_deliveries(
    caller: TenantCaller<AuditScope>,
    vault: web::Data<Vault>,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit.clone(),
        cursor: query.cursor.clone(),
    };
    parse_fields! {
        seller_id = "seller_id" => parse_uuid(query.seller_id.as_deref()),
        api_key_id = "api_key_id" => parse_uuid(query.api_key_id.as_deref()),
        since = "since" => parse_time(query.since.as_deref()),
        until = "until" => parse_time(query.until.as_deref()),
        limit = "limit" => page.limit(),
        cursor = "cursor" => page.cursor(),
    };
    let filter = DeliveryFilter {
        seller_id,
        api_key_id,
    };
    let range = TimeRange { since, until };
    let rows =
        queries::token_deliveries(&vault, caller.tenant_id, filter, range, cursor, limit).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(rows, limit, |r| r.id).map(TokenDelivery::from)))
}

/// Which exchange minted this token? By its keyed fingerprint; the token is not stored.
#[utoipa::path(post, operation_id = "lookup_token_issue", path = "/v1/token-issues/lookup", tag = "audit",
    security(("tenant_key" = ["audit"])), request_body = LookupRequest,
    responses((status = 200, body = TokenIssue), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn lookup(
    caller: TenantCaller<AuditScope>,
    vault: web::Data<Vault>,
    JsonBody(body): JsonBody<LookupRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = body.access_token.expose_secret();
    parse_fields! {
        _valid = "access_token" => if crate::domain::looks_like_access_token(token) {
            Ok(())
        } else {
            Err(format!("must be an LWA access token (\"Atza|…\") or a Restricted Data Token (\"Atz.sprdt|…\"), visible ASCII, at most {MAX_CREDENTIAL_BYTES} bytes"))
        },
    };
    let issue = queries::issue_of_token(&vault, caller.tenant_id, token).await?;
    Ok(HttpResponse::Ok().json(TokenIssue::from(issue)))
}
