//! The long-lived secrets the vault keeps: applications with their LWA client secrets, and
//! sellers with their refresh tokens.
//!
//! Every change to a credential follows one order: seal the new secret outside the transaction
//! ([`seal`]); write it (its row stays locked until the commit); drop the tokens it minted
//! ([`drop_minted_tokens`]); then `workflows::commit_change`: the audit event, the notice to
//! other replicas, the commit, this replica's caches. An exchange in flight with the old secret
//! cannot undo it: before it stores anything it checks, under a row lock, that the secret it used
//! is still the current one (see `workflows::tokens`).

pub mod applications;
pub mod secret_lifecycle;
pub mod sellers;

use secrecy::SecretString;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Error, Result, Vault};
use crate::crypto::Place;
use crate::db::{self, cached_tokens};
use crate::domain::CredentialKind;
use crate::invalidation::Invalidation;
use crate::keystore::places;

/// A unique constraint that a change broke, in words for the caller.
fn conflict(err: sqlx::Error, rules: &[(&str, &str)]) -> Error {
    match db::violated_unique_constraint(&err) {
        Some(name) => match rules.iter().find(|(constraint, _)| *constraint == name) {
            Some((_, message)) => Error::Conflict((*message).to_owned()),
            None => err.into(),
        },
        None => err.into(),
    }
}

fn not_found(kind: &str, id: Uuid) -> Error {
    Error::not_found(format_args!("{kind} {id}"))
}

/// A credential, by what holds it.
#[derive(Debug, Clone, Copy)]
enum Credential {
    ClientSecret { application_id: Uuid },
    RefreshToken { seller_id: Uuid },
}

impl Credential {
    fn kind(self) -> CredentialKind {
        match self {
            Self::ClientSecret { .. } => CredentialKind::ClientSecret,
            Self::RefreshToken { .. } => CredentialKind::RefreshToken,
        }
    }

    fn holder(self) -> (&'static str, Uuid) {
        match self {
            Self::ClientSecret { application_id } => ("application", application_id),
            Self::RefreshToken { seller_id } => ("seller", seller_id),
        }
    }

    /// Where it is stored: the associated data its ciphertext is bound to.
    fn place(self, tenant_id: Uuid) -> Place {
        match self {
            Self::ClientSecret { application_id } => {
                places::client_secret(tenant_id, application_id)
            }
            Self::RefreshToken { seller_id } => places::refresh_token(tenant_id, seller_id),
        }
    }

    /// What caches hold that it made (its tokens, its state).
    fn invalidation(self) -> Invalidation {
        match self {
            Self::ClientSecret { application_id } => Invalidation::Application(application_id),
            Self::RefreshToken { seller_id } => Invalidation::Seller(seller_id),
        }
    }

    fn not_found(self) -> Error {
        let (kind, id) = self.holder();
        not_found(kind, id)
    }
}

/// Seals a new secret for `credential` of `tenant_id` (before any transaction begins: sealing
/// may read the tenant's data key from the database).
async fn seal(
    vault: &Vault,
    tenant_id: Uuid,
    credential: Credential,
    secret: &SecretString,
) -> Result<Vec<u8>> {
    vault
        .keystore
        .seal(&credential.place(tenant_id), secret)
        .await
        .map_err(|err| Error::secret(err, credential.kind()))
}

/// Forgets the stored tokens `credential` minted: none of them is handed out again.
async fn drop_minted_tokens(conn: &mut PgConnection, credential: Credential) -> Result<()> {
    match credential {
        Credential::ClientSecret { application_id } => {
            cached_tokens::drop_grantless_tokens_of_application(conn, application_id).await?
        }
        Credential::RefreshToken { seller_id } => {
            cached_tokens::drop_cached_tokens_of_seller(conn, seller_id).await?
        }
    }
    Ok(())
}
