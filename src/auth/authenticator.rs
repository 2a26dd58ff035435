//! Who is calling: from an `Authorization` header to a `Principal`, fast.
//!
//! argon2 is slow on purpose, so it runs once per key per process (per `key_cache_seconds`):
//! a key that verified is remembered in `verified`, indexed by a keyed fingerprint of the key so
//! that the cache itself does not reveal it. What can change about a key (revoked, tenant
//! disabled) is kept apart in `states`, which every replica invalidates on PostgreSQL
//! notifications (see `invalidation`); while no listener is connected, states are read from the
//! database on every request instead.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::sync::Cache;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::failure_limit::FailureLimiter;
use super::usage::UsageRecorder;
use crate::config::Settings;
use crate::crypto::{self, KeyedHasher};
use crate::db::api_keys::{self, KeyCredentialRow};
use crate::domain::api_key::PresentedKey;
use crate::domain::Scopes;
use crate::error::ApiError;
use crate::invalidation::Invalidate;
use crate::invalidation::Invalidation;
use crate::metrics;

/// A caller whose key verified and is in force.
#[derive(Debug, Clone)]
pub enum Principal {
    Operator { key_id: Uuid },
    Tenant(TenantPrincipal),
}

#[derive(Debug, Clone)]
pub struct TenantPrincipal {
    pub key_id: Uuid,
    pub tenant_id: Uuid,
    pub scopes: Scopes,
}

/// What can change about a key after it verified.
struct KeyState {
    tenant_id: Option<Uuid>,
    scopes: Scopes,
    expires_at: Option<DateTime<Utc>>,
    revoked: bool,
    tenant_disabled: bool,
    /// Unix seconds when this key's use was last handed to the usage recorder.
    last_recorded: AtomicI64,
}

impl From<&KeyCredentialRow> for KeyState {
    fn from(row: &KeyCredentialRow) -> Self {
        Self {
            tenant_id: row.tenant_id,
            scopes: Scopes::from_stored(&row.scopes),
            expires_at: row.expires_at,
            revoked: row.revoked,
            tenant_disabled: row.tenant_disabled,
            last_recorded: AtomicI64::new(0),
        }
    }
}

pub struct Authenticator {
    pool: PgPool,
    fingerprints: KeyedHasher,
    verified: Cache<[u8; 32], Uuid>,
    /// One verification at a time per presented key: concurrent first requests with the same
    /// key wait for it instead of each running argon2.
    verifying: Cache<[u8; 32], Arc<tokio::sync::Mutex<()>>>,
    states: Cache<Uuid, Arc<KeyState>>,
    /// Bumped by every invalidation: a state read before a bump is not cached after it.
    generation: AtomicU64,
    listener_connected: AtomicBool,
    limiter: FailureLimiter,
    /// Keys not known yet cost a database lookup and an argon2 run each, wrong or not. At most
    /// `max_pending` of them are in progress at once; beyond that a request is refused at once
    /// (`503`), so a flood of made-up keys queues nothing without bound, and known keys (which
    /// need none of this) keep working.
    pending: Semaphore,
    max_pending: usize,
    /// Of those, the ones at the database at once: a quarter of the pool at most, so a flood
    /// cannot take the connections the rest of the vault needs.
    lookup_slots: Semaphore,
    /// And the ones running argon2: one per core.
    argon2_slots: Semaphore,
    argon2_runs: AtomicU64,
    usage: Arc<UsageRecorder>,
}

/// How often a key's use is handed on to be written to `last_used_at`.
const USAGE_RECORD_INTERVAL_SECS: i64 = 30;

