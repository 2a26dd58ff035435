//! One exchange at LWA for a subject, one at a time across every replica, holding no database
//! connection while LWA answers:
//!
//! 1. read the credentials and stored token ([`read`], one statement), which takes the subject's
//!    lease (`db::leases`) in the same statement if the stored token will not do; or learn that
//!    another replica holds it ([`Next::Busy`]);
//! 2. only if another exchange gave the lease back between the read's snapshot and the lease
//!    (the lease's generation moved), read them again: that replica may have stored a token;
//! 3. exchange at LWA;
//! 4. record it: check that the credentials used are still the subject's (the fence: their rows
//!    are locked `for share`, so a replacement commits wholly before or after this check, never
//!    between it and the commit), record every attempt, and only if the credentials are still
//!    current store the token and remember LWA's verdict; record the delivery; give the lease
//!    back. An exchange that got a token on its first attempt does all of it in one statement
//!    ([`record_new_token`], which a Tokens API call for a Restricted Data Token shares: see
//!    `restricted::mint`).
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

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::cache::CachedToken;
use super::subject::{Requester, Source, Subject, Verdict, Want};
use crate::amazon::lwa_client::{Attempt, Failure, Grant, LwaClient};
use crate::crypto::{DataKey, Place};
use crate::db::cached_tokens::{
    self as store, CachedTokenRow, Fence, Freshness, GrantRead, NewToken,
};
use crate::db::token_trail::{self, NewTokenDelivery, NewTokenIssue};
use crate::db::{self, leases, Sealed};
use crate::domain::{ApplicationStatus, CredentialKind, SellerStatus};
use crate::invalidation::{self, Invalidation};
use crate::keystore::{places, KeyStore, SecretError};
use crate::metrics;
use crate::workflows::Error;

/// The credentials to exchange with, still sealed, and the token stored for the subject, if any.
#[derive(Clone)]
pub(super) struct Credentials {
    pub(super) application_id: Uuid,
    pub(super) client_id: String,
    sealed_client_secret: Sealed,
    /// The previous client secret, while it has not expired.
    sealed_previous_client_secret: Option<Sealed>,
    sealed_refresh_token: Option<Sealed>,
    pub(super) stored: Option<CachedTokenRow>,
    /// The generation of the subject's exchange lease when this was read (see `db::leases`).
    lease_generation: i64,
}

/// What the caller does after [`read`].
pub(super) enum Next {
    /// The stored token will do.
    Stored(CachedTokenRow),
    /// The read took the subject's lease: this caller exchanges.
    Exchange(Lease),
    /// The stored token will not do, and another holder's lease is running: its exchange is
    /// in flight.
    Busy,
    /// The stored token will not do, and no lease was asked for nor is running.
    Stale,
}

/// The subject's exchange lease, held (see `db::leases`).
///
/// Dropped before it is settled, it is given back in the background: a caller dropped
/// mid-exchange (by a timeout around it, say) would otherwise hold every replica's callers for
/// the subject off until the lease ran out. (A lease dropped while its runtime shuts down runs
/// out instead; so does one whose give-back fails. A second give-back of a lease that already
/// went back moves its generation once more, which only makes a later holder read again.)
pub(super) struct Lease {
    id: Uuid,
    /// How many times it was given back before this holder took it.
    generation: i64,
    /// Where it goes back to (the pool, the subject's cache key); `None` once settled.
    holder: Option<(PgPool, Uuid)>,
}

impl Lease {
    fn taken(pool: &PgPool, cache_key: Uuid, id: Uuid, generation: i64) -> Self {
        Self {
            id,
            generation,
            holder: Some((pool.clone(), cache_key)),
        }
    }

    /// Gives it back now.
    async fn give_back(mut self) -> Result<(), sqlx::Error> {
        if let Some((pool, cache_key)) = &self.holder {
            leases::release_lease(pool, *cache_key, self.id).await?;
        }
        self.holder = None;
        Ok(())
    }

