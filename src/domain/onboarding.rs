//! The values of seller onboarding: application ids at Amazon, consent links and the URLs a
//! browser is sent to.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rules::{
    AMAZON_STATE_MAX_CHARS, BROWSER_URL_MAX_CHARS, LINK_LIFETIME_MAX_SECONDS,
    LINK_LIFETIME_MIN_SECONDS, SOLUTION_ID_MAX_CHARS, SOLUTION_ID_PREFIX,
};

/// The SP-API application id that consent links name: `amzn1.sp.solution.…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolutionId(String);

impl SolutionId {
    pub const PREFIX: &'static str = SOLUTION_ID_PREFIX;

    pub fn parse(value: &str) -> Result<Self, String> {
        let rest = value.strip_prefix(Self::PREFIX).unwrap_or_default();
        if rest.is_empty()
            || value.len() > SOLUTION_ID_MAX_CHARS
            || !rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(
                "must be an SP-API application id such as amzn1.sp.solution.0123abcd-…".into(),
            );
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who consents: a seller (Seller Central) or a vendor (Vendor Central).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Partner {
    #[default]
    Seller,
    Vendor,
}

impl Partner {
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "seller" => Ok(Self::Seller),
            "vendor" => Ok(Self::Vendor),
            _ => Err("must be \"seller\" or \"vendor\"".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Seller => "seller",
            Self::Vendor => "vendor",
        }
    }
}

/// Where an authorization link stands. `expired` is a pending link past its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkStatus {
    Pending,
    Completed,
    Failed,
    Expired,
}

impl LinkStatus {
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "pending" => Ok(Self::Pending),
            "completed" => Ok(Self::Completed),
            "failed" => Ok(Self::Failed),
            "expired" => Ok(Self::Expired),
            _ => Err("must be \"pending\", \"completed\", \"failed\" or \"expired\"".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }
}

/// An absolute URL a browser is sent to (a redirect URI, a return URL): `https`, or `http` on
/// a loopback host (for development and tests); no user name or password, no fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserUrl(url::Url);

impl BrowserUrl {
    pub fn parse(value: &str) -> Result<Self, String> {
        const RULE: &str = "must be an absolute https URL (http only for localhost or 127.0.0.1) without a fragment, at most 2048 characters";
        if value.len() > BROWSER_URL_MAX_CHARS {
            return Err(RULE.into());
        }
        let url = url::Url::parse(value).map_err(|_| RULE.to_owned())?;
        let secure = match url.scheme() {
            "https" => true,
            "http" => is_loopback(&url),
            _ => false,
        };
        if !secure
            || url.host_str().is_none_or(str::is_empty)
            || !url.username().is_empty()
            || url.password().is_some()
            || url.fragment().is_some()
        {
            return Err(RULE.into());
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Amazon's `amazon_state` of a flow started in the Appstore, passed back as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmazonState(String);

impl AmazonState {
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.is_empty()
            || value.chars().count() > AMAZON_STATE_MAX_CHARS
            || value.chars().any(char::is_control)
        {
            return Err(format!(
                "must be 1 to {AMAZON_STATE_MAX_CHARS} characters without control characters"
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How long a link lives: 60 seconds to a day; an hour unless said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLifetime(u32);

impl LinkLifetime {
    pub fn parse(seconds: Option<i64>) -> Result<Self, String> {
        match seconds {
            None => Ok(Self(3600)),
            Some(s @ LINK_LIFETIME_MIN_SECONDS..=LINK_LIFETIME_MAX_SECONDS) => Ok(Self(s as u32)),
            Some(_) => Err(format!(
                "must be {LINK_LIFETIME_MIN_SECONDS} to {LINK_LIFETIME_MAX_SECONDS} seconds"
            )),
        }
    }

    pub fn seconds(self) -> i64 {
        i64::from(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_urls_are_https_or_loopback_http() {
        assert!(BrowserUrl::parse("https://app.example.com/done?x=1").is_ok());
        assert!(BrowserUrl::parse("http://127.0.0.1:8080/oauth/callback").is_ok());
        assert!(BrowserUrl::parse("http://localhost/x").is_ok());
        assert!(BrowserUrl::parse("http://[::1]:9/x").is_ok());
        for bad in [
            "http://app.example.com/",
            "javascript:alert(1)",
            "https://user:pw@app.example.com/",
            "https://app.example.com/#frag",
            "/relative",
            "ftp://example.com/",
        ] {
            assert!(BrowserUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn solution_ids_have_amazons_prefix() {
        assert!(
            SolutionId::parse("amzn1.sp.solution.0c6d1a3e-12ab-4cde-8f90-1234567890ab").is_ok()
        );
        assert!(SolutionId::parse("amzn1.sp.solution.").is_err());
        assert!(SolutionId::parse("amzn1.application-oa2-client.abc").is_err());
        assert!(SolutionId::parse("amzn1.sp.solution.a b").is_err());
    }
}
