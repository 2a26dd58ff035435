//! One exchange at LWA for a subject, one at a time across every replica, holding no database
//! connection while LWA answers:
//!
//! 1. take the subject's lease (`db::leases`, one statement), or learn that another replica
//!    holds it ([`Exchanged::Busy`]);
//! 2. read the credentials and `cached_token` again: another replica may have stored a token
//!    just before giving the lease back;
//! 3. exchange at LWA;
//! 4. in one short transaction: check that the credentials used are still the subject's (the
//!    fence: their rows are locked `for share`, so a replacement commits wholly before or after
//!    this check, never between it and the commit), record every attempt, and only if the
//!    credentials are still current store the token and remember LWA's verdict; record the
//!    delivery; give the lease back.
//!
//! When LWA answers `invalid_client` to the application's current secret and it has a previous
//! one that has not expired (kept after a rotation, see `workflows::credentials`), the exchange
//! tries that one too; each attempt's record says which secret it used, and the fence then checks
//! both secrets, so LWA's verdict on them is kept only if neither changed meanwhile.
//!
//! So a replacement of a refresh token or client secret always has the last word: an exchange
//! that started with the old one never stores its token nor marks the new one revoked. A lease
//! left by a replica that died runs out after the longest an exchange can take.
//!
//! A new token is recorded as delivered only in the same commit as its issue. (The broker awaits
//! [`run`] in the request's own task: actix does not drop a handler's future when its client
//! goes away, and a graceful shutdown waits longer than LWA's retry budget.)

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::{Connection, PgConnection, PgExecutor, PgPool};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::cache::CachedToken;
use super::subject::{Requester, Source, Subject, Verdict, Want};
use crate::amazon::lwa_client::{Attempt, Failure, Grant, LwaClient};
use crate::crypto::{DataKey, Place};
use crate::db::cached_tokens::{self as store, CachedTokenRow};
use crate::db::leases;
use crate::db::token_trail::{self, NewTokenDelivery, NewTokenIssue};
use crate::domain::{ApplicationStatus, CredentialKind, SellerStatus};
use crate::invalidation::{self, Invalidation};
use crate::keystore::{places, KeyStore};
use crate::metrics;
use crate::workflows::Error;

/// The credentials to exchange with, still sealed, and the token stored for the subject, if any.
pub(super) struct Credentials {
    pub(super) application_id: Uuid,
    pub(super) client_id: String,
    sealed_client_secret: Vec<u8>,
    /// The previous client secret, while it has not expired.
    sealed_previous_client_secret: Option<Vec<u8>>,
    sealed_refresh_token: Option<Vec<u8>>,
    pub(super) stored: Option<CachedTokenRow>,
}

/// The subject's credentials and stored token as `conn` sees them, if the caller may use them.
pub(super) async fn credentials(
    conn: impl PgExecutor<'_>,
    who: &Requester,
    subject: &Subject<'_>,
) -> Result<Credentials, Error> {
    let credentials = match subject {
        Subject::Seller {
            seller_id,
            client_id,
        } => {
            let grant = store::load_seller_grant(conn, who.tenant_id, *seller_id)
                .await?
                .ok_or_else(|| subject.not_found())?;
            if grant.tenant_disabled {
                return Err(Error::TenantDisabled);
            }
            if client_id.is_some_and(|id| id != grant.client_id) {
                return Err(Error::ClientMismatch);
            }
            if grant.seller_status == SellerStatus::AuthorizationRevoked {
                return Err(Error::SellerRevoked);
            }
            if grant.application_status == ApplicationStatus::ClientCredentialsRejected {
                return Err(Error::ClientRejected);
            }
            Credentials {
                application_id: grant.application_id,
                client_id: grant.client_id,
                sealed_client_secret: grant.sealed_client_secret,
                sealed_previous_client_secret: grant.sealed_previous_client_secret,
                sealed_refresh_token: Some(grant.sealed_refresh_token),
                stored: stored_row(
                    grant.cached_token,
                    grant.cached_issue_id,
                    grant.cached_issued_at,
                    grant.cached_expires_at,
                ),
            }
        }
        Subject::Grantless {
            application_id,
            cache_key,
            ..
        } => {
            let grant =
                store::load_application_grant(conn, who.tenant_id, *application_id, *cache_key)
                    .await?
                    .ok_or_else(|| subject.not_found())?;
            if grant.tenant_disabled {
                return Err(Error::TenantDisabled);
            }
            if grant.application_status == ApplicationStatus::ClientCredentialsRejected {
                return Err(Error::ClientRejected);
            }
            Credentials {
                application_id: *application_id,
                client_id: grant.client_id,
                sealed_client_secret: grant.sealed_client_secret,
                sealed_previous_client_secret: grant.sealed_previous_client_secret,
                sealed_refresh_token: None,
                stored: stored_row(
                    grant.cached_token,
                    grant.cached_issue_id,
                    grant.cached_issued_at,
                    grant.cached_expires_at,
                ),
            }
        }
    };
    Ok(credentials)
}