    /// The work done holding it ended with `result`: work that succeeded gave the lease back in
    /// its own commit; work that failed gives it back now, rather than make others wait for it to
    /// run out.
    async fn settle<T>(mut self, result: &Result<T, Error>) {
        if result.is_err() {
            let _ = self.give_back().await;
        } else {
            self.holder = None;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some((pool, cache_key)) = self.holder.take() else {
            return;
        };
        let id = self.id;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = leases::release_lease(&pool, cache_key, id).await;
            });
        }
    }
}

/// The subject's credentials and stored token, if the caller may use them, in one statement;
/// with `lease` (how long it lasts), that statement also takes the subject's lease if the stored
/// token is not `fresh` and the caller may exchange.
pub(super) async fn read(
    pool: &PgPool,
    who: &Requester,
    subject: &Subject<'_>,
    fresh: Freshness,
    lease: Option<Duration>,
) -> Result<(Credentials, Next), Error> {
    let read = GrantRead {
        freshness: fresh,
        lease: lease.map(|ttl| (Uuid::new_v4(), ttl)),
        client_id: subject.client_id(),
    };
    let (credentials, (fresh, taken, running)) = match subject {
        Subject::Seller { seller_id, .. } => {
            let grant = store::load_seller_grant(pool, who.tenant_id, *seller_id, &read)
                .await?
                .ok_or_else(|| subject.not_found())?;
            let credentials = Credentials {
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
                lease_generation: grant.lease_generation.unwrap_or(0),
            };
            let refused = refusal(Refusals {
                tenant_disabled: grant.tenant_disabled,
                client_mismatch: subject
                    .client_id()
                    .is_some_and(|id| id != credentials.client_id),
                seller_revoked: grant.seller_status == SellerStatus::AuthorizationRevoked,
                application_rejected: grant.application_status
                    == ApplicationStatus::ClientCredentialsRejected,
            });
            let lease = (grant.stored_fresh, grant.lease_taken, grant.lease_running);
            (refused.map_or(Ok(credentials), Err), lease)
        }
        Subject::Grantless {
            application_id,
            cache_key,
            ..
        } => {
            let grant = store::load_application_grant(
                pool,
                who.tenant_id,
                *application_id,
                *cache_key,
                &read,
            )
            .await?
            .ok_or_else(|| subject.not_found())?;
            let credentials = Credentials {
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
                lease_generation: grant.lease_generation.unwrap_or(0),
            };
            let refused = refusal(Refusals {
                tenant_disabled: grant.tenant_disabled,
                application_rejected: grant.application_status
                    == ApplicationStatus::ClientCredentialsRejected,
                ..Refusals::default()
            });
            let lease = (grant.stored_fresh, grant.lease_taken, grant.lease_running);
            (refused.map_or(Ok(credentials), Err), lease)
        }
    };
    let lease = read
        .lease
        .zip(taken)
        .map(|((id, _), generation)| Lease::taken(pool, subject.cache_key(), id, generation));
    let credentials = match credentials {
        Ok(credentials) => credentials,
        Err(refused) => {
            // (The statement takes no lease for a refused caller; should it have, it goes back.)
            if let Some(lease) = lease {
                // (Should that fail, the lease runs out: the refusal is the answer either way.)
                let _ = lease.give_back().await;
            }
            return Err(refused);
        }
    };
    let next = match (lease, &credentials.stored) {
        (Some(lease), _) => Next::Exchange(lease),
        (None, Some(stored)) if fresh => Next::Stored(stored.clone()),
        // Asked for and not taken: another holder has it (more recent than the snapshot).
        (None, _) if read.lease.is_some() || running => Next::Busy,
        (None, _) => Next::Stale,
    };
    Ok((credentials, next))
}

/// Why a caller may not use a subject's credentials, as read with them (the grant reads of
/// `db::cached_tokens` take no lease in these cases either).
#[derive(Default)]
struct Refusals {
    tenant_disabled: bool,
    /// The caller named another client id than the seller's application has.
    client_mismatch: bool,
    seller_revoked: bool,
    application_rejected: bool,
}

