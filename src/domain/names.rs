//! Names given by users.

use std::fmt;

use super::rules::{DISPLAY_NAME_MAX_CHARS, TENANT_NAME_MAX_CHARS};

/// A tenant's name: 1–64 letters, digits, `-`, `_` or `.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantName(String);

impl TenantName {
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.is_empty() || value.chars().count() > TENANT_NAME_MAX_CHARS {
            return Err(format!(
                "must be 1 to {TENANT_NAME_MAX_CHARS} characters long"
            ));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err("may contain only letters, digits, '-', '_' and '.'".into());
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A free-form label (an API key's or an application's name): 1–128 characters, no control
/// characters, not only white space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.trim().is_empty() {
            return Err("must not be empty".into());
        }
        if value.chars().count() > DISPLAY_NAME_MAX_CHARS {
            return Err(format!(
                "must be at most {DISPLAY_NAME_MAX_CHARS} characters long"
            ));
        }
        if value.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_follow_the_contract() {
        for good in ["acme", "a", "Acme-Corp_2.eu", &"x".repeat(64)] {
            assert!(TenantName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "ümlaut", "semi;colon", &"x".repeat(65)] {
            assert!(TenantName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_names_refuse_blank_long_and_control_characters() {
        assert!(DisplayName::parse("billing worker #2").is_ok());
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"é".repeat(129)).is_err());
        assert!(DisplayName::parse("a\nb").is_err());
    }
}
