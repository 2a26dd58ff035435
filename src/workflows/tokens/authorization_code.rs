//! A seller's consent turned into credentials: one exchange of an `authorization_code` at LWA,
//! recorded like every other exchange (a `token_issue` row per attempt) and, once the seller it
//! made is stored, with its access token sealed in `cached_token` like the broker's own.

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::amazon::lwa_client::{Attempt, Failure};
use crate::crypto::DataKey;
use crate::db::cached_tokens as store;
use crate::db::token_trail::{self, NewTokenIssue};
use crate::keystore::{places, KeyStore};
use crate::metrics;
use crate::workflows::Error;

/// The attempts of one code exchange, not recorded yet.
pub struct CodeExchange {
    pub(super) attempts: Vec<Attempt>,
}

/// How a code exchange ended.
pub enum CodeOutcome<'a> {
    /// LWA granted the seller's refresh token.
    Granted { refresh_token: &'a SecretString },
    /// LWA's final verdict, such as `invalid_grant`.
    Refused(&'a str),
    /// LWA stayed unavailable for the whole retry budget.
    Unavailable,
}

/// Where the records of a code exchange go.
pub struct CodeRecord<'a> {
    pub tenant_id: Uuid,
    pub application_id: Uuid,
    /// The seller the exchange made (or renewed); `None` when it made none.
    pub seller_id: Option<Uuid>,
    pub request_id: &'a str,
}

impl CodeExchange {
    pub fn outcome(&self) -> CodeOutcome<'_> {
        match self.attempts.last().map(|a| &a.result) {
            Some(Ok(token)) => match &token.refresh_token {
                Some(refresh_token) => CodeOutcome::Granted { refresh_token },
                None => CodeOutcome::Unavailable,
            },
            Some(Err(Failure::Rejected(code))) => CodeOutcome::Refused(code),
            Some(Err(Failure::Transient(_))) | None => CodeOutcome::Unavailable,
        }
    }

    /// Writes a `token_issue` row per attempt (`grant_type` `authorization_code`, no API key)
    /// in `conn`'s transaction; with a seller, the access token it brought is stored (sealed)
    /// as that seller's cached token.
    pub async fn record(
        &self,
        conn: &mut PgConnection,
        data_key: &DataKey,
        record: &CodeRecord<'_>,
    ) -> Result<(), Error> {
        for attempt in &self.attempts {
            metrics::lwa_exchange(attempt.outcome(), attempt.latency);
            let mut issue = NewTokenIssue {
                id: Uuid::now_v7(),
                tenant_id: record.tenant_id,
                seller_id: record.seller_id,
                application_id: record.application_id,
                grant_type: "authorization_code",
                scope: None,
                error_code: None,
                issued_at: attempt.started_at,
                expires_at: None,
                lwa_latency_ms: attempt.latency_ms(),
                token_fingerprint: None,
                api_key_id: None,
                request_id: record.request_id,
                // The code is exchanged with the application's current secret.
                client_secret: Some("current"),
                resource_set_fingerprint: None,
            };
            match &attempt.result {
                Ok(token) => {
                    let fingerprint =
                        data_key.token_fingerprint(token.access_token.expose_secret());
                    let expires_at = attempt.expires_at(token);
                    issue.expires_at = Some(expires_at);
                    issue.token_fingerprint = Some(&fingerprint);
                    match record.seller_id {
                        Some(seller_id) => {
                            let sealed = KeyStore::seal_with(
                                data_key,
                                &places::cached_token(record.tenant_id, seller_id),
                                &token.access_token,
                            );
                            store::record_issued_token(
                                &mut *conn, &issue, seller_id, &sealed, expires_at,
                            )
                            .await?;
                        }
                        None => token_trail::insert_token_issue(&mut *conn, issue).await?,
                    }
                }
                Err(failure) => {
                    issue.error_code = Some(failure.code());
                    token_trail::insert_token_issue(&mut *conn, issue).await?;
                }
            }
        }
        Ok(())
    }
}