/// The caller's refusal, if any, the first of them in this order.
fn refusal(why: Refusals) -> Option<Error> {
    if why.tenant_disabled {
        Some(Error::TenantDisabled)
    } else if why.client_mismatch {
        Some(Error::ClientMismatch)
    } else if why.seller_revoked {
        Some(Error::SellerRevoked)
    } else if why.application_rejected {
        Some(Error::ClientRejected)
    } else {
        None
    }
}

/// When a stored token may be handed out for `want`, asked for at `requested_at`, when tokens
/// with `threshold` seconds or less left are refreshed.
pub(super) fn freshness(want: Want, requested_at: DateTime<Utc>, threshold: i64) -> Freshness {
    // (To the microsecond, as PostgreSQL keeps times: Rust and SQL then compare alike.)
    let micros = |t: DateTime<Utc>| DateTime::from_timestamp_micros(t.timestamp_micros());
    if want.force_refresh {
        // Minted while this caller waited for the flight: as fresh as a forced exchange.
        return Freshness {
            expires_after: None,
            issued_since: Some(micros(requested_at).unwrap_or(requested_at)),
        };
    }
    // More than `threshold` whole seconds left (with a threshold beyond any date: never).
    let now = Utc::now();
    let expires_after = TimeDelta::try_seconds(threshold.saturating_add(1))
        .and_then(|left| micros(now).unwrap_or(now).checked_add_signed(left))
        .filter(|t| t.year() <= 9999)
        .unwrap_or(NEVER);
    Freshness {
        expires_after: Some(expires_after),
        issued_since: None,
    }
}

/// Later than any token expires, and still a date PostgreSQL keeps (9999-12-31T23:59:59Z).
const NEVER: DateTime<Utc> = match DateTime::from_timestamp(253_402_300_799, 0) {
    Some(never) => never,
    None => panic!("9999-12-31 is a date"),
};

/// Whether a stored token may be handed out (see [`freshness`]).
pub(super) fn usable(
    stored: &CachedTokenRow,
    want: Want,
    requested_at: DateTime<Utc>,
    threshold: i64,
) -> bool {
    freshness(want, requested_at, threshold).admits(stored)
}

/// One exchange to run, holding the subject's lease.
pub(super) struct Job<'a> {
    pub(super) pool: &'a PgPool,
    pub(super) lwa: &'a LwaClient,
    pub(super) keystore: &'a KeyStore,
    pub(super) who: &'a Requester,
    pub(super) subject: Subject<'a>,
    /// The credentials and stored token as the caller read them (no fresh token among them).
    pub(super) seen: &'a Credentials,
    /// When a stored token will do.
    pub(super) fresh: Freshness,
    /// The lease the caller's read took.
    pub(super) lease: Lease,
    /// Whether the new token goes to `who` (and so is recorded as delivered), or only into the
    /// caches (a refresh ahead of expiry).
    pub(super) deliver: bool,
}

/// How an exchange ended (all of it committed).
pub(super) enum Exchanged {
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

/// Runs `job` to its end. The caller holds one of the process's exchange slots.
pub(super) async fn run(job: Job<'_>) -> Result<Exchanged, Error> {
    let result = holding_the_lease(&job).await;
    job.lease.settle(&result).await;
    result
}

/// Runs `body` holding the lease of `cache_key` for `ttl` (see `db::leases`), given the lease's
/// id and generation; `None` if another holder's lease is still running.
pub(super) async fn with_lease<T, F, Fut>(
    pool: &PgPool,
    cache_key: Uuid,
    tenant_id: Uuid,
    ttl: Duration,
    body: F,
) -> Result<Option<T>, Error>
where
    F: FnOnce(Uuid, i64) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let lease_id = Uuid::new_v4();
    let Some(generation) = leases::take_lease(pool, cache_key, tenant_id, lease_id, ttl).await?
    else {
        return Ok(None);
    };
    let lease = Lease::taken(pool, cache_key, lease_id, generation);
    let result = body(lease.id, lease.generation).await;
    lease.settle(&result).await;
    result.map(Some)
}

