//! The token broker: a valid access token for a seller (or an application and scope), fast,
//! whatever else is happening — and on record before it leaves.
//!
//! 1. A token in memory with more than `max(min_ttl_seconds, refresh skew)` left is delivered at
//!    once (the hot path: no database round trip but the delivery record, which is
//!    group-committed). If it has less than the refresh-ahead window left, one exchange starts in
//!    the background (`refresh`), so that callers of a busy seller never wait for LWA.
//! 2. Otherwise the caller takes this process's flight for the key (callers after it wait for
//!    its result, holding no connection), then looks again: in memory, then in `cached_token`
//!    (another replica may have stored one).
//! 3. Otherwise it runs the exchange (`exchange`), single flight across replicas by a lease. If
//!    another replica holds the lease, it waits for that replica's token to appear in
//!    `cached_token` (or for the lease to be free again).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::sync::Cache;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::sync::{Mutex, Semaphore, SemaphorePermit};
use uuid::Uuid;

use super::authorization_code::CodeExchange;
use super::cache::{CachedToken, Generation, TokenCache};
use super::exchange::{self, Credentials, Exchanged, Job, Lease, Next};
use super::subject::{
    grantless_cache_key, Delivered, OwnedSubject, Requester, Source, Subject, Verdict, Want,
};
use crate::amazon::lwa_client::{Grant, LwaClient};
use crate::db::cached_tokens::{CachedTokenRow, Freshness};
use crate::db::{self, applications, tenants};
use crate::domain::{ClientId, CredentialKind};
use crate::invalidation::{Invalidate, Invalidation};
use crate::keystore::{places, KeyStore};
use crate::metrics;
use crate::workflows::trail::deliveries::{DeliveryError, DeliveryWriter};
use crate::workflows::Error;

/// When tokens are renewed.
#[derive(Debug, Clone, Copy)]
pub struct RefreshPolicy {
    /// A token with this many seconds or less left is not handed out (unless LWA is down).
    pub skew_seconds: u64,
    /// A token with this many seconds or less left is still handed out, and replaced in the
    /// background. Always more than the skew.
    pub ahead_seconds: u64,
    /// Exchanges in flight in this process, whatever the database pool's size.
    pub max_concurrent_exchanges: usize,
}

/// The broker; cheap to clone (one shared state), so a refresh can outlive its request.
#[derive(Clone)]
pub struct Broker(Arc<Inner>);

struct Inner {
    pool: PgPool,
    keystore: Arc<KeyStore>,
    lwa: LwaClient,
    cache: Arc<TokenCache>,
    flights: Cache<Uuid, Arc<Mutex<()>>>,
    /// Keys with a refresh ahead of expiry running in this process.
    refreshing: Cache<Uuid, ()>,
    exchange_slots: Semaphore,
    deliveries: DeliveryWriter,
    skew_seconds: i64,
    ahead_seconds: i64,
    /// How long an exchange's lease lasts: longer than the longest exchange.
    lease: Duration,
}

/// Between two looks at `cached_token` while another replica exchanges.
const FIRST_WAIT: Duration = Duration::from_millis(10);
const LONGEST_WAIT: Duration = Duration::from_millis(200);
/// How often in a row a caller starts over because the credentials changed under its exchange.
const MOST_SUPERSEDED: u32 = 3;

impl Broker {
    pub fn new(
        pool: PgPool,
        keystore: Arc<KeyStore>,
        lwa: LwaClient,
        cache: Arc<TokenCache>,
        deliveries: DeliveryWriter,
        policy: RefreshPolicy,
    ) -> Self {
        let seconds = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
        let lease = lwa.longest_exchange() + Duration::from_secs(5);
        Self(Arc::new(Inner {
            pool,
            keystore,
            lwa,
            cache,
            flights: Cache::builder()
                .time_to_idle(Duration::from_secs(60))
                .build(),
            refreshing: Cache::builder().time_to_live(lease).build(),
            exchange_slots: Semaphore::new(policy.max_concurrent_exchanges.max(1)),
            deliveries,
            skew_seconds: seconds(policy.skew_seconds),
            ahead_seconds: seconds(policy.ahead_seconds),
            lease,
        }))
    }

