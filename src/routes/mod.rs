//! HTTP handlers, one file per resource. Handlers are thin: extract (the caller, proven by
//! `auth::require_key` before anything else is parsed, then path, query and body), call a module
//! below, respond.

pub mod access_tokens;
pub mod amazon_notifications;
pub mod api_keys;
pub mod applications;
pub mod audit_events;
pub mod authorization_links;
pub mod docs;
pub mod health;
pub(crate) mod input;
pub mod lwa_compat;
pub mod oauth_callback;
pub mod restricted_data_tokens;
pub mod sellers;
pub mod sp_api_proxy;
pub mod tenants;
pub mod token_trail;
pub mod whoami;

use actix_web::body::BoxBody;
use actix_web::dev::{HttpServiceFactory, ServiceRequest};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpMessage, HttpResponse, HttpResponseBuilder, Resource};

use crate::auth::{require_key, require_key_or_amazon_header};
use crate::error::ApiError;
use crate::telemetry::RouteTemplate;

/// Who may reach a resource.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Anyone (or the route authenticates in its own protocol, like `/auth/o2/token`).
    Open,
    /// Callers with a valid API key; authenticated before the request is parsed any further.
    Key,
    /// As `Key`, the key also taken from `x-amz-access-token` (the SP-API proxy).
    KeyOrAmazonHeader,
}

/// The resource at `path` with the routes `build` adds; other methods answer `405`. Each request
/// it serves carries its route template (for logs and metrics), and `Access::Key` resources
/// authenticate first (`auth::require_key`).
fn resource(
    path: &'static str,
    access: Access,
    build: impl FnOnce(Resource) -> Resource,
) -> impl HttpServiceFactory {
    build(web::resource(path).default_service(web::to(method_not_allowed))).wrap(from_fn(
        move |req: ServiceRequest, next: Next<BoxBody>| async move {
            req.extensions_mut().insert(RouteTemplate(path));
            match access {
                Access::Open => next.call(req).await,
                Access::Key => require_key(req, next).await,
                Access::KeyOrAmazonHeader => require_key_or_amazon_header(req, next).await,
            }
        },
    ))
}

/// Mounts every route of the API on `cfg`, the busiest first (routes are tried in order).
pub fn configure(cfg: &mut web::ServiceConfig) {
    use Access::{Key, KeyOrAmazonHeader, Open};
    cfg.service(resource("/v1/sellers/{seller_id}/access-token", Key, |r| {
        r.route(web::post().to(access_tokens::seller_access_token))
    }))
    // Every method: the operation's own.
    .service(resource(
        "/v1/sellers/{seller_id}/sp-api/{operation_path:.*}",
        KeyOrAmazonHeader,
        |r| r.route(web::route().to(sp_api_proxy::seller_call)),
    ))
    .service(resource(
        "/v1/applications/{application_id}/sp-api/{operation_path:.*}",
        KeyOrAmazonHeader,
        |r| r.route(web::route().to(sp_api_proxy::application_call)),
    ))
    .service(resource(
        "/v1/sellers/{seller_id}/restricted-data-token",
        Key,
        |r| r.route(web::post().to(restricted_data_tokens::restricted_data_token)),
    ))
    .service(resource("/auth/o2/token", Open, |r| {
        r.route(web::post().to(lwa_compat::token))
    }))
    .service(resource(
        "/v1/applications/{application_id}/grantless-token",
        Key,
        |r| r.route(web::post().to(access_tokens::grantless_token)),
    ))
    .service(resource("/healthz", Open, |r| {
        r.route(web::get().to(health::healthz))
    }))
    .service(resource("/readyz", Open, |r| {
        r.route(web::get().to(health::readyz))
    }))
    .service(resource("/openapi.json", Open, |r| {
        r.route(web::get().to(docs::openapi_json))
    }))
    .service(resource("/docs", Open, |r| {
        r.route(web::get().to(docs::docs_redirect))
            .route(web::head().to(docs::docs_redirect))
    }))
    .service(resource("/metrics", Open, |r| {
        r.route(web::get().to(health::metrics))
    }))
    .service(resource("/v1/whoami", Key, |r| {
        r.route(web::get().to(whoami::whoami))
    }))
    .service(resource("/v1/tenants", Key, |r| {
        r.route(web::post().to(tenants::create))
            .route(web::get().to(tenants::list))
    }))
    .service(resource("/v1/tenants/{tenant_id}", Key, |r| {
        r.route(web::get().to(tenants::get))
            .route(web::patch().to(tenants::update))
            .route(web::delete().to(tenants::delete))
    }))
    .service(resource("/v1/api-keys", Key, |r| {
        r.route(web::post().to(api_keys::create))
            .route(web::get().to(api_keys::list))
    }))
    .service(resource("/v1/api-keys/{key_id}", Key, |r| {
        r.route(web::delete().to(api_keys::revoke))
    }))
    .service(resource("/v1/applications", Key, |r| {
        r.route(web::post().to(applications::create))
            .route(web::get().to(applications::list))
    }))
    .service(resource("/v1/applications/{application_id}", Key, |r| {
        r.route(web::get().to(applications::get))
            .route(web::patch().to(applications::update))
            .route(web::delete().to(applications::delete))
    }))
    .service(resource(
        "/v1/applications/{application_id}/client-secret",
        Key,
        |r| r.route(web::put().to(applications::replace_client_secret)),
    ))
    .service(resource(
        "/v1/applications/{application_id}/authorization-links",
        Key,
        |r| r.route(web::post().to(authorization_links::create)),
    ))
    .service(resource("/v1/authorization-links", Key, |r| {
        r.route(web::get().to(authorization_links::list))
    }))
    .service(resource("/v1/authorization-links/{link_id}", Key, |r| {
        r.route(web::get().to(authorization_links::get))
    }))
    // Authenticated by the single-use state it carries, not by a key.
    .service(resource("/oauth/callback", Open, |r| {
        r.route(web::get().to(oauth_callback::callback))
    }))
    .service(resource(
        "/v1/applications/{application_id}/client-secret/rotate",
        Key,
        |r| r.route(web::post().to(applications::rotate_client_secret)),
    ))
    .service(resource("/v1/amazon-notifications", Key, |r| {
        r.route(web::post().to(amazon_notifications::receive))
    }))
    .service(resource("/v1/sellers", Key, |r| {
        r.route(web::post().to(sellers::create))
            .route(web::get().to(sellers::list))
    }))
    .service(resource("/v1/sellers/{seller_id}", Key, |r| {
        r.route(web::get().to(sellers::get))
            .route(web::patch().to(sellers::update))
            .route(web::delete().to(sellers::delete))
    }))
    .service(resource(
        "/v1/sellers/{seller_id}/refresh-token",
        Key,
        |r| r.route(web::put().to(sellers::replace_refresh_token)),
    ))
    .service(resource("/v1/token-issues", Key, |r| {
        r.route(web::get().to(token_trail::list_issues))
    }))
    .service(resource("/v1/token-issues/lookup", Key, |r| {
        r.route(web::post().to(token_trail::lookup))
    }))
    .service(resource("/v1/token-deliveries", Key, |r| {
        r.route(web::get().to(token_trail::list_deliveries))
    }))
    .service(resource("/v1/audit-events", Key, |r| {
        r.route(web::get().to(audit_events::list))
    }));
}

/// Unknown routes.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such route".into()))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// The start of a response that reveals a secret (an access token, a new API key): no cache,
/// shared or private, may keep it.
pub(crate) fn revealing(status: StatusCode) -> HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    response
}

/// `204 No Content`.
pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}
