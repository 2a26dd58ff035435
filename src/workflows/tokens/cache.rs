//! Access tokens in memory, in front of the sealed copies in `cached_token`.
//!
//! An entry is dropped when another replica (or this one) changes what it depends on: a seller's
//! refresh token or status, an application's secret, a tenant. While the invalidation listener is
//! disconnected, the memory is not trusted and every request reads the database.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use moka::sync::Cache;
use secrecy::SecretString;
use uuid::Uuid;

use crate::invalidation::Invalidate;
use crate::invalidation::Invalidation;

/// An access token the vault holds.
pub struct CachedToken {
    pub tenant_id: Uuid,
    pub application_id: Uuid,
    /// The application's LWA client id (the LWA-compatible endpoint checks it).
    pub client_id: String,
    pub access_token: SecretString,
    pub issue_id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl CachedToken {
    /// Seconds of life left (negative once expired).
    pub fn seconds_left(&self, now: DateTime<Utc>) -> i64 {
        (self.expires_at - now).num_seconds()
    }
}

pub struct TokenCache {
    tokens: Cache<Uuid, Arc<CachedToken>>,
    trusted: AtomicBool,
}

impl TokenCache {
    pub fn new(capacity: u64) -> Self {
        Self {
            tokens: Cache::builder().max_capacity(capacity).build(),
            trusted: AtomicBool::new(false),
        }
    }

    pub fn get(&self, cache_key: Uuid) -> Option<Arc<CachedToken>> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        self.tokens.get(&cache_key)
    }

    pub fn insert(&self, cache_key: Uuid, token: Arc<CachedToken>) {
        self.tokens.insert(cache_key, token);
    }

    pub fn remove(&self, cache_key: Uuid) {
        self.tokens.invalidate(&cache_key);
    }
}

impl Invalidate for TokenCache {
    fn invalidate(&self, what: Invalidation) {
        match what {
            Invalidation::Seller(id) => self.tokens.invalidate(&id),
            // Grantless entries are keyed by application and scope; these changes are rare.
            Invalidation::Application(_) | Invalidation::Tenant(_) => self.tokens.invalidate_all(),
            Invalidation::Key(_) => {}
        }
    }

    fn listener_changed(&self, connected: bool) {
        self.tokens.invalidate_all();
        self.trusted.store(connected, Ordering::Release);
    }
}
