//! The token broker: a valid access token for a seller (or an application and scope), fast,
//! whatever else is happening — and on record before it leaves.
//!
//! 1. A token in memory with enough life left is delivered at once (the hot path: no database
//!    round trip but the delivery record, which is group-committed).
//! 2. Otherwise the caller takes this process's flight for the key, then looks again: in memory,
//!    then in `cached_token` (another replica may have stored one).
//! 3. Otherwise it takes the key's PostgreSQL advisory locks (one exchange at a time across every
//!    replica, and no change of the credentials meanwhile: see `db::tokens`), reads the
//!    credentials and `cached_token` once more, and only then exchanges at LWA. The attempts, the
//!    new token (sealed), any state LWA's answer implies and the delivery are committed together
//!    before the locks are released.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::sync::Cache;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{Connection, PgConnection, PgExecutor, PgPool};
use tokio::sync::{Mutex, Semaphore};
use uuid::Uuid;

use super::cache::{CachedToken, TokenCache};
use super::lwa_client::{Attempt, Failure, Grant, LwaClient};
use crate::audit::deliveries::{DeliveryError, DeliveryWriter};
use crate::crypto::DataKey;
use crate::db::notify::{self, Invalidation};
use crate::db::token_trail::{self, NewTokenDelivery, NewTokenIssue};
use crate::db::tokens::{self as store, CachedTokenRow};
use crate::invalidation::Invalidate;
use crate::keystore::{places, KeyStore, SecretError};
use crate::metrics;

/// Which endpoint a token leaves through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    V1,
    LwaCompat,
}

impl Via {
    fn as_str(self) -> &'static str {
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
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl BrokerError {
    fn from_secret(err: SecretError, credential: &'static str) -> Self {
        match err {
            SecretError::Unreadable => Self::Unreadable(credential),
            SecretError::NoDataKey => Self::NotFound,
            SecretError::Database(err) => Self::Database(err),
            other => Self::Keys(other),
        }
    }
}

/// What a token is for.
#[derive(Debug, Clone, Copy)]
enum Subject<'a> {
    /// A seller's token; with `client_id`, the seller's application must have that client id.
    Seller {
        seller_id: Uuid,
        client_id: Option<&'a str>,
    },
    /// An application's grantless token for `scope`.
    Grantless {
        application_id: Uuid,
        scope: &'a str,
        cache_key: Uuid,
    },
}

impl<'a> Subject<'a> {
    fn cache_key(self) -> Uuid {
        match self {
            Subject::Seller { seller_id, .. } => seller_id,
            Subject::Grantless { cache_key, .. } => cache_key,
        }
    }

    fn seller_id(self) -> Option<Uuid> {
        match self {
            Subject::Seller { seller_id, .. } => Some(seller_id),
            Subject::Grantless { .. } => None,
        }
    }

    fn scope(self) -> Option<&'a str> {
        match self {
            Subject::Seller { .. } => None,
            Subject::Grantless { scope, .. } => Some(scope),
        }
    }

    fn client_id(self) -> Option<&'a str> {
        match self {
            Subject::Seller { client_id, .. } => client_id,
            Subject::Grantless { .. } => None,
        }
    }
}