    /// The access token of a seller of the requester's tenant. With `client_id`, the seller's
    /// application must have that LWA client id (checked before anything else is revealed).
    pub async fn seller_token(
        &self,
        who: &Requester,
        seller_id: Uuid,
        client_id: Option<&str>,
        want: Want,
    ) -> Result<Delivered, Error> {
        let subject = Subject::Seller {
            seller_id,
            client_id,
        };
        self.token(who, subject, want).await
    }

    /// A grantless token (`client_credentials`) of an application of the requester's tenant.
    pub async fn grantless_token(
        &self,
        who: &Requester,
        application_id: Uuid,
        scope: &str,
        want: Want,
    ) -> Result<Delivered, Error> {
        let subject = Subject::Grantless {
            application_id,
            scope,
            cache_key: grantless_cache_key(application_id, scope),
        };
        self.token(who, subject, want).await
    }

    /// A grantless token of the requester's application with this LWA client id (the
    /// LWA-compatible endpoint names applications so).
    pub async fn grantless_token_for_client(
        &self,
        who: &Requester,
        client_id: &ClientId,
        scope: &str,
        want: Want,
    ) -> Result<Delivered, Error> {
        let application =
            applications::find_application_by_client_id(&self.0.pool, who.tenant_id, client_id)
                .await?
                .ok_or_else(|| Error::not_found("an application with this client id"))?;
        self.grantless_token(who, application.id, scope, want).await
    }

    /// Exchanges a seller's consent (`spapi_oauth_code`) for its refresh token at LWA, with the
    /// application's client credentials and the redirect URI the consent page was opened with.
    /// Counts as one of this process's exchanges in flight; records nothing (see
    /// [`CodeExchange::record`]).
    pub async fn exchange_authorization_code(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        code: &SecretString,
        redirect_uri: &str,
    ) -> Result<CodeExchange, Error> {
        let _slot = self
            .0
            .exchange_slots
            .acquire()
            .await
            .map_err(|_| anyhow::anyhow!("the exchange semaphore was closed"))?;
        let grant = Grant::AuthorizationCode { code, redirect_uri };
        let attempts = self.0.lwa.exchange(client_id, client_secret, &grant).await;
        Ok(CodeExchange { attempts })
    }

    async fn token(
        &self,
        who: &Requester,
        subject: Subject<'_>,
        want: Want,
    ) -> Result<Delivered, Error> {
        self.serve(who, subject, want)
            .await
            .map_err(|err| match err {
                // A foreign key that no longer holds: the tenant (and all it owned) or the
                // subject was deleted while its token was being obtained.
                Error::Database(err) if db::violated_foreign_key(&err).is_some() => {
                    subject.not_found()
                }
                err => err,
            })
    }

    async fn serve(
        &self,
        who: &Requester,
        subject: Subject<'_>,
        want: Want,
    ) -> Result<Delivered, Error> {
        let requested_at = Utc::now();
        if let Some(token) = self.fresh_in_memory(who, &subject, want)? {
            self.refresh_if_due(who, &subject, &token);
            return self.deliver(who, &subject, &token, Source::Cache).await;
        }
        metrics::token_cache(false);
        let flight = self.flight(subject.cache_key());
        let guard = flight.lock().await;
        // The flight before this one may just have brought a token: deliver it without holding
        // the flight, so that the callers who waited are recorded together, not one by one.
        if let Some(token) = self.fresh_in_memory(who, &subject, want)? {
            drop(guard);
            return self.deliver(who, &subject, &token, Source::Cache).await;
        }
        // Boxed: the exchange's state (LWA's HTTP call, the lease, the record) is kilobytes, and
        // inline it would make every cached fetch's future as large, which actix moves into a box
        // of its own on every request.
        Box::pin(self.obtain(who, subject, want, requested_at)).await
    }

    pub(super) fn flight(&self, cache_key: Uuid) -> Arc<Mutex<()>> {
        self.0
            .flights
            .get_with(cache_key, || Arc::new(Mutex::new(())))
    }