async fn holding_the_lease(job: &Job<'_>) -> Result<Exchanged, Error> {
    let Job {
        pool,
        lwa,
        keystore,
        who,
        subject,
        seen,
        fresh,
        ref lease,
        ..
    } = *job;
    let lease_id = lease.id;
    let data_key = &*keystore
        .data_key(who.tenant_id)
        .await
        .map_err(|err| secret_error(err, &subject, CredentialKind::ClientSecret))?;
    let read_again;
    let credentials = if lease.generation == seen.lease_generation {
        seen
    } else {
        // Another exchange ended since `seen` was read: it may have stored a usable token.
        let (again, next) = read(pool, who, &subject, fresh, None).await?;
        if let Next::Stored(stored) = next {
            leases::release_lease(pool, subject.cache_key(), lease_id).await?;
            return Ok(Exchanged::Stored {
                credentials: again,
                stored,
            });
        }
        read_again = again;
        &read_again
    };

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

    let recording = Recording {
        who,
        subject: &subject,
        credentials,
        fence: Fence {
            seller_id: subject.seller_id(),
            application_id: credentials.application_id,
            sealed_refresh_token: credentials.sealed_refresh_token.as_deref(),
            sealed_client_secret: &credentials.sealed_client_secret,
            sealed_previous_client_secret: previous_used,
        },
        grant: &grant,
        data_key,
        lease_id,
        deliver: job.deliver,
    };
    match attempts.split_last() {
        Some(((secret_used, last), earlier)) if last.result.is_ok() => {
            // (LWA's client retries only failures: a token ends the attempts. Those before it
            // are facts of their own, recorded as they are.)
            for (secret_used, attempt) in earlier {
                let issue = recording.issue(*secret_used, attempt, None);
                token_trail::insert_token_issue(pool, issue).await?;
            }
            record_token(pool, &recording, *secret_used, last).await
        }
        _ => {
            let mut tx = pool.begin().await?;
            let exchanged = record_failure(&mut tx, &recording, &attempts).await?;
            tx.commit().await?;
            Ok(exchanged)
        }
    }
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

/// What every attempt's record shares.
struct Recording<'a> {
    who: &'a Requester,
    subject: &'a Subject<'a>,
    credentials: &'a Credentials,
    /// The credentials used, which must still be the subject's for the result to be kept.
    fence: Fence<'a>,
    grant: &'a Grant<'a>,
    data_key: &'a DataKey,
    lease_id: Uuid,
    /// Whether a new token is recorded as delivered to `who`.
    deliver: bool,
}

impl Recording<'_> {
    /// The `token_issue` row of `attempt` (with a token's fingerprint and expiry, if it got one).
    fn issue<'r>(
        &'r self,
        secret_used: SecretUsed,
        attempt: &'r Attempt,
        token: Option<(&'r str, DateTime<Utc>)>,
    ) -> NewTokenIssue<'r> {
        metrics::lwa_exchange(attempt.outcome(), attempt.latency);
        NewTokenIssue {
            id: Uuid::now_v7(),
            tenant_id: self.who.tenant_id,
            seller_id: self.subject.seller_id(),
            application_id: self.credentials.application_id,
            grant_type: self.grant.grant_type(),
            scope: self.subject.scope(),
            error_code: attempt.result.as_ref().err().map(Failure::code),
            issued_at: attempt.started_at,
            expires_at: token.map(|(_, expires_at)| expires_at),
            lwa_latency_ms: attempt.latency_ms(),
            token_fingerprint: token.map(|(fingerprint, _)| fingerprint),
            api_key_id: self.who.api_key_id,
            request_id: &self.who.request_id,
            client_secret: Some(secret_used.as_str()),
            resource_set_fingerprint: None,
        }
    }
}