/// The credentials to exchange with, still sealed, and the token stored for the subject, if any.
struct Credentials {
    application_id: Uuid,
    client_id: String,
    sealed_client_secret: Vec<u8>,
    sealed_refresh_token: Option<Vec<u8>>,
    stored: Option<CachedTokenRow>,
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
        if let Some(token) = self.fresh_in_memory(who, subject, want)? {
            return self.deliver(who, subject, &token, Source::Cache).await;
        }
        metrics::token_cache("miss");
        let flight = self.flight(subject.cache_key());
        let guard = flight.lock().await;
        // The flight before this one may just have brought a token: deliver it without holding
        // the flight, so that the callers who waited are recorded together, not one by one.
        if let Some(token) = self.fresh_in_memory(who, subject, want)? {
            drop(guard);
            return self.deliver(who, subject, &token, Source::Cache).await;
        }
        self.obtain(who, subject, want, requested_at).await
    }

    fn flight(&self, cache_key: Uuid) -> Arc<Mutex<()>> {
        self.flights
            .get_with(cache_key, || Arc::new(Mutex::new(())))
    }

    fn threshold(&self, want: Want) -> i64 {
        want.min_ttl_seconds.max(self.refresh_skew_seconds)
    }

    /// Whether a token may be handed out for `want`, asked for at `requested_at`.
    fn usable(&self, stored: &CachedTokenRow, want: Want, requested_at: DateTime<Utc>) -> bool {
        if want.force_refresh {
            // Minted while this caller waited for the flight: as fresh as a forced exchange.
            return stored.issued_at >= requested_at;
        }
        (stored.expires_at - Utc::now()).num_seconds() > self.threshold(want)
    }

    /// The token in this process's memory, if it may be handed out for `want`.
    fn fresh_in_memory(
        &self,
        who: &Requester,
        subject: Subject<'_>,
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

    /// The subject's credentials and stored token as `conn` sees them, if the caller may use
    /// them.
    async fn credentials(
        &self,
        conn: impl PgExecutor<'_>,
        who: &Requester,
        subject: Subject<'_>,
    ) -> Result<Credentials, BrokerError> {
        let credentials = match subject {
            Subject::Seller {
                seller_id,
                client_id,
            } => {
                let grant = store::load_seller_grant(conn, who.tenant_id, seller_id)
                    .await?
                    .ok_or(BrokerError::NotFound)?;
                if grant.tenant_disabled {
                    return Err(BrokerError::TenantDisabled);
                }
                if client_id.is_some_and(|id| id != grant.client_id) {
                    return Err(BrokerError::ClientMismatch);
                }
                if grant.seller_status == "authorization_revoked" {
                    return Err(BrokerError::SellerRevoked);
                }
                if grant.application_status == "client_credentials_rejected" {
                    return Err(BrokerError::ClientRejected);
                }
                Credentials {
                    application_id: grant.application_id,
                    client_id: grant.client_id,
                    sealed_client_secret: grant.sealed_client_secret,
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
                    store::load_application_grant(conn, who.tenant_id, application_id, cache_key)
                        .await?
                        .ok_or(BrokerError::NotFound)?;
                if grant.tenant_disabled {
                    return Err(BrokerError::TenantDisabled);
                }
                if grant.application_status == "client_credentials_rejected" {
                    return Err(BrokerError::ClientRejected);
                }
                Credentials {
                    application_id,
                    client_id: grant.client_id,
                    sealed_client_secret: grant.sealed_client_secret,
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

    /// A token from `cached_token`, or else from LWA. The caller holds the subject's flight.
    async fn obtain(
        &self,
        who: &Requester,
        subject: Subject<'_>,
        want: Want,
        requested_at: DateTime<Utc>,
    ) -> Result<Delivered, BrokerError> {
        let seen = self.credentials(&self.pool, who, subject).await?;
        if let Some(stored) = seen
            .stored
            .as_ref()
            .filter(|s| self.usable(s, want, requested_at))
        {
            let token = self.unseal_stored(who, subject, &seen, stored).await?;
            return self.deliver(who, subject, &token, Source::Cache).await;
        }

        // Everything that may need a connection of its own comes before this one is taken: a
        // transaction waiting for its locks must never wait for the pool as well.
        let data_key = self
            .keystore
            .data_key(who.tenant_id)
            .await
            .map_err(|err| BrokerError::from_secret(err, "client secret"))?;
        let _slot = self
            .exchange_slots
            .acquire()
            .await
            .map_err(|_| anyhow::anyhow!("the exchange semaphore was closed"))?;
        let mut tx = self.pool.begin().await?;
        store::lock_exchange(&mut tx, subject.cache_key(), seen.application_id).await?;
        // Look again under the locks: another replica may have stored a token while this one
        // waited, and the credentials cannot change until the transaction ends.
        let current = self.credentials(&mut *tx, who, subject).await?;
        if let Some(stored) = current
            .stored
            .as_ref()
            .filter(|s| self.usable(s, want, requested_at))
        {
            tx.commit().await?;
            let token = self.unseal_stored(who, subject, &current, stored).await?;
            return self.deliver(who, subject, &token, Source::Cache).await;
        }

        let client_secret = open_secret(
            &data_key,
            &places::client_secret(who.tenant_id, current.application_id),
            &current.sealed_client_secret,
            "client secret",
        )?;
        let refresh_token = match (&current.sealed_refresh_token, subject.seller_id()) {
            (Some(sealed), Some(seller_id)) => Some(open_secret(
                &data_key,
                &places::refresh_token(who.tenant_id, seller_id),
                sealed,
                "refresh token",
            )?),
            _ => None,
        };
        let grant = match (&refresh_token, subject.scope()) {
            (Some(token), _) => Grant::RefreshToken(token),
            (None, Some(scope)) => Grant::ClientCredentials { scope },
            (None, None) => unreachable!("a subject has a refresh token or a scope"),
        };
        let attempts = self
            .lwa
            .exchange(&current.client_id, &client_secret, &grant)
            .await;
        let outcome = self
            .record_exchange(
                &mut tx, who, subject, &current, &grant, &attempts, &data_key,
            )
            .await?;
        match outcome {
            Exchanged::Token(token) => {
                // Its delivery goes in the exchange's own commit.
                let recorded =
                    record_delivery(&mut tx, delivery_row(who, subject, &token, Source::Lwa))
                        .await?;
                tx.commit().await?;
                let token = Arc::new(token);
                self.cache.insert(subject.cache_key(), Arc::clone(&token));
                match recorded {
                    Ok(()) => Ok(delivered_token(&token, Source::Lwa)),
                    Err(reason) => Err(BrokerError::RecordUnwritten(reason)),
                }
            }
            Exchanged::Refused(code) => {
                tx.commit().await?;
                Err(self.refused(subject, &current, code))
            }
            Exchanged::Unavailable => {
                tx.commit().await?;
                // Serve a token that has not expired yet, if there is one.
                let still_valid = current
                    .stored
                    .as_ref()
                    .filter(|row| row.expires_at > Utc::now());
                let fallback = match still_valid {
                    Some(row) => Some(self.unseal_stored(who, subject, &current, row).await?),
                    None => self
                        .cache
                        .get(subject.cache_key())
                        .filter(|t| t.tenant_id == who.tenant_id && t.expires_at > Utc::now()),
                };
                match fallback {
                    Some(token) => self.deliver(who, subject, &token, Source::Cache).await,
                    None => Err(BrokerError::Upstream),
                }
            }
        }
    }

    /// LWA refused the exchange (its verdict is already recorded): forget what it invalidated.
    fn refused(
        &self,
        subject: Subject<'_>,
        credentials: &Credentials,
        code: String,
    ) -> BrokerError {
        match code.as_str() {
            "invalid_grant" => {
                if let Some(seller_id) = subject.seller_id() {
                    self.cache.invalidate(Invalidation::Seller(seller_id));
                }
                BrokerError::SellerRevoked
            }
            "invalid_client" | "unauthorized_client" => {
                self.cache
                    .invalidate(Invalidation::Application(credentials.application_id));
                BrokerError::ClientRejected
            }
            _ => BrokerError::LwaRefused(code),
        }
    }

    /// Writes a `token_issue` row per attempt and what the outcome implies, in `conn`'s
    /// transaction (so it commits before any token leaves).
    #[allow(clippy::too_many_arguments)]
    async fn record_exchange(
        &self,
        conn: &mut PgConnection,
        who: &Requester,
        subject: Subject<'_>,
        credentials: &Credentials,
        grant: &Grant<'_>,
        attempts: &[Attempt],
        data_key: &DataKey,
    ) -> Result<Exchanged, BrokerError> {
        let mut outcome = Exchanged::Unavailable;
        for attempt in attempts {
            let id = Uuid::now_v7();
            let latency_ms = i32::try_from(attempt.latency.as_millis()).unwrap_or(i32::MAX);
            metrics::lwa_exchange(
                match &attempt.result {
                    Ok(_) => "issued",
                    Err(Failure::Rejected(_)) => "rejected",
                    Err(Failure::Transient(_)) => "transient",
                },
                attempt.latency,
            );
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
                lwa_latency_ms: latency_ms,
                token_fingerprint: None,
                api_key_id: who.api_key_id,
                request_id: &who.request_id,
            };
            match &attempt.result {
                Ok(token) => {
                    let fingerprint =
                        data_key.token_fingerprint(token.access_token.expose_secret());
                    // (LwaClient accepts lifetimes of at most a day.)
                    let expires_at =
                        attempt.started_at + chrono::Duration::seconds(i64::from(token.expires_in));
                    issue.expires_at = Some(expires_at);
                    issue.token_fingerprint = Some(&fingerprint);
                    let sealed = crate::crypto::seal(
                        data_key,
                        &cached_token_place(who.tenant_id, subject.cache_key()),
                        token.access_token.expose_secret().as_bytes(),
                    );
                    store::record_issued_token(
                        &mut *conn,
                        &issue,
                        subject.cache_key(),
                        &sealed,
                        expires_at,
                    )
                    .await?;
                    outcome = Exchanged::Token(CachedToken {
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
                        remember_rejection(conn, subject, credentials, code).await?;
                        outcome = Exchanged::Refused(code.clone());
                    }
                }
            }
        }
        Ok(outcome)
    }

    /// Opens a stored token and keeps it in memory.
    async fn unseal_stored(
        &self,
        who: &Requester,
        subject: Subject<'_>,
        credentials: &Credentials,
        stored: &CachedTokenRow,
    ) -> Result<Arc<CachedToken>, BrokerError> {
        let access_token = self
            .keystore
            .open(
                &cached_token_place(who.tenant_id, subject.cache_key()),
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
        subject: Subject<'_>,
        token: &CachedToken,
        source: Source,
    ) -> Result<Delivered, BrokerError> {
        match self
            .deliveries
            .record(delivery_row(who, subject, token, source))
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
            Err(err) => BrokerError::Database(err),
        }
    }
}

/// LWA's verdict on a credential is remembered until the credential is replaced.
async fn remember_rejection(
    conn: &mut PgConnection,
    subject: Subject<'_>,
    credentials: &Credentials,
    code: &str,
) -> Result<(), sqlx::Error> {
    match (code, subject.seller_id()) {
        ("invalid_grant", Some(seller_id)) => {
            store::mark_seller_revoked(&mut *conn, seller_id).await?;
            notify::send(conn, Invalidation::Seller(seller_id)).await
        }
        ("invalid_client" | "unauthorized_client", _) => {
            store::mark_application_rejected(&mut *conn, credentials.application_id).await?;
            notify::send(conn, Invalidation::Application(credentials.application_id)).await
        }
        _ => Ok(()),
    }
}

/// Records a delivery in `conn`'s transaction (whose reads found the tenant enabled and the
/// seller there), under a savepoint: if the row cannot be written, the token is not delivered,
/// but the rest of the transaction (the issue's record) still commits.
async fn record_delivery(
    conn: &mut PgConnection,
    row: NewTokenDelivery,
) -> Result<Result<(), String>, sqlx::Error> {
    let mut savepoint = conn.begin().await?;
    match token_trail::insert_token_delivery(&mut savepoint, &row).await {
        Ok(()) => {
            savepoint.commit().await?;
            Ok(Ok(()))
        }
        Err(err) => {
            savepoint.rollback().await?;
            tracing::error!(error = %err, "could not write a delivery record");
            Ok(Err(err.to_string()))
        }
    }
}

fn open_secret(
    data_key: &DataKey,
    place: &crate::crypto::Place,
    sealed: &[u8],
    credential: &'static str,
) -> Result<SecretString, BrokerError> {
    let plain = crate::crypto::open(data_key, place, sealed)
        .map_err(|_| BrokerError::Unreadable(credential))?;
    let text = std::str::from_utf8(&plain).map_err(|_| BrokerError::Unreadable(credential))?;
    Ok(SecretString::from(text))
}

fn delivery_row(
    who: &Requester,
    subject: Subject<'_>,
    token: &CachedToken,
    source: Source,
) -> NewTokenDelivery {
    NewTokenDelivery {
        id: Uuid::now_v7(),
        tenant_id: who.tenant_id,
        issue_id: token.issue_id,
        seller_id: subject.seller_id(),
        application_id: token.application_id,
        api_key_id: who.api_key_id,
        source: source.as_str(),
        via: who.via.as_str(),
        delivered_at: Utc::now(),
        request_id: who.request_id.clone(),
        client_ip: who.client_ip.clone(),
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

enum Exchanged {
    Token(CachedToken),
    Refused(String),
    Unavailable,
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

/// The cache key of a grantless token: a name-based UUID of the application and scope.
pub fn grantless_cache_key(application_id: Uuid, scope: &str) -> Uuid {
    Uuid::new_v5(&application_id, scope.as_bytes())
}

fn cached_token_place(tenant_id: Uuid, cache_key: Uuid) -> crate::crypto::Place {
    crate::crypto::Place {
        tenant_id,
        table: "cached_token",
        column: "sealed_token",
        row_id: cache_key,
    }
}