    /// Bounds the calls for tokens (at LWA or SP-API) in flight in this process.
    pub(super) fn exchange_slots(&self) -> &Semaphore {
        &self.0.exchange_slots
    }

    /// Tokens with this many seconds or less left are not handed out for `want`.
    fn threshold(&self, want: Want) -> i64 {
        want.min_ttl_seconds.max(self.0.skew_seconds)
    }

    /// The token in this process's memory, if it may be handed out for `want`.
    pub(super) fn fresh_in_memory(
        &self,
        who: &Requester,
        subject: &Subject<'_>,
        want: Want,
    ) -> Result<Option<Arc<CachedToken>>, Error> {
        if want.force_refresh {
            return Ok(None);
        }
        let Some(token) = self.0.cache.get(subject.cache_key()) else {
            return Ok(None);
        };
        if token.tenant_id != who.tenant_id {
            return Ok(None);
        }
        if subject.client_id().is_some_and(|id| id != token.client_id) {
            return Err(Error::ClientMismatch);
        }
        if token.seconds_left(Utc::now()) <= self.threshold(want) {
            return Ok(None);
        }
        metrics::token_cache(true);
        Ok(Some(token))
    }

    /// Starts a refresh in the background if `token` is inside the refresh-ahead window.
    fn refresh_if_due(&self, who: &Requester, subject: &Subject<'_>, token: &CachedToken) {
        if token.seconds_left(Utc::now()) > self.0.ahead_seconds {
            return;
        }
        let key = subject.cache_key();
        // One refresh per key at a time in this process (the lease makes it one across all).
        if !self.0.refreshing.entry(key).or_insert(()).is_fresh() {
            return;
        }
        let (broker, who, owned) = (self.clone(), who.clone(), OwnedSubject::of(subject));
        tokio::spawn(async move {
            if let Err(err) = broker.refresh(&who, owned.subject()).await {
                tracing::warn!(error = %err, "a refresh ahead of expiry failed; the token serves on");
            }
            broker.0.refreshing.invalidate(&key);
        });
    }

    /// Replaces a token nearing expiry, for later callers: the exchange is recorded like any
    /// other, its token goes to the caches only, and a failure changes nothing for callers while
    /// the old token serves.
    async fn refresh(&self, who: &Requester, subject: Subject<'_>) -> Result<(), Error> {
        let flight = self.flight(subject.cache_key());
        let _guard = flight.lock().await;
        let want = Want {
            min_ttl_seconds: self.0.ahead_seconds,
            force_refresh: false,
        };
        if self.fresh_in_memory(who, &subject, want)?.is_some() {
            return Ok(()); // refreshed meanwhile
        }
        let read_at = self.0.cache.generation();
        let fresh = exchange::freshness(want, Utc::now(), self.threshold(want));
        // A refresh waits for no slot: with none free it only looks for another replica's
        // token, and otherwise leaves the old one serving (a later caller starts it again).
        let slot = self.0.exchange_slots.try_acquire().ok();
        let lease = slot.is_some().then_some(self.0.lease);
        let (seen, lease) = match exchange::read(&self.0.pool, who, &subject, fresh, lease).await? {
            // Another replica refreshed it: take its token into memory.
            (seen, Next::Stored(stored)) => {
                drop(slot);
                self.unseal_stored(who, &subject, &seen, &stored, read_at)
                    .await?;
                return Ok(());
            }
            // Another replica is refreshing it, or every slot is in use.
            (_, Next::Busy | Next::Stale) => return Ok(()),
            (seen, Next::Exchange(lease)) => (seen, lease),
        };
        let exchanged = self
            .exchange(who, subject, &seen, fresh, lease, false)
            .await?;
        drop(slot);
        match exchanged {
            Exchanged::Stored {
                credentials,
                stored,
            } => {
                self.unseal_stored(who, &subject, &credentials, &stored, read_at)
                    .await?;
            }
            Exchanged::Issued { token, .. } => {
                self.0
                    .cache
                    .insert(subject.cache_key(), Arc::new(token), read_at);
            }
            Exchanged::Refused { verdict } => return Err(self.refused(&verdict)),
            // LWA is down (recorded, the token serves on); or the credentials changed (their
            // next caller exchanges with the new ones).
            Exchanged::Unavailable { .. } | Exchanged::Superseded => {}
        }
        Ok(())
    }

