//! The audit trail.
//!
//! - changes made through the API are recorded by [`Actor::record`] in the transaction of the
//!   change itself;
//! - tokens handed out are recorded by [`deliveries::DeliveryWriter`], with group commit;
//! - [`retention`] keeps the trail within its configured age.

pub mod deliveries;
pub mod retention;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::audit_events::{insert_audit_event, NewAuditEvent};
use crate::telemetry::RequestId;

/// Who is acting, for the record: the tenant whose trail it goes to, the key, the request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub tenant_id: Option<Uuid>,
    pub api_key_id: Uuid,
    pub request_id: RequestId,
}

impl Actor {
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
                api_key_id: Some(self.api_key_id),
                action,
                resource_type,
                resource_id: resource_id.to_string(),
                request_id: self.request_id.as_str(),
            },
        )
        .await
    }
}
