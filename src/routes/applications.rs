//! `/v1/applications` (tenant keys with scope `admin`): SP-API app registrations. The client
//! secret is write-only: sealed on the way in, never returned.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{parse_fields, plausible_time, present, JsonBody, PageQuery};
use super::no_content;
use crate::auth::{AdminScope, TenantCaller};
use crate::domain::rules::MAX_EXPIRES_WITHIN_DAYS;
use crate::domain::{
    ApplicationStatus, BrowserUrl, ClientId, ClientSecret, DisplayName, Page, SolutionId,
};
use crate::error::ApiError;
use crate::telemetry::RequestId;
use crate::workflows::credentials::applications::{
    self, ApplicationChanges, ApplicationRow, NewApp,
};
use crate::workflows::credentials::secret_lifecycle::{self, SecretRotation};
use crate::workflows::onboarding::Onboarding;
use crate::workflows::Vault;

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f5a4-8a55-7d2e-b6a8-3c1f5e0c9d10", "name": "main app",
    "client_id": "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef",
    "status": "active", "client_secret_updated_at": "2026-11-28T12:00:00Z",
    "client_secret_expires_at": "2027-05-27T12:00:00Z", "previous_client_secret_expires_at": null,
    "auto_rotate": true, "rotation_requested_at": null, "created_at": "2026-11-28T12:00:00Z",
    "solution_id": "amzn1.sp.solution.0c6d1a3e-12ab-4cde-8f90-1234567890ab", "draft": false,
    "redirect_uri": "https://vault.example.com/oauth/callback", "sandbox": false}))]
pub struct Application {
    pub id: Uuid,
    pub name: String,
    pub client_id: String,
    /// `active`, or `client_credentials_rejected` once LWA said `invalid_client` (until the
    /// secret is replaced).
    pub status: ApplicationStatus,
    pub client_secret_updated_at: DateTime<Utc>,
    pub client_secret_expires_at: Option<DateTime<Utc>>,
    /// Until when the previous secret (kept after a replacement or rotation) still serves as a
    /// fallback; `null` when there is none.
    pub previous_client_secret_expires_at: Option<DateTime<Utc>>,
    /// Whether the vault asks Amazon for a new secret by itself before the current one expires.
    pub auto_rotate: bool,
    /// When a rotation was last asked of Amazon, while its new secret has not arrived.
    pub rotation_requested_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The SP-API application id consent links name (`amzn1.sp.solution.…`); needed for
    /// authorization links.
    pub solution_id: Option<String>,
    /// A draft application's consent links carry `version=beta`.
    pub draft: bool,
    /// Where Amazon sends the seller back; `{SPVAULT_PUBLIC_URL}/oauth/callback` unless set. It
    /// must be registered with the application at Amazon.
    pub redirect_uri: String,
    /// A sandbox application's SP-API calls (Restricted Data Tokens, …) go to Amazon's sandbox
    /// hosts.
    pub sandbox: bool,
}

