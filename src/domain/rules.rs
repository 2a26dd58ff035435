//! What each parsed value accepts, in the words JSON Schema has for it: the OpenAPI document
//! (`openapi`) declares these rules on the fields that carry the values, and the parsers in this
//! module's siblings are built on the same constants, so the two cannot drift. Unit tests here
//! check each rule against its parser on values at and beyond its bounds.
//!
//! What JSON Schema cannot say (a time in the future, a marketplace of the chosen region) is in
//! the field's description in the document, and named with its reason in the fuzzer's
//! configuration (`tests/fuzz/schemathesis.toml`).

/// Longest access or refresh token, client id or secret LWA issues.
pub const MAX_CREDENTIAL_BYTES: usize = 2048;
/// `ClientId::PREFIX`.
pub const CLIENT_ID_PREFIX: &str = "amzn1.application-oa2-client.";
/// `RefreshToken::PREFIX`.
pub const REFRESH_TOKEN_PREFIX: &str = "Atzr|";
/// `SolutionId::PREFIX`.
pub const SOLUTION_ID_PREFIX: &str = "amzn1.sp.solution.";
/// `Limit::MAX`: the longest page.
pub const MAX_PAGE_ROWS: u16 = 1000;

/// A value's rule. Lengths count characters (Unicode scalar values), as JSON Schema does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Text {
        min_chars: usize,
        max_chars: usize,
        /// An ECMA-262 regular expression that also reads the same in Rust's `regex` and
        /// Python's `re` (no look-around, no classes beyond ASCII escapes).
        pattern: Option<&'static str>,
    },
    /// One of these strings.
    OneOf(&'static [&'static str]),
    Integer {
        min: i64,
        max: i64,
    },
    /// An array of values of one rule.
    List {
        min_items: usize,
        max_items: usize,
        unique: bool,
        item: &'static Rule,
    },
    /// An array of objects, each described by its own schema (whose fields have their own rules).
    Objects {
        min_items: usize,
        max_items: usize,
    },
}

/// Characters that are not controls (Unicode's `Cc`, what `char::is_control` refuses).
const NO_CONTROLS: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";
/// As `NO_CONTROLS`, and at least one character that is not white space (what `str::trim`
/// removes): the character in the middle is neither a control nor a space of any kind.
const NOT_BLANK: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$";

pub const TENANT_NAME_MAX_CHARS: usize = 64;
/// `TenantName`.
pub const TENANT_NAME: Rule = Rule::Text {
    min_chars: 1,
    max_chars: TENANT_NAME_MAX_CHARS,
    pattern: Some(r"^[A-Za-z0-9._-]+$"),
};

pub const DISPLAY_NAME_MAX_CHARS: usize = 128;
/// `DisplayName`: an API key's or an application's name.
pub const DISPLAY_NAME: Rule = Rule::Text {
    min_chars: 1,
    max_chars: DISPLAY_NAME_MAX_CHARS,
    pattern: Some(NOT_BLANK),
};

pub const EXTERNAL_ID_MAX_CHARS: usize = 128;
/// `ExternalId`.
pub const EXTERNAL_ID: Rule = Rule::Text {
    min_chars: 1,
    max_chars: EXTERNAL_ID_MAX_CHARS,
    pattern: Some(NO_CONTROLS),
};

/// Letters and digits after `ClientId::PREFIX`.
pub const CLIENT_ID_MAX_SUFFIX: usize = 128;
/// `ClientId`.
pub const CLIENT_ID: Rule = Rule::Text {
    min_chars: CLIENT_ID_PREFIX.len() + 1,
    max_chars: CLIENT_ID_PREFIX.len() + CLIENT_ID_MAX_SUFFIX,
    pattern: Some(r"^amzn1\.application-oa2-client\.[A-Za-z0-9]+$"),
};

/// `ClientSecret`: visible ASCII.
pub const CLIENT_SECRET: Rule = Rule::Text {
    min_chars: 1,
    max_chars: MAX_CREDENTIAL_BYTES,
    pattern: Some(r"^[!-~]+$"),
};

