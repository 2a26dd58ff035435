//! `/v1/applications` (tenant keys with scope `admin`): SP-API app registrations. The client
//! secret is write-only: sealed on the way in, never returned.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{parse_fields, plausible_time, JsonBody, PageQuery};
use super::no_content;
use crate::audit::Actor;
use crate::auth::{Admin, TenantCaller};
use crate::db::applications::{self, ApplicationRow, NewApplication};
use crate::db::notify::{self, Invalidation};
use crate::db::{self, sellers, tokens};
use crate::domain::{self, ClientId, ClientSecret, DisplayName, Page};
use crate::error::ApiError;
use crate::invalidation::Caches;
use crate::keystore::{places, KeyStore};
use crate::telemetry::RequestId;

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
    #[schema(example = "active")]
    pub status: String,
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

fn conflict(err: sqlx::Error) -> ApiError {
    match db::violated_unique_constraint(&err) {
        Some(applications::NAME_CONSTRAINT) => {
            ApiError::Conflict("an application with this name already exists".into())
        }
        Some(applications::CLIENT_ID_CONSTRAINT) => {
            ApiError::Conflict("an application with this client_id already exists".into())
        }
        _ => err.into(),
    }
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format_args!("application {id}"))
}

fn actor(caller: &TenantCaller<Admin>, request_id: RequestId) -> Actor {
    Actor {
        tenant_id: Some(caller.tenant_id),
        api_key_id: caller.key_id,
        request_id,
    }
}

/// Registers an SP-API application with its LWA client secret.
#[utoipa::path(post, path = "/v1/applications", tag = "applications",
    security(("tenant_key" = ["admin"])), request_body = CreateApplication,
    responses((status = 201, body = Application), (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    caller: TenantCaller<Admin>,
    request_id: RequestId,
    pool: web::Data<PgPool>,
    keystore: web::Data<KeyStore>,
    JsonBody(body): JsonBody<CreateApplication>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        name = "name" => DisplayName::parse(&body.name),
        client_id = "client_id" => ClientId::parse(&body.client_id),
        client_secret = "client_secret" => ClientSecret::parse(&body.client_secret),
        secret_expires_at = "client_secret_expires_at" => plausible_time(body.client_secret_expires_at),
    };
    let id = Uuid::now_v7();
    let sealed = keystore
        .seal(
            &places::client_secret(caller.tenant_id, id),
            client_secret.secret(),
        )
        .await
        .map_err(|err| err.into_api_error("client secret"))?;

    let mut tx = pool.begin().await?;
    let row = applications::insert_application(
        &mut tx,
        NewApplication {
            id,
            tenant_id: caller.tenant_id,
            name: &name,
            client_id: &client_id,
            sealed_secret: &sealed,
            secret_expires_at,
        },
    )
    .await
    .map_err(conflict)?;
    actor(&caller, request_id)
        .record(&mut tx, "application.created", "application", id)
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Application::from(row)))
}

/// The tenant's applications, newest first.
#[utoipa::path(get, path = "/v1/applications", tag = "applications",
    security(("tenant_key" = ["admin"])),
    params(("limit" = Option<u16>, Query, description = "1–1000, default 100"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the page before")),
    responses((status = 200, body = Page<Application>)))]
pub async fn list(
    caller: TenantCaller<Admin>,
    pool: web::Data<PgPool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        limit = "limit" => query.limit(),
        cursor = "cursor" => query.cursor(),
    };
    let rows =
        applications::list_applications(&pool, caller.tenant_id, domain::page_start(cursor), limit)
            .await?;
    let page = Page::from_rows(rows, limit, |row| row.id).map(Application::from);
    Ok(HttpResponse::Ok().json(page))
}