impl Application {
    pub fn new(row: ApplicationRow, onboarding: &Onboarding) -> Self {
        let redirect_uri = onboarding.redirect_uri_of(&row);
        Self {
            id: row.id,
            name: row.name,
            client_id: row.client_id,
            status: row.status,
            client_secret_updated_at: row.client_secret_updated_at,
            client_secret_expires_at: row.client_secret_expires_at,
            previous_client_secret_expires_at: row.previous_client_secret_expires_at,
            auto_rotate: row.auto_rotate,
            rotation_requested_at: row.rotation_requested_at,
            created_at: row.created_at,
            solution_id: row.solution_id,
            draft: row.draft,
            redirect_uri,
            sandbox: row.sandbox,
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
    #[schema(example = "amzn1.sp.solution.0c6d1a3e-12ab-4cde-8f90-1234567890ab")]
    solution_id: Option<String>,
    /// Default false.
    draft: Option<bool>,
    /// Default `{SPVAULT_PUBLIC_URL}/oauth/callback`.
    #[schema(example = "https://vault.example.com/oauth/callback")]
    redirect_uri: Option<String>,
    /// Default false: ask Amazon for a new secret before the current one expires.
    auto_rotate: Option<bool>,
    /// Default false: SP-API calls go to Amazon's sandbox hosts.
    sandbox: Option<bool>,
}

/// Fields left out keep their value; `solution_id` and `redirect_uri` may be `null` (no
/// solution id; the default redirect URI).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApplication {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    solution_id: Option<Option<String>>,
    draft: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    redirect_uri: Option<Option<String>>,
    auto_rotate: Option<bool>,
    sandbox: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceClientSecret {
    /// Write-only.
    #[schema(value_type = String, example = "amzn1.oa2-cs.v1.fedcba9876543210")]
    client_secret: SecretString,
    client_secret_expires_at: Option<DateTime<Utc>>,
    /// Until when the replaced secret stays as the previous one (a fallback while LWA does not
    /// know the new one yet). Default: 7 days from now; `null`: dropped at once.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    keep_previous_until: Option<Option<DateTime<Utc>>>,
}

/// The list's query: a page, and optionally only applications whose secret expires soon.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1–1000, default 100.
    limit: Option<String>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    /// Only applications whose current secret expires within this many days (0–3650), or has
    /// expired.
    client_secret_expires_within_days: Option<String>,
}

fn within_days(value: Option<&str>) -> Result<Option<u32>, String> {
    value
        .map(|v| match v.parse::<u32>() {
            Ok(days) if i64::from(days) <= MAX_EXPIRES_WITHIN_DAYS => Ok(days),
            _ => Err(format!(
                "must be a whole number of days from 0 to {MAX_EXPIRES_WITHIN_DAYS}"
            )),
        })
        .transpose()
}

/// Registers an SP-API application with its LWA client secret.
#[utoipa::path(post, operation_id = "create_application", path = "/v1/applications", tag = "applications",
    security(("tenant_key" = ["admin"])), request_body = CreateApplication,
    responses((status = 201, body = Application), (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    vault: web::Data<Vault>,
    onboarding: web::Data<Onboarding>,
    JsonBody(body): JsonBody<CreateApplication>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        name = "name" => DisplayName::parse(&body.name),
        client_id = "client_id" => ClientId::parse(&body.client_id),
        client_secret = "client_secret" => ClientSecret::parse(&body.client_secret),
        secret_expires_at = "client_secret_expires_at" => plausible_time(body.client_secret_expires_at),
        solution_id = "solution_id" => body.solution_id.as_deref().map(SolutionId::parse).transpose(),
        redirect_uri = "redirect_uri" => body.redirect_uri.as_deref().map(BrowserUrl::parse).transpose(),
    };
    let new = NewApp {
        name: &name,
        client_id: &client_id,
        client_secret: &client_secret,
        client_secret_expires_at: secret_expires_at,
        solution_id: solution_id.as_ref(),
        draft: body.draft.unwrap_or(false),
        redirect_uri: redirect_uri.as_ref(),
        auto_rotate: body.auto_rotate.unwrap_or(false),
        sandbox: body.sandbox.unwrap_or(false),
    };
    let row =
        applications::create(&vault, &caller.actor(&request_id), caller.tenant_id, new).await?;
    Ok(HttpResponse::Created().json(Application::new(row, &onboarding)))
}

/// The tenant's applications, newest first.
#[utoipa::path(get, operation_id = "list_applications", path = "/v1/applications", tag = "applications",
    security(("tenant_key" = ["admin"])),
    params(ListQuery),
    responses((status = 200, body = Page<Application>), (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn list(
    caller: TenantCaller<AdminScope>,
    vault: web::Data<Vault>,
    onboarding: web::Data<Onboarding>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit.clone(),
        cursor: query.cursor.clone(),
    };
    parse_fields! {
        limit = "limit" => page.limit(),
        cursor = "cursor" => page.cursor(),
        within = "client_secret_expires_within_days" => within_days(query.client_secret_expires_within_days.as_deref()),
    };
    let rows = applications::list(&vault, caller.tenant_id, cursor, limit, within).await?;
    let page =
        Page::from_rows(rows, limit, |row| row.id).map(|row| Application::new(row, &onboarding));
    Ok(HttpResponse::Ok().json(page))
}

/// One application.
#[utoipa::path(get, operation_id = "get_application", path = "/v1/applications/{application_id}", tag = "applications",
    security(("tenant_key" = ["admin"])), params(("application_id" = Uuid, Path)),
    responses((status = 200, body = Application), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(
    caller: TenantCaller<AdminScope>,
    vault: web::Data<Vault>,
    onboarding: web::Data<Onboarding>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = applications::get(&vault, caller.tenant_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(Application::new(row, &onboarding)))
}

/// Changes an application's name, onboarding fields or auto-rotation.
#[utoipa::path(patch, operation_id = "update_application", path = "/v1/applications/{application_id}", tag = "applications",
    security(("tenant_key" = ["admin"])), params(("application_id" = Uuid, Path)),
    request_body = UpdateApplication,
    responses((status = 200, body = Application), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json"), (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    vault: web::Data<Vault>,
    onboarding: web::Data<Onboarding>,
    path: web::Path<Uuid>,
    JsonBody(body): JsonBody<UpdateApplication>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        name = "name" => body.name.as_deref().map(DisplayName::parse).transpose(),
        solution_id = "solution_id" => body.solution_id.as_ref()
            .map(|v| v.as_deref().map(SolutionId::parse).transpose()).transpose(),
        redirect_uri = "redirect_uri" => body.redirect_uri.as_ref()
            .map(|v| v.as_deref().map(BrowserUrl::parse).transpose()).transpose(),
    };
    let changes = ApplicationChanges {
        name: name.as_ref(),
        solution_id: solution_id.as_ref().map(Option::as_ref),
        draft: body.draft,
        redirect_uri: redirect_uri.as_ref().map(Option::as_ref),
        auto_rotate: body.auto_rotate,
        sandbox: body.sandbox,
    };
    let actor = caller.actor(&request_id);
    let row =
        applications::update(&vault, &actor, caller.tenant_id, path.into_inner(), changes).await?;
    Ok(HttpResponse::Ok().json(Application::new(row, &onboarding)))
}

/// Replaces the client secret (after a rotation at Amazon); the replaced one stays as the
/// previous secret until `keep_previous_until`. Clears `client_credentials_rejected`.
#[utoipa::path(put, operation_id = "replace_client_secret", path = "/v1/applications/{application_id}/client-secret",
    tag = "applications", security(("tenant_key" = ["admin"])),
    params(("application_id" = Uuid, Path)), request_body = ReplaceClientSecret,
    responses((status = 200, body = Application), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn replace_client_secret(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    vault: web::Data<Vault>,
    onboarding: web::Data<Onboarding>,
    path: web::Path<Uuid>,
    JsonBody(body): JsonBody<ReplaceClientSecret>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        client_secret = "client_secret" => ClientSecret::parse(&body.client_secret),
        secret_expires_at = "client_secret_expires_at" => plausible_time(body.client_secret_expires_at),
        keep_previous_until = "keep_previous_until" => keep_until(body.keep_previous_until),
    };
    let row = applications::replace_client_secret(
        &vault,
        &caller.actor(&request_id),
        caller.tenant_id,
        path.into_inner(),
        &client_secret,
        secret_expires_at,
        keep_previous_until,
    )
    .await?;
    Ok(HttpResponse::Ok().json(Application::new(row, &onboarding)))
}

/// `keep_previous_until`: left out → 7 days from now; `null` → not kept; else a future time.
fn keep_until(value: Option<Option<DateTime<Utc>>>) -> Result<Option<DateTime<Utc>>, String> {
    match value {
        None => Ok(Some(
            Utc::now() + chrono::Duration::days(secret_lifecycle::DEFAULT_KEEP_PREVIOUS_DAYS),
        )),
        Some(None) => Ok(None),
        Some(Some(at)) if at <= Utc::now() => {
            Err("must be in the future (or null to drop the previous secret now)".into())
        }
        Some(at) => plausible_time(at),
    }
}

/// Asks Amazon for a new client secret (`rotateApplicationClientSecret`, with a grantless token
/// of scope `sellingpartnerapi::client_credential:rotation`). The new secret arrives by
/// notification (`POST /v1/amazon-notifications`).
#[utoipa::path(post, operation_id = "rotate_client_secret", path = "/v1/applications/{application_id}/client-secret/rotate",
    tag = "applications", security(("tenant_key" = ["admin"])),
    params(("application_id" = Uuid, Path)),
    responses((status = 202, body = Application, description = "Amazon accepted the rotation; `rotation_requested_at` is set"),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json", description = "`sp_api_refused` (Amazon's `errors` included) or `client_credentials_rejected`"),
        (status = 503, body = crate::error::Problem, content_type = "application/problem+json", description = "`upstream_unavailable`: LWA or SP-API stayed unavailable")))]
pub async fn rotate_client_secret(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    rotation: web::Data<SecretRotation>,
    onboarding: web::Data<Onboarding>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor(&request_id);
    let row = rotation
        .rotate(&actor, caller.tenant_id, path.into_inner())
        .await?;
    Ok(HttpResponse::Accepted().json(Application::new(row, &onboarding)))
}

/// Deletes an application no seller uses.
#[utoipa::path(delete, operation_id = "delete_application", path = "/v1/applications/{application_id}", tag = "applications",
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
