//! HTTP handlers, one file per resource. Handlers are thin: extract (which authenticates and
//! parses), call a module below, respond.

pub mod api_keys;
pub mod audit_events;
pub(crate) mod extract;
pub mod health;
pub mod tenants;

use actix_web::{web, HttpResponse};

use crate::error::ApiError;

/// Mounts every route of the API on `cfg`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(health::healthz))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(health::readyz))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/openapi.json")
            .route(web::get().to(crate::openapi::serve))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/tenants")
            .route(web::post().to(tenants::create))
            .route(web::get().to(tenants::list))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/tenants/{tenant_id}")
            .route(web::get().to(tenants::get))
            .route(web::patch().to(tenants::update))
            .route(web::delete().to(tenants::delete))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/api-keys")
            .route(web::post().to(api_keys::create))
            .route(web::get().to(api_keys::list))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/api-keys/{key_id}")
            .route(web::delete().to(api_keys::revoke))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/audit-events")
            .route(web::get().to(audit_events::list))
            .default_service(web::to(method_not_allowed)),
    );
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
