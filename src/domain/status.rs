//! The states of the credentials the vault holds, as LWA's verdicts leave them.

use serde::Serialize;
use utoipa::ToSchema;

/// A seller's authorization: usable, or refused by LWA (`invalid_grant`) until its refresh token
/// is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SellerStatus {
    Active,
    AuthorizationRevoked,
}

impl SellerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::AuthorizationRevoked => "authorization_revoked",
        }
    }

    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "active" => Ok(Self::Active),
            "authorization_revoked" => Ok(Self::AuthorizationRevoked),
            _ => Err("must be \"active\" or \"authorization_revoked\"".into()),
        }
    }
}

/// An application's client credentials: usable, or refused by LWA (`invalid_client`) until its
/// client secret is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    Active,
    ClientCredentialsRejected,
}

impl ApplicationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::ClientCredentialsRejected => "client_credentials_rejected",
        }
    }

    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "active" => Ok(Self::Active),
            "client_credentials_rejected" => Ok(Self::ClientCredentialsRejected),
            _ => Err("must be \"active\" or \"client_credentials_rejected\"".into()),
        }
    }
}

/// The kinds of secret the vault seals, named in errors about them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    ClientSecret,
    RefreshToken,
    AccessToken,
}

impl CredentialKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::ClientSecret => "client secret",
            Self::RefreshToken => "refresh token",
            Self::AccessToken => "access token",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_stored_names() {
        for status in [SellerStatus::Active, SellerStatus::AuthorizationRevoked] {
            assert_eq!(SellerStatus::parse(status.as_str()), Ok(status));
        }
        for status in [
            ApplicationStatus::Active,
            ApplicationStatus::ClientCredentialsRejected,
        ] {
            assert_eq!(ApplicationStatus::parse(status.as_str()), Ok(status));
        }
        assert!(SellerStatus::parse("revoked").is_err());
    }
}
