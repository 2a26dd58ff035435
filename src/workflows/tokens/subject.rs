//! What the broker works with: whose token ([`Subject`]), who asks ([`Requester`]), what they
//! need of it ([`Want`]), what they get ([`Delivered`]), and what LWA's refusals mean
//! ([`Verdict`]).

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use uuid::Uuid;

use crate::workflows::Error;

/// What a token is for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Subject<'a> {
    /// A seller's token; with `client_id`, the seller's application must have that client id.
    Seller {
        seller_id: Uuid,
        client_id: Option<&'a str>,
    },
    /// An application's grantless token for `scope`.
    Grantless {
        application_id: Uuid,
        scope: &'a str,
        cache_key: Uuid,
    },
}

impl Subject<'_> {
    /// The key of its token in the caches and in `cached_token`: the seller's id, or a name-based
    /// id of the application and scope.
    pub(super) fn cache_key(&self) -> Uuid {
        match self {
            Subject::Seller { seller_id, .. } => *seller_id,
            Subject::Grantless { cache_key, .. } => *cache_key,
        }
    }

    pub(super) fn seller_id(&self) -> Option<Uuid> {
        match self {
            Subject::Seller { seller_id, .. } => Some(*seller_id),
            Subject::Grantless { .. } => None,
        }
    }

    pub(super) fn scope(&self) -> Option<&str> {
        match self {
            Subject::Seller { .. } => None,
            Subject::Grantless { scope, .. } => Some(scope),
        }
    }

    pub(super) fn client_id(&self) -> Option<&str> {
        match self {
            Subject::Seller { client_id, .. } => *client_id,
            Subject::Grantless { .. } => None,
        }
    }

    /// The subject does not exist for the caller (or was deleted meanwhile).
    pub(super) fn not_found(&self) -> Error {
        match self {
            Subject::Seller { seller_id, .. } => {
                Error::not_found(format_args!("seller {seller_id}"))
            }
            Subject::Grantless { application_id, .. } => {
                Error::not_found(format_args!("application {application_id}"))
            }
        }
    }
}

/// A subject that owns its parts, for work that outlives the request that asked (a refresh
/// ahead of expiry). It no longer checks a caller's client id: that was checked already.
#[derive(Debug, Clone)]
pub(super) enum OwnedSubject {
    Seller {
        seller_id: Uuid,
    },
    Grantless {
        application_id: Uuid,
        scope: String,
        cache_key: Uuid,
    },
}

impl OwnedSubject {
    pub(super) fn of(subject: &Subject<'_>) -> Self {
        match *subject {
            Subject::Seller { seller_id, .. } => Self::Seller { seller_id },
            Subject::Grantless {
                application_id,
                scope,
                cache_key,
            } => Self::Grantless {
                application_id,
                scope: scope.to_owned(),
                cache_key,
            },
        }
    }

    pub(super) fn subject(&self) -> Subject<'_> {
        match self {
            Self::Seller { seller_id } => Subject::Seller {
                seller_id: *seller_id,
                client_id: None,
            },
            Self::Grantless {
                application_id,
                scope,
                cache_key,
            } => Subject::Grantless {
                application_id: *application_id,
                scope,
                cache_key: *cache_key,
            },
        }
    }
}

/// The cache key of a grantless token: a name-based UUID of the application and scope.
pub fn grantless_cache_key(application_id: Uuid, scope: &str) -> Uuid {
    Uuid::new_v5(&application_id, scope.as_bytes())
}

/// Which endpoint a token leaves through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    V1,
    LwaCompat,
    /// The vault itself uses the token (a rotation at Amazon): it never leaves the vault, so no
    /// delivery is recorded (its exchange is, as every exchange).
    Internal,
    /// The SP-API proxy uses the token for a caller's call: it never leaves the vault either,
    /// and the proxy records the delivery itself, with the call and Amazon's status, once Amazon
    /// has answered (`workflows::proxy`).
    Proxy,
}

impl Via {
    /// Whether the broker records the delivery of the tokens it hands out (the token leaves
    /// through this endpoint), or the one asking records it, or nobody does.
    pub(super) fn broker_records(self) -> bool {
        match self {
            Via::V1 | Via::LwaCompat => true,
            Via::Internal | Via::Proxy => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Via::V1 => "v1",
            Via::LwaCompat => "lwa_compat",
            Via::Internal => "internal",
            Via::Proxy => "proxy",
        }
    }
}

