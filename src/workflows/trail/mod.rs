//! The audit trail.
//!
//! - changes are recorded by [`Actor::record`] in the transaction of the change itself;
//! - tokens handed out are recorded by [`deliveries::DeliveryWriter`], with group commit;
//! - [`retention`] keeps the trail within its configured age;
//! - [`queries`] reads it back for the tenant it belongs to.

pub mod deliveries;
pub mod queries;
pub mod retention;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::audit_events::{insert_audit_event, insert_audit_events, NewAuditEvent};

/// Who is acting, for the record: the tenant whose trail it goes to, the key, the request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub tenant_id: Option<Uuid>,
    /// `None` for the command line, which acts without a key.
    pub api_key_id: Option<Uuid>,
    pub request_id: String,
}

impl Actor {
    /// A tenant key acting inside its tenant.
    pub fn tenant_key(tenant_id: Uuid, api_key_id: Uuid, request_id: impl Into<String>) -> Self {
        Self {
            tenant_id: Some(tenant_id),
            api_key_id: Some(api_key_id),
            request_id: request_id.into(),
        }
    }

    /// An operator key (it acts on tenants, and its actions go to their trails).
    pub fn operator_key(api_key_id: Uuid, request_id: impl Into<String>) -> Self {
        Self {
            tenant_id: None,
            api_key_id: Some(api_key_id),
            request_id: request_id.into(),
        }
    }

    /// The command line (`spvault …`, `spvault dev`), acting with no key.
    pub fn command_line(tenant_id: Option<Uuid>, request_id: &str) -> Self {
        Self {
            tenant_id,
            api_key_id: None,
            request_id: request_id.to_owned(),
        }
    }

    /// A request no key made, in `tenant_id`'s trail: a seller's consent arriving at the
    /// onboarding callback (its state proved which link, and so which tenant).
    pub fn keyless(tenant_id: Uuid, request_id: &str) -> Self {
        Self {
            tenant_id: Some(tenant_id),
            api_key_id: None,
            request_id: request_id.to_owned(),
        }
    }

    /// The same actor, recorded in `tenant_id`'s trail (operator actions on a tenant).
    pub fn in_tenant(&self, tenant_id: Uuid) -> Self {
        Self {
            tenant_id: Some(tenant_id),
            ..self.clone()
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
            NewAuditEvent {
                tenant_id: self.tenant_id,
                api_key_id: self.api_key_id,
                action,
                resource_type,
                resource_id: resource_id.to_string(),
                request_id: &self.request_id,
            },
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
            NewAuditEvent {
                tenant_id: self.tenant_id,
                api_key_id: self.api_key_id,
                action,
                resource_type,
                resource_id: String::new(),
                request_id: &self.request_id,
            },
            resource_ids,
        )
        .await
        .map(drop)
    }
}