/// Whether a stored token may be handed out for `want`, asked for at `requested_at`, when tokens
/// with `threshold` seconds or less left are refreshed.
pub(super) fn usable(
    stored: &CachedTokenRow,
    want: Want,
    requested_at: DateTime<Utc>,
    threshold: i64,
) -> bool {
    if want.force_refresh {
        // Minted while this caller waited for the flight: as fresh as a forced exchange.
        return stored.issued_at >= requested_at;
    }
    (stored.expires_at - Utc::now()).num_seconds() > threshold
}

/// One exchange to run.
pub(super) struct Job<'a> {
    pub(super) pool: &'a PgPool,
    pub(super) lwa: &'a LwaClient,
    /// Bounds the exchanges in flight in this process.
    pub(super) slots: &'a Semaphore,
    /// The tenant's, loaded beforehand.
    pub(super) data_key: &'a DataKey,
    pub(super) who: &'a Requester,
    pub(super) subject: Subject<'a>,
    pub(super) want: Want,
    pub(super) requested_at: DateTime<Utc>,
    pub(super) threshold: i64,
    /// How long the lease lasts: longer than the longest exchange.
    pub(super) lease: Duration,
    /// Whether the new token goes to `who` (and so is recorded as delivered), or only into the
    /// caches (a refresh ahead of expiry).
    pub(super) deliver: bool,
}

/// How an exchange ended (all of it committed).
pub(super) enum Exchanged {
    /// Another replica holds the subject's lease: its exchange is in flight.
    Busy,
    /// Another replica stored a usable token meanwhile: no exchange.
    Stored {
        credentials: Credentials,
        stored: CachedTokenRow,
    },
    /// A new token; `delivery` says whether its delivery was recorded (else it must not leave).
    Issued {
        token: CachedToken,
        delivery: Result<(), Error>,
    },
    /// The credentials were replaced (or the subject deleted) while LWA answered: the attempts
    /// are recorded, but neither the token nor LWA's verdict is kept.
    Superseded,
    /// LWA's final verdict (`invalid_grant`, …), already remembered where it applies.
    Refused { verdict: Verdict },
    /// LWA stayed unavailable for the whole retry budget.
    Unavailable { credentials: Credentials },
}

/// Runs `job` to its end.
pub(super) async fn run(job: Job<'_>) -> Result<Exchanged, Error> {
    let _slot = job
        .slots
        .acquire()
        .await
        .map_err(|_| anyhow::anyhow!("the exchange semaphore was closed"))?;
    let (key, lease_id) = (job.subject.cache_key(), Uuid::new_v4());
    if !leases::take_lease(job.pool, key, job.who.tenant_id, lease_id, job.lease).await? {
        return Ok(Exchanged::Busy);
    }
    let result = holding_the_lease(&job, lease_id).await;
    if result.is_err() {
        // Give the lease back rather than make others wait for it to run out.
        if let Ok(mut conn) = job.pool.acquire().await {
            let _ = leases::release_lease(&mut conn, key, lease_id).await;
        }
    }
    result
}

