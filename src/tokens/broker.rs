//! The token broker: a valid access token for a seller (or an application and scope), fast,
//! whatever else is happening — and on record before it leaves.
//!
//! 1. A token in memory with enough life left is delivered at once (the hot path: no database
//!    round trip but the delivery record, which is group-committed).
//! 2. Otherwise the caller takes this process's flight for the key, then looks again: in memory,
//!    then in `cached_token` (another replica may have stored one).
//! 3. Otherwise it runs the exchange (`exchange`): under the key's PostgreSQL advisory locks (one
//!    exchange at a time across every replica, and no change of the credentials meanwhile: see
//!    `db::tokens`) it reads the credentials and `cached_token` once more, and only then
//!    exchanges at LWA. The attempts, the new token (sealed), any state LWA's answer implies and
//!    the delivery are committed together before the locks are released.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::sync::Cache;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::sync::{Mutex, Semaphore};
use uuid::Uuid;

use super::cache::{CachedToken, TokenCache};
use super::exchange::{self, Credentials, Job, Locked, Subject};
use super::lwa_client::LwaClient;
use crate::audit::deliveries::{DeliveryError, DeliveryWriter};
use crate::db::notify::Invalidation;
use crate::db::tokens::CachedTokenRow;
use crate::invalidation::Invalidate;
use crate::keystore::{KeyStore, SecretError};
use crate::metrics;

/// Which endpoint a token leaves through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    V1,
    LwaCompat,
}

impl Via {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Via::V1 => "v1",
            Via::LwaCompat => "lwa_compat",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Lwa,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cache => "cache",
            Source::Lwa => "lwa",
        }
    }
}

/// Who asks, for the record.
#[derive(Debug, Clone)]
pub struct Requester {
    pub tenant_id: Uuid,
    pub api_key_id: Uuid,
    pub request_id: String,
    pub client_ip: String,
    pub via: Via,
}

/// What the caller needs of the token.
#[derive(Debug, Clone, Copy, Default)]
pub struct Want {
    /// Seconds of life the token must have left.
    pub min_ttl_seconds: i64,
    /// Exchange even if a fresh token is cached.
    pub force_refresh: bool,
}

