//! One call of the Tokens API for a seller and resource set, in the shape of an exchange at LWA
//! (`tokens::exchange`), whose pieces it shares:
//!
//! 1. take the lease of the target's cache key (`db::leases`), or learn that another replica
//!    holds it ([`Minted::Busy`]);
//! 2. only if another call gave the lease back since the caller read the seller and its stored
//!    RDT (the lease's generation moved), read them again: that replica may have stored an RDT;
//! 3. wait for the seller's turn at Amazon's rate, take a slot of this process, and call the
//!    Tokens API holding no database connection;
//! 4. record it: an RDT in one statement (`exchange::record_new_token`: the fence, the issue with
//!    the resource set's fingerprint, the sealed RDT, its delivery, the lease given back; the
//!    same fallback when the delivery cannot be written), a failure in one transaction (its
//!    issue, the lease given back).
//!
//! The fence checks the credentials the caller read before it fetched the seller's access token:
//! an RDT minted while the seller's refresh token (or its application's secret) was replaced is
//! recorded but never stored, and its caller starts over ([`Minted::Superseded`]).

use std::num::NonZeroU32;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::amazon::sp_api::{SpApiClient, SpApiError, SpApiFailure};
use crate::amazon::tokens_api::{refused_access_token, TokensApiCall};
use crate::db::cached_tokens::{CachedTokenRow, Fence, NewToken};
use crate::db::leases;
use crate::db::restricted_tokens::{self as store, RestrictedGrantRow};
use crate::db::token_trail::{self, NewTokenIssue};
use crate::domain::{ApplicationStatus, CredentialKind, Region, ResourceSet, SellerStatus};
use crate::keystore::{places, KeyStore};
use crate::workflows::tokens::cache::CachedToken;
use crate::workflows::tokens::exchange::{self, record_new_token, usable};
use crate::workflows::tokens::subject::{Requester, Source, Subject, Want};
use crate::workflows::Error;

/// The grant type of a Tokens API call in the trail.
pub const RESTRICTED_DATA_TOKEN_GRANT: &str = "restricted_data_token";
/// The `kind` of a delivery of a Restricted Data Token.
pub(super) const KIND: &str = "restricted_data_token";

/// Amazon's usage plan of `createRestrictedDataToken`: per seller, 1 a second, bursts of 10.
const TOKENS_API_PER_SECOND: u32 = 1;
const TOKENS_API_BURST: u32 = 10;
/// The longest a caller queues for its seller's turn at the Tokens API before `429`.
pub(super) const LONGEST_QUEUE: Duration = Duration::from_secs(10);

/// What a seller's RDT request is about: the seller, the set and its cache key.
#[derive(Clone, Copy)]
pub(super) struct Target<'a> {
    pub(super) seller_id: Uuid,
    pub(super) set: &'a ResourceSet,
    pub(super) key: Uuid,
}

/// The seller as read, with its stored RDT for the target.
pub(super) struct Seen {
    pub(super) grant: RestrictedGrantRow,
    pub(super) region: Region,
    pub(super) stored: Option<CachedTokenRow>,
}

impl Seen {
    /// The generation of the target's lease when this was read (see `db::leases`).
    fn lease_generation(&self) -> i64 {
        self.grant.lease_generation.unwrap_or(0)
    }

    /// Whether `other` read the same credentials (sealed values are never sealed twice alike).
    fn same_credentials(&self, other: &Seen) -> bool {
        let (a, b) = (&self.grant, &other.grant);
        a.application_id == b.application_id
            && a.sealed_refresh_token == b.sealed_refresh_token
            && a.sealed_client_secret == b.sealed_client_secret
    }
}

/// The seller and its stored RDT for `target`, if the requester may have one.
pub(super) async fn read(
    pool: &PgPool,
    who: &Requester,
    target: Target<'_>,
) -> Result<Seen, Error> {
    let grant = store::load_restricted_grant(pool, who.tenant_id, target.seller_id, target.key)
        .await?
        .ok_or_else(|| Error::not_found(format_args!("seller {}", target.seller_id)))?;
    if grant.tenant_disabled {
        return Err(Error::TenantDisabled);
    }
    if grant.seller_status == SellerStatus::AuthorizationRevoked {
        return Err(Error::SellerRevoked);
    }
    if grant.application_status == ApplicationStatus::ClientCredentialsRejected {
        return Err(Error::ClientRejected);
    }
    let region = Region::parse(&grant.region)
        .map_err(|err| anyhow::anyhow!("a stored seller's region: {err}"))?;
    let stored = exchange::stored_row(
        grant.cached_token.clone(),
        grant.cached_issue_id,
        grant.cached_issued_at,
        grant.cached_expires_at,
    );
    Ok(Seen {
        grant,
        region,
        stored,
    })
}

