//! `POST /v1/amazon-notifications` (tenant keys with scope `admin`): SP-API notifications
//! forwarded as Amazon delivers them (the SQS message body, or an EventBridge event around it),
//! for the client secret lifecycle (`workflows::credentials::secret_lifecycle`).

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::JsonBody;
use crate::amazon::notifications;
use crate::auth::{AdminScope, TenantCaller};
use crate::error::{ApiError, FieldError};
use crate::telemetry::RequestId;
use crate::workflows::credentials::secret_lifecycle::{self, SecretRotation};

/// An SP-API notification exactly as Amazon puts it in the SQS queue (`notificationType`,
/// `payload`, `notificationMetadata.notificationId`, …), or an EventBridge event with that
/// notification as its `detail`.
#[derive(ToSchema)]
#[allow(non_snake_case, dead_code)] // (documentation only: the body is read as JSON)
pub struct AmazonNotification {
    #[schema(example = "APPLICATION_OAUTH_CLIENT_NEW_SECRET")]
    notificationType: Option<String>,
    #[schema(value_type = Option<Object>)]
    payload: Option<serde_json::Value>,
    /// Its `notificationId` makes a notification apply once.
    #[schema(value_type = Option<Object>)]
    notificationMetadata: Option<serde_json::Value>,
    /// The notification, when the body is an EventBridge event.
    #[schema(value_type = Option<Object>)]
    detail: Option<serde_json::Value>,
}

/// What became of a notification.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"notification_id": "7c0e0a4e-2c53-4a8e-9f7e-0c1d2e3f4a5b",
    "type": "APPLICATION_OAUTH_CLIENT_NEW_SECRET",
    "application_id": "0192f5a4-8a55-7d2e-b6a8-3c1f5e0c9d10", "applied": true}))]
pub struct NotificationReceipt {
    /// `notificationMetadata.notificationId`.
    notification_id: String,
    /// `notificationType`.
    #[serde(rename = "type")]
    kind: String,
    /// The application it was about (`null` for types the vault does not read).
    application_id: Option<Uuid>,
    /// Whether it changed anything: `false` for a notification already applied, or of another
    /// type.
    applied: bool,
}

/// Takes an SP-API notification exactly as Amazon puts it in the SQS queue, or the EventBridge
/// event around it (the notification in `detail`). `APPLICATION_OAUTH_CLIENT_NEW_SECRET`
/// installs the new client secret (the old one stays as previous until
/// `oldClientSecretExpiryTime`); `APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY` records the expiry and
/// asks for a rotation if the application has `auto_rotate`. Each notification is applied once.
/// The secret is never echoed, logged or stored in the clear.
#[utoipa::path(post, operation_id = "receive_amazon_notification", path = "/v1/amazon-notifications", tag = "applications",
    security(("tenant_key" = ["admin"])), request_body = AmazonNotification,
    responses((status = 200, body = NotificationReceipt, description = "applied, or already applied (`applied: false`)"),
        (status = 202, body = NotificationReceipt, description = "a notification type the vault does not read (`applied: false`)"),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json", description = "no application of this tenant has that `clientId`"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json", description = "not a well-formed notification")))]
pub async fn receive(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    rotation: web::Data<SecretRotation>,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let notification = notifications::parse(&body).map_err(|errors| {
        ApiError::Validation(
            errors
                .into_iter()
                .map(|(field, message)| FieldError::new(field, message))
                .collect(),
        )
    })?;
    drop(body); // (it may hold a secret: gone as soon as it is parsed)
    let actor = caller.actor(&request_id);
    let received =
        secret_lifecycle::receive_notification(&rotation, &actor, caller.tenant_id, notification)
            .await?;
    let receipt = NotificationReceipt {
        notification_id: received.notification_id,
        kind: received.notification_type,
        application_id: received.application_id,
        applied: received.applied,
    };
    Ok(if received.understood {
        HttpResponse::Ok().json(receipt)
    } else {
        HttpResponse::Accepted().json(receipt)
    })
}
