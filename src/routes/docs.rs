//! `GET /openapi.json`: the OpenAPI document, built once at start-up from the handlers'
//! annotations (see the `openapi` module) and handed to the app as data. `GET /docs` sends the
//! browser on to the page at `/docs/`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// The OpenAPI document as JSON text.
pub struct ApiDocument(pub String);

/// `GET /openapi.json`
pub async fn openapi_json(document: web::Data<ApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}

/// `GET /docs`: the page is `/docs/` (Swagger UI, mounted by `openapi::docs`, whose assets are
/// relative to it). A permanent redirect that keeps the method.
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}
