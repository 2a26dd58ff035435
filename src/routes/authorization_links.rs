//! `/v1/applications/{id}/authorization-links` and `/v1/authorization-links` (tenant keys with
//! scope `admin`): consent links that onboard a seller. The consent URL carries a single-use
//! state that the vault keeps only as a digest, so the URL is in the creating response only.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{parse_fields, JsonBody, PageQuery};
use crate::auth::{AdminScope, TenantCaller};
use crate::domain::{
    AmazonState, BrowserUrl, ExternalId, LinkLifetime, LinkStatus, Page, Partner, Region,
};
use crate::error::ApiError;
use crate::telemetry::RequestId;
use crate::workflows::onboarding::{Appstore, AuthorizationLinkRow, NewLink, Onboarding};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f5a4-8a55-7d2e-b6a8-3c1f5e0c9d10",
    "application_id": "0192f5a4-8a55-7d2e-b6a8-3c1f5e0c9d11", "region": "na",
    "external_id": "customer-42",
    "url": "https://sellercentral.amazon.com/apps/authorize/consent?application_id=amzn1.sp.solution.0c6d1a3e&state=…&redirect_uri=https%3A%2F%2Fvault.example.com%2Foauth%2Fcallback",
    "status": "pending", "expires_at": "2026-11-30T13:00:00Z", "seller_id": null, "error": null,
    "created_at": "2026-11-30T12:00:00Z"}))]
pub struct AuthorizationLink {
    pub id: Uuid,
    pub application_id: Uuid,
    pub region: String,
    pub external_id: Option<String>,
    /// The consent page to send the seller to. Only in the response that creates the link: its
    /// single-use state is kept only as a digest.
    pub url: Option<String>,
    /// `pending`, `completed` (with `seller_id`), `failed` (with `error`), or `expired`.
    pub status: LinkStatus,
    pub expires_at: DateTime<Utc>,
    pub seller_id: Option<Uuid>,
    /// Why the link failed: Amazon's error (`access_denied`…), LWA's (`invalid_grant`…), or the
    /// vault's (`upstream_unavailable`, `invalid_callback`, `external_id_taken`…).
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl AuthorizationLink {
    fn new(row: AuthorizationLinkRow, url: Option<String>) -> Self {
        Self {
            id: row.id,
            application_id: row.application_id,
            region: row.region,
            external_id: row.external_id,
            url,
            status: row.status,
            expires_at: row.expires_at,
            seller_id: row.seller_id,
            error: row.error,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAuthorizationLink {
    #[schema(value_type = String, example = "na")]
    region: String,
    /// Picks the consent host; it must be a marketplace of `region`.
    #[schema(example = "ATVPDKIKX0DER")]
    marketplace_id: Option<String>,
    /// `seller` (default, Seller Central) or `vendor` (Vendor Central).
    #[schema(value_type = Option<String>, example = "seller")]
    partner: Option<String>,
    /// Given to the seller the link makes.
    #[schema(example = "customer-42")]
    external_id: Option<String>,
    /// Where the browser goes when the flow ends, with `status`, `seller_id`,
    /// `selling_partner_id`, `external_id` (or `error`) added to its query. `https`.
    #[schema(example = "https://app.example.com/amazon/connected")]
    return_url: Option<String>,
    /// 60–86400, default 3600.
    #[serde(default, deserialize_with = "super::input::whole_number")]
    expires_in_seconds: Option<i64>,
    /// A flow started in the Appstore: Amazon's `amazon_callback_uri` (an https Seller or
    /// Vendor Central URL), with `amazon_state`.
    amazon_callback_uri: Option<String>,
    amazon_state: Option<String>,
}

/// Makes a consent link that onboards a seller of the application.
#[utoipa::path(post, operation_id = "create_authorization_link", path = "/v1/applications/{application_id}/authorization-links",
    tag = "onboarding", security(("tenant_key" = ["admin"])),
    params(("application_id" = Uuid, Path)), request_body = CreateAuthorizationLink,
    responses((status = 201, body = AuthorizationLink),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json",
            description = "invalid values, or an application without `solution_id`")))]
pub async fn create(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    onboarding: web::Data<Onboarding>,
    path: web::Path<Uuid>,
    JsonBody(body): JsonBody<CreateAuthorizationLink>,
) -> Result<HttpResponse, ApiError> {
    let appstore_fields = match (&body.amazon_callback_uri, &body.amazon_state) {
        (Some(_), Some(_)) | (None, None) => Ok(()),
        _ => Err("amazon_callback_uri and amazon_state come together".to_owned()),
    };
    parse_fields! {
        region = "region" => Region::parse(&body.region),
        marketplace_id = "marketplace_id" => body.marketplace_id.as_deref().map(|m| {
            if m.is_empty() || m.len() > 32 || !m.bytes().all(|b| b.is_ascii_alphanumeric()) {
                Err("must be a marketplace id such as ATVPDKIKX0DER".to_owned())
            } else {
                Ok(m)
            }
        }).transpose(),
        partner = "partner" => body.partner.as_deref().map(Partner::parse).transpose(),
        external_id = "external_id" => body.external_id.as_deref().map(ExternalId::parse).transpose(),
        return_url = "return_url" => body.return_url.as_deref().map(BrowserUrl::parse).transpose(),
        lifetime = "expires_in_seconds" => LinkLifetime::parse(body.expires_in_seconds),
        callback_uri = "amazon_callback_uri" => body.amazon_callback_uri.as_deref().map(BrowserUrl::parse).transpose(),
        amazon_state = "amazon_state" => body.amazon_state.as_deref().map(AmazonState::parse).transpose(),
        _appstore = "amazon_state" => appstore_fields,
    };
    let appstore = match (&callback_uri, &amazon_state) {
        (Some(callback_uri), Some(amazon_state)) => Some(Appstore {
            callback_uri,
            amazon_state,
        }),
        _ => None,
    };
    let new = NewLink {
        application_id: path.into_inner(),
        region,
        marketplace_id,
        partner: partner.unwrap_or_default(),
        external_id: external_id.as_ref(),
        return_url: return_url.as_ref(),
        lifetime,
        appstore,
    };
    let created = onboarding
        .create_link(&caller.actor(&request_id), caller.tenant_id, new)
        .await?;
    let url = created.url.expose_secret().to_owned();
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(AuthorizationLink::new(created.link, Some(url))))
}