async fn holding_the_lease(job: &Job<'_>, lease_id: Uuid) -> Result<Exchanged, Error> {
    let Job {
        pool,
        lwa,
        data_key,
        who,
        subject,
        want,
        requested_at,
        threshold,
        deliver,
        ..
    } = *job;
    let credentials = credentials(pool, who, &subject).await?;
    if let Some(stored) = credentials
        .stored
        .as_ref()
        .filter(|s| usable(s, want, requested_at, threshold))
    {
        let stored = stored.clone();
        let mut conn = pool.acquire().await?;
        leases::release_lease(&mut conn, subject.cache_key(), lease_id).await?;
        return Ok(Exchanged::Stored {
            credentials,
            stored,
        });
    }

    let client_secret = open_secret(
        data_key,
        &places::client_secret(who.tenant_id, credentials.application_id),
        &credentials.sealed_client_secret,
        CredentialKind::ClientSecret,
    )?;
    let refresh_token = match (&credentials.sealed_refresh_token, subject.seller_id()) {
        (Some(sealed), Some(seller_id)) => Some(open_secret(
            data_key,
            &places::refresh_token(who.tenant_id, seller_id),
            sealed,
            CredentialKind::RefreshToken,
        )?),
        _ => None,
    };
    let grant = match (&refresh_token, subject.scope()) {
        (Some(token), _) => Grant::RefreshToken(token),
        (None, Some(scope)) => Grant::ClientCredentials { scope },
        (None, None) => unreachable!("a subject has a refresh token or a scope"),
    };
    // No connection is held while LWA answers.
    let mut attempts: Vec<(SecretUsed, Attempt)> = lwa
        .exchange(&credentials.client_id, &client_secret, &grant)
        .await
        .into_iter()
        .map(|attempt| (SecretUsed::Current, attempt))
        .collect();
    let mut previous_used = None;
    if let Some(sealed_previous) = credentials
        .sealed_previous_client_secret
        .as_deref()
        .filter(|_| client_refused(&attempts))
    {
        let previous = open_secret(
            data_key,
            &places::previous_client_secret(who.tenant_id, credentials.application_id),
            sealed_previous,
            CredentialKind::ClientSecret,
        )?;
        let more = lwa
            .exchange(&credentials.client_id, &previous, &grant)
            .await;
        attempts.extend(more.into_iter().map(|a| (SecretUsed::Previous, a)));
        previous_used = Some(sealed_previous);
    }

    let mut tx = pool.begin().await?;
    let current = store::credentials_still_current(
        &mut tx,
        subject.seller_id(),
        credentials.application_id,
        credentials.sealed_refresh_token.as_deref(),
        &credentials.sealed_client_secret,
        previous_used,
    )
    .await?;
    let recording = Recording {
        who,
        subject: &subject,
        credentials: &credentials,
        grant: &grant,
        data_key,
        current,
    };
    let outcome = record_attempts(&mut tx, &recording, &attempts).await?;
    let exchanged = match outcome {
        Outcome::Token(token) if deliver => {
            // Its delivery goes in the exchange's own commit.
            let row = delivery_row(who, &subject, &token, Source::Lwa);
            let delivery = record_delivery(&mut tx, &row).await?;
            Exchanged::Issued { token, delivery }
        }
        Outcome::Token(token) => Exchanged::Issued {
            token,
            delivery: Ok(()),
        },
        Outcome::Superseded => Exchanged::Superseded,
        Outcome::Refused(verdict) => Exchanged::Refused { verdict },
        Outcome::Unavailable => Exchanged::Unavailable { credentials },
    };
    leases::release_lease(&mut tx, subject.cache_key(), lease_id).await?;
    tx.commit().await?;
    Ok(exchanged)
}

/// Which of the application's client secrets an attempt used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecretUsed {
    Current,
    Previous,
}

impl SecretUsed {
    fn as_str(self) -> &'static str {
        match self {
            SecretUsed::Current => "current",
            SecretUsed::Previous => "previous",
        }
    }
}

/// LWA's last answer refused the client secret itself.
fn client_refused(attempts: &[(SecretUsed, Attempt)]) -> bool {
    attempts.last().is_some_and(|(_, attempt)| {
        matches!(&attempt.result, Err(Failure::Rejected(code)) if code == "invalid_client")
    })
}

enum Outcome {
    Token(CachedToken),
    Superseded,
    Refused(Verdict),
    Unavailable,
}

/// What every attempt's record shares.
struct Recording<'a> {
    who: &'a Requester,
    subject: &'a Subject<'a>,
    credentials: &'a Credentials,
    grant: &'a Grant<'a>,
    data_key: &'a DataKey,
    /// The credentials used are still the subject's (the fence).
    current: bool,
}