    /// A token from `cached_token`, or else from LWA. The caller holds the subject's flight.
    async fn obtain(
        &self,
        who: &Requester,
        subject: Subject<'_>,
        want: Want,
        requested_at: DateTime<Utc>,
    ) -> Result<Delivered, Error> {
        let threshold = self.threshold(want);
        let waiting_since = tokio::time::Instant::now();
        let mut wait = FIRST_WAIT;
        let mut superseded = 0;
        let mut slot = None;
        loop {
            // Before anything is read that may go into the cache.
            let read_at = self.0.cache.generation();
            let fresh = exchange::freshness(want, requested_at, threshold);
            // Only a caller that can start its exchange at once takes the lease: with one of the
            // process's exchange slots, if one is free. (A stored token is read all the same.)
            if slot.is_none() {
                slot = self.0.exchange_slots.try_acquire().ok();
            }
            let lease = slot.is_some().then_some(self.0.lease);
            let (seen, lease) =
                match exchange::read(&self.0.pool, who, &subject, fresh, lease).await? {
                    (seen, Next::Stored(stored)) => {
                        drop(slot);
                        let token = self
                            .unseal_stored(who, &subject, &seen, &stored, read_at)
                            .await?;
                        if !want.force_refresh {
                            self.refresh_if_due(who, &subject, &token);
                        }
                        return self.deliver(who, &subject, &token, Source::Cache).await;
                    }
                    (seen, Next::Exchange(lease)) => (seen, lease),
                    // (Read without the lease, for want of a slot: only then can it be stale.)
                    (_, Next::Stale) => {
                        // Every slot is in use: wait for one, then read again, taking the lease.
                        drop(slot.take());
                        slot = Some(self.exchange_slot().await?);
                        continue;
                    }
                    (seen, Next::Busy) if waiting_since.elapsed() >= self.0.lease => {
                        drop(slot);
                        return self.fallback(who, &subject, &seen, read_at).await;
                    }
                    (_, Next::Busy) => {
                        // Another replica exchanges: its token will be in `cached_token`.
                        slot = None;
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(LONGEST_WAIT);
                        continue;
                    }
                };
            let deliver = who.via.broker_records();
            let exchanged = self
                .exchange(who, subject, &seen, fresh, lease, deliver)
                .await?;
            slot = None;
            match exchanged {
                Exchanged::Superseded if superseded < MOST_SUPERSEDED => superseded += 1,
                Exchanged::Superseded => return Err(Error::Upstream),
                Exchanged::Stored {
                    credentials,
                    stored,
                } => {
                    let token = self
                        .unseal_stored(who, &subject, &credentials, &stored, read_at)
                        .await?;
                    return self.deliver(who, &subject, &token, Source::Cache).await;
                }
                Exchanged::Issued { token, delivery } => {
                    let token = Arc::new(token);
                    self.0
                        .cache
                        .insert(subject.cache_key(), Arc::clone(&token), read_at);
                    return delivery.map(|()| token.delivered(Source::Lwa));
                }
                Exchanged::Refused { verdict } => return Err(self.refused(&verdict)),
                Exchanged::Unavailable { credentials } => {
                    return self.fallback(who, &subject, &credentials, read_at).await
                }
            }
        }
    }