/// One authorization link (poll it to learn when the seller is connected).
#[utoipa::path(get, operation_id = "get_authorization_link", path = "/v1/authorization-links/{link_id}", tag = "onboarding",
    security(("tenant_key" = ["admin"])), params(("link_id" = Uuid, Path)),
    responses((status = 200, body = AuthorizationLink),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(
    caller: TenantCaller<AdminScope>,
    onboarding: web::Data<Onboarding>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = onboarding
        .get_link(caller.tenant_id, path.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(AuthorizationLink::new(row, None)))
}

#[derive(Debug, Default, Deserialize)]
pub struct LinkQuery {
    status: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

/// The tenant's authorization links, newest first.
#[utoipa::path(get, operation_id = "list_authorization_links", path = "/v1/authorization-links", tag = "onboarding",
    security(("tenant_key" = ["admin"])),
    params(("status" = Option<String>, Query, description = "`pending`, `completed`, `failed` or `expired`"),
        ("limit" = Option<u16>, Query, description = "1–1000, default 100"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the page before")),
    responses((status = 200, body = Page<AuthorizationLink>),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn list(
    caller: TenantCaller<AdminScope>,
    onboarding: web::Data<Onboarding>,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        status = "status" => query.status.as_deref().map(LinkStatus::parse).transpose(),
        limit = "limit" => query.page.limit(),
        cursor = "cursor" => query.page.cursor(),
    };
    let rows = onboarding
        .list_links(caller.tenant_id, status, cursor, limit)
        .await?;
    let page =
        Page::from_rows(rows, limit, |row| row.id).map(|row| AuthorizationLink::new(row, None));
    Ok(HttpResponse::Ok().json(page))
}
