//! Restricted Data Tokens: a seller's token for a set of restricted resources (operations that
//! return personal data), from SP-API's Tokens API, by the broker's rules and mechanisms:
//!
//! - cached per seller and canonical resource set ([`ResourceSet::cache_key`]): in memory
//!   ([`TokenCache::bounded`]: bounded in count and bytes, entries gone at expiry) and sealed in
//!   `cached_token`, handed out while they have more than `max(min_ttl_seconds, refresh skew)`
//!   left, refreshed in the background inside the refresh-ahead window;
//! - one Tokens API call at a time per seller and set: this process's flight, then the lease of
//!   `db::leases` across replicas, the call made holding no connection;
//! - the commit fenced like an exchange's (`credentials_still_current`): an RDT minted while the
//!   seller's refresh token was replaced is recorded but never stored;
//! - every call a `token_issue` (`grant_type: "restricted_data_token"`, with the resource set's
//!   fingerprint), every RDT handed out a delivery (`kind: "restricted_data_token"`), durable
//!   before it is returned;
//! - Amazon down: a cached RDT that has not expired yet still serves.
//!
//! The seller's access token comes from the [`Broker`] (as the vault's own use: it never leaves
//! the vault, so no delivery is recorded for it); when the Tokens API refuses it (`403
//! Unauthorized`), it is refreshed once and the call made again. Each seller's Tokens API calls
//! are paced at Amazon's rate (1 a second, bursts of 10) in this process: callers queue for a
//! bounded time instead of hammering, and a seller's queue never holds a slot other sellers need.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use moka::sync::Cache;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::broker::{Broker, RefreshPolicy};
use super::cache::{CachedToken, Generation, TokenCache};
use super::exchange::record_delivery;
use super::subject::{Requester, Source, Subject, Via, Want};
use crate::amazon::sp_api::{SpApiClient, SpApiFailure};
use crate::amazon::tokens_api::{refused_access_token, TokensApiCall};
use crate::db::cached_tokens::{credentials_still_current, CachedTokenRow, Fence};
use crate::db::leases;
use crate::db::restricted_tokens::{self as store, RestrictedGrantRow};
use crate::db::token_trail::{NewTokenDelivery, NewTokenIssue};
use crate::domain::{ApplicationStatus, CredentialKind, Region, ResourceSet, SellerStatus};
use crate::keystore::{places, KeyStore, SecretError};
use crate::metrics;
use crate::workflows::trail::deliveries::{DeliveryError, DeliveryWriter};
use crate::workflows::Error;

/// The grant type of a Tokens API call in the trail.
pub const RESTRICTED_DATA_TOKEN_GRANT: &str = "restricted_data_token";
/// The `kind` of a delivery of a Restricted Data Token.
const KIND: &str = "restricted_data_token";

/// Amazon's usage plan of `createRestrictedDataToken`: per seller, 1 a second, bursts of 10.
const TOKENS_API_PER_SECOND: u32 = 1;
const TOKENS_API_BURST: u32 = 10;
/// The longest a caller queues for its seller's turn at the Tokens API before `429`.
const LONGEST_QUEUE: Duration = Duration::from_secs(10);

const FIRST_WAIT: Duration = Duration::from_millis(10);
const LONGEST_WAIT: Duration = Duration::from_millis(200);
const MOST_SUPERSEDED: u32 = 3;
/// Flights and per-seller paces kept at most (each a few hundred bytes).
const MOST_FLIGHTS: u64 = 100_000;

/// A Restricted Data Token handed out (and recorded, unless the requester is the vault itself).
pub struct DeliveredRdt {
    pub restricted_data_token: SecretString,
    pub application_id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `Cache` or `SpApi`.
    pub source: Source,
    pub issue_id: Uuid,
}

impl DeliveredRdt {
    /// Seconds of life left now (never negative).
    pub fn expires_in(&self) -> i64 {
        (self.expires_at - Utc::now()).num_seconds().max(0)
    }
}

/// The Restricted Data Token workflow; cheap to clone.
#[derive(Clone)]
pub struct RestrictedDataTokens(Arc<Inner>);

struct Inner {
    broker: Broker,
    sp_api: SpApiClient,
    pool: PgPool,
    keystore: Arc<KeyStore>,
    cache: Arc<TokenCache>,
    flights: Cache<Uuid, Arc<Mutex<()>>>,
    refreshing: Cache<Uuid, ()>,
    paces: Cache<Uuid, Arc<DefaultDirectRateLimiter>>,
    deliveries: DeliveryWriter,
    skew_seconds: i64,
    ahead_seconds: i64,
    lease: Duration,
}