/// How one call ended (all of it committed).
pub(super) enum Minted {
    /// Another replica holds the lease: its call is in flight.
    Busy,
    /// Another replica stored a usable RDT meanwhile (the seller as read again, and that RDT).
    Stored(Seen, CachedTokenRow),
    /// A new RDT; `delivery` says whether its delivery was recorded (else it must not leave).
    Issued {
        token: CachedToken,
        delivery: Result<(), Error>,
    },
    /// The seller's credentials changed since the caller read them: recorded, not kept.
    Superseded,
    /// Amazon refused the access token: a fresh one may do.
    StaleAccessToken,
    Refused {
        status: u16,
        errors: Vec<SpApiError>,
    },
    Unavailable(String),
}

/// One call to make.
pub(super) struct Job<'a> {
    pub(super) pool: &'a PgPool,
    pub(super) sp_api: &'a SpApiClient,
    pub(super) keystore: &'a KeyStore,
    /// Bounds the exchanges and calls in flight in this process (the broker's).
    pub(super) slots: &'a Semaphore,
    /// The seller's pace at the Tokens API in this process (see [`pace`]).
    pub(super) pace: &'a DefaultDirectRateLimiter,
    pub(super) who: &'a Requester,
    pub(super) target: Target<'a>,
    /// The seller and stored RDT as the caller read them (no usable RDT among them), before it
    /// fetched `access_token`.
    pub(super) seen: &'a Seen,
    /// The seller's access token, for the vault's own use.
    pub(super) access_token: &'a SecretString,
    pub(super) ask: Ask,
    /// Stored RDTs with this many seconds left or less are not handed out.
    pub(super) threshold: i64,
    /// How long the lease lasts: longer than the longest queue and call.
    pub(super) lease: Duration,
}

/// What one call of the Tokens API is for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ask {
    pub(super) want: Want,
    pub(super) requested_at: DateTime<Utc>,
    /// Whether the new RDT goes to `who` (and so is recorded as delivered), or only into the
    /// caches (a refresh ahead of expiry).
    pub(super) deliver: bool,
    /// Whether a refused access token may be refreshed and the call made again.
    pub(super) retry_allowed: bool,
}

/// Runs `job` to its end.
pub(super) async fn run(job: Job<'_>) -> Result<Minted, Error> {
    let minted = exchange::with_lease(
        job.pool,
        job.target.key,
        job.who.tenant_id,
        job.lease,
        |lease_id, generation| holding_the_lease(&job, lease_id, generation),
    )
    .await?;
    Ok(minted.unwrap_or(Minted::Busy))
}

async fn holding_the_lease(
    job: &Job<'_>,
    lease_id: Uuid,
    generation: i64,
) -> Result<Minted, Error> {
    let Job {
        pool,
        who,
        target,
        seen,
        ask: Ask {
            want, requested_at, ..
        },
        threshold,
        ..
    } = *job;
    if generation != seen.lease_generation() {
        // Another call ended since `seen` was read: it may have stored a usable RDT.
        let again = read(pool, who, target).await?;
        if let Some(stored) = again
            .stored
            .clone()
            .filter(|s| usable(s, want, requested_at, threshold))
        {
            leases::release_lease(pool, target.key, lease_id).await?;
            return Ok(Minted::Stored(again, stored));
        }
        if !seen.same_credentials(&again) {
            // The access token may be of the old ones: the fence would refuse the RDT.
            leases::release_lease(pool, target.key, lease_id).await?;
            return Ok(Minted::Superseded);
        }
    }
    // The seller's turn first (the lease lasts long enough for the longest queue), then a
    // slot: a seller's queue holds none of the slots other sellers' calls need.
    take_turn(job.pace).await?;
    let _slot = job
        .slots
        .acquire()
        .await
        .map_err(|_| anyhow::anyhow!("the exchange semaphore was closed"))?;
    let data_key = job.keystore.data_key(who.tenant_id).await.map_err(|err| {
        exchange::secret_error(err, &target.seller(), CredentialKind::AccessToken)
    })?;
    // No connection is held while Amazon answers.
    let base = job.sp_api.base_url(seen.region, seen.grant.sandbox);
    let answer = job
        .sp_api
        .create_restricted_data_token(base, job.access_token, &target.set.tokens_api_body())
        .await;
    record(job, lease_id, &data_key, answer).await
}

