//! The token broker: a valid access token for a seller (or an application and scope), fast,
//! whatever else is happening — and on record before it leaves.
//!
//! 1. A token in memory with enough life left is delivered at once (the hot path: no database
//!    round trip but the delivery record, which is group-committed).
//! 2. Otherwise the caller takes this process's flight for the key, then looks again: in memory,
//!    then in `cached_token` (another replica may have stored one).
//! 3. Otherwise it runs the exchange (`exchange`): under the key's PostgreSQL advisory locks (one
//!    exchange at a time across every replica, and no change of the credentials meanwhile: see
//!    `db::locks`) it reads the credentials and `cached_token` once more, and only then
//!    exchanges at LWA. The attempts, the new token (sealed), any state LWA's answer implies and
//!    the delivery are committed together before the locks are released.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::sync::Cache;
use sqlx::PgPool;
use tokio::sync::{Mutex, Semaphore};
use uuid::Uuid;

use super::cache::{CachedToken, Generation, TokenCache};
use super::exchange::{self, Credentials, Job, Locked};
use super::subject::{grantless_cache_key, Delivered, Requester, Source, Subject, Verdict, Want};
use crate::amazon::lwa_client::LwaClient;
use crate::db::cached_tokens::CachedTokenRow;
use crate::db::{self, applications, tenants};
use crate::domain::{ClientId, CredentialKind};
use crate::invalidation::{Invalidate, Invalidation};
use crate::keystore::{places, KeyStore, SecretError};
use crate::metrics;
use crate::workflows::trail::deliveries::{DeliveryError, DeliveryWriter};
use crate::workflows::Error;

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
            applications::find_application_by_client_id(&self.pool, who.tenant_id, client_id)
                .await?
                .ok_or_else(|| Error::not_found("an application with this client id"))?;
        self.grantless_token(who, application.id, scope, want).await
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
    ) -> Result<Option<Arc<CachedToken>>, Error> {
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
            return Err(Error::ClientMismatch);
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
    ) -> Result<Delivered, Error> {
        let threshold = self.threshold(want);
        // Before anything is read that may go into the cache.
        let read_at = self.cache.generation();
        let seen = exchange::credentials(&self.pool, who, &subject).await?;
        if let Some(stored) = seen
            .stored
            .as_ref()
            .filter(|s| exchange::usable(s, want, requested_at, threshold))
        {
            let token = self
                .unseal_stored(who, &subject, &seen, stored, read_at)
                .await?;
            return self.deliver(who, &subject, &token, Source::Cache).await;
        }

        let data_key = self
            .keystore
            .data_key(who.tenant_id)
            .await
            .map_err(|err| secret_error(err, &subject, CredentialKind::ClientSecret))?;
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
                    .unseal_stored(who, &subject, &credentials, &stored, read_at)
                    .await?;
                self.deliver(who, &subject, &token, Source::Cache).await
            }
            Locked::Issued { token, delivery } => {
                let token = Arc::new(token);
                self.cache
                    .insert(subject.cache_key(), Arc::clone(&token), read_at);
                delivery.map(|()| delivered_token(&token, Source::Lwa))
            }
            Locked::Refused { verdict } => Err(self.refused(&verdict)),
            Locked::Unavailable { credentials } => {
                // Serve a token that has not expired yet, if there is one.
                let still_valid = credentials
                    .stored
                    .as_ref()
                    .filter(|row| row.expires_at > Utc::now());
                let fallback = match still_valid {
                    Some(row) => Some(
                        self.unseal_stored(who, &subject, &credentials, row, read_at)
                            .await?,
                    ),
                    None => self
                        .cache
                        .get(subject.cache_key())
                        .filter(|t| t.tenant_id == who.tenant_id && t.expires_at > Utc::now()),
                };
                match fallback {
                    Some(token) => self.deliver(who, &subject, &token, Source::Cache).await,
                    None => Err(Error::Upstream),
                }
            }
        }
    }

    /// LWA refused the exchange (its verdict is already recorded): forget what it invalidated.
    fn refused(&self, verdict: &Verdict) -> Error {
        match *verdict {
            Verdict::SellerRevoked { seller_id } => {
                self.cache.invalidate(Invalidation::Seller(seller_id))
            }
            Verdict::ClientRejected { application_id } => self
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
            .keystore
            .open(
                &places::cached_token(who.tenant_id, subject.cache_key()),
                &stored.sealed_token,
            )
            .await
            .map_err(|err| secret_error(err, subject, CredentialKind::AccessToken))?;
        let token = Arc::new(CachedToken {
            tenant_id: who.tenant_id,
            application_id: credentials.application_id,
            client_id: credentials.client_id.clone(),
            access_token,
            issue_id: stored.issue_id,
            issued_at: stored.issued_at,
            expires_at: stored.expires_at,
        });
        self.cache
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
        match self
            .deliveries
            .record(exchange::delivery_row(who, subject, token, source))
            .await
        {
            Ok(()) => Ok(delivered_token(token, source)),
            Err(DeliveryError::Refused) => Err(self.why_refused(who.tenant_id, subject).await),
            Err(DeliveryError::Unwritten(reason)) => Err(Error::RecordUnwritten(reason)),
        }
    }

    /// A delivery record was refused: the tenant was disabled, or it or the subject deleted.
    async fn why_refused(&self, tenant_id: Uuid, subject: &Subject<'_>) -> Error {
        match tenants::find_tenant(&self.pool, tenant_id).await {
            Ok(Some(tenant)) if tenant.disabled => Error::TenantDisabled,
            Ok(_) => subject.not_found(),
            Err(err) => Error::from(err),
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

/// A failure to open the tenant's secrets; a tenant gone meanwhile is the subject gone.
fn secret_error(err: SecretError, subject: &Subject<'_>, kind: CredentialKind) -> Error {
    match err {
        SecretError::NoDataKey => subject.not_found(),
        err => Error::secret(err, kind),
    }
}
