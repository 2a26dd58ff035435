//! Access tokens in memory, in front of the sealed copies in `cached_token`.
//!
//! An entry is dropped when another replica (or this one) changes what it depends on: a seller's
//! refresh token or status, an application's secret, a tenant. While the invalidation listener is
//! disconnected, the memory is not trusted and every request reads the database.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Moves on every invalidation: a token read from the database or LWA before an
    /// invalidation must not be put back after it (see [`TokenCache::insert`]).
    generation: AtomicU64,
}

/// When a token was read, against the cache's invalidations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

impl TokenCache {
    pub fn new(capacity: u64) -> Self {
        Self {
            tokens: Cache::builder().max_capacity(capacity).build(),
            trusted: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        }
    }

    /// Take this before reading what will be inserted.
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    pub fn get(&self, cache_key: Uuid) -> Option<Arc<CachedToken>> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        self.tokens.get(&cache_key)
    }

    /// Keeps `token`, read at `read_at`, unless an invalidation came since: then it may be what
    /// the invalidation was about. The check follows the insert, so that an invalidation racing
    /// with it either moves the generation before the check (and the entry is taken out here)
    /// or removes the entry itself after the insert.
    pub fn insert(&self, cache_key: Uuid, token: Arc<CachedToken>, read_at: Generation) {
        if self.generation() != read_at {
            return;
        }
        self.tokens.insert(cache_key, token);
        if self.generation() != read_at {
            self.tokens.invalidate(&cache_key);
        }
    }

    pub fn remove(&self, cache_key: Uuid) {
        self.tokens.invalidate(&cache_key);
    }
}

impl Invalidate for TokenCache {
    fn invalidate(&self, what: Invalidation) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        match what {
            Invalidation::Seller(id) => self.tokens.invalidate(&id),
            // Grantless entries are keyed by application and scope; these changes are rare.
            Invalidation::Application(_) | Invalidation::Tenant(_) => self.tokens.invalidate_all(),
            Invalidation::Key(_) => {}
        }
    }

    fn listener_changed(&self, connected: bool) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.tokens.invalidate_all();
        self.trusted.store(connected, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Arc<CachedToken> {
        Arc::new(CachedToken {
            tenant_id: Uuid::now_v7(),
            application_id: Uuid::now_v7(),
            client_id: "amzn1.application-oa2-client.test".into(),
            access_token: SecretString::from("Atza|test"),
            issue_id: Uuid::now_v7(),
            issued_at: Utc::now(),
            expires_at: Utc::now() + chrono::Duration::hours(1),
        })
    }

    fn trusted_cache() -> TokenCache {
        let cache = TokenCache::new(100);
        cache.listener_changed(true);
        cache
    }

    #[test]
    fn a_token_read_before_an_invalidation_is_not_put_back_after_it() {
        let cache = trusted_cache();
        let seller = Uuid::now_v7();
        let read_at = cache.generation();
        // The refresh token is replaced (and the old token dropped) while the request that
        // read the old token is still on its way to insert it.
        cache.invalidate(Invalidation::Seller(seller));
        cache.insert(seller, token(), read_at);
        assert!(cache.get(seller).is_none());
    }

    #[test]
    fn a_token_read_after_the_last_invalidation_is_kept() {
        let cache = trusted_cache();
        let seller = Uuid::now_v7();
        cache.invalidate(Invalidation::Seller(seller));
        cache.insert(seller, token(), cache.generation());
        assert!(cache.get(seller).is_some());
    }

    #[test]
    fn nothing_is_served_while_the_listener_is_down() {
        let cache = trusted_cache();
        let seller = Uuid::now_v7();
        cache.insert(seller, token(), cache.generation());
        cache.listener_changed(false);
        assert!(cache.get(seller).is_none());
    }
}
