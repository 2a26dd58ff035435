//! The one error of the workflow layer. Handlers turn it into an answer in one place each:
//! problem+json (`error::ApiError`) and Login with Amazon's shape (`error::lwa`).

use crate::domain::CredentialKind;
use crate::keystore::SecretError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The resource does not exist, or is another tenant's: the same answer. The message says
    /// what was not found (`"seller 7c0e… not found"`).
    #[error("{0}")]
    NotFound(String),
    /// A uniqueness rule or a rule about what may be changed; the message is for people.
    #[error("{0}")]
    Conflict(String),
    /// A value that parsed but does not fit what it refers to (a field of a `422`).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the tenant is disabled")]
    TenantDisabled,
    /// The caller named another client id than the seller's application's.
    #[error("the client id is not the seller's application's")]
    ClientMismatch,
    #[error("the seller's authorization was revoked")]
    SellerRevoked,
    #[error("the application's client credentials were rejected")]
    ClientRejected,
    #[error("the stored {} cannot be decrypted in its place", .0.label())]
    Unreadable(CredentialKind),
    /// LWA refused the request for a reason that is not the credentials' fault (a bad scope…).
    #[error("LWA refused the exchange: {0}")]
    LwaRefused(String),
    #[error("LWA is unavailable")]
    Upstream,
    /// SP-API refused the call (a 4xx), with Amazon's errors.
    #[error("SP-API refused the call with status {status}")]
    SpApiRefused {
        status: u16,
        errors: Vec<crate::amazon::sp_api::SpApiError>,
    },
    /// Amazon allows this call so often only; try again after this many seconds.
    #[error("{detail}")]
    TooSoon {
        detail: &'static str,
        retry_after_secs: u64,
    },
    /// SP-API stayed unavailable (429, 5xx, timeouts) for the whole retry budget.
    #[error("SP-API is unavailable: {0}")]
    SpApiUnavailable(String),
    #[error("the token's record could not be written: {0}")]
    RecordUnwritten(String),
    /// The tenant's data key cannot be opened by this process (its master keys are wrong).
    #[error("the tenant's secrets cannot be opened here")]
    KeysUnavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    /// A failure to seal or open `kind`.
    pub fn secret(err: SecretError, kind: CredentialKind) -> Self {
        match err {
            SecretError::Unreadable => Self::Unreadable(kind),
            SecretError::NoDataKey => Self::NotFound("the tenant no longer exists".into()),
            err @ SecretError::UnknownMasterKey(_) => Self::KeysUnavailable(err.into()),
            SecretError::Database(err) => Self::Database(err),
            SecretError::Other(err) => Self::KeysUnavailable(err),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        Self::Database(err)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