/// Records the attempts of an exchange that got no token, in `conn`'s transaction: a
/// `token_issue` row each, and what the last one implies. Only the last attempt's refusal is a
/// verdict (a refusal of the current secret before a try of the previous one is not), and only
/// while the credentials used are still current.
async fn record_failure(
    conn: &mut PgConnection,
    recording: &Recording<'_>,
    attempts: &[(SecretUsed, Attempt)],
) -> Result<Exchanged, Error> {
    let current = store::credentials_still_current(&mut *conn, &recording.fence).await?;
    let mut last_failure = None;
    for (secret_used, attempt) in attempts {
        token_trail::insert_token_issue(&mut *conn, recording.issue(*secret_used, attempt, None))
            .await?;
        last_failure = attempt.result.as_ref().err();
    }
    let exchanged = match last_failure {
        Some(Failure::Rejected(_)) if !current => Exchanged::Superseded,
        Some(Failure::Rejected(code)) => {
            let verdict = Verdict::of(
                code,
                recording.subject,
                recording.credentials.application_id,
            );
            remember(conn, &verdict).await?;
            Exchanged::Refused { verdict }
        }
        _ => Exchanged::Unavailable {
            credentials: recording.credentials.clone(),
        },
    };
    leases::release_lease(
        &mut *conn,
        recording.subject.cache_key(),
        recording.lease_id,
    )
    .await?;
    Ok(exchanged)
}

/// Records the attempt that got a token (see [`record_new_token`]).
async fn record_token(
    pool: &PgPool,
    recording: &Recording<'_>,
    secret_used: SecretUsed,
    attempt: &Attempt,
) -> Result<Exchanged, Error> {
    let Recording {
        who,
        subject,
        credentials,
        data_key,
        ..
    } = *recording;
    let Ok(token) = &attempt.result else {
        return Err(anyhow::anyhow!("recording a token of an attempt that got none").into());
    };
    let fingerprint = data_key.token_fingerprint(token.access_token.expose_secret());
    // (LwaClient accepts lifetimes of at most a day.)
    let expires_at = attempt.expires_at(token);
    let issue = recording.issue(secret_used, attempt, Some((&fingerprint, expires_at)));
    let sealed = KeyStore::seal_with(
        data_key,
        &places::cached_token(who.tenant_id, subject.cache_key()),
        &token.access_token,
    );
    let token = CachedToken {
        tenant_id: who.tenant_id,
        application_id: credentials.application_id,
        client_id: credentials.client_id.clone(),
        access_token: token.access_token.clone(),
        issue_id: issue.id,
        issued_at: attempt.started_at,
        expires_at,
    };
    let delivery = recording
        .deliver
        .then(|| delivery_row(who, subject, &token, Source::Lwa, ACCESS_TOKEN));
    let recorded = record_new_token(
        pool,
        &NewToken {
            fence: recording.fence,
            issue,
            cache_key: subject.cache_key(),
            sealed_token: &sealed,
            expires_at,
            lease_id: recording.lease_id,
            delivery: delivery.as_ref(),
        },
    )
    .await?;
    if !recorded.current {
        return Ok(Exchanged::Superseded);
    }
    Ok(Exchanged::Issued {
        token,
        delivery: recorded.delivery,
    })
}

/// What [`record_new_token`] did.
pub(super) struct Recorded {
    /// The credentials used were still current: the token is stored.
    pub(super) current: bool,
    /// Whether the token may leave: its delivery is recorded (or it goes to no caller).
    pub(super) delivery: Result<(), Error>,
}

/// Records a new token (an access token, or a Restricted Data Token: see `restricted::mint`) in
/// one statement (`db::cached_tokens::record_token`): its issue, and only if the credentials
/// used are still current the sealed token and, for a caller, its delivery; the lease is given
/// back. If the delivery cannot be written, the rest is recorded without it and the token does
/// not leave.
pub(super) async fn record_new_token(
    pool: &PgPool,
    token: &NewToken<'_>,
) -> Result<Recorded, Error> {
    match store::record_token(pool, token).await {
        Ok(recorded) if recorded.delivered || token.delivery.is_none() => Ok(Recorded {
            current: recorded.current,
            delivery: Ok(()),
        }),
        // Disabled since the credentials were read: the token is kept, but does not leave.
        Ok(recorded) => Ok(Recorded {
            current: recorded.current,
            delivery: Err(Error::TenantDisabled),
        }),
        Err(err) if token.delivery.is_some() && db::violated_foreign_key(&err).is_none() => {
            tracing::error!(error = %err, "could not write a delivery record");
            Ok(Recorded {
                current: record_undelivered(pool, token).await?,
                delivery: Err(Error::RecordUnwritten(err.to_string())),
            })
        }
        Err(err) => Err(err.into()),
    }
}

