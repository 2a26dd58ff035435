//! Who made a change, as the audit trail tells a tenant.

use serde::Serialize;
use utoipa::ToSchema;

/// Who made the change: `api_key` — a key of this tenant, named by `api_key_id`; `operator` — the
/// vault's operator (an operator key; which one is not shown to tenants, and `api_key_id` is
/// null); `cli` — the vault's command line (`spvault …`), which acts with no key; `seller` — a
/// seller granting consent through an authorization link (no key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditActor {
    ApiKey,
    Operator,
    Cli,
    /// A seller's consent arriving at the onboarding callback: no key, its state proved the link.
    Seller,
}

impl AuditActor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Operator => "operator",
            Self::Cli => "cli",
            Self::Seller => "seller",
        }
    }

    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "api_key" => Ok(Self::ApiKey),
            "operator" => Ok(Self::Operator),
            "cli" => Ok(Self::Cli),
            "seller" => Ok(Self::Seller),
            _ => Err("must be \"api_key\", \"operator\", \"cli\" or \"seller\"".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_round_trip_through_their_stored_names() {
        for actor in [AuditActor::ApiKey, AuditActor::Operator, AuditActor::Cli] {
            assert_eq!(AuditActor::parse(actor.as_str()), Ok(actor));
            assert_eq!(
                serde_json::to_value(actor).unwrap(),
                serde_json::json!(actor.as_str())
            );
        }
        assert!(AuditActor::parse("system").is_err());
    }
}
