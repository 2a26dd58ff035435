//! SP-API notifications as Amazon delivers them: the SQS message body
//! (`{"notificationVersion", "notificationType", "payloadVersion", "eventTime", "payload",
//! "notificationMetadata": {"notificationId", …}}`), or an EventBridge event with that
//! notification as its `detail`. Only the two about client secrets are read further; a secret in
//! them is held in a `SecretString` from here on, and no error names a value.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::domain::{ClientId, ClientSecret};

pub const NEW_SECRET: &str = "APPLICATION_OAUTH_CLIENT_NEW_SECRET";
pub const SECRET_EXPIRY: &str = "APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY";

/// The longest notification id accepted (Amazon's are UUIDs).
const MAX_ID_CHARS: usize = 256;

/// A notification, parsed.
#[derive(Debug)]
pub struct Notification {
    pub notification_id: String,
    pub notification_type: String,
    pub event: Event,
}

#[derive(Debug)]
pub enum Event {
    /// `APPLICATION_OAUTH_CLIENT_NEW_SECRET`: a rotation made a new secret.
    NewSecret {
        client_id: ClientId,
        new_secret: ClientSecret,
        new_expires_at: DateTime<Utc>,
        old_expires_at: DateTime<Utc>,
    },
    /// `APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY`: the current secret expires then.
    SecretExpiry {
        client_id: ClientId,
        expires_at: DateTime<Utc>,
    },
    /// Any other type: not read further.
    Other,
}

/// A field that is missing or wrong: its path and what is wrong (never its value).
pub type Invalid = (String, String);

/// Parses a notification from JSON (the SQS body or an EventBridge event around it).
pub fn parse(document: &Value) -> Result<Notification, Vec<Invalid>> {
    let (root, prefix) = match document {
        Value::Object(map) if !map.contains_key("notificationType") => match map.get("detail") {
            Some(Value::Object(detail)) => (detail, "detail."),
            _ => {
                return Err(vec![(
                    "notificationType".into(),
                    "missing: not an SP-API notification nor an EventBridge event with one in \
                     `detail`"
                        .into(),
                )])
            }
        },
        Value::Object(map) => (map, ""),
        _ => return Err(vec![("body".into(), "must be a JSON object".into())]),
    };
    let mut fields = Fields {
        prefix: prefix.to_owned(),
        errors: Vec::new(),
    };
    let notification_type = fields.string(root, &["notificationType"]);
    let notification_id = fields
        .string(root, &["notificationMetadata", "notificationId"])
        .filter(|id| {
            let ok = !id.is_empty() && id.chars().count() <= MAX_ID_CHARS;
            if !ok {
                fields.invalid(
                    &["notificationMetadata", "notificationId"],
                    format!("must be 1 to {MAX_ID_CHARS} characters"),
                );
            }
            ok
        });
    let event = match notification_type.as_deref() {
        Some(NEW_SECRET) => {
            let at = ["payload", "applicationOAuthClientNewSecret"];
            let client_id = fields.client_id(root, &[at[0], at[1], "clientId"]);
            let new_secret = fields.secret(root, &[at[0], at[1], "newClientSecret"]);
            let new_expires_at = fields.time(root, &[at[0], at[1], "newClientSecretExpiryTime"]);
            let old_expires_at = fields.time(root, &[at[0], at[1], "oldClientSecretExpiryTime"]);
            match (client_id, new_secret, new_expires_at, old_expires_at) {
                (Some(client_id), Some(new_secret), Some(new_expires_at), Some(old_expires_at)) => {
                    Some(Event::NewSecret {
                        client_id,
                        new_secret,
                        new_expires_at,
                        old_expires_at,
                    })
                }
                _ => None,
            }
        }
        Some(SECRET_EXPIRY) => {
            let at = ["payload", "applicationOAuthClientSecretExpiry"];
            let client_id = fields.client_id(root, &[at[0], at[1], "clientId"]);
            let expires_at = fields.time(root, &[at[0], at[1], "clientSecretExpiryTime"]);
            match (client_id, expires_at) {
                (Some(client_id), Some(expires_at)) => Some(Event::SecretExpiry {
                    client_id,
                    expires_at,
                }),
                _ => None,
            }
        }
        _ => Some(Event::Other),
    };
    match (notification_type, notification_id, event) {
        (Some(notification_type), Some(notification_id), Some(event))
            if fields.errors.is_empty() =>
        {
            Ok(Notification {
                notification_id,
                notification_type,
                event,
            })
        }
        _ => Err(fields.errors),
    }
}

struct Fields {
    prefix: String,
    errors: Vec<Invalid>,
}