impl Authenticator {
    pub fn new(pool: PgPool, settings: &Settings) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let max_pending = (settings.auth_max_concurrent_verifications as usize).max(1);
        Self {
            pool,
            fingerprints: KeyedHasher::ephemeral(),
            verified: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(settings.key_cache_ttl())
                .build(),
            verifying: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(60))
                .build(),
            states: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
            generation: AtomicU64::new(0),
            listener_connected: AtomicBool::new(false),
            limiter: FailureLimiter::new(
                settings.auth_failure_limit,
                settings.auth_failure_window(),
            ),
            pending: Semaphore::new(max_pending),
            max_pending,
            lookup_slots: Semaphore::new((settings.db_max_connections as usize / 4).max(1)),
            argon2_slots: Semaphore::new(cores),
            argon2_runs: AtomicU64::new(0),
            usage: Arc::new(UsageRecorder::default()),
        }
    }

    /// How many argon2 verifications this process has run (for tests and metrics).
    pub fn argon2_verifications(&self) -> u64 {
        self.argon2_runs.load(Ordering::Relaxed)
    }

    /// How many keys not known yet are being looked up or verified right now (for tests).
    pub fn verifications_in_flight(&self) -> usize {
        self.max_pending - self.pending.available_permits()
    }

    /// Whether this replica currently hears invalidations (until it does, states are not cached).
    pub fn listener_connected(&self) -> bool {
        self.listener_connected.load(Ordering::Acquire)
    }

    pub fn usage(&self) -> Arc<UsageRecorder> {
        Arc::clone(&self.usage)
    }

    /// Authenticates the bearer token of a request from `address`.
    pub async fn authenticate(
        &self,
        bearer: Option<&str>,
        address: IpAddr,
    ) -> Result<Principal, ApiError> {
        let token = bearer.unwrap_or_default();
        let fingerprint = self.fingerprints.fingerprint(token.as_bytes());
        let key_id = match self.verified.get(&fingerprint) {
            Some(key_id) => {
                metrics::key_cache(true);
                key_id
            }
            None => {
                metrics::key_cache(false);
                // A limited address waits for nothing, not even another request's verification.
                if let Some(wait) = self.limiter.blocked_for(address) {
                    return Err(address_limited(wait));
                }
                let flight = self
                    .verifying
                    .get_with(fingerprint, || Arc::new(tokio::sync::Mutex::new(())));
                let _flight = flight.lock().await;
                // Another request with this key may have verified it meanwhile.
                match self.verified.get(&fingerprint) {
                    Some(key_id) => key_id,
                    None => self.verify_unknown(token, fingerprint, address).await?,
                }
            }
        };
        let Some(state) = self.state(key_id).await? else {
            // The key was deleted (its tenant was) since it verified.
            self.verified.invalidate(&fingerprint);
            return Err(ApiError::Unauthenticated);
        };
        let principal = evaluate(key_id, &state)?;
        self.note_use(key_id, &state);
        Ok(principal)
    }

    /// First sight of a token in this process: rate limit, look up, argon2.
    async fn verify_unknown(
        &self,
        token: &str,
        fingerprint: [u8; 32],
        address: IpAddr,
    ) -> Result<Uuid, ApiError> {
        if let Some(wait) = self.limiter.blocked_for(address) {
            return Err(address_limited(wait));
        }
        let Some(presented) = PresentedKey::parse(token) else {
            self.limiter.record_failure(address);
            return Err(ApiError::Unauthenticated);
        };
        let Ok(_pending) = self.pending.try_acquire() else {
            metrics::auth_refused("busy");
            return Err(ApiError::Busy {
                retry_after_secs: 1,
            });
        };
        let generation = self.generation.load(Ordering::Acquire);
        let row = {
            let _slot = self
                .lookup_slots
                .acquire()
                .await
                .map_err(|_| anyhow::anyhow!("the key lookup semaphore was closed"))?;
            api_keys::find_key_credential(&self.pool, presented.id).await?
        };
        // Every answer costs one argon2 run: an unknown id is checked against a dummy hash, and a
        // revoked or expired key against its own hash before it is refused, so timing does not
        // tell which key ids exist or what became of them.
        let (hash, usable) = match &row {
            Some(row) => (
                Some(row.key_hash.clone()),
                !row.revoked && !is_expired(row.expires_at),
            ),
            None => (None, false),
        };
        let matches = self.verify_hash(hash, presented.key).await?;
        let row = match row {
            Some(row) if matches && usable => row,
            _ => {
                self.limiter.record_failure(address);
                return Err(ApiError::Unauthenticated);
            }
        };
        self.verified.insert(fingerprint, row.id);
        self.cache_state(row.id, Arc::new(KeyState::from(&row)), generation);
        Ok(row.id)
    }

    async fn verify_hash(&self, hash: Option<String>, key: SecretString) -> Result<bool, ApiError> {
        let _slot = self
            .argon2_slots
            .acquire()
            .await
            .map_err(|_| anyhow::anyhow!("the argon2 semaphore was closed"))?;
        self.argon2_runs.fetch_add(1, Ordering::Relaxed);
        metrics::argon2_verification();
        let verified =
            tokio::task::spawn_blocking(move || crypto::verify_secret(hash.as_deref(), &key))
                .await
                .map_err(|err| anyhow::anyhow!(err).context("argon2 verification panicked"))?;
        Ok(verified)
    }

    async fn state(&self, key_id: Uuid) -> Result<Option<Arc<KeyState>>, ApiError> {
        let trusted = self.listener_connected.load(Ordering::Acquire);
        if trusted {
            if let Some(state) = self.states.get(&key_id) {
                return Ok(Some(state));
            }
        }
        let generation = self.generation.load(Ordering::Acquire);
        let Some(row) = api_keys::find_key_credential(&self.pool, key_id).await? else {
            return Ok(None);
        };
        let state = Arc::new(KeyState::from(&row));
        self.cache_state(key_id, Arc::clone(&state), generation);
        Ok(Some(state))
    }

    /// Keeps `state`, read at `read_at_generation`, unless an invalidation came since. The check
    /// follows the insert too (as `TokenCache::insert` does): an invalidation racing with the
    /// insert either moves the generation before that check, or removes the entry after it.
    fn cache_state(&self, key_id: Uuid, state: Arc<KeyState>, read_at_generation: u64) {
        if self.generation.load(Ordering::Acquire) != read_at_generation {
            return;
        }
        self.states.insert(key_id, state);
        if self.generation.load(Ordering::Acquire) != read_at_generation {
            self.states.invalidate(&key_id);
        }
    }

    fn note_use(&self, key_id: Uuid, state: &KeyState) {
        let now = Utc::now().timestamp();
        let last = state.last_recorded.load(Ordering::Relaxed);
        if now - last >= USAGE_RECORD_INTERVAL_SECS
            && state
                .last_recorded
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.usage.record(key_id);
        }
    }

    /// Forgets what may have changed. Called on notifications and right after local changes.
    fn forget(&self, what: Invalidation) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        match what {
            Invalidation::Key(id) => self.states.invalidate(&id),
            // Tenant changes are rare; dropping every state is simpler than indexing by tenant.
            Invalidation::Tenant(_) => self.states.invalidate_all(),
            Invalidation::Seller(_) | Invalidation::Application(_) => {}
        }
    }
}

