//! `GET /v1/audit-events` (tenant keys with scope `audit`).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{parse_fields, parse_time, PageQuery};
use crate::auth::{AuditScope, TenantCaller};
use crate::domain::{AuditActor, Page};
use crate::error::ApiError;
use crate::workflows::trail::queries::{self, AuditEventRow, TimeRange};
use crate::workflows::Vault;

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f5a4-8a55-7d2e-b6a8-3c1f5e0c9d10", "at": "2026-11-28T12:00:00Z",
    "actor": "api_key", "api_key_id": "0192f5a4-8a55-7d2e-b6a8-3c1f5e0c9d11", "action": "api_key.created",
    "resource_type": "api_key", "resource_id": "0192f5a4-8a55-7d2e-b6a8-3c1f5e0c9d12",
    "request_id": "req-42"}))]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// Who made the change: `api_key` (a key of this tenant, named by `api_key_id`), `operator`
    /// (the vault's operator; its key is not named, `api_key_id` is null) or `cli` (the vault's
    /// command line, which acts with no key).
    pub actor: AuditActor,
    /// The key of this tenant that made the change; null unless `actor` is `api_key`.
    pub api_key_id: Option<Uuid>,
    /// `<resource>.<verb>`, such as `tenant.created` or `api_key.revoked`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub request_id: String,
}

impl From<AuditEventRow> for AuditEvent {
    fn from(row: AuditEventRow) -> Self {
        Self {
            id: row.id,
            at: row.at,
            actor: row.actor,
            api_key_id: row.api_key_id,
            action: row.action,
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            request_id: row.request_id,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    since: Option<String>,
    until: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

/// Every change made through the API in the caller's tenant, newest first.
#[utoipa::path(get, operation_id = "list_audit_events", path = "/v1/audit-events", tag = "audit", security(("tenant_key" = ["audit"])),
    params(("since" = Option<DateTime<Utc>>, Query, description = "at or after this time"),
        ("until" = Option<DateTime<Utc>>, Query, description = "before this time"),
        ("limit" = Option<u16>, Query, description = "1–1000, default 100"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the page before")),
    responses((status = 200, body = Page<AuditEvent>)))]
pub async fn list(
    caller: TenantCaller<AuditScope>,
    vault: web::Data<Vault>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        since = "since" => parse_time(query.since.as_deref()),
        until = "until" => parse_time(query.until.as_deref()),
        limit = "limit" => query.page.limit(),
        cursor = "cursor" => query.page.cursor(),
    };
    let range = TimeRange { since, until };
    let rows = queries::audit_events(&vault, caller.tenant_id, range, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |row| row.id).map(AuditEvent::from);
    Ok(HttpResponse::Ok().json(page))
}