/// `RefreshToken`: `Atzr|` and visible ASCII.
pub const REFRESH_TOKEN: Rule = Rule::Text {
    min_chars: REFRESH_TOKEN_PREFIX.len() + 1,
    max_chars: MAX_CREDENTIAL_BYTES,
    pattern: Some(r"^Atzr\|[!-~]+$"),
};

/// A token someone found, to look up: an access token (`Atza|`) or a Restricted Data Token
/// (`Atz.sprdt|`), and visible ASCII.
pub const ACCESS_TOKEN: Rule = Rule::Text {
    min_chars: ACCESS_TOKEN_PREFIX.len(),
    max_chars: MAX_CREDENTIAL_BYTES,
    pattern: Some(r"^(Atza|Atz\.sprdt)\|[!-~]*$"),
};
pub const ACCESS_TOKEN_PREFIX: &str = "Atza|";
pub const RESTRICTED_DATA_TOKEN_PREFIX: &str = "Atz.sprdt|";

pub const SELLING_PARTNER_ID_MAX_CHARS: usize = 64;
/// `SellingPartnerId`.
pub const SELLING_PARTNER_ID: Rule = Rule::Text {
    min_chars: 1,
    max_chars: SELLING_PARTNER_ID_MAX_CHARS,
    pattern: Some(r"^[A-Z0-9]+$"),
};

pub const MARKETPLACE_ID_MAX_CHARS: usize = 32;
/// One marketplace id, such as `ATVPDKIKX0DER`.
pub const MARKETPLACE_ID: Rule = Rule::Text {
    min_chars: 1,
    max_chars: MARKETPLACE_ID_MAX_CHARS,
    pattern: Some(r"^[A-Za-z0-9]+$"),
};

pub const MAX_MARKETPLACE_IDS: usize = 100;
/// `MarketplaceIds`.
pub const MARKETPLACE_IDS: Rule = Rule::List {
    min_items: 0,
    max_items: MAX_MARKETPLACE_IDS,
    unique: true,
    item: &MARKETPLACE_ID,
};

/// `Region`.
pub const REGION: Rule = Rule::OneOf(&["na", "eu", "fe"]);

/// `Scope`.
pub const SCOPE: Rule = Rule::OneOf(&["admin", "tokens", "audit"]);
/// `Scopes`.
pub const SCOPES: Rule = Rule::List {
    min_items: 1,
    max_items: 3,
    unique: true,
    item: &SCOPE,
};

/// `GRANTLESS_SCOPES`.
pub const GRANTLESS_SCOPE: Rule = Rule::OneOf(&GRANTLESS_SCOPES);
/// `GRANTLESS_SCOPES`: the scopes of grantless (client credentials) tokens SP-API knows.
pub const GRANTLESS_SCOPES: [&str; 2] = [
    "sellingpartnerapi::notifications",
    "sellingpartnerapi::client_credential:rotation",
];

/// `SellerStatus`.
pub const SELLER_STATUS: Rule = Rule::OneOf(&["active", "authorization_revoked"]);
/// `LinkStatus`.
pub const LINK_STATUS: Rule = Rule::OneOf(&["pending", "completed", "failed", "expired"]);
/// `Partner`.
pub const PARTNER: Rule = Rule::OneOf(&["seller", "vendor"]);

pub const SOLUTION_ID_MAX_CHARS: usize = 128;
/// `SolutionId`.
pub const SOLUTION_ID: Rule = Rule::Text {
    min_chars: SOLUTION_ID_PREFIX.len() + 1,
    max_chars: SOLUTION_ID_MAX_CHARS,
    pattern: Some(r"^amzn1\.sp\.solution\.[A-Za-z0-9._-]+$"),
};

pub const BROWSER_URL_MAX_CHARS: usize = 2048;
/// `BrowserUrl`: `https`, or `http` on a loopback host; no user name, no fragment. The pattern
/// is narrower than the parser (a host name that ends in a letter, a port of at most four
/// digits): every URL it matches parses, which is what a client needs to know.
pub const BROWSER_URL: Rule = Rule::Text {
    min_chars: "https://a".len(),
    max_chars: BROWSER_URL_MAX_CHARS,
    pattern: Some(
        r"^(https://[A-Za-z0-9.-]*[A-Za-z]|http://(localhost|127\.0\.0\.1))(:[0-9]{1,4})?([/?][^\s#]*)?$",
    ),
};