/// What a seller's RDT request is about: the seller, the set and its cache key.
#[derive(Clone, Copy)]
struct Target<'a> {
    seller_id: Uuid,
    set: &'a ResourceSet,
    key: Uuid,
}

/// The seller as read, with its stored RDT for the target.
struct Seen {
    grant: RestrictedGrantRow,
    region: Region,
    stored: Option<CachedTokenRow>,
}

/// How one attempt at the Tokens API ended (all of it committed).
enum Minted {
    /// Another replica holds the lease: its call is in flight.
    Busy,
    /// Another replica stored a usable RDT meanwhile.
    Stored(Seen, CachedTokenRow),
    Issued {
        token: CachedToken,
        delivery: Result<(), Error>,
    },
    /// The seller's credentials changed while Amazon answered: recorded, not kept.
    Superseded,
    /// Amazon refused the access token: a fresh one may do.
    StaleAccessToken,
    Refused {
        status: u16,
        errors: Vec<crate::amazon::sp_api::SpApiError>,
    },
    Unavailable(String),
}

impl RestrictedDataTokens {
    /// `cache` is the replica's cache of RDTs (see [`TokenCache::bounded`]); `policy` the
    /// broker's, whose skew and refresh-ahead window RDTs share.
    pub fn new(
        broker: Broker,
        sp_api: SpApiClient,
        pool: PgPool,
        keystore: Arc<KeyStore>,
        cache: Arc<TokenCache>,
        deliveries: DeliveryWriter,
        policy: RefreshPolicy,
    ) -> Self {
        let seconds = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
        // Held from before the seller's turn to the commit.
        let lease = LONGEST_QUEUE + sp_api.longest_call() + Duration::from_secs(5);
        Self(Arc::new(Inner {
            broker,
            sp_api,
            pool,
            keystore,
            cache,
            flights: Cache::builder()
                .max_capacity(MOST_FLIGHTS)
                .time_to_idle(Duration::from_secs(60))
                .build(),
            refreshing: Cache::builder()
                .max_capacity(MOST_FLIGHTS)
                .time_to_live(lease)
                .build(),
            paces: Cache::builder()
                .max_capacity(MOST_FLIGHTS)
                .time_to_idle(Duration::from_secs(60))
                .build(),
            deliveries,
            skew_seconds: seconds(policy.skew_seconds),
            ahead_seconds: seconds(policy.ahead_seconds),
            lease,
        }))
    }

    /// A Restricted Data Token of a seller of the requester's tenant for `set`: from the
    /// cache, or from the Tokens API. Its delivery is recorded with `who.via`, before it is
    /// returned — unless `who.via` is `Via::Internal` or `Via::Proxy`, for a caller that records its own use
    /// of the token (the SP-API proxy).
    pub async fn restricted_data_token(
        &self,
        who: &Requester,
        seller_id: Uuid,
        set: &ResourceSet,
        want: Want,
    ) -> Result<DeliveredRdt, Error> {
        let target = Target {
            seller_id,
            set,
            key: set.cache_key(seller_id),
        };
        self.serve(who, target, want)
            .await
            .map_err(|err| match err {
                Error::Database(err) if crate::db::violated_foreign_key(&err).is_some() => {
                    Error::not_found(format_args!("seller {seller_id}"))
                }
                err => err,
            })
    }

    async fn serve(
        &self,
        who: &Requester,
        target: Target<'_>,
        want: Want,
    ) -> Result<DeliveredRdt, Error> {
        let requested_at = Utc::now();
        if let Some(token) = self.fresh_in_memory(who, target.key, want) {
            self.refresh_if_due(who, target, &token);
            return self.deliver(who, target, &token, Source::Cache).await;
        }
        metrics::token_cache("miss");
        let flight = self
            .0
            .flights
            .get_with(target.key, || Arc::new(Mutex::new(())));
        let guard = flight.lock().await;
        if let Some(token) = self.fresh_in_memory(who, target.key, want) {
            drop(guard);
            return self.deliver(who, target, &token, Source::Cache).await;
        }
        self.obtain(who, target, want, requested_at).await
    }

    fn threshold(&self, want: Want) -> i64 {
        want.min_ttl_seconds.max(self.0.skew_seconds)
    }