/// Writes a `token_issue` row per attempt and, if the credentials are still current, what the
/// outcome implies, in `conn`'s transaction. Only the last attempt's refusal is a verdict (a
/// refusal of the current secret before a try of the previous one is not).
async fn record_attempts(
    conn: &mut PgConnection,
    recording: &Recording<'_>,
    attempts: &[(SecretUsed, Attempt)],
) -> Result<Outcome, Error> {
    let Recording {
        who,
        subject,
        credentials,
        grant,
        data_key,
        current,
    } = *recording;
    let mut outcome = Outcome::Unavailable;
    for (index, (secret_used, attempt)) in attempts.iter().enumerate() {
        let last = index + 1 == attempts.len();
        let id = Uuid::now_v7();
        metrics::lwa_exchange(attempt.outcome(), attempt.latency);
        let mut issue = NewTokenIssue {
            id,
            tenant_id: who.tenant_id,
            seller_id: subject.seller_id(),
            application_id: credentials.application_id,
            grant_type: grant.grant_type(),
            scope: subject.scope(),
            error_code: None,
            issued_at: attempt.started_at,
            expires_at: None,
            lwa_latency_ms: attempt.latency_ms(),
            token_fingerprint: None,
            api_key_id: who.api_key_id,
            request_id: &who.request_id,
            client_secret: Some(secret_used.as_str()),
        };
        match &attempt.result {
            Ok(token) => {
                let fingerprint = data_key.token_fingerprint(token.access_token.expose_secret());
                // (LwaClient accepts lifetimes of at most a day.)
                let expires_at = attempt.expires_at(token);
                issue.expires_at = Some(expires_at);
                issue.token_fingerprint = Some(&fingerprint);
                if !current {
                    token_trail::insert_token_issue(&mut *conn, issue).await?;
                    outcome = Outcome::Superseded;
                    continue;
                }
                let sealed = KeyStore::seal_with(
                    data_key,
                    &places::cached_token(who.tenant_id, subject.cache_key()),
                    &token.access_token,
                );
                store::record_issued_token(
                    &mut *conn,
                    &issue,
                    subject.cache_key(),
                    &sealed,
                    expires_at,
                )
                .await?;
                outcome = Outcome::Token(CachedToken {
                    tenant_id: who.tenant_id,
                    application_id: credentials.application_id,
                    client_id: credentials.client_id.clone(),
                    access_token: token.access_token.clone(),
                    issue_id: id,
                    issued_at: attempt.started_at,
                    expires_at,
                });
            }
            Err(failure) => {
                issue.error_code = Some(failure.code());
                token_trail::insert_token_issue(&mut *conn, issue).await?;
                if let Failure::Rejected(code) = failure {
                    if !last {
                        continue; // the previous secret was tried next
                    }
                    if !current {
                        outcome = Outcome::Superseded;
                        continue;
                    }
                    let verdict = Verdict::of(code, subject, credentials.application_id);
                    remember(conn, &verdict).await?;
                    outcome = Outcome::Refused(verdict);
                }
            }
        }
    }
    Ok(outcome)
}

/// LWA's verdict on a credential is remembered until the credential is replaced, and every
/// replica is told.
async fn remember(conn: &mut PgConnection, verdict: &Verdict) -> Result<(), sqlx::Error> {
    match *verdict {
        Verdict::SellerRevoked { seller_id } => {
            store::mark_seller_revoked(&mut *conn, seller_id).await?;
            invalidation::announce(conn, Invalidation::Seller(seller_id)).await
        }
        Verdict::ClientRejected { application_id } => {
            store::mark_application_rejected(&mut *conn, application_id).await?;
            invalidation::announce(conn, Invalidation::Application(application_id)).await
        }
        Verdict::Refused(_) => Ok(()),
    }
}

/// Records a delivery in `conn`'s transaction, under a savepoint: if the row cannot be written,
/// the token is not delivered, but the rest of the transaction (the issue's record) still
/// commits. A tenant disabled since the credentials were read gets no token either.
pub(super) async fn record_delivery(
    conn: &mut PgConnection,
    row: &NewTokenDelivery,
) -> Result<Result<(), Error>, sqlx::Error> {
    let mut savepoint = conn.begin().await?;
    match token_trail::insert_token_delivery(&mut savepoint, row).await {
        Ok(written) => {
            savepoint.commit().await?;
            Ok(if written {
                Ok(())
            } else {
                Err(Error::TenantDisabled)
            })
        }
        Err(err) => {
            savepoint.rollback().await?;
            tracing::error!(error = %err, "could not write a delivery record");
            Ok(Err(Error::RecordUnwritten(err.to_string())))
        }
    }
}

fn open_secret(
    data_key: &DataKey,
    place: &Place,
    sealed: &[u8],
    kind: CredentialKind,
) -> Result<SecretString, Error> {
    KeyStore::open_with(data_key, place, sealed).map_err(|err| Error::secret(err, kind))
}

/// The delivery record of `token`, handed to `who` now.
pub(super) fn delivery_row(
    who: &Requester,
    subject: &Subject<'_>,
    token: &CachedToken,
    source: Source,
) -> NewTokenDelivery {
    NewTokenDelivery {
        id: Uuid::now_v7(),
        tenant_id: who.tenant_id,
        issue_id: token.issue_id,
        seller_id: subject.seller_id(),
        application_id: token.application_id,
        // (Deliveries are recorded for callers with a key only; see `Via::Internal`.)
        api_key_id: who.api_key_id.unwrap_or_default(),
        source: source.as_str(),
        via: who.via.as_str(),
        kind: "access_token",
        delivered_at: Utc::now(),
        request_id: who.request_id.clone(),
        client_ip: who.client_ip.clone(),
        proxy: None,
    }
}

fn stored_row(
    sealed: Option<Vec<u8>>,
    issue_id: Option<Uuid>,
    issued_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
) -> Option<CachedTokenRow> {
    Some(CachedTokenRow {
        sealed_token: sealed?,
        issue_id: issue_id?,
        issued_at: issued_at?,
        expires_at: expires_at?,
    })
}
