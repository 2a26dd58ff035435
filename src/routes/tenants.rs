//! `/v1/tenants` (operator keys only).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::api_keys::CreatedApiKey;
use super::input::{parse_fields, JsonBody, PageQuery};
use super::{no_content, revealing};
use crate::auth::OperatorCaller;
use crate::domain::{DisplayName, Page, TenantName};
use crate::error::ApiError;
use crate::telemetry::RequestId;
use crate::workflows::tenancy::{self, TenantRow};
use crate::workflows::Vault;

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f5a4-8a55-7d2e-b6a8-3c1f5e0c9d10", "name": "acme",
    "disabled": false, "created_at": "2026-11-28T12:00:00Z"}))]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<TenantRow> for Tenant {
    fn from(row: TenantRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            disabled: row.disabled,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// 1–64 letters, digits, `-`, `_` or `.`; unique.
    #[schema(example = "acme")]
    name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTenant {
    tenant: Tenant,
    /// The tenant's first key, with scopes `admin`, `tokens` and `audit`. Shown only here.
    admin_key: CreatedApiKey,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    name: Option<String>,
    /// A disabled tenant's keys get `403 tenant_disabled`, on every replica within a second.
    disabled: Option<bool>,
}

/// Creates a tenant and its first admin key.
#[utoipa::path(post, operation_id = "create_tenant", path = "/v1/tenants", tag = "tenants", security(("operator_key" = [])),
    request_body = CreateTenant,
    responses((status = 201, body = CreatedTenant), (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    caller: OperatorCaller,
    request_id: RequestId,
    vault: web::Data<Vault>,
    JsonBody(body): JsonBody<CreateTenant>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! { name = "name" => TenantName::parse(&body.name) };
    let key_name = DisplayName::parse("admin").map_err(anyhow::Error::msg)?;
    let (tenant, key) =
        tenancy::create_tenant(&vault, &caller.actor(&request_id), &name, &key_name).await?;
    Ok(revealing(StatusCode::CREATED).json(CreatedTenant {
        tenant: tenant.into(),
        admin_key: key.into(),
    }))
}

/// Lists tenants, newest first.
#[utoipa::path(get, operation_id = "list_tenants", path = "/v1/tenants", tag = "tenants", security(("operator_key" = [])),
    params(("limit" = Option<u16>, Query, description = "1–1000, default 100"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the page before")),
    responses((status = 200, body = Page<Tenant>)))]
pub async fn list(
    _caller: OperatorCaller,
    vault: web::Data<Vault>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        limit = "limit" => query.limit(),
        cursor = "cursor" => query.cursor(),
    };
    let rows = tenancy::list_tenants(&vault, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |row| row.id).map(Tenant::from);
    Ok(HttpResponse::Ok().json(page))
}

/// One tenant.
#[utoipa::path(get, operation_id = "get_tenant", path = "/v1/tenants/{tenant_id}", tag = "tenants",
    security(("operator_key" = [])), params(("tenant_id" = Uuid, Path)),
    responses((status = 200, body = Tenant), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(
    _caller: OperatorCaller,
    vault: web::Data<Vault>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenancy::get_tenant(&vault, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(Tenant::from(tenant)))
}

/// Renames, disables or re-enables a tenant.
#[utoipa::path(patch, operation_id = "update_tenant", path = "/v1/tenants/{tenant_id}", tag = "tenants",
    security(("operator_key" = [])), params(("tenant_id" = Uuid, Path)),
    request_body = UpdateTenant,
    responses((status = 200, body = Tenant), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json"), (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    caller: OperatorCaller,
    request_id: RequestId,
    vault: web::Data<Vault>,
    path: web::Path<Uuid>,
    JsonBody(body): JsonBody<UpdateTenant>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! { name = "name" => body.name.as_deref().map(TenantName::parse).transpose() };
    let actor = caller.actor(&request_id);
    let tenant = tenancy::update_tenant(
        &vault,
        &actor,
        path.into_inner(),
        name.as_ref(),
        body.disabled,
    )
    .await?;
    Ok(HttpResponse::Ok().json(Tenant::from(tenant)))
}

/// Deletes a tenant with its keys and everything it owns; its audit records are kept.
#[utoipa::path(delete, operation_id = "delete_tenant", path = "/v1/tenants/{tenant_id}", tag = "tenants",
    security(("operator_key" = [])), params(("tenant_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    caller: OperatorCaller,
    request_id: RequestId,
    vault: web::Data<Vault>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenancy::delete_tenant(&vault, &caller.actor(&request_id), path.into_inner()).await?;
    Ok(no_content())
}
