//! `/v1/tenants` (operator keys only).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::api_keys::{insert_key, CreatedApiKey, IssuedFor};
use super::extract::{parse_fields, JsonBody, PageQuery};
use super::no_content;
use crate::audit::Actor;
use crate::auth::OperatorCaller;
use crate::db::notify::{self, Invalidation};
use crate::db::{self, tenants, tenants::TenantRow};
use crate::domain::{self, DisplayName, Page, Scopes, TenantName};
use crate::error::ApiError;
use crate::invalidation::Caches;
use crate::keystore::KeyStore;
use crate::telemetry::RequestId;

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

fn conflict_on_name(name: &TenantName) -> impl FnOnce(sqlx::Error) -> ApiError + '_ {
    move |err| match db::violated_unique_constraint(&err) {
        Some(tenants::NAME_CONSTRAINT) => {
            ApiError::Conflict(format!("a tenant named {name:?} already exists"))
        }
        _ => err.into(),
    }
}

/// Creates a tenant and its first admin key.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", security(("operator_key" = [])),
    request_body = CreateTenant,
    responses((status = 201, body = CreatedTenant), (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    caller: OperatorCaller,
    request_id: RequestId,
    pool: web::Data<PgPool>,
    keystore: web::Data<KeyStore>,
    JsonBody(body): JsonBody<CreateTenant>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! { name = "name" => TenantName::parse(&body.name) };
    let key_name = DisplayName::parse("admin").map_err(anyhow::Error::msg)?;
    let actor = Actor {
        tenant_id: None,
        api_key_id: caller.key_id,
        request_id,
    };
    let tenant_id = Uuid::now_v7();
    let actor = actor.in_tenant(tenant_id);

    let mut tx = pool.begin().await?;
    let tenant = tenants::insert_tenant(&mut tx, tenant_id, &name)
        .await
        .map_err(conflict_on_name(&name))?;
    keystore.create_data_key(&mut tx, tenant_id).await?;
    actor
        .record(&mut tx, "tenant.created", "tenant", tenant.id)
        .await?;
    let admin_key = insert_key(
        &mut tx,
        &actor,
        IssuedFor {
            tenant_id,
            name: &key_name,
            scopes: &Scopes::all(),
            expires_at: None,
        },
    )
    .await?;
    tx.commit().await?;

    Ok(HttpResponse::Created().json(CreatedTenant {
        tenant: tenant.into(),
        admin_key,
    }))
}

/// Lists tenants, newest first.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", security(("operator_key" = [])),
    params(("limit" = Option<u16>, Query, description = "1–1000, default 100"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the page before")),
    responses((status = 200, body = Page<Tenant>)))]
pub async fn list(
    _caller: OperatorCaller,
    pool: web::Data<PgPool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        limit = "limit" => query.limit(),
        cursor = "cursor" => query.cursor(),
    };
    let rows = tenants::list_tenants(&pool, domain::page_start(cursor), limit).await?;
    let page = Page::from_rows(rows, limit, |row| row.id).map(Tenant::from);
    Ok(HttpResponse::Ok().json(page))
}

/// One tenant.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}", tag = "tenants",
    security(("operator_key" = [])), params(("tenant_id" = Uuid, Path)),
    responses((status = 200, body = Tenant), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(
    _caller: OperatorCaller,
    pool: web::Data<PgPool>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let tenant = tenants::find_tenant(&pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("tenant {id}")))?;
    Ok(HttpResponse::Ok().json(Tenant::from(tenant)))
}

/// Renames, disables or re-enables a tenant.
#[utoipa::path(patch, path = "/v1/tenants/{tenant_id}", tag = "tenants",
    security(("operator_key" = [])), params(("tenant_id" = Uuid, Path)),
    request_body = UpdateTenant,
    responses((status = 200, body = Tenant), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json"), (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    caller: OperatorCaller,
    request_id: RequestId,
    pool: web::Data<PgPool>,
    caches: web::Data<Caches>,
    path: web::Path<Uuid>,
    JsonBody(body): JsonBody<UpdateTenant>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    parse_fields! { name = "name" => body.name.as_deref().map(TenantName::parse).transpose() };
    let actor = Actor {
        tenant_id: Some(id),
        api_key_id: caller.key_id,
        request_id,
    };

    let mut tx = pool.begin().await?;
    let conflict = |err| match &name {
        Some(name) => conflict_on_name(name)(err),
        None => ApiError::from(err),
    };
    let tenant = tenants::update_tenant(&mut tx, id, name.as_ref(), body.disabled)
        .await
        .map_err(conflict)?
        .ok_or_else(|| ApiError::not_found(format_args!("tenant {id}")))?;
    actor
        .record(&mut tx, "tenant.updated", "tenant", id)
        .await?;
    if body.disabled.is_some() {
        notify::send(&mut tx, Invalidation::Tenant(id)).await?;
    }
    tx.commit().await?;
    caches.invalidate(Invalidation::Tenant(id));

    Ok(HttpResponse::Ok().json(Tenant::from(tenant)))
}

/// Deletes a tenant with its keys and everything it owns; its audit records are kept.
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}", tag = "tenants",
    security(("operator_key" = [])), params(("tenant_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    caller: OperatorCaller,
    request_id: RequestId,
    pool: web::Data<PgPool>,
    caches: web::Data<Caches>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let actor = Actor {
        tenant_id: Some(id),
        api_key_id: caller.key_id,
        request_id,
    };
    let mut tx = pool.begin().await?;
    if !tenants::delete_tenant(&mut tx, id).await? {
        return Err(ApiError::not_found(format_args!("tenant {id}")));
    }
    actor
        .record(&mut tx, "tenant.deleted", "tenant", id)
        .await?;
    notify::send(&mut tx, Invalidation::Tenant(id)).await?;
    tx.commit().await?;
    caches.invalidate(Invalidation::Tenant(id));
    Ok(no_content())
}