impl Invalidate for Authenticator {
    fn invalidate(&self, what: Invalidation) {
        self.forget(what);
    }

    /// Notifications may have been missed: forget every state; trust the cache only while
    /// connected.
    fn listener_changed(&self, connected: bool) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.states.invalidate_all();
        self.listener_connected.store(connected, Ordering::Release);
    }
}

fn is_expired(expires_at: Option<DateTime<Utc>>) -> bool {
    expires_at.is_some_and(|at| at <= Utc::now())
}

/// The first checks of every request, in the API's order: unauthenticated, then tenant disabled
/// (scopes come after, in the extractors of `auth::callers`).
fn evaluate(key_id: Uuid, state: &KeyState) -> Result<Principal, ApiError> {
    if state.revoked || is_expired(state.expires_at) {
        return Err(ApiError::Unauthenticated);
    }
    match state.tenant_id {
        None => Ok(Principal::Operator { key_id }),
        Some(_) if state.tenant_disabled => Err(ApiError::TenantDisabled),
        Some(tenant_id) => Ok(Principal::Tenant(TenantPrincipal {
            key_id,
            tenant_id,
            scopes: state.scopes.clone(),
        })),
    }
}

fn address_limited(wait: Duration) -> ApiError {
    metrics::auth_refused("address_limited");
    ApiError::RateLimited {
        detail: "too many failed authentications; try again later",
        retry_after_secs: wait.as_secs_f64().ceil() as u64,
    }
}