/// A token handed out, recorded.
pub struct Delivered {
    pub access_token: SecretString,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub source: Source,
    pub issue_id: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("not found")]
    NotFound,
    #[error("the tenant is disabled")]
    TenantDisabled,
    /// The caller named another client id than the seller's application's.
    #[error("the client id is not the seller's application's")]
    ClientMismatch,
    #[error("the seller's authorization was revoked")]
    SellerRevoked,
    #[error("the application's client credentials were rejected")]
    ClientRejected,
    #[error("the stored {0} cannot be decrypted in its place")]
    Unreadable(&'static str),
    /// LWA refused the request for a reason that is not the credentials' fault (a bad scope…).
    #[error("LWA refused the exchange: {0}")]
    LwaRefused(String),
    #[error("LWA is unavailable")]
    Upstream,
    #[error("the token's record could not be written")]
    RecordUnwritten(String),
    #[error(transparent)]
    Keys(SecretError),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for BrokerError {
    /// A foreign key that no longer holds means the tenant (and all it owned) was deleted while
    /// its token was being obtained.
    fn from(err: sqlx::Error) -> Self {
        if crate::db::violated_foreign_key(&err).is_some() {
            Self::NotFound
        } else {
            Self::Database(err)
        }
    }
}

impl BrokerError {
    fn from_secret(err: SecretError, credential: &'static str) -> Self {
        match err {
            SecretError::Unreadable => Self::Unreadable(credential),
            SecretError::NoDataKey => Self::NotFound,
            SecretError::Database(err) => Self::from(err),
            other => Self::Keys(other),
        }
    }
}

pub struct Broker {
    pool: PgPool,
    keystore: Arc<KeyStore>,
    lwa: LwaClient,
    cache: Arc<TokenCache>,
    flights: Cache<Uuid, Arc<Mutex<()>>>,
    /// Exchanges in flight hold a pooled connection (their locks live in its transaction) for as
    /// long as LWA takes; this bound leaves the rest of the pool to everything else.
    exchange_slots: Semaphore,
    deliveries: DeliveryWriter,
    refresh_skew_seconds: i64,
}

/// How long to tell callers to wait after LWA stayed unavailable.
pub const UPSTREAM_RETRY_AFTER_SECS: u64 = 5;

impl Broker {
    pub fn new(
        pool: PgPool,
        keystore: Arc<KeyStore>,
        lwa: LwaClient,
        cache: Arc<TokenCache>,
        deliveries: DeliveryWriter,
        refresh_skew_seconds: u64,
    ) -> Self {
        let pool_size = usize::try_from(pool.options().get_max_connections()).unwrap_or(1);
        Self {
            pool,
            keystore,
            lwa,
            cache,
            flights: Cache::builder()
                .time_to_idle(Duration::from_secs(60))
                .build(),
            exchange_slots: Semaphore::new((pool_size * 3 / 4).max(1)),
            deliveries,
            refresh_skew_seconds: i64::try_from(refresh_skew_seconds).unwrap_or(i64::MAX),
        }
    }

    /// The access token of a seller of the requester's tenant. With `client_id`, the seller's
    /// application must have that LWA client id (checked before anything else is revealed).
    pub async fn seller_token(
        &self,
        who: &Requester,
        seller_id: Uuid,
        client_id: Option<&str>,
        want: Want,
    ) -> Result<Delivered, BrokerError> {
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
    ) -> Result<Delivered, BrokerError> {
        let subject = Subject::Grantless {
            application_id,
            scope,
            cache_key: grantless_cache_key(application_id, scope),
        };
        self.token(who, subject, want).await
    }

    async fn token(
        &self,
        who: &Requester,
        subject: Subject<'_>,
        want: Want,
    ) -> Result<Delivered, BrokerError> {
        let requested_at = Utc::now();
        if let Some(token) = self.fresh_in_memory(who, &subject, want)? {
            return self.deliver(who, &subject, &token, Source::Cache).await;
        }
        metrics::token_cache("miss");
        let flight = self.flight(subject.cache_key());
        let guard = flight.lock().await;
        // The flight before this one may just have brought a token: deliver it without holding
        // the flight, so that the callers who waited are recorded together, not one by one.
        if let Some(token) = self.fresh_in_memory(who, &subject, want)? {
            drop(guard);
            return self.deliver(who, &subject, &token, Source::Cache).await;
        }
        self.obtain(who, subject, want, requested_at).await
    }

    fn flight(&self, cache_key: Uuid) -> Arc<Mutex<()>> {
        self.flights
            .get_with(cache_key, || Arc::new(Mutex::new(())))
    }

    /// Tokens with this many seconds or less left are not handed out for `want`.
    fn threshold(&self, want: Want) -> i64 {
        want.min_ttl_seconds.max(self.refresh_skew_seconds)
    }

    /// The token in this process's memory, if it may be handed out for `want`.
    fn fresh_in_memory(
        &self,
        who: &Requester,
        subject: &Subject<'_>,
        want: Want,
    ) -> Result<Option<Arc<CachedToken>>, BrokerError> {
        if want.force_refresh {
            return Ok(None);
        }
        let Some(token) = self.cache.get(subject.cache_key()) else {
            return Ok(None);
        };
        if token.tenant_id != who.tenant_id {
            return Ok(None);
        }
        if subject.client_id().is_some_and(|id| id != token.client_id) {
            return Err(BrokerError::ClientMismatch);
        }
        if token.seconds_left(Utc::now()) <= self.threshold(want) {
            return Ok(None);
        }
        metrics::token_cache("hit");
        Ok(Some(token))
    }

    /// A token from `cached_token`, or else from LWA. The caller holds the subject's flight.
    async fn obtain(
        &self,
        who: &Requester,
        subject: Subject<'_>,
        want: Want,
        requested_at: DateTime<Utc>,
    ) -> Result<Delivered, BrokerError> {
        let threshold = self.threshold(want);
        let seen = exchange::credentials(&self.pool, who, &subject).await?;
        if let Some(stored) = seen
            .stored
            .as_ref()
            .filter(|s| exchange::usable(s, want, requested_at, threshold))
        {
            let token = self.unseal_stored(who, &subject, &seen, stored).await?;
            return self.deliver(who, &subject, &token, Source::Cache).await;
        }

        let data_key = self
            .keystore
            .data_key(who.tenant_id)
            .await
            .map_err(|err| BrokerError::from_secret(err, "client secret"))?;
        let job = Job {
            pool: &self.pool,
            lwa: &self.lwa,
            slots: &self.exchange_slots,
            data_key: &data_key,
            who,
            subject,
            application_id: seen.application_id,
            want,
            requested_at,
            threshold,
        };
        let locked = exchange::run(job).await?;
        match locked {
            Locked::Stored {
                credentials,
                stored,
            } => {
                let token = self
                    .unseal_stored(who, &subject, &credentials, &stored)
                    .await?;
                self.deliver(who, &subject, &token, Source::Cache).await
            }
            Locked::Issued { token, delivery } => {
                let token = Arc::new(token);
                self.cache.insert(subject.cache_key(), Arc::clone(&token));
                delivery.map(|()| delivered_token(&token, Source::Lwa))
            }
            Locked::Refused { credentials, code } => {
                Err(self.refused(&subject, &credentials, code))
            }
            Locked::Unavailable { credentials } => {
                // Serve a token that has not expired yet, if there is one.
                let still_valid = credentials
                    .stored
                    .as_ref()
                    .filter(|row| row.expires_at > Utc::now());
                let fallback = match still_valid {
                    Some(row) => Some(self.unseal_stored(who, &subject, &credentials, row).await?),
                    None => self
                        .cache
                        .get(subject.cache_key())
                        .filter(|t| t.tenant_id == who.tenant_id && t.expires_at > Utc::now()),
                };
                match fallback {
                    Some(token) => self.deliver(who, &subject, &token, Source::Cache).await,
                    None => Err(BrokerError::Upstream),
                }
            }
        }
    }

    /// LWA refused the exchange (its verdict is already recorded): forget what it invalidated.
    fn refused(
        &self,
        subject: &Subject<'_>,
        credentials: &Credentials,
        code: String,
    ) -> BrokerError {
        match (code.as_str(), subject.seller_id()) {
            ("invalid_grant", Some(seller_id)) => {
                self.cache.invalidate(Invalidation::Seller(seller_id));
                BrokerError::SellerRevoked
            }
            ("invalid_client" | "unauthorized_client", _) => {
                self.cache
                    .invalidate(Invalidation::Application(credentials.application_id));
                BrokerError::ClientRejected
            }
            _ => BrokerError::LwaRefused(code),
        }
    }

    /// Opens a stored token and keeps it in memory.
    async fn unseal_stored(
        &self,
        who: &Requester,
        subject: &Subject<'_>,
        credentials: &Credentials,
        stored: &CachedTokenRow,
    ) -> Result<Arc<CachedToken>, BrokerError> {
        let access_token = self
            .keystore
            .open(
                &exchange::cached_token_place(who.tenant_id, subject.cache_key()),
                &stored.sealed_token,
            )
            .await
            .map_err(|err| BrokerError::from_secret(err, "access token"))?;
        let token = Arc::new(CachedToken {
            tenant_id: who.tenant_id,
            application_id: credentials.application_id,
            client_id: credentials.client_id.clone(),
            access_token,
            issue_id: stored.issue_id,
            issued_at: stored.issued_at,
            expires_at: stored.expires_at,
        });
        self.cache.insert(subject.cache_key(), Arc::clone(&token));
        Ok(token)
    }

    /// Records the delivery (durably, group-committed with others) and hands the token out.
    async fn deliver(
        &self,
        who: &Requester,
        subject: &Subject<'_>,
        token: &CachedToken,
        source: Source,
    ) -> Result<Delivered, BrokerError> {
        match self
            .deliveries
            .record(exchange::delivery_row(who, subject, token, source))
            .await
        {
            Ok(()) => Ok(delivered_token(token, source)),
            Err(DeliveryError::Refused) => Err(self.why_refused(who.tenant_id).await),
            Err(DeliveryError::Unwritten(reason)) => Err(BrokerError::RecordUnwritten(reason)),
        }
    }

    async fn why_refused(&self, tenant_id: Uuid) -> BrokerError {
        match crate::db::tenants::find_tenant(&self.pool, tenant_id).await {
            Ok(Some(tenant)) if tenant.disabled => BrokerError::TenantDisabled,
            Ok(_) => BrokerError::NotFound,
            Err(err) => BrokerError::from(err),
        }
    }
}

fn delivered_token(token: &CachedToken, source: Source) -> Delivered {
    Delivered {
        access_token: token.access_token.clone(),
        issued_at: token.issued_at,
        expires_at: token.expires_at,
        source,
        issue_id: token.issue_id,
    }
}

/// The cache key of a grantless token: a name-based UUID of the application and scope.
pub fn grantless_cache_key(application_id: Uuid, scope: &str) -> Uuid {
    Uuid::new_v5(&application_id, scope.as_bytes())
}
