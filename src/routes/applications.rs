//! `/v1/applications` (tenant keys with scope `admin`): SP-API app registrations. The client
//! secret is write-only: sealed on the way in, never returned.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{parse_fields, plausible_time, JsonBody, PageQuery};
use super::no_content;
use crate::auth::{AdminScope, TenantCaller};
use crate::domain::{ApplicationStatus, ClientId, ClientSecret, DisplayName, Page};
use crate::error::ApiError;
use crate::telemetry::RequestId;
use crate::workflows::credentials::applications::{self, ApplicationRow, NewApp};
use crate::workflows::Vault;

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f5a4-8a55-7d2e-b6a8-3c1f5e0c9d10", "name": "main app",
    "client_id": "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef",
    "status": "active", "client_secret_updated_at": "2026-11-28T12:00:00Z",
    "client_secret_expires_at": "2027-05-27T12:00:00Z", "created_at": "2026-11-28T12:00:00Z"}))]
pub struct Application {
    pub id: Uuid,
    pub name: String,
    pub client_id: String,
    /// `active`, or `client_credentials_rejected` once LWA said `invalid_client` (until the
    /// secret is replaced).
    pub status: ApplicationStatus,
    pub client_secret_updated_at: DateTime<Utc>,
    pub client_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<ApplicationRow> for Application {
    fn from(row: ApplicationRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            client_id: row.client_id,
            status: row.status,
            client_secret_updated_at: row.client_secret_updated_at,
            client_secret_expires_at: row.client_secret_expires_at,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApplication {
    #[schema(example = "main app")]
    name: String,
    #[schema(example = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef")]
    client_id: String,
    /// Write-only.
    #[schema(value_type = String, example = "amzn1.oa2-cs.v1.0123456789abcdef")]
    client_secret: SecretString,
    client_secret_expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApplication {
    name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceClientSecret {
    /// Write-only.
    #[schema(value_type = String, example = "amzn1.oa2-cs.v1.fedcba9876543210")]
    client_secret: SecretString,
    client_secret_expires_at: Option<DateTime<Utc>>,
}

/// Registers an SP-API application with its LWA client secret.
#[utoipa::path(post, path = "/v1/applications", tag = "applications",
    security(("tenant_key" = ["admin"])), request_body = CreateApplication,
    responses((status = 201, body = Application), (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    vault: web::Data<Vault>,
    JsonBody(body): JsonBody<CreateApplication>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        name = "name" => DisplayName::parse(&body.name),
        client_id = "client_id" => ClientId::parse(&body.client_id),
        client_secret = "client_secret" => ClientSecret::parse(&body.client_secret),
        secret_expires_at = "client_secret_expires_at" => plausible_time(body.client_secret_expires_at),
    };
    let new = NewApp {
        name: &name,
        client_id: &client_id,
        client_secret: &client_secret,
        client_secret_expires_at: secret_expires_at,
    };
    let row =
        applications::create(&vault, &caller.actor(&request_id), caller.tenant_id, new).await?;
    Ok(HttpResponse::Created().json(Application::from(row)))
}

/// The tenant's applications, newest first.
#[utoipa::path(get, path = "/v1/applications", tag = "applications",
    security(("tenant_key" = ["admin"])),
    params(("limit" = Option<u16>, Query, description = "1–1000, default 100"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the page before")),
    responses((status = 200, body = Page<Application>)))]
pub async fn list(
    caller: TenantCaller<AdminScope>,
    vault: web::Data<Vault>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        limit = "limit" => query.limit(),
        cursor = "cursor" => query.cursor(),
    };
    let rows = applications::list(&vault, caller.tenant_id, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |row| row.id).map(Application::from);
    Ok(HttpResponse::Ok().json(page))
}

/// One application.
#[utoipa::path(get, path = "/v1/applications/{application_id}", tag = "applications",
    security(("tenant_key" = ["admin"])), params(("application_id" = Uuid, Path)),
    responses((status = 200, body = Application), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(
    caller: TenantCaller<AdminScope>,
    vault: web::Data<Vault>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = applications::get(&vault, caller.tenant_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(Application::from(row)))
}

/// Renames an application.
#[utoipa::path(patch, path = "/v1/applications/{application_id}", tag = "applications",
    security(("tenant_key" = ["admin"])), params(("application_id" = Uuid, Path)),
    request_body = UpdateApplication,
    responses((status = 200, body = Application), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json"), (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    vault: web::Data<Vault>,
    path: web::Path<Uuid>,
    JsonBody(body): JsonBody<UpdateApplication>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! { name = "name" => body.name.as_deref().map(DisplayName::parse).transpose() };
    let actor = caller.actor(&request_id);
    let row = applications::rename(
        &vault,
        &actor,
        caller.tenant_id,
        path.into_inner(),
        name.as_ref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(Application::from(row)))
}

/// Replaces the client secret (after a rotation at Amazon); clears `client_credentials_rejected`.
#[utoipa::path(put, path = "/v1/applications/{application_id}/client-secret",
    tag = "applications", security(("tenant_key" = ["admin"])),
    params(("application_id" = Uuid, Path)), request_body = ReplaceClientSecret,
    responses((status = 200, body = Application), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn replace_client_secret(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    vault: web::Data<Vault>,
    path: web::Path<Uuid>,
    JsonBody(body): JsonBody<ReplaceClientSecret>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        client_secret = "client_secret" => ClientSecret::parse(&body.client_secret),
        secret_expires_at = "client_secret_expires_at" => plausible_time(body.client_secret_expires_at),
    };
    let row = applications::replace_client_secret(
        &vault,
        &caller.actor(&request_id),
        caller.tenant_id,
        path.into_inner(),
        &client_secret,
        secret_expires_at,
    )
    .await?;
    Ok(HttpResponse::Ok().json(Application::from(row)))
}

/// Deletes an application no seller uses.
#[utoipa::path(delete, path = "/v1/applications/{application_id}", tag = "applications",
    security(("tenant_key" = ["admin"])), params(("application_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json", description = "sellers still use it")))]
pub async fn delete(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    vault: web::Data<Vault>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor(&request_id);
    applications::delete(&vault, &actor, caller.tenant_id, path.into_inner()).await?;
    Ok(no_content())
}