    fn fresh_in_memory(&self, who: &Requester, key: Uuid, want: Want) -> Option<Arc<CachedToken>> {
        if want.force_refresh {
            return None;
        }
        let token = self.0.cache.get(key)?;
        if token.tenant_id != who.tenant_id
            || token.seconds_left(Utc::now()) <= self.threshold(want)
        {
            return None;
        }
        metrics::token_cache("hit");
        Some(token)
    }

    fn usable(&self, stored: &CachedTokenRow, want: Want, requested_at: DateTime<Utc>) -> bool {
        if want.force_refresh {
            return stored.issued_at >= requested_at;
        }
        (stored.expires_at - Utc::now()).num_seconds() > self.threshold(want)
    }

    /// The RDT from `cached_token`, or else from the Tokens API. The caller holds the flight.
    async fn obtain(
        &self,
        who: &Requester,
        target: Target<'_>,
        want: Want,
        requested_at: DateTime<Utc>,
    ) -> Result<DeliveredRdt, Error> {
        let waiting_since = tokio::time::Instant::now();
        let mut wait = FIRST_WAIT;
        let mut superseded = 0;
        let mut refreshed_access_token = false;
        loop {
            let read_at = self.0.cache.generation();
            let seen = self.seen(who, target).await?;
            if let Some(stored) = seen
                .stored
                .as_ref()
                .filter(|s| self.usable(s, want, requested_at))
            {
                let token = self.unseal(who, target, &seen, stored, read_at).await?;
                if !want.force_refresh {
                    self.refresh_if_due(who, target, &token);
                }
                return self.deliver(who, target, &token, Source::Cache).await;
            }
            let deliver = who.via.broker_records();
            let minted = self
                .mint(
                    who,
                    target,
                    want,
                    requested_at,
                    deliver,
                    !refreshed_access_token,
                )
                .await?;
            match minted {
                Minted::Busy if waiting_since.elapsed() < self.0.lease => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(LONGEST_WAIT);
                }
                Minted::Busy => {
                    return self
                        .fallback(who, target, &seen, read_at, "busy".into())
                        .await
                }
                Minted::Superseded if superseded < MOST_SUPERSEDED => superseded += 1,
                Minted::Superseded => return Err(Error::SpApiUnavailable("superseded".into())),
                Minted::StaleAccessToken => {
                    self.refresh_access_token(who, target.seller_id).await?;
                    refreshed_access_token = true;
                }
                Minted::Stored(seen, stored) => {
                    let token = self.unseal(who, target, &seen, &stored, read_at).await?;
                    return self.deliver(who, target, &token, Source::Cache).await;
                }
                Minted::Issued { token, delivery } => {
                    let token = Arc::new(token);
                    self.0.cache.insert(target.key, Arc::clone(&token), read_at);
                    return delivery.map(|()| delivered(&token, Source::SpApi));
                }
                Minted::Refused { status, errors } => {
                    return Err(Error::SpApiRefused { status, errors })
                }
                Minted::Unavailable(why) => {
                    return self.fallback(who, target, &seen, read_at, why).await
                }
            }
        }
    }

    /// The seller and its stored RDT, if the requester may have one.
    async fn seen(&self, who: &Requester, target: Target<'_>) -> Result<Seen, Error> {
        let grant =
            store::load_restricted_grant(&self.0.pool, who.tenant_id, target.seller_id, target.key)
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
        let stored = match (
            grant.cached_token.clone(),
            grant.cached_issue_id,
            grant.cached_issued_at,
            grant.cached_expires_at,
        ) {
            (Some(sealed_token), Some(issue_id), Some(issued_at), Some(expires_at)) => {
                Some(CachedTokenRow {
                    sealed_token,
                    issue_id,
                    issued_at,
                    expires_at,
                })
            }
            _ => None,
        };
        Ok(Seen {
            grant,
            region,
            stored,
        })
    }

    /// One attempt at the Tokens API: the seller's access token (holding nothing), the lease,
    /// the seller's turn, a slot of this process; then the call, holding no connection, and the
    /// fenced commit of its records.
    async fn mint(
        &self,
        who: &Requester,
        target: Target<'_>,
        want: Want,
        requested_at: DateTime<Utc>,
        deliver: bool,
        retry_allowed: bool,
    ) -> Result<Minted, Error> {
        let access = self
            .access_token(who, target.seller_id, Want::default())
            .await?;
        let lease_id = Uuid::new_v4();
        let taken = leases::take_lease(
            &self.0.pool,
            target.key,
            who.tenant_id,
            lease_id,
            self.0.lease,
        )
        .await?;
        if taken.is_none() {
            return Ok(Minted::Busy);
        }
        let call = Call {
            who,
            target,
            want,
            requested_at,
            deliver,
            retry_allowed,
            access_token: &access.access_token,
        };
        let result = self.holding_the_lease(&call, lease_id).await;
        if result.is_err() {
            let _ = leases::release_lease(&self.0.pool, target.key, lease_id).await;
        }
        result
    }

    async fn holding_the_lease(&self, call: &Call<'_>, lease_id: Uuid) -> Result<Minted, Error> {
        let Call {
            who,
            target,
            want,
            requested_at,
            ..
        } = *call;
        let seen = self.seen(who, target).await?;
        if let Some(stored) = seen
            .stored
            .clone()
            .filter(|s| self.usable(s, want, requested_at))
        {
            leases::release_lease(&self.0.pool, target.key, lease_id).await?;
            return Ok(Minted::Stored(seen, stored));
        }
        // The seller's turn first (the lease lasts long enough for the longest queue), then a
        // slot: a seller's queue holds none of the slots other sellers' calls need.
        self.take_turn(target.seller_id).await?;
        let _slot = self
            .0
            .broker
            .exchange_slots()
            .acquire()
            .await
            .map_err(|_| anyhow::anyhow!("the exchange semaphore was closed"))?;
        let data_key = self
            .0
            .keystore
            .data_key(who.tenant_id)
            .await
            .map_err(|err| match err {
                SecretError::NoDataKey => {
                    Error::not_found(format_args!("seller {}", target.seller_id))
                }
                err => Error::secret(err, CredentialKind::AccessToken),
            })?;
        // No connection is held while Amazon answers.
        let base = self.0.sp_api.base_url(seen.region, seen.grant.sandbox);
        let answer = self
            .0
            .sp_api
            .create_restricted_data_token(base, call.access_token, &target.set.tokens_api_body())
            .await;

        let mut tx = self.0.pool.begin().await?;
        let fence = Fence {
            seller_id: Some(target.seller_id),
            application_id: seen.grant.application_id,
            sealed_refresh_token: Some(&seen.grant.sealed_refresh_token),
            sealed_client_secret: &seen.grant.sealed_client_secret,
            sealed_previous_client_secret: None,
        };
        let current = credentials_still_current(&mut tx, &fence).await?;
        let minted = self
            .record(&mut tx, call, &seen, &data_key, answer, current)
            .await?;
        leases::release_lease(&mut *tx, target.key, lease_id).await?;
        tx.commit().await?;
        Ok(minted)
    }

    /// Records the call (and, if the seller's credentials are still current, its token and
    /// delivery) in `conn`'s transaction.
    async fn record(
        &self,
        conn: &mut sqlx::PgConnection,
        call: &Call<'_>,
        seen: &Seen,
        data_key: &crate::crypto::DataKey,
        answer: TokensApiCall,
        current: bool,
    ) -> Result<Minted, Error> {
        let (who, target) = (call.who, call.target);
        let set_fingerprint = crate::crypto::public_digest(target.set.canonical().as_bytes());
        let mut issue = NewTokenIssue {
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
        };
        let rdt = match answer.result {
            Ok(rdt) => rdt,
            Err(failure) => {
                let code = failure_code(&failure);
                issue.error_code = Some(&code);
                store::insert_restricted_issue(conn, &issue, &set_fingerprint).await?;
                return Ok(match failure {
                    f if call.retry_allowed && refused_access_token(&f) => Minted::StaleAccessToken,
                    SpApiFailure::Refused { status, errors } => Minted::Refused { status, errors },
                    SpApiFailure::Unavailable(why) => Minted::Unavailable(why),
                });
            }
        };
        let fingerprint = data_key.token_fingerprint(rdt.token.expose_secret());
        let lifetime = chrono::Duration::seconds(i64::try_from(rdt.expires_in).unwrap_or(3600));
        let expires_at = answer.started_at + lifetime;
        issue.expires_at = Some(expires_at);
        issue.token_fingerprint = Some(&fingerprint);
        if !current {
            store::insert_restricted_issue(conn, &issue, &set_fingerprint).await?;
            return Ok(Minted::Superseded);
        }
        let sealed = KeyStore::seal_with(
            data_key,
            &places::cached_token(who.tenant_id, target.key),
            &rdt.token,
        );
        store::record_issued_restricted_token(
            conn,
            &issue,
            &set_fingerprint,
            target.key,
            &sealed,
            expires_at,
        )
        .await?;
        let token = CachedToken {
            tenant_id: who.tenant_id,
            application_id: seen.grant.application_id,
            client_id: seen.grant.client_id.clone(),
            access_token: rdt.token,
            issue_id: issue.id,
            issued_at: answer.started_at,
            expires_at,
        };
        let delivery = if call.deliver {
            let row = delivery_row(who, target, &token, Source::SpApi);
            record_delivery(conn, &row).await?
        } else {
            Ok(())
        };
        Ok(Minted::Issued { token, delivery })
    }

    /// The seller's access token, for the vault's own use: it never leaves the vault, so no
    /// delivery is recorded (its exchange is, as every exchange).
    async fn access_token(
        &self,
        who: &Requester,
        seller_id: Uuid,
        want: Want,
    ) -> Result<super::subject::Delivered, Error> {
        let internal = Requester {
            via: Via::Internal,
            ..who.clone()
        };
        self.0
            .broker
            .seller_token(&internal, seller_id, None, want)
            .await
    }

    /// Amazon refused the seller's access token: a fresh one, once.
    async fn refresh_access_token(&self, who: &Requester, seller_id: Uuid) -> Result<(), Error> {
        let want = Want {
            min_ttl_seconds: 0,
            force_refresh: true,
        };
        self.access_token(who, seller_id, want).await.map(drop)
    }

    /// Waits for the seller's turn at the Tokens API (Amazon's rate), for a bounded time.
    async fn take_turn(&self, seller_id: Uuid) -> Result<(), Error> {
        let pace = self.0.paces.get_with(seller_id, || {
            let quota =
                Quota::per_second(NonZeroU32::new(TOKENS_API_PER_SECOND).expect("a positive rate"))
                    .allow_burst(NonZeroU32::new(TOKENS_API_BURST).expect("a positive burst"));
            Arc::new(RateLimiter::direct(quota))
        });
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

    /// Amazon could not be reached (or another replica's call did not end): an RDT that has
    /// not expired yet still serves.
    async fn fallback(
        &self,
        who: &Requester,
        target: Target<'_>,
        seen: &Seen,
        read_at: Generation,
        why: String,
    ) -> Result<DeliveredRdt, Error> {
        let still_valid = seen
            .stored
            .as_ref()
            .filter(|row| row.expires_at > Utc::now());
        let token = match still_valid {
            Some(row) => Some(self.unseal(who, target, seen, row, read_at).await?),
            None => self
                .0
                .cache
                .get(target.key)
                .filter(|t| t.tenant_id == who.tenant_id && t.expires_at > Utc::now()),
        };
        match token {
            Some(token) => self.deliver(who, target, &token, Source::Cache).await,
            None => Err(Error::SpApiUnavailable(why)),
        }
    }

    /// Starts a refresh in the background if `token` is inside the refresh-ahead window.
    fn refresh_if_due(&self, who: &Requester, target: Target<'_>, token: &CachedToken) {
        if token.seconds_left(Utc::now()) > self.0.ahead_seconds {
            return;
        }
        if !self.0.refreshing.entry(target.key).or_insert(()).is_fresh() {
            return;
        }
        let (this, who) = (
            self.clone(),
            Requester {
                via: Via::Internal,
                ..who.clone()
            },
        );
        let (seller_id, set, key) = (target.seller_id, target.set.clone(), target.key);
        tokio::spawn(async move {
            let target = Target {
                seller_id,
                set: &set,
                key,
            };
            if let Err(err) = this.refresh(&who, target).await {
                tracing::warn!(error = %err, "a Restricted Data Token's refresh ahead of expiry failed; it serves on");
            }
            this.0.refreshing.invalidate(&key);
        });
    }

    async fn refresh(&self, who: &Requester, target: Target<'_>) -> Result<(), Error> {
        let flight = self
            .0
            .flights
            .get_with(target.key, || Arc::new(Mutex::new(())));
        let _guard = flight.lock().await;
        let want = Want {
            min_ttl_seconds: self.0.ahead_seconds,
            force_refresh: false,
        };
        if self.fresh_in_memory(who, target.key, want).is_some() {
            return Ok(());
        }
        let read_at = self.0.cache.generation();
        let seen = self.seen(who, target).await?;
        if let Some(stored) = seen
            .stored
            .as_ref()
            .filter(|s| self.usable(s, want, Utc::now()))
        {
            self.unseal(who, target, &seen, stored, read_at).await?;
            return Ok(());
        }
        let mut refreshed_access_token = false;
        loop {
            match self
                .mint(
                    who,
                    target,
                    want,
                    Utc::now(),
                    false,
                    !refreshed_access_token,
                )
                .await?
            {
                Minted::Issued { token, .. } => {
                    self.0.cache.insert(target.key, Arc::new(token), read_at);
                }
                Minted::Stored(seen, stored) => {
                    self.unseal(who, target, &seen, &stored, read_at).await?;
                }
                Minted::StaleAccessToken => {
                    self.refresh_access_token(who, target.seller_id).await?;
                    refreshed_access_token = true;
                    continue;
                }
                Minted::Refused { status, errors } => {
                    return Err(Error::SpApiRefused { status, errors })
                }
                _ => {}
            }
            return Ok(());
        }
    }

    /// Opens a stored RDT and keeps it in memory.
    async fn unseal(
        &self,
        who: &Requester,
        target: Target<'_>,
        seen: &Seen,
        stored: &CachedTokenRow,
        read_at: Generation,
    ) -> Result<Arc<CachedToken>, Error> {
        let rdt = self
            .0
            .keystore
            .open(
                &places::cached_token(who.tenant_id, target.key),
                &stored.sealed_token,
            )
            .await
            .map_err(|err| match err {
                SecretError::NoDataKey => {
                    Error::not_found(format_args!("seller {}", target.seller_id))
                }
                err => Error::secret(err, CredentialKind::AccessToken),
            })?;
        let token = Arc::new(CachedToken {
            tenant_id: who.tenant_id,
            application_id: seen.grant.application_id,
            client_id: seen.grant.client_id.clone(),
            access_token: rdt,
            issue_id: stored.issue_id,
            issued_at: stored.issued_at,
            expires_at: stored.expires_at,
        });
        self.0.cache.insert(target.key, Arc::clone(&token), read_at);
        Ok(token)
    }

    /// Records the delivery (durably, group-committed with others) and hands the RDT out.
    async fn deliver(
        &self,
        who: &Requester,
        target: Target<'_>,
        token: &CachedToken,
        source: Source,
    ) -> Result<DeliveredRdt, Error> {
        if !who.via.broker_records() {
            return Ok(delivered(token, source));
        }
        match self
            .0
            .deliveries
            .record(delivery_row(who, target, token, source))
            .await
        {
            Ok(()) => Ok(delivered(token, source)),
            Err(DeliveryError::Refused) => {
                let subject = Subject::Seller {
                    seller_id: target.seller_id,
                    client_id: None,
                };
                Err(self.0.broker.why_refused(who.tenant_id, &subject).await)
            }
            Err(DeliveryError::Unwritten(reason)) => Err(Error::RecordUnwritten(reason)),
        }
    }
}

