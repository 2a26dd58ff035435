//! `/v1/api-keys` (tenant keys with scope `admin`).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{parse_fields, plausible_time, JsonBody, PageQuery};
use super::no_content;
use crate::audit::Actor;
use crate::auth::{key, Admin, TenantCaller};
use crate::db::api_keys::{self, ApiKeyRow, NewApiKey};
use crate::db::notify::{self, Invalidation};
use crate::db::tenants;
use crate::domain::{self, DisplayName, Page, Scope, Scopes};
use crate::error::ApiError;
use crate::invalidation::Caches;
use crate::telemetry::RequestId;

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

/// The parsed parts of a key to issue.
pub struct IssuedFor<'a> {
    pub tenant_id: Uuid,
    pub name: &'a DisplayName,
    pub scopes: &'a Scopes,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Makes a tenant key, stores its hash and records it, in the caller's transaction.
pub async fn insert_key(
    conn: &mut PgConnection,
    actor: &Actor,
    new: IssuedFor<'_>,
) -> Result<CreatedApiKey, ApiError> {
    let issued = key::issue_off_runtime().await?;
    let row = api_keys::insert_api_key(
        &mut *conn,
        NewApiKey {
            id: issued.id,
            tenant_id: Some(new.tenant_id),
            name: new.name,
            scopes: new.scopes,
            key_hash: &issued.hash,
            expires_at: new.expires_at,
        },
    )
    .await?;
    actor
        .record(conn, "api_key.created", "api_key", row.id)
        .await?;
    Ok(CreatedApiKey {
        api_key: row.into(),
        key: RevealedKey(issued.key),
    })
}

fn future_time(at: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>, String> {
    match plausible_time(at)? {
        Some(at) if at <= Utc::now() => Err("must be in the future".into()),
        at => Ok(at),
    }
}

/// Creates a key for the caller's tenant.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", security(("tenant_key" = ["admin"])),
    request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    caller: TenantCaller<Admin>,
    request_id: RequestId,
    pool: web::Data<PgPool>,
    JsonBody(body): JsonBody<CreateApiKey>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        name = "name" => DisplayName::parse(&body.name),
        scopes = "scopes" => Scopes::parse(&body.scopes),
        expires_at = "expires_at" => future_time(body.expires_at),
    };
    let actor = Actor {
        tenant_id: Some(caller.tenant_id),
        api_key_id: caller.key_id,
        request_id,
    };
    let mut tx = pool.begin().await?;
    let created = insert_key(
        &mut tx,
        &actor,
        IssuedFor {
            tenant_id: caller.tenant_id,
            name: &name,
            scopes: &scopes,
            expires_at,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(created))
}

/// Lists the tenant's keys (revoked ones too), newest first.
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", security(("tenant_key" = ["admin"])),
    params(("limit" = Option<u16>, Query, description = "1–1000, default 100"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the page before")),
    responses((status = 200, body = Page<ApiKey>)))]
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
        api_keys::list_tenant_keys(&pool, caller.tenant_id, domain::page_start(cursor), limit)
            .await?;
    let page = Page::from_rows(rows, limit, |row| row.id).map(ApiKey::from);
    Ok(HttpResponse::Ok().json(page))
}

/// Revokes a key of the tenant: it stops working on every replica within a second.
#[utoipa::path(delete, path = "/v1/api-keys/{key_id}", tag = "api-keys",
    security(("tenant_key" = ["admin"])), params(("key_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json",
            description = "the tenant's last admin key cannot be revoked")))]
pub async fn revoke(
    caller: TenantCaller<Admin>,
    request_id: RequestId,
    pool: web::Data<PgPool>,
    caches: web::Data<Caches>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let not_found = || ApiError::not_found(format_args!("API key {id}"));
    let mut tx = pool.begin().await?;
    // Serialises revocations within the tenant, so two of them cannot each leave the other as
    // the last admin key.
    if !tenants::lock_tenant(&mut tx, caller.tenant_id).await? {
        return Err(not_found());
    }
    let revoked = api_keys::revoke_tenant_key(&mut tx, caller.tenant_id, id)
        .await?
        .ok_or_else(not_found)?;
    if !revoked.newly_revoked {
        // Revoked before: nothing changes, and nothing new goes on record.
        return Ok(no_content());
    }
    let key = revoked.key;
    let was_usable_admin = key.scopes.iter().any(|s| s == Scope::Admin.as_str())
        && key.expires_at.is_none_or(|at| at > Utc::now());
    if was_usable_admin
        && api_keys::count_other_admin_keys(&mut tx, caller.tenant_id, id).await? == 0
    {
        return Err(ApiError::Conflict(
            "this is the tenant's last admin key; create another admin key before revoking it"
                .into(),
        ));
    }
    let actor = Actor {
        tenant_id: Some(caller.tenant_id),
        api_key_id: caller.key_id,
        request_id,
    };
    actor
        .record(&mut tx, "api_key.revoked", "api_key", id)
        .await?;
    notify::send(&mut tx, Invalidation::Key(id)).await?;
    tx.commit().await?;
    caches.invalidate(Invalidation::Key(id));
    Ok(no_content())
}
