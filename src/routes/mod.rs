//! HTTP handlers, one file per resource. Handlers are thin: extract (which authenticates and
//! parses), call a module below, respond.

pub mod api_keys;
pub mod applications;
pub mod audit_events;
pub(crate) mod extract;
pub mod health;
pub mod lwa_compat;
pub mod sellers;
pub mod tenants;
pub mod token_trail;
pub mod tokens;
pub mod whoami;

use actix_web::{web, HttpResponse, Resource};

use crate::error::ApiError;

/// A resource that answers `405` to methods it has no route for.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// Mounts every route of the API on `cfg`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz").route(web::get().to(health::readyz)))
        .service(resource("/openapi.json").route(web::get().to(crate::openapi::serve)))
        .service(resource("/metrics").route(web::get().to(crate::metrics::serve)))
        .service(resource("/v1/whoami").route(web::get().to(whoami::whoami)))
        .service(
            resource("/v1/tenants")
                .route(web::post().to(tenants::create))
                .route(web::get().to(tenants::list)),
        )
        .service(
            resource("/v1/tenants/{tenant_id}")
                .route(web::get().to(tenants::get))
                .route(web::patch().to(tenants::update))
                .route(web::delete().to(tenants::delete)),
        )
        .service(
            resource("/v1/api-keys")
                .route(web::post().to(api_keys::create))
                .route(web::get().to(api_keys::list)),
        )
        .service(resource("/v1/api-keys/{key_id}").route(web::delete().to(api_keys::revoke)))
        .service(
            resource("/v1/applications")
                .route(web::post().to(applications::create))
                .route(web::get().to(applications::list)),
        )
        .service(
            resource("/v1/applications/{application_id}")
                .route(web::get().to(applications::get))
                .route(web::patch().to(applications::update))
                .route(web::delete().to(applications::delete)),
        )
        .service(
            resource("/v1/applications/{application_id}/client-secret")
                .route(web::put().to(applications::replace_client_secret)),
        )
        .service(
            resource("/v1/sellers")
                .route(web::post().to(sellers::create))
                .route(web::get().to(sellers::list)),
        )
        .service(
            resource("/v1/sellers/{seller_id}")
                .route(web::get().to(sellers::get))
                .route(web::patch().to(sellers::update))
                .route(web::delete().to(sellers::delete)),
        )
        .service(
            resource("/v1/sellers/{seller_id}/refresh-token")
                .route(web::put().to(sellers::replace_refresh_token)),
        )
        .service(
            resource("/v1/sellers/{seller_id}/access-token")
                .route(web::post().to(tokens::seller_access_token)),
        )
        .service(
            resource("/v1/applications/{application_id}/grantless-token")
                .route(web::post().to(tokens::grantless_token)),
        )
        .service(resource("/v1/token-issues").route(web::get().to(token_trail::list_issues)))
        .service(resource("/v1/token-issues/lookup").route(web::post().to(token_trail::lookup)))
        .service(
            resource("/v1/token-deliveries").route(web::get().to(token_trail::list_deliveries)),
        )
        .service(resource("/v1/audit-events").route(web::get().to(audit_events::list)))
        .service(resource("/auth/o2/token").route(web::post().to(lwa_compat::token)));
}

/// Unknown routes.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such route".into()))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// `204 No Content`.
pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}
