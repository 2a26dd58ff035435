//! `/v1/api-keys` (tenant keys with scope `admin`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{parse_fields, plausible_time, JsonBody, PageQuery};
use super::{no_content, revealing};
use crate::auth::{AdminScope, TenantCaller};
use crate::domain::{DisplayName, Page, Scope, Scopes};
use crate::error::ApiError;
use crate::telemetry::RequestId;
use crate::workflows::tenancy::{self, ApiKeyRow, IssuedKey, KeySpec};
use crate::workflows::Vault;

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f5a4-8a55-7d2e-b6a8-3c1f5e0c9d10", "name": "billing-worker",
    "scopes": ["tokens"], "created_at": "2026-11-28T12:00:00Z", "expires_at": null,
    "last_used_at": null, "revoked_at": null}))]
pub struct ApiKey {
    /// The key's id; its hex digits are also the public part of the key itself.
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Updated at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(row: ApiKeyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            scopes: Scopes::from_stored(&row.scopes).iter().collect(),
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// An API key in the one response that reveals it.
#[derive(Serialize)]
#[serde(transparent)]
pub struct RevealedKey(#[serde(serialize_with = "reveal")] SecretString);

fn reveal<S: Serializer>(key: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(key.expose_secret())
}

impl std::fmt::Debug for RevealedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevealedKey(..)")
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    api_key: ApiKey,
    /// The key itself (`spv_<id>_<secret>`). Shown once: the vault keeps only its hash.
    #[schema(value_type = String, example = "spv_0192f5a48a557d2eb6a83c1f5e0c9d10_q8Zb…")]
    key: RevealedKey,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    #[schema(example = "billing-worker")]
    name: String,
    #[schema(example = json!(["tokens"]))]
    scopes: Vec<String>,
    /// When the key stops working; must be in the future.
    expires_at: Option<DateTime<Utc>>,
}

impl From<IssuedKey> for CreatedApiKey {
    fn from(issued: IssuedKey) -> Self {
        Self {
            api_key: issued.row.into(),
            key: RevealedKey(issued.key),
        }
    }
}

fn future_time(at: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>, String> {
    match plausible_time(at)? {
        Some(at) if at <= Utc::now() => Err("must be in the future".into()),
        at => Ok(at),
    }
}

/// Creates a key for the caller's tenant.
#[utoipa::path(post, operation_id = "create_api_key", path = "/v1/api-keys", tag = "api-keys", security(("tenant_key" = ["admin"])),
    request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    vault: web::Data<Vault>,
    JsonBody(body): JsonBody<CreateApiKey>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        name = "name" => DisplayName::parse(&body.name),
        scopes = "scopes" => Scopes::parse(&body.scopes),
        expires_at = "expires_at" => future_time(body.expires_at),
    };
    let spec = KeySpec {
        name: &name,
        scopes: &scopes,
        expires_at,
    };
    let issued =
        tenancy::issue_key(&vault, &caller.actor(&request_id), caller.tenant_id, spec).await?;
    Ok(revealing(StatusCode::CREATED).json(CreatedApiKey::from(issued)))
}

/// Lists the tenant's keys (revoked ones too), newest first.
#[utoipa::path(get, operation_id = "list_api_keys", path = "/v1/api-keys", tag = "api-keys", security(("tenant_key" = ["admin"])),
    params(("limit" = Option<u16>, Query, description = "1–1000, default 100"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the page before")),
    responses((status = 200, body = Page<ApiKey>)))]
pub async fn list(
    caller: TenantCaller<AdminScope>,
    vault: web::Data<Vault>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        limit = "limit" => query.limit(),
        cursor = "cursor" => query.cursor(),
    };
    let rows = tenancy::list_keys(&vault, caller.tenant_id, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |row| row.id).map(ApiKey::from);
    Ok(HttpResponse::Ok().json(page))
}

/// Revokes a key of the tenant: it stops working on every replica within a second.
#[utoipa::path(delete, operation_id = "revoke_api_key", path = "/v1/api-keys/{key_id}", tag = "api-keys",
    security(("tenant_key" = ["admin"])), params(("key_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json",
            description = "the tenant's last admin key cannot be revoked")))]
pub async fn revoke(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    vault: web::Data<Vault>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor(&request_id);
    tenancy::revoke_key(&vault, &actor, caller.tenant_id, path.into_inner()).await?;
    Ok(no_content())
}