    /// One of this process's exchange slots.
    async fn exchange_slot(&self) -> Result<SemaphorePermit<'_>, Error> {
        self.0
            .exchange_slots
            .acquire()
            .await
            .map_err(|_| anyhow::anyhow!("the exchange semaphore was closed").into())
    }

    async fn exchange(
        &self,
        who: &Requester,
        subject: Subject<'_>,
        seen: &Credentials,
        fresh: Freshness,
        lease: Lease,
        deliver: bool,
    ) -> Result<Exchanged, Error> {
        exchange::run(Job {
            pool: &self.0.pool,
            lwa: &self.0.lwa,
            keystore: &self.0.keystore,
            who,
            subject,
            seen,
            fresh,
            lease,
            deliver,
        })
        .await
    }

    /// LWA could not be reached (or another replica's exchange did not end): a token that has
    /// not expired yet still serves, else `Upstream`.
    async fn fallback(
        &self,
        who: &Requester,
        subject: &Subject<'_>,
        credentials: &Credentials,
        read_at: Generation,
    ) -> Result<Delivered, Error> {
        let still_valid = credentials
            .stored
            .as_ref()
            .filter(|row| row.expires_at > Utc::now());
        let token = match still_valid {
            Some(row) => Some(
                self.unseal_stored(who, subject, credentials, row, read_at)
                    .await?,
            ),
            None => self
                .0
                .cache
                .get(subject.cache_key())
                .filter(|t| t.tenant_id == who.tenant_id && t.expires_at > Utc::now()),
        };
        match token {
            Some(token) => self.deliver(who, subject, &token, Source::Cache).await,
            None => Err(Error::Upstream),
        }
    }

    /// LWA refused the exchange (its verdict is already recorded): forget what it invalidated.
    fn refused(&self, verdict: &Verdict) -> Error {
        match *verdict {
            Verdict::SellerRevoked { seller_id } => {
                self.0.cache.invalidate(Invalidation::Seller(seller_id))
            }
            Verdict::ClientRejected { application_id } => self
                .0
                .cache
                .invalidate(Invalidation::Application(application_id)),
            Verdict::Refused(_) => {}
        }
        verdict.error()
    }

    /// Opens a stored token and keeps it in memory.
    async fn unseal_stored(
        &self,
        who: &Requester,
        subject: &Subject<'_>,
        credentials: &Credentials,
        stored: &CachedTokenRow,
        read_at: Generation,
    ) -> Result<Arc<CachedToken>, Error> {
        let access_token = self
            .0
            .keystore
            .open(
                &places::cached_token(who.tenant_id, subject.cache_key()),
                &stored.sealed_token,
            )
            .await
            .map_err(|err| exchange::secret_error(err, subject, CredentialKind::AccessToken))?;
        let token = Arc::new(CachedToken {
            tenant_id: who.tenant_id,
            application_id: credentials.application_id,
            client_id: credentials.client_id.clone(),
            access_token,
            issue_id: stored.issue_id,
            issued_at: stored.issued_at,
            expires_at: stored.expires_at,
        });
        self.0
            .cache
            .insert(subject.cache_key(), Arc::clone(&token), read_at);
        Ok(token)
    }

    /// Records the delivery (durably, group-committed with others) and hands the token out.
    async fn deliver(
        &self,
        who: &Requester,
        subject: &Subject<'_>,
        token: &CachedToken,
        source: Source,
    ) -> Result<Delivered, Error> {
        self.deliver_as(who, subject, token, source, exchange::ACCESS_TOKEN)
            .await
    }

    /// As `deliver`, for a token of `kind` (a Restricted Data Token's, say: see `restricted`).
    pub(super) async fn deliver_as(
        &self,
        who: &Requester,
        subject: &Subject<'_>,
        token: &CachedToken,
        source: Source,
        kind: &'static str,
    ) -> Result<Delivered, Error> {
        if !who.via.broker_records() {
            return Ok(token.delivered(source));
        }
        match self
            .0
            .deliveries
            .record(exchange::delivery_row(who, subject, token, source, kind))
            .await
        {
            Ok(()) => Ok(token.delivered(source)),
            Err(DeliveryError::Refused) => Err(self.why_refused(who.tenant_id, subject).await),
            Err(DeliveryError::Unwritten(reason)) => Err(Error::RecordUnwritten(reason)),
        }
    }

    /// A delivery record was refused: the tenant was disabled, or it or the subject deleted.
    pub(super) async fn why_refused(&self, tenant_id: Uuid, subject: &Subject<'_>) -> Error {
        match tenants::find_tenant(&self.0.pool, tenant_id).await {
            Ok(Some(tenant)) if tenant.disabled => Error::TenantDisabled,
            Ok(_) => subject.not_found(),
            Err(err) => Error::from(err),
        }
    }
}
