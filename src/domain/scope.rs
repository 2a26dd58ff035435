//! Tenant key scopes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Manage API keys, applications and sellers.
    Admin,
    /// Obtain access tokens.
    Tokens,
    /// Read the audit trail.
    Audit,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Admin, Scope::Tokens, Scope::Audit];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Tokens => "tokens",
            Scope::Admin => "admin",
            Scope::Audit => "audit",
        }
    }

    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "tokens" => Ok(Scope::Tokens),
            "admin" => Ok(Scope::Admin),
            "audit" => Ok(Scope::Audit),
            _ => Err("unknown scope; expected \"tokens\", \"admin\" or \"audit\"".into()),
        }
    }
}

/// A non-empty set of scopes, kept in a stable order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// No scope at all: what an operator key has (it acts outside of tenants).
    pub fn none() -> Self {
        Self(Vec::new())
    }

    pub fn all() -> Self {
        Self(Scope::ALL.to_vec())
    }

    pub fn parse(values: &[String]) -> Result<Self, String> {
        if values.is_empty() {
            return Err("must list at least one scope".into());
        }
        let mut scopes = values
            .iter()
            .map(|v| Scope::parse(v))
            .collect::<Result<Vec<_>, _>>()?;
        let before = scopes.len();
        scopes.sort();
        scopes.dedup();
        if scopes.len() != before {
            return Err("lists a scope more than once".into());
        }
        Ok(Self(scopes))
    }

    /// Scopes read back from the database, which only ever stores parsed values.
    pub fn from_stored(values: &[String]) -> Self {
        let mut scopes: Vec<Scope> = values.iter().filter_map(|v| Scope::parse(v).ok()).collect();
        scopes.sort();
        scopes.dedup();
        Self(scopes)
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn as_strings(&self) -> Vec<String> {
        self.0.iter().map(|s| s.as_str().to_owned()).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

/// The scopes of grantless (client credentials) tokens SP-API knows.
pub use super::rules::GRANTLESS_SCOPES;

/// The longest OAuth `scope` parameter taken for a grantless token: room for both known scopes
/// with generous spacing, far below anything that costs to read.
const MAX_SCOPE_PARAMETER_BYTES: usize = 256;

/// The one grantless scope an OAuth `scope` parameter (space-separated) names, spelled
/// canonically: repeats and extra spaces fold away, so every variant of a scope is one cache
/// entry, one single flight and one exchange, not one each.
///
/// A parameter naming both known scopes is refused: LWA grants one scope per grantless token,
/// and the vault caches and records grantless tokens per application and scope. Granting both
/// at once would mint a third kind of token, and a caller after notifications would hold a token
/// that can also rotate the client secret; callers that need both ask twice.
///
/// The error is a description for LWA's `invalid_scope`; it never repeats the input.
pub fn grantless_scope(parameter: &str) -> Result<&'static str, &'static str> {
    if parameter.len() > MAX_SCOPE_PARAMETER_BYTES {
        return Err("The scope is too long: name one scope.");
    }
    let mut named: Option<&'static str> = None;
    for entry in parameter.split_ascii_whitespace() {
        let known = GRANTLESS_SCOPES
            .iter()
            .find(|scope| **scope == entry)
            .ok_or("The requested scope is invalid, unknown, or malformed.")?;
        match named {
            Some(scope) if scope != *known => {
                return Err("Name one scope per token: each grantless scope is granted apart.")
            }
            _ => named = Some(known),
        }
    }
    named.ok_or("A scope is required for the client_credentials grant.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_refuse_unknown_empty_and_repeated() {
        let parsed = Scopes::parse(&["audit".into(), "tokens".into()]).unwrap();
        assert!(parsed.contains(Scope::Audit) && parsed.contains(Scope::Tokens));
        assert!(!parsed.contains(Scope::Admin));
        assert!(Scopes::parse(&[]).is_err());
        assert!(Scopes::parse(&["root".into()]).is_err());
        assert!(Scopes::parse(&["tokens".into(), "tokens".into()]).is_err());
    }

    #[test]
    fn a_grantless_scope_parameter_names_one_known_scope_canonically() {
        let [notifications, rotation] = GRANTLESS_SCOPES;
        for variant in [
            notifications.to_owned(),
            format!("  {notifications}\t"),
            format!("{notifications} {notifications}"),
            format!("{notifications}\n{notifications}  {notifications}"),
        ] {
            assert_eq!(grantless_scope(&variant), Ok(notifications), "{variant:?}");
        }
        assert_eq!(grantless_scope(rotation), Ok(rotation));
        for refused in [
            String::new(),
            "   ".to_owned(),
            "sellingpartnerapi::migration".to_owned(),
            format!("{notifications} sellingpartnerapi::migration"),
            format!("{notifications} {rotation}"),
            format!("{rotation} {notifications} {rotation}"),
            format!("{notifications} ").repeat(8),
            format!("{notifications},{notifications}"),
        ] {
            let err = grantless_scope(&refused).unwrap_err();
            assert!(!err.contains("sellingpartnerapi"), "{err}");
        }
    }
}
