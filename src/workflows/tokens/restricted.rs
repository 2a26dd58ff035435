//! Restricted Data Tokens: a seller's token for a set of restricted resources (operations that
//! return personal data), from SP-API's Tokens API, by the broker's rules and mechanisms:
//!
//! - cached per seller and canonical resource set ([`ResourceSet::cache_key`]): in memory
//!   ([`TokenCache::bounded`]: bounded in count and bytes, entries gone at expiry) and sealed in
//!   `cached_token`, handed out while they have more than `max(min_ttl_seconds, refresh skew)`
//!   left, refreshed in the background inside the refresh-ahead window;
//! - one Tokens API call at a time per seller and set: this process's flight, then the lease of
//!   `db::leases` across replicas, the call made holding no connection ([`mint`], in the shape
//!   of an exchange at LWA and with its pieces);
//! - the commit fenced like an exchange's: an RDT minted while the seller's refresh token was
//!   replaced is recorded but never stored;
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

mod mint;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::DefaultDirectRateLimiter;
use moka::sync::Cache;
use sqlx::PgPool;
use tokio::sync::Mutex;
use uuid::Uuid;

use self::mint::{Ask, Job, Minted, Seen, Target, LONGEST_QUEUE};
use super::broker::{Broker, RefreshPolicy};
use super::cache::{CachedToken, Generation, TokenCache};
use super::exchange::{self, usable};
use super::subject::{Delivered, Requester, Source, Via, Want};
use crate::amazon::sp_api::SpApiClient;
use crate::db::cached_tokens::CachedTokenRow;
use crate::domain::{CredentialKind, ResourceSet};
use crate::keystore::{places, KeyStore};
use crate::metrics;
use crate::workflows::Error;

pub use self::mint::RESTRICTED_DATA_TOKEN_GRANT;

const FIRST_WAIT: Duration = Duration::from_millis(10);
const LONGEST_WAIT: Duration = Duration::from_millis(200);
const MOST_SUPERSEDED: u32 = 3;
/// Flights and per-seller paces kept at most (each a few hundred bytes).
const MOST_FLIGHTS: u64 = 100_000;

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
    skew_seconds: i64,
    ahead_seconds: i64,
    lease: Duration,
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
    ) -> Result<Delivered, Error> {
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
    ) -> Result<Delivered, Error> {
        let requested_at = Utc::now();
        if let Some(token) = self.fresh_in_memory(who, target.key, want) {
            self.refresh_if_due(who, target, &token);
            return self.deliver(who, target, &token, Source::Cache).await;
        }
        metrics::token_cache(false);
        let flight = self
            .0
            .flights
            .get_with(target.key, || Arc::new(Mutex::new(())));
        let guard = flight.lock().await;
        if let Some(token) = self.fresh_in_memory(who, target.key, want) {
            drop(guard);
            return self.deliver(who, target, &token, Source::Cache).await;
        }
        // Boxed, as in the broker's `serve`: the mint's state stays out of every cached fetch's
        // future.
        Box::pin(self.obtain(who, target, want, requested_at)).await
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
        metrics::token_cache(true);
        Some(token)
    }

    fn usable(&self, stored: &CachedTokenRow, want: Want, requested_at: DateTime<Utc>) -> bool {
        usable(stored, want, requested_at, self.threshold(want))
    }

    /// The RDT from `cached_token`, or else from the Tokens API. The caller holds the flight.
    async fn obtain(
        &self,
        who: &Requester,
        target: Target<'_>,
        want: Want,
        requested_at: DateTime<Utc>,
    ) -> Result<Delivered, Error> {
        let waiting_since = tokio::time::Instant::now();
        let mut wait = FIRST_WAIT;
        let mut superseded = 0;
        let mut refreshed_access_token = false;
        loop {
            let read_at = self.0.cache.generation();
            let seen = mint::read(&self.0.pool, who, target).await?;
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
            let ask = Ask {
                want,
                requested_at,
                deliver: who.via.broker_records(),
                retry_allowed: !refreshed_access_token,
            };
            let minted = self.mint(who, target, &seen, ask).await?;
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
                    return delivery.map(|()| token.delivered(Source::SpApi));
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

    /// One call of the Tokens API ([`mint`]), after `seen` was read: first the seller's access
    /// token (holding nothing: no lease, no slot, no turn).
    async fn mint(
        &self,
        who: &Requester,
        target: Target<'_>,
        seen: &Seen,
        ask: Ask,
    ) -> Result<Minted, Error> {
        let access = self
            .access_token(who, target.seller_id, Want::default())
            .await?;
        let pace = self
            .0
            .paces
            .get_with(target.seller_id, || Arc::new(mint::pace()));
        mint::run(Job {
            pool: &self.0.pool,
            sp_api: &self.0.sp_api,
            keystore: &self.0.keystore,
            slots: self.0.broker.exchange_slots(),
            pace: &pace,
            who,
            target,
            seen,
            access_token: &access.token,
            ask,
            threshold: self.threshold(ask.want),
            lease: self.0.lease,
        })
        .await
    }

    /// The seller's access token, for the vault's own use: it never leaves the vault, so no
    /// delivery is recorded (its exchange is, as every exchange).
    async fn access_token(
        &self,
        who: &Requester,
        seller_id: Uuid,
        want: Want,
    ) -> Result<Delivered, Error> {
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

    /// Amazon could not be reached (or another replica's call did not end): an RDT that has
    /// not expired yet still serves.
    async fn fallback(
        &self,
        who: &Requester,
        target: Target<'_>,
        seen: &Seen,
        read_at: Generation,
        why: String,
    ) -> Result<Delivered, Error> {
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
        let seen = mint::read(&self.0.pool, who, target).await?;
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
            let ask = Ask {
                want,
                requested_at: Utc::now(),
                deliver: false,
                retry_allowed: !refreshed_access_token,
            };
            match self.mint(who, target, &seen, ask).await? {
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
            .map_err(|err| {
                exchange::secret_error(err, &target.seller(), CredentialKind::AccessToken)
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
    ) -> Result<Delivered, Error> {
        let seller = target.seller();
        self.0
            .broker
            .deliver_as(who, &seller, token, source, mint::KIND)
            .await
    }
}