/// Records the call: a failure with its issue in one transaction, an RDT in one statement (and,
/// only if the credentials of `seen` are still the seller's, stored and delivered). Either way
/// the lease is given back in the same commit.
async fn record(
    job: &Job<'_>,
    lease_id: Uuid,
    data_key: &crate::crypto::DataKey,
    answer: TokensApiCall,
) -> Result<Minted, Error> {
    let Job {
        pool,
        who,
        target,
        seen,
        ..
    } = *job;
    let set_fingerprint = crate::crypto::public_digest(target.set.canonical().as_bytes());
    let issue = NewTokenIssue {
        id: Uuid::now_v7(),
        tenant_id: who.tenant_id,
        seller_id: Some(target.seller_id),
        application_id: seen.grant.application_id,
        grant_type: RESTRICTED_DATA_TOKEN_GRANT,
        scope: None,
        error_code: None,
        issued_at: answer.started_at,
        expires_at: None,
        lwa_latency_ms: answer.latency_ms(),
        token_fingerprint: None,
        api_key_id: who.api_key_id,
        request_id: &who.request_id,
        client_secret: None,
        resource_set_fingerprint: Some(&set_fingerprint),
    };
    let rdt = match answer.result {
        Ok(rdt) => rdt,
        Err(failure) => {
            let code = failure_code(&failure);
            let mut tx = pool.begin().await?;
            let issue = NewTokenIssue {
                error_code: Some(&code),
                ..issue
            };
            token_trail::insert_token_issue(&mut *tx, issue).await?;
            leases::release_lease(&mut *tx, target.key, lease_id).await?;
            tx.commit().await?;
            return Ok(match failure {
                f if job.ask.retry_allowed && refused_access_token(&f) => Minted::StaleAccessToken,
                SpApiFailure::Refused { status, errors } => Minted::Refused { status, errors },
                SpApiFailure::Unavailable(why) => Minted::Unavailable(why),
            });
        }
    };
    let fingerprint = data_key.token_fingerprint(rdt.token.expose_secret());
    let lifetime = chrono::Duration::seconds(i64::try_from(rdt.expires_in).unwrap_or(3600));
    let expires_at = answer.started_at + lifetime;
    let issue = NewTokenIssue {
        expires_at: Some(expires_at),
        token_fingerprint: Some(&fingerprint),
        ..issue
    };
    let sealed = KeyStore::seal_with(
        data_key,
        &places::cached_token(who.tenant_id, target.key),
        &rdt.token,
    );
    let token = CachedToken {
        tenant_id: who.tenant_id,
        application_id: seen.grant.application_id,
        client_id: seen.grant.client_id.clone(),
        access_token: rdt.token,
        issue_id: issue.id,
        issued_at: answer.started_at,
        expires_at,
    };
    let delivery = job
        .ask
        .deliver
        .then(|| exchange::delivery_row(who, &target.seller(), &token, Source::SpApi, KIND));
    let recorded = record_new_token(
        pool,
        &NewToken {
            fence: Fence {
                seller_id: Some(target.seller_id),
                application_id: seen.grant.application_id,
                sealed_refresh_token: Some(&seen.grant.sealed_refresh_token),
                sealed_client_secret: &seen.grant.sealed_client_secret,
                sealed_previous_client_secret: None,
            },
            issue,
            cache_key: target.key,
            sealed_token: &sealed,
            expires_at,
            lease_id,
            delivery: delivery.as_ref(),
        },
    )
    .await?;
    if !recorded.current {
        return Ok(Minted::Superseded);
    }
    Ok(Minted::Issued {
        token,
        delivery: recorded.delivery,
    })
}

/// A seller's pace at the Tokens API: Amazon's rate.
pub(super) fn pace() -> DefaultDirectRateLimiter {
    let quota = Quota::per_second(NonZeroU32::new(TOKENS_API_PER_SECOND).expect("a positive rate"))
        .allow_burst(NonZeroU32::new(TOKENS_API_BURST).expect("a positive burst"));
    RateLimiter::direct(quota)
}

/// Waits for the seller's turn at the Tokens API (Amazon's rate), for a bounded time.
async fn take_turn(pace: &DefaultDirectRateLimiter) -> Result<(), Error> {
    let clock = DefaultClock::default();
    let queued_since = tokio::time::Instant::now();
    loop {
        match pace.check() {
            Ok(()) => return Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(clock.now());
                if queued_since.elapsed() + wait > LONGEST_QUEUE {
                    return Err(Error::TooSoon {
                        detail: "too many Restricted Data Tokens were asked for this seller \
                                 at once; Amazon allows one a second",
                        retry_after_secs: wait.as_secs().max(1),
                    });
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// The trail's `error_code` of a failed call: Amazon's first error code, else the status or the
/// transport failure.
fn failure_code(failure: &SpApiFailure) -> String {
    match failure {
        SpApiFailure::Refused { status, errors } => errors
            .first()
            .map(|e| e.code.clone())
            .unwrap_or_else(|| format!("http_{status}")),
        SpApiFailure::Unavailable(why) => why.clone(),
    }
}

impl Target<'_> {
    /// The seller whose RDT this is, as the broker names it.
    pub(super) fn seller(&self) -> Subject<'static> {
        Subject::Seller {
            seller_id: self.seller_id,
            client_id: None,
        }
    }
}