/// Records a new token as [`record_new_token`] does, without a delivery (whose table is out of
/// reach), in a transaction of the statements that do not touch it. Whether the credentials used
/// were still current (and so the token stored).
async fn record_undelivered(pool: &PgPool, token: &NewToken<'_>) -> Result<bool, Error> {
    let mut tx = pool.begin().await?;
    let current = store::credentials_still_current(&mut tx, &token.fence).await?;
    if current {
        store::record_issued_token(
            &mut tx,
            &token.issue,
            token.cache_key,
            token.sealed_token,
            token.expires_at,
        )
        .await?;
    } else {
        token_trail::insert_token_issue(&mut *tx, token.issue).await?;
    }
    leases::release_lease(&mut *tx, token.cache_key, token.lease_id).await?;
    tx.commit().await?;
    Ok(current)
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

fn open_secret(
    data_key: &DataKey,
    place: &Place,
    sealed: &[u8],
    kind: CredentialKind,
) -> Result<SecretString, Error> {
    KeyStore::open_with(data_key, place, sealed).map_err(|err| Error::secret(err, kind))
}

/// What a delivery record says was handed out: an access token (an RDT's is
/// `restricted::mint::KIND`).
pub(super) const ACCESS_TOKEN: &str = "access_token";

/// The delivery record of `token` (of `kind`), handed to `who` now.
pub(super) fn delivery_row(
    who: &Requester,
    subject: &Subject<'_>,
    token: &CachedToken,
    source: Source,
    kind: &'static str,
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
        kind,
        delivered_at: Utc::now(),
        request_id: who.request_id.clone(),
        client_ip: who.client_ip.clone(),
        proxy: None,
    }
}

/// The stored token of a row read with its four columns, if there is one.
pub(super) fn stored_row(
    sealed: Option<Sealed>,
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

/// A failure to open the tenant's secrets; a tenant gone meanwhile is the subject gone.
pub(super) fn secret_error(err: SecretError, subject: &Subject<'_>, kind: CredentialKind) -> Error {
    match err {
        SecretError::NoDataKey => subject.not_found(),
        err => Error::secret(err, kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(issued_at: DateTime<Utc>, expires_at: DateTime<Utc>) -> CachedTokenRow {
        CachedTokenRow {
            sealed_token: Sealed::new(vec![]),
            issue_id: Uuid::now_v7(),
            issued_at,
            expires_at,
        }
    }

    #[test]
    fn a_stored_token_serves_while_it_has_more_than_the_threshold_in_whole_seconds() {
        let want = Want::default();
        let now = Utc::now();
        let token = |left: i64| stored(now, now + TimeDelta::seconds(left));
        assert!(usable(&token(302), want, now, 300));
        assert!(!usable(&token(300), want, now, 300));
        assert!(!usable(&token(-5), want, now, 0));
    }

    #[test]
    fn a_forced_refresh_takes_only_a_token_issued_since_it_was_asked_for() {
        let want = Want {
            force_refresh: true,
            ..Want::default()
        };
        let asked = Utc::now();
        let later = asked + TimeDelta::hours(1);
        assert!(usable(&stored(asked, later), want, asked, 300));
        assert!(!usable(
            &stored(asked - TimeDelta::seconds(1), later),
            want,
            asked,
            300
        ));
    }

    #[test]
    fn a_threshold_beyond_any_date_serves_no_stored_token_and_does_not_panic() {
        let now = Utc::now();
        let token = stored(now, now + TimeDelta::days(1));
        for threshold in [i64::MAX, i64::MAX - 1, 1 << 50] {
            let fresh = freshness(Want::default(), now, threshold);
            assert_eq!(fresh.expires_after, Some(NEVER));
            assert!(!fresh.admits(&token));
        }
    }
}
