//! The secrets and identifiers of an SP-API application and a seller's authorization (formats
//! from Amazon's documentation of LWA and SP-API). Secrets stay in `SecretString`: never printed,
//! serialized or logged.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rules::{
    ACCESS_TOKEN_PREFIX, CLIENT_ID_MAX_SUFFIX, CLIENT_ID_PREFIX, EXTERNAL_ID_MAX_CHARS,
    MARKETPLACE_ID_MAX_CHARS, MAX_MARKETPLACE_IDS, REFRESH_TOKEN_PREFIX,
    RESTRICTED_DATA_TOKEN_PREFIX, SELLING_PARTNER_ID_MAX_CHARS,
};

pub use super::rules::MAX_CREDENTIAL_BYTES;

fn visible_ascii(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_graphic())
}

/// An LWA client id: `amzn1.application-oa2-client.<letters and digits>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    pub const PREFIX: &'static str = CLIENT_ID_PREFIX;

    pub fn parse(value: &str) -> Result<Self, String> {
        let rest = value
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| format!("must start with {:?}", Self::PREFIX))?;
        if rest.is_empty()
            || rest.len() > CLIENT_ID_MAX_SUFFIX
            || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(format!(
                "must be {:?} followed by 1 to {CLIENT_ID_MAX_SUFFIX} letters and digits",
                Self::PREFIX
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An LWA client secret (`amzn1.oa2-cs.v1.<hex>` today; any visible ASCII is accepted).
pub struct ClientSecret(SecretString);

impl ClientSecret {
    pub fn parse(value: &SecretString) -> Result<Self, String> {
        let text = value.expose_secret();
        if text.is_empty() || text.len() > MAX_CREDENTIAL_BYTES {
            return Err(format!(
                "must be 1 to {MAX_CREDENTIAL_BYTES} characters long"
            ));
        }
        if !visible_ascii(text) {
            return Err("must contain only visible ASCII characters".into());
        }
        Ok(Self(value.clone()))
    }

    pub fn from_stored(value: SecretString) -> Self {
        Self(value)
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// A seller's LWA refresh token: `Atzr|…`, at most 2048 bytes.
pub struct RefreshToken(SecretString);

impl RefreshToken {
    pub const PREFIX: &'static str = REFRESH_TOKEN_PREFIX;

    pub fn parse(value: &SecretString) -> Result<Self, String> {
        let text = value.expose_secret();
        if !text.starts_with(Self::PREFIX) || text.len() == Self::PREFIX.len() {
            return Err("must be an LWA refresh token, starting with \"Atzr|\"".into());
        }
        if text.len() > MAX_CREDENTIAL_BYTES {
            return Err(format!("must be at most {MAX_CREDENTIAL_BYTES} bytes long"));
        }
        if !visible_ascii(text) {
            return Err("must contain only visible ASCII characters".into());
        }
        Ok(Self(value.clone()))
    }

    pub fn from_stored(value: SecretString) -> Self {
        Self(value)
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([REDACTED])")
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([REDACTED])")
    }
}

/// Whether `value` may be an LWA access token (`Atza|…`) or a Restricted Data Token
/// (`Atz.sprdt|…`), visible ASCII, at most 2048 bytes, for a lookup by fingerprint.
pub fn looks_like_access_token(value: &str) -> bool {
    (value.starts_with(ACCESS_TOKEN_PREFIX) || value.starts_with(RESTRICTED_DATA_TOKEN_PREFIX))
        && value.len() <= MAX_CREDENTIAL_BYTES
        && visible_ascii(value)
}

/// A selling partner id, such as `A2EUQ1WTGCTBG2`: upper-case letters and digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellingPartnerId(String);

impl SellingPartnerId {
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.is_empty()
            || value.len() > SELLING_PARTNER_ID_MAX_CHARS
            || !value
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(format!(
                "must be 1 to {SELLING_PARTNER_ID_MAX_CHARS} upper-case letters and digits, such as A2EUQ1WTGCTBG2"
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The SP-API region a seller authorized in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    Na,
    Eu,
    Fe,
}

impl Region {
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "na" => Ok(Self::Na),
            "eu" => Ok(Self::Eu),
            "fe" => Ok(Self::Fe),
            _ => Err("must be \"na\", \"eu\" or \"fe\"".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Na => "na",
            Self::Eu => "eu",
            Self::Fe => "fe",
        }
    }
}

/// The tenant's own reference for a seller: 1–128 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalId(String);

impl ExternalId {
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.is_empty() || value.chars().count() > EXTERNAL_ID_MAX_CHARS {
            return Err(format!(
                "must be 1 to {EXTERNAL_ID_MAX_CHARS} characters long"
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

/// Amazon marketplace ids such as `ATVPDKIKX0DER`: at most 100, each 1–32 letters and digits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MarketplaceIds(Vec<String>);

impl MarketplaceIds {
    pub fn parse(values: &[String]) -> Result<Self, String> {
        if values.len() > MAX_MARKETPLACE_IDS {
            return Err(format!(
                "must list at most {MAX_MARKETPLACE_IDS} marketplace ids"
            ));
        }
        for (index, value) in values.iter().enumerate() {
            if value.is_empty()
                || value.len() > MARKETPLACE_ID_MAX_CHARS
                || !value.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                // (By position: a value in the wrong field may be a secret; errors never echo.)
                return Err(format!(
                    "item {index} is not a marketplace id (1 to {MARKETPLACE_ID_MAX_CHARS} letters and digits, such as ATVPDKIKX0DER)"
                ));
            }
        }
        let mut unique = values.to_vec();
        unique.sort();
        unique.dedup();
        if unique.len() != values.len() {
            return Err("lists a marketplace id more than once".into());
        }
        Ok(Self(values.to_vec()))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    #[test]
    fn client_ids_need_the_lwa_prefix() {
        assert!(
            ClientId::parse("amzn1.application-oa2-client.0123456789abcdef0123456789abcdef")
                .is_ok()
        );
        for bad in [
            "",
            "amzn1.application-oa2-client.",
            "client-123",
            "amzn1.application-oa2-client.ab-cd",
        ] {
            assert!(ClientId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refresh_tokens_are_atzr_and_bounded() {
        assert!(RefreshToken::parse(&secret("Atzr|IwEBIA")).is_ok());
        assert!(RefreshToken::parse(&secret(&format!("Atzr|{}", "a".repeat(2043)))).is_ok());
        for bad in ["", "Atzr|", "Atza|abc", "atzr|abc", "Atzr|has space"] {
            assert!(RefreshToken::parse(&secret(bad)).is_err(), "{bad}");
        }
        assert!(RefreshToken::parse(&secret(&format!("Atzr|{}", "a".repeat(2044)))).is_err());
    }

    #[test]
    fn client_secrets_are_bounded_visible_ascii() {
        assert!(ClientSecret::parse(&secret("amzn1.oa2-cs.v1.abc123")).is_ok());
        for bad in ["", "tab\tinside", "ümlaut"] {
            assert!(ClientSecret::parse(&secret(bad)).is_err(), "{bad}");
        }
        assert!(ClientSecret::parse(&secret(&"a".repeat(2049))).is_err());
    }

    #[test]
    fn errors_never_quote_the_secret() {
        let err = RefreshToken::parse(&secret("Atzr|sec ret")).unwrap_err();
        assert!(!err.contains("sec ret"));
        let debug = format!("{:?}", RefreshToken::parse(&secret("Atzr|secret")).unwrap());
        assert!(!debug.contains("secret"));
    }

    #[test]
    fn seller_fields_follow_the_domain() {
        assert!(SellingPartnerId::parse("A2EUQ1WTGCTBG2").is_ok());
        assert!(SellingPartnerId::parse("a2euq").is_err());
        assert_eq!(Region::parse("eu").unwrap(), Region::Eu);
        assert!(Region::parse("us").is_err());
        assert!(ExternalId::parse(&"x".repeat(128)).is_ok());
        assert!(ExternalId::parse(&"x".repeat(129)).is_err());
        assert!(MarketplaceIds::parse(&["ATVPDKIKX0DER".into()]).is_ok());
        assert!(MarketplaceIds::parse(&["A".into(), "A".into()]).is_err());
        assert!(MarketplaceIds::parse(&["no spaces".into()]).is_err());
    }
}