pub const AMAZON_STATE_MAX_CHARS: usize = 1024;
/// `AmazonState`.
pub const AMAZON_STATE: Rule = Rule::Text {
    min_chars: 1,
    max_chars: AMAZON_STATE_MAX_CHARS,
    pattern: Some(NO_CONTROLS),
};

pub const LINK_LIFETIME_MIN_SECONDS: i64 = 60;
pub const LINK_LIFETIME_MAX_SECONDS: i64 = 86_400;
/// `LinkLifetime`.
pub const LINK_LIFETIME: Rule = Rule::Integer {
    min: LINK_LIFETIME_MIN_SECONDS,
    max: LINK_LIFETIME_MAX_SECONDS,
};

/// `Limit`.
pub const LIMIT: Rule = Rule::Integer {
    min: 1,
    max: MAX_PAGE_ROWS as i64,
};

/// `Cursor`: 16 bytes in unpadded base64url; the last character carries two bits.
pub const CURSOR: Rule = Rule::Text {
    min_chars: 22,
    max_chars: 22,
    pattern: Some(r"^[A-Za-z0-9_-]{21}[AQgw]$"),
};

/// At most this many resources in one Restricted Data Token (Amazon's limit).
pub const MAX_RESTRICTED_RESOURCES: usize = 50;
/// `restricted_resources` of a Restricted Data Token request.
pub const RESTRICTED_RESOURCES: Rule = Rule::Objects {
    min_items: 1,
    max_items: MAX_RESTRICTED_RESOURCES,
};

/// The longest `target_application` accepted.
pub const MAX_TARGET_APPLICATION_CHARS: usize = 256;
/// `target_application` of a Restricted Data Token request: printable ASCII.
pub const TARGET_APPLICATION: Rule = Rule::Text {
    min_chars: 1,
    max_chars: MAX_TARGET_APPLICATION_CHARS,
    pattern: Some(r"^[!-~]*$"),
};

pub const MAX_MIN_TTL_SECONDS: i64 = 3000;
/// `min_ttl_seconds` of an access token or Restricted Data Token request.
pub const MIN_TTL_SECONDS: Rule = Rule::Integer {
    min: 0,
    max: MAX_MIN_TTL_SECONDS,
};

pub const MAX_EXPIRES_WITHIN_DAYS: i64 = 3650;
/// `client_secret_expires_within_days` of the applications' list.
pub const EXPIRES_WITHIN_DAYS: Rule = Rule::Integer {
    min: 0,
    max: MAX_EXPIRES_WITHIN_DAYS,
};

/// The grants `/auth/o2/token` serves.
pub const LWA_GRANT_TYPE: Rule = Rule::OneOf(&["refresh_token", "client_credentials"]);

