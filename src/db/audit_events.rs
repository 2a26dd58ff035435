//! The `audit_event` table: every change made through the API, written in the transaction of the
//! change itself, so there is never a change without its record (or a record without its change).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{AuditActor, Limit};

/// An event as its tenant reads it: never the operator key's id (`operator_key_id` is not read).
#[derive(Debug, Clone)]
pub struct AuditEventRow {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    pub api_key_id: Option<Uuid>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub request_id: String,
}

/// A change to record. Holds ids and names of actions only: never a secret.
///
/// `api_key_id` is only ever a key of `tenant_id` (with `actor: ApiKey`); an operator key's id
/// goes to `operator_key_id` (with `actor: Operator`), which tenants never read.
#[derive(Debug, Clone)]
pub struct NewAuditEvent<'a> {
    pub tenant_id: Option<Uuid>,
    pub actor: AuditActor,
    pub api_key_id: Option<Uuid>,
    pub operator_key_id: Option<Uuid>,
    pub action: &'static str,
    pub resource_type: &'static str,
    pub resource_id: String,
    pub request_id: &'a str,
}

pub async fn insert_audit_event(
    conn: &mut PgConnection,
    event: NewAuditEvent<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into audit_event (id, tenant_id, actor, api_key_id, operator_key_id, action,
                                  resource_type, resource_id, request_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        Uuid::now_v7(),
        event.tenant_id,
        event.actor.as_str(),
        event.api_key_id,
        event.operator_key_id,
        event.action,
        event.resource_type,
        event.resource_id,
        event.request_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The same event about many resources (a bulk import), in one statement.
pub async fn insert_audit_events(
    conn: &mut PgConnection,
    event: NewAuditEvent<'_>,
    resource_ids: &[Uuid],
) -> Result<u64, sqlx::Error> {
    let ids: Vec<Uuid> = resource_ids.iter().map(|_| Uuid::now_v7()).collect();
    let resources: Vec<String> = resource_ids.iter().map(Uuid::to_string).collect();
    let result = sqlx::query!(
        "insert into audit_event (id, tenant_id, actor, api_key_id, operator_key_id, action,
                                  resource_type, resource_id, request_id)
         select id, $2, $8, $3, $9, $4, $5, resource_id, $7
         from unnest($1::uuid[], $6::text[]) as e(id, resource_id)",
        &ids,
        event.tenant_id,
        event.api_key_id,
        event.action,
        event.resource_type,
        &resources,
        event.request_id,
        event.actor.as_str(),
        event.operator_key_id
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

#[derive(Debug, Clone, Copy)]
pub struct TimeRange {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[tracing::instrument(skip(pool))]
pub async fn list_audit_events(
    pool: &PgPool,
    tenant_id: Uuid,
    range: TimeRange,
    before: Uuid,
    limit: Limit,
) -> Result<Vec<AuditEventRow>, sqlx::Error> {
    sqlx::query_as!(
        AuditEventRow,
        "select id, at, actor as \"actor: AuditActor\", api_key_id, action, resource_type,
                resource_id, request_id
         from audit_event
         where tenant_id = $1 and id < $2
           and ($3::timestamptz is null or at >= $3)
           and ($4::timestamptz is null or at < $4)
         order by id desc limit $5",
        tenant_id,
        before,
        range.since,
        range.until,
        limit.fetch()
    )
    .fetch_all(pool)
    .await
}