/// Where a delivered token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Lwa,
    /// A Restricted Data Token fresh from SP-API's Tokens API.
    SpApi,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cache => "cache",
            Source::Lwa => "lwa",
            Source::SpApi => "sp_api",
        }
    }
}

/// Who asks, for the record.
#[derive(Debug, Clone)]
pub struct Requester {
    pub tenant_id: Uuid,
    /// `None` only for the vault's own requests with no key behind them (a background task).
    pub api_key_id: Option<Uuid>,
    pub request_id: String,
    pub client_ip: String,
    pub via: Via,
}

impl Requester {
    /// The vault itself, for `tenant_id`, on behalf of `api_key_id` if a key asked.
    pub fn internal(tenant_id: Uuid, api_key_id: Option<Uuid>, request_id: &str) -> Self {
        Self {
            tenant_id,
            api_key_id,
            request_id: request_id.to_owned(),
            client_ip: String::new(),
            via: Via::Internal,
        }
    }
}

/// What the caller needs of the token.
#[derive(Debug, Clone, Copy, Default)]
pub struct Want {
    /// Seconds of life the token must have left.
    pub min_ttl_seconds: i64,
    /// Exchange even if a fresh token is cached.
    pub force_refresh: bool,
}

/// A token handed out (and recorded, unless the requester records its own use of it): a
/// seller's or grantless access token, or a Restricted Data Token.
pub struct Delivered {
    /// The token itself; either kind goes in `x-amz-access-token`.
    pub token: SecretString,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub source: Source,
    pub issue_id: Uuid,
}

impl Delivered {
    /// Seconds of life left now (never negative): the `expires_in` both endpoints answer.
    pub fn expires_in(&self) -> i64 {
        (self.expires_at - Utc::now()).num_seconds().max(0)
    }
}

/// What LWA's final refusal of an exchange means for the credentials. The exchange remembers it
/// in the database (until the credential is replaced), the broker in its memory and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// `invalid_grant` for a seller: its refresh token was revoked.
    SellerRevoked { seller_id: Uuid },
    /// `invalid_client` or `unauthorized_client`: the application's client credentials.
    ClientRejected { application_id: Uuid },
    /// Any other refusal (a bad scope…): nothing to remember.
    Refused(String),
}

impl Verdict {
    pub(super) fn of(code: &str, subject: &Subject<'_>, application_id: Uuid) -> Self {
        match (code, subject.seller_id()) {
            ("invalid_grant", Some(seller_id)) => Self::SellerRevoked { seller_id },
            ("invalid_client" | "unauthorized_client", _) => {
                Self::ClientRejected { application_id }
            }
            _ => Self::Refused(code.to_owned()),
        }
    }

    /// The caller's answer.
    pub(super) fn error(&self) -> Error {
        match self {
            Self::SellerRevoked { .. } => Error::SellerRevoked,
            Self::ClientRejected { .. } => Error::ClientRejected,
            Self::Refused(code) => Error::LwaRefused(code.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_grant_revokes_a_seller_but_not_a_grantless_token() {
        let (seller_id, application_id) = (Uuid::now_v7(), Uuid::now_v7());
        let seller = Subject::Seller {
            seller_id,
            client_id: None,
        };
        let grantless = Subject::Grantless {
            application_id,
            scope: "sellingpartnerapi::notifications",
            cache_key: grantless_cache_key(application_id, "sellingpartnerapi::notifications"),
        };
        assert_eq!(
            Verdict::of("invalid_grant", &seller, application_id),
            Verdict::SellerRevoked { seller_id }
        );
        assert_eq!(
            Verdict::of("invalid_grant", &grantless, application_id),
            Verdict::Refused("invalid_grant".into())
        );
    }

    #[test]
    fn invalid_client_rejects_the_application_whoever_asked() {
        let application_id = Uuid::now_v7();
        let seller = Subject::Seller {
            seller_id: Uuid::now_v7(),
            client_id: None,
        };
        for code in ["invalid_client", "unauthorized_client"] {
            assert_eq!(
                Verdict::of(code, &seller, application_id),
                Verdict::ClientRejected { application_id }
            );
        }
        assert_eq!(
            Verdict::of("invalid_scope", &seller, application_id),
            Verdict::Refused("invalid_scope".into())
        );
    }
}