/// One application.
#[utoipa::path(get, path = "/v1/applications/{application_id}", tag = "applications",
    security(("tenant_key" = ["admin"])), params(("application_id" = Uuid, Path)),
    responses((status = 200, body = Application), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(
    caller: TenantCaller<Admin>,
    pool: web::Data<PgPool>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let row = applications::find_application(&pool, caller.tenant_id, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(HttpResponse::Ok().json(Application::from(row)))
}

/// Renames an application.
#[utoipa::path(patch, path = "/v1/applications/{application_id}", tag = "applications",
    security(("tenant_key" = ["admin"])), params(("application_id" = Uuid, Path)),
    request_body = UpdateApplication,
    responses((status = 200, body = Application), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json"), (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    caller: TenantCaller<Admin>,
    request_id: RequestId,
    pool: web::Data<PgPool>,
    path: web::Path<Uuid>,
    JsonBody(body): JsonBody<UpdateApplication>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    parse_fields! { name = "name" => body.name.as_deref().map(DisplayName::parse).transpose() };
    let mut tx = pool.begin().await?;
    let row = applications::rename_application(&mut tx, caller.tenant_id, id, name.as_ref())
        .await
        .map_err(conflict)?
        .ok_or_else(|| not_found(id))?;
    actor(&caller, request_id)
        .record(&mut tx, "application.updated", "application", id)
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Application::from(row)))
}

/// Replaces the client secret (after a rotation at Amazon); clears `client_credentials_rejected`.
#[utoipa::path(put, path = "/v1/applications/{application_id}/client-secret",
    tag = "applications", security(("tenant_key" = ["admin"])),
    params(("application_id" = Uuid, Path)), request_body = ReplaceClientSecret,
    responses((status = 200, body = Application), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn replace_client_secret(
    caller: TenantCaller<Admin>,
    request_id: RequestId,
    pool: web::Data<PgPool>,
    keystore: web::Data<KeyStore>,
    caches: web::Data<Caches>,
    path: web::Path<Uuid>,
    JsonBody(body): JsonBody<ReplaceClientSecret>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    parse_fields! {
        client_secret = "client_secret" => ClientSecret::parse(&body.client_secret),
        secret_expires_at = "client_secret_expires_at" => plausible_time(body.client_secret_expires_at),
    };
    let sealed = keystore
        .seal(
            &places::client_secret(caller.tenant_id, id),
            client_secret.secret(),
        )
        .await
        .map_err(|err| err.into_api_error("client secret"))?;
    let mut tx = pool.begin().await?;
    // Exchanges in flight with the old secret finish (and are recorded) first.
    if !tokens::lock_application_for_change(&mut tx, caller.tenant_id, id).await? {
        return Err(not_found(id));
    }
    let row = applications::replace_client_secret(
        &mut tx,
        caller.tenant_id,
        id,
        &sealed,
        secret_expires_at,
    )
    .await?
    .ok_or_else(|| not_found(id))?;
    // Grantless tokens minted with the old secret are not handed out any more.
    tokens::drop_grantless_tokens_of_application(&mut tx, id).await?;
    actor(&caller, request_id)
        .record(
            &mut tx,
            "application.client_secret_replaced",
            "application",
            id,
        )
        .await?;
    notify::send(&mut tx, Invalidation::Application(id)).await?;
    tx.commit().await?;
    caches.invalidate(Invalidation::Application(id));
    Ok(HttpResponse::Ok().json(Application::from(row)))
}

/// Deletes an application no seller uses.
#[utoipa::path(delete, path = "/v1/applications/{application_id}", tag = "applications",
    security(("tenant_key" = ["admin"])), params(("application_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json", description = "sellers still use it")))]
pub async fn delete(
    caller: TenantCaller<Admin>,
    request_id: RequestId,
    pool: web::Data<PgPool>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let mut tx = pool.begin().await?;
    if !tokens::lock_application_for_change(&mut tx, caller.tenant_id, id).await? {
        return Err(not_found(id));
    }
    let deleted = applications::delete_application(&mut tx, caller.tenant_id, id)
        .await
        .map_err(|err| match db::violated_foreign_key(&err) {
            Some(sellers::APPLICATION_CONSTRAINT) => {
                ApiError::Conflict("sellers still use this application; delete them first".into())
            }
            _ => err.into(),
        })?;
    if !deleted {
        return Err(not_found(id));
    }
    actor(&caller, request_id)
        .record(&mut tx, "application.deleted", "application", id)
        .await?;
    tx.commit().await?;
    Ok(no_content())
}