impl Fields {
    fn invalid(&mut self, path: &[&str], message: impl Into<String>) {
        self.errors
            .push((format!("{}{}", self.prefix, path.join(".")), message.into()));
    }

    fn value<'a>(&mut self, root: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
        let mut map = root;
        for (i, key) in path.iter().enumerate() {
            match map.get(*key) {
                Some(value) if i + 1 == path.len() => return Some(value),
                Some(Value::Object(inner)) => map = inner,
                Some(_) => {
                    self.invalid(&path[..=i], "must be an object");
                    return None;
                }
                None => {
                    self.invalid(&path[..=i], "is required");
                    return None;
                }
            }
        }
        None
    }

    fn string(&mut self, root: &Map<String, Value>, path: &[&str]) -> Option<String> {
        match self.value(root, path)? {
            Value::String(text) => Some(text.clone()),
            _ => {
                self.invalid(path, "must be a string");
                None
            }
        }
    }

    fn client_id(&mut self, root: &Map<String, Value>, path: &[&str]) -> Option<ClientId> {
        let text = self.string(root, path)?;
        ClientId::parse(&text)
            .map_err(|message| self.invalid(path, message))
            .ok()
    }

    fn secret(&mut self, root: &Map<String, Value>, path: &[&str]) -> Option<ClientSecret> {
        let secret = match self.value(root, path)? {
            Value::String(text) => SecretString::from(text.as_str()),
            _ => {
                self.invalid(path, "must be a string");
                return None;
            }
        };
        ClientSecret::parse(&secret)
            .map_err(|message| self.invalid(path, message))
            .ok()
    }

    fn time(&mut self, root: &Map<String, Value>, path: &[&str]) -> Option<DateTime<Utc>> {
        let text = self.string(root, path)?;
        match DateTime::parse_from_rfc3339(&text) {
            Ok(time) => Some(time.with_timezone(&Utc)),
            Err(_) => {
                self.invalid(path, "must be an RFC 3339 time");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;
    use serde_json::json;

    use super::*;

    fn new_secret(secret: &str) -> Value {
        json!({
            "notificationVersion": "1.0",
            "notificationType": NEW_SECRET,
            "payloadVersion": "1.0",
            "eventTime": "2026-12-01T10:00:00Z",
            "payload": {"applicationOAuthClientNewSecret": {
                "clientId": "amzn1.application-oa2-client.0123456789abcdef",
                "newClientSecret": secret,
                "newClientSecretExpiryTime": "2027-05-30T10:00:00Z",
                "oldClientSecretExpiryTime": "2026-12-08T10:00:00Z"}},
            "notificationMetadata": {"applicationId": "amzn1.sellerapps.app.x",
                "subscriptionId": "s", "publishTime": "2026-12-01T10:00:00Z",
                "notificationId": "7c0e0a4e-2c53-4a8e-9f7e-0c1d2e3f4a5b"}
        })
    }

    #[test]
    fn a_new_secret_parses_from_the_queue_body_and_from_an_eventbridge_event() {
        let body = new_secret("amzn1.oa2-cs.v1.abc");
        let event = json!({"version": "0", "detail-type": "x", "source": "aws.partner/sellingpartnerapi.amazon", "detail": body.clone()});
        for document in [body, event] {
            let parsed = parse(&document).unwrap();
            assert_eq!(parsed.notification_type, NEW_SECRET);
            let Event::NewSecret { new_secret, .. } = parsed.event else {
                panic!("not a new secret")
            };
            assert_eq!(new_secret.secret().expose_secret(), "amzn1.oa2-cs.v1.abc");
        }
    }

    #[test]
    fn errors_name_fields_never_values() {
        let mut body = new_secret("amzn1.oa2-cs.v1.topsecret");
        body["payload"]["applicationOAuthClientNewSecret"]["oldClientSecretExpiryTime"] =
            json!("amzn1.oa2-cs.v1.topsecret");
        let errors = parse(&body).unwrap_err();
        assert_eq!(
            errors[0].0,
            "payload.applicationOAuthClientNewSecret.oldClientSecretExpiryTime"
        );
        assert!(!format!("{errors:?}").contains("topsecret"));
    }

    #[test]
    fn other_types_need_only_a_type_and_an_id() {
        let parsed = parse(&json!({"notificationType": "ANY_OFFER_CHANGED",
            "notificationMetadata": {"notificationId": "n-1"}, "payload": {}}))
        .unwrap();
        assert!(matches!(parsed.event, Event::Other));
        assert!(parse(&json!({"notificationType": "ANY_OFFER_CHANGED"})).is_err());
        assert!(parse(&json!([1, 2])).is_err());
    }
}