/// One Tokens API call to make, holding the lease.
struct Call<'a> {
    who: &'a Requester,
    target: Target<'a>,
    want: Want,
    requested_at: DateTime<Utc>,
    deliver: bool,
    /// Whether a refused access token may be refreshed and the call made again.
    retry_allowed: bool,
    access_token: &'a SecretString,
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

fn delivered(token: &CachedToken, source: Source) -> DeliveredRdt {
    DeliveredRdt {
        restricted_data_token: token.access_token.clone(),
        application_id: token.application_id,
        issued_at: token.issued_at,
        expires_at: token.expires_at,
        source,
        issue_id: token.issue_id,
    }
}

fn delivery_row(
    who: &Requester,
    target: Target<'_>,
    token: &CachedToken,
    source: Source,
) -> NewTokenDelivery {
    NewTokenDelivery {
        id: Uuid::now_v7(),
        tenant_id: who.tenant_id,
        issue_id: token.issue_id,
        seller_id: Some(target.seller_id),
        application_id: token.application_id,
        api_key_id: who.api_key_id.unwrap_or_default(),
        source: source.as_str(),
        via: who.via.as_str(),
        kind: KIND,
        delivered_at: Utc::now(),
        request_id: who.request_id.clone(),
        client_ip: who.client_ip.clone(),
        proxy: None,
    }
}
