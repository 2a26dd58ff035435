//! The audit trail.
//!
//! - changes are recorded by [`Actor::record`] in the transaction of the change itself;
//! - tokens handed out are recorded by [`deliveries::DeliveryWriter`], with group commit, and
//!   their requests answered through `replies`;
//! - [`retention`] keeps the trail within its configured age;
//! - [`queries`] reads it back for the tenant it belongs to.

pub mod deliveries;
pub mod queries;
mod replies;
pub mod retention;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::audit_events::{insert_audit_event, insert_audit_events, NewAuditEvent};
use crate::domain::AuditActor;

/// Who is acting, for the record: the tenant whose trail it goes to, who it is, the request.
///
/// A tenant reads its own trail (`GET /v1/audit-events`), so what is written there names only
/// that tenant's own keys: an operator acting on a tenant is recorded as `operator`, its key's id
/// kept apart where no tenant reads it (see `db::audit_events::NewAuditEvent`).
#[derive(Debug, Clone)]
pub struct Actor {
    tenant_id: Option<Uuid>,
    who: Who,
    request_id: String,
}

#[derive(Debug, Clone, Copy)]
enum Who {
    /// A key of the tenant whose trail this is.
    TenantKey(Uuid),
    /// An operator key.
    Operator(Uuid),
    /// The command line, acting with no key.
    CommandLine,
    /// A seller granting consent (the onboarding callback): no key.
    Seller,
}

impl Actor {
    /// A tenant key acting inside its tenant.
    pub fn tenant_key(tenant_id: Uuid, api_key_id: Uuid, request_id: impl Into<String>) -> Self {
        Self {
            tenant_id: Some(tenant_id),
            who: Who::TenantKey(api_key_id),
            request_id: request_id.into(),
        }
    }

    /// An operator key (it acts on tenants, and its actions go to their trails).
    pub fn operator_key(operator_key_id: Uuid, request_id: impl Into<String>) -> Self {
        Self {
            tenant_id: None,
            who: Who::Operator(operator_key_id),
            request_id: request_id.into(),
        }
    }

    /// The command line (`spvault …`, `spvault dev`), acting with no key.
    pub fn command_line(tenant_id: Option<Uuid>, request_id: &str) -> Self {
        Self {
            tenant_id,
            who: Who::CommandLine,
            request_id: request_id.to_owned(),
        }
    }

    /// A request no key made, in `tenant_id`'s trail: a seller's consent arriving at the
    /// onboarding callback (its state proved which link, and so which tenant).
    pub fn keyless(tenant_id: Uuid, request_id: &str) -> Self {
        Self {
            tenant_id: Some(tenant_id),
            who: Who::Seller,
            request_id: request_id.to_owned(),
        }
    }

    /// The tenant key acting, if a tenant key is (not an operator, the command line or a seller).
    pub fn api_key_id(&self) -> Option<Uuid> {
        match self.who {
            Who::TenantKey(id) => Some(id),
            Who::Operator(_) | Who::CommandLine | Who::Seller => None,
        }
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The same actor, recorded in `tenant_id`'s trail (operator actions on a tenant).
    pub fn in_tenant(&self, tenant_id: Uuid) -> Self {
        Self {
            tenant_id: Some(tenant_id),
            ..self.clone()
        }
    }

    /// The event as it is stored: a tenant key's id in `api_key_id`, an operator key's only in
    /// `operator_key_id`.
    fn event(
        &self,
        action: &'static str,
        resource_type: &'static str,
        resource_id: String,
    ) -> NewAuditEvent<'_> {
        let (actor, api_key_id, operator_key_id) = match self.who {
            Who::TenantKey(id) => (AuditActor::ApiKey, Some(id), None),
            Who::Operator(id) => (AuditActor::Operator, None, Some(id)),
            Who::CommandLine => (AuditActor::Cli, None, None),
            Who::Seller => (AuditActor::Seller, None, None),
        };
        NewAuditEvent {
            tenant_id: self.tenant_id,
            actor,
            api_key_id,
            operator_key_id,
            action,
            resource_type,
            resource_id,
            request_id: &self.request_id,
        }
    }

    pub async fn record(
        &self,
        conn: &mut PgConnection,
        action: &'static str,
        resource_type: &'static str,
        resource_id: Uuid,
    ) -> Result<(), sqlx::Error> {
        insert_audit_event(
            conn,
            self.event(action, resource_type, resource_id.to_string()),
        )
        .await
    }

    /// The same event about many resources (a bulk import).
    pub async fn record_many(
        &self,
        conn: &mut PgConnection,
        action: &'static str,
        resource_type: &'static str,
        resource_ids: &[Uuid],
    ) -> Result<(), sqlx::Error> {
        insert_audit_events(
            conn,
            self.event(action, resource_type, String::new()),
            resource_ids,
        )
        .await
        .map(drop)
    }
}