/// `AuditActor` (the audit trail's `actor` filter).
pub const AUDIT_ACTOR: Rule = Rule::OneOf(&["api_key", "operator", "cli", "seller"]);

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::domain::{
        looks_like_access_token, AmazonState, AuditActor, BrowserUrl, ClientId, ClientSecret,
        Cursor, DisplayName, ExternalId, Limit, LinkLifetime, LinkStatus, MarketplaceIds, Partner,
        RefreshToken, Region, ResourceInput, ResourceSet, Scope, Scopes, SellerStatus,
        SellingPartnerId, SolutionId, TenantName, GRANTLESS_SCOPES,
    };

    /// Values to try on every text rule: at the bounds, past them, of every kind of character.
    fn samples(rule: &Rule) -> Vec<String> {
        let Rule::Text {
            min_chars,
            max_chars,
            ..
        } = *rule
        else {
            return Vec::new();
        };
        let mut out = vec![
            String::new(),
            " ".into(),
            "a".into(),
            "A".into(),
            "7".into(),
            "a b".into(),
            "a\nb".into(),
            "a\n".into(),
            "\u{85}".into(),
            "\u{a0}".into(),
            "\u{3000}x".into(),
            "\u{2003}".into(),
            "é".into(),
            "ümlaut".into(),
            "semi;colon".into(),
            "a-b_c.d".into(),
            "Atzr|IwEBIA".into(),
            "Atzr|".into(),
            "Atza|x".into(),
            "Atza|".into(),
            "Atza|ü".into(),
            "Atz.sprdt|x".into(),
            "Atz.sprdt".into(),
            "Atzxsprdt|x".into(),
            "amzn1.application-oa2-client.0123abcdef".into(),
            "amzn1.application-oa2-client.".into(),
            "amzn1.application-oa2-client.ab-c".into(),
            "amzn1.sp.solution.0c6d1a3e-12ab".into(),
            "amzn1.sp.solution.".into(),
            "ATVPDKIKX0DER".into(),
            "https://app.example.com/x?y=1".into(),
            "https://app.example.com".into(),
            "https://app.example.com:8443/".into(),
            "https://app.example.com/#frag".into(),
            "http://localhost:3000/done".into(),
            "http://example.com/".into(),
            "ftp://example.com/".into(),
            "AAAAAAAAAAAAAAAAAAAAAA".into(),
            "AAAAAAAAAAAAAAAAAAAAAB".into(),
            "AZKmwX-_0192f5a48a55Qw".into(),
        ];
        for n in [
            min_chars.saturating_sub(1),
            min_chars,
            max_chars,
            max_chars + 1,
        ] {
            for c in ['x', 'A', '7', 'é'] {
                out.push(std::iter::repeat_n(c, n).collect());
            }
            if n > 0 {
                out.push(format!(
                    "amzn1.application-oa2-client.{}",
                    "a".repeat(n.saturating_sub(29))
                ));
                out.push(format!(
                    "amzn1.sp.solution.{}",
                    "a".repeat(n.saturating_sub(18))
                ));
                out.push(format!("Atzr|{}", "a".repeat(n.saturating_sub(5))));
                out.push(format!("Atza|{}", "a".repeat(n.saturating_sub(5))));
                out.push(format!(
                    "https://a.example/{}",
                    "a".repeat(n.saturating_sub(18))
                ));
            }
        }
        out
    }

    fn accepts(rule: &Rule, value: &str) -> bool {
        match *rule {
            Rule::Text {
                min_chars,
                max_chars,
                pattern,
            } => {
                let chars = value.chars().count();
                (min_chars..=max_chars).contains(&chars)
                    && pattern.is_none_or(|p| regex::Regex::new(p).unwrap().is_match(value))
            }
            Rule::OneOf(values) => values.contains(&value),
            Rule::Integer { min, max } => {
                value.parse::<i64>().is_ok_and(|n| (min..=max).contains(&n))
            }
            Rule::List { .. } | Rule::Objects { .. } => {
                unreachable!("lists are checked item by item")
            }
        }
    }

    /// Every sample the rule accepts, the parser accepts; for exact rules the converse too.
    fn agrees(rule: &Rule, exact: bool, parse: impl Fn(&str) -> bool) {
        let mut values = samples(rule);
        if let Rule::OneOf(names) = rule {
            values.extend(names.iter().map(|n| n.to_string()));
            values.extend(["", "ADMIN", "x"].map(String::from));
        }
        for value in values {
            let (declared, parsed) = (accepts(rule, &value), parse(&value));
            if exact {
                assert_eq!(declared, parsed, "{rule:?} and its parser on {value:?}");
            } else {
                assert!(
                    !declared || parsed,
                    "{rule:?} accepts {value:?}, the parser not"
                );
            }
        }
    }

    fn secret(value: &str) -> SecretString {
        SecretString::from(value.to_owned())
    }

    #[test]
    fn text_rules_agree_with_their_parsers() {
        agrees(&TENANT_NAME, true, |v| TenantName::parse(v).is_ok());
        agrees(&DISPLAY_NAME, true, |v| DisplayName::parse(v).is_ok());
        agrees(&EXTERNAL_ID, true, |v| ExternalId::parse(v).is_ok());
        agrees(&CLIENT_ID, true, |v| ClientId::parse(v).is_ok());
        agrees(&CLIENT_SECRET, true, |v| {
            ClientSecret::parse(&secret(v)).is_ok()
        });
        agrees(&REFRESH_TOKEN, true, |v| {
            RefreshToken::parse(&secret(v)).is_ok()
        });
        agrees(&ACCESS_TOKEN, true, looks_like_access_token);
        agrees(&SELLING_PARTNER_ID, true, |v| {
            SellingPartnerId::parse(v).is_ok()
        });
        agrees(&MARKETPLACE_ID, true, |v| {
            MarketplaceIds::parse(&[v.to_owned()]).is_ok()
        });
        agrees(&SOLUTION_ID, true, |v| SolutionId::parse(v).is_ok());
        agrees(&AMAZON_STATE, true, |v| AmazonState::parse(v).is_ok());
        agrees(&CURSOR, true, |v| Cursor::parse(v).is_ok());
        agrees(&TARGET_APPLICATION, true, |v| {
            let resource = ResourceInput {
                method: "GET",
                path: "/orders/v0/orders",
                data_elements: None,
            };
            ResourceSet::parse(&[resource], Some(v)).is_ok()
        });
        // Narrower than the parser on purpose (see `BROWSER_URL`).
        agrees(&BROWSER_URL, false, |v| BrowserUrl::parse(v).is_ok());
    }

    #[test]
    fn choices_agree_with_their_parsers() {
        agrees(&REGION, true, |v| Region::parse(v).is_ok());
        agrees(&SCOPE, true, |v| Scope::parse(v).is_ok());
        agrees(&SELLER_STATUS, true, |v| SellerStatus::parse(v).is_ok());
        agrees(&LINK_STATUS, true, |v| LinkStatus::parse(v).is_ok());
        agrees(&PARTNER, true, |v| Partner::parse(v).is_ok());
        agrees(&AUDIT_ACTOR, true, |v| AuditActor::parse(v).is_ok());
        agrees(&GRANTLESS_SCOPE, true, |v| GRANTLESS_SCOPES.contains(&v));
    }

    #[test]
    fn ranges_agree_with_their_parsers() {
        for n in [
            -1, 0, 1, 59, 60, 3000, 3001, 3650, 3651, 86_400, 86_401, 1000, 1001,
        ] {
            let text = n.to_string();
            assert_eq!(
                accepts(&LIMIT, &text),
                Limit::parse(Some(&text)).is_ok(),
                "limit {n}"
            );
            assert_eq!(
                accepts(&LINK_LIFETIME, &text),
                LinkLifetime::parse(Some(n)).is_ok(),
                "lifetime {n}"
            );
        }
    }

    #[test]
    fn lists_agree_with_their_parsers() {
        let ids = |n: usize| (0..n).map(|i| format!("M{i}")).collect::<Vec<_>>();
        assert!(MarketplaceIds::parse(&ids(MAX_MARKETPLACE_IDS)).is_ok());
        assert!(MarketplaceIds::parse(&ids(MAX_MARKETPLACE_IDS + 1)).is_err());
        assert!(MarketplaceIds::parse(&["A".into(), "A".into()]).is_err());
        let scopes = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(Scopes::parse(&scopes(&[])).is_err());
        assert!(Scopes::parse(&scopes(&["admin", "tokens", "audit"])).is_ok());
        assert!(Scopes::parse(&scopes(&["admin", "admin"])).is_err());
        let resources = |n: usize| {
            let resource = ResourceInput {
                method: "GET",
                path: "/orders/v0/orders",
                data_elements: None,
            };
            vec![resource; n]
        };
        let Rule::Objects {
            min_items,
            max_items,
        } = RESTRICTED_RESOURCES
        else {
            panic!("restricted resources: objects")
        };
        assert!(ResourceSet::parse(&resources(min_items - 1), None).is_err());
        assert!(ResourceSet::parse(&resources(min_items), None).is_ok());
        assert!(ResourceSet::parse(&resources(max_items), None).is_ok());
        assert!(ResourceSet::parse(&resources(max_items + 1), None).is_err());
        let Rule::List {
            min_items: 1,
            max_items: 3,
            unique: true,
            ..
        } = SCOPES
        else {
            panic!("scopes: 1 to 3, unique")
        };
    }
}
