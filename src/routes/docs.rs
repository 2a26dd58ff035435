//! `GET /openapi.json`: the OpenAPI document, built once at start-up from the handlers'
//! annotations (see the `openapi` module) and handed to the app as data.

use actix_web::{web, HttpResponse};

/// The OpenAPI document as JSON text.
pub struct ApiDocument(pub String);

/// `GET /openapi.json`
pub async fn openapi_json(document: web::Data<ApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}
