//! `GET /v1/whoami`: which key is calling, and what it may do. Any valid key; no database work
//! once the key is remembered (which makes it the measure of authentication's own cost).

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{AnyCaller, Principal};
use crate::domain::Scope;

#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    key_id: Uuid,
    /// `operator` or `tenant`.
    kind: &'static str,
    tenant_id: Option<Uuid>,
    scopes: Vec<Scope>,
}

/// The calling key.
#[utoipa::path(get, operation_id = "whoami", path = "/v1/whoami", tag = "operations",
    security(("operator_key" = []), ("tenant_key" = [])),
    responses((status = 200, body = WhoAmI), (status = 401, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn whoami(caller: AnyCaller) -> HttpResponse {
    let body = match caller.0 {
        Principal::Operator { key_id } => WhoAmI {
            key_id,
            kind: "operator",
            tenant_id: None,
            scopes: Vec::new(),
        },
        Principal::Tenant(tenant) => WhoAmI {
            key_id: tenant.key_id,
            kind: "tenant",
            tenant_id: Some(tenant.tenant_id),
            scopes: tenant.scopes.iter().collect(),
        },
    };
    HttpResponse::Ok().json(body)
}
