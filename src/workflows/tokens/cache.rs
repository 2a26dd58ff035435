//! Access tokens in memory, in front of the sealed copies in `cached_token`.
//!
//! An entry is dropped when another replica (or this one) changes what it depends on: a seller's
//! refresh token or status, an application's secret, a tenant. While the invalidation listener is
//! disconnected, the memory is not trusted and every request reads the database.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use std::time::Duration;

use moka::sync::Cache;
use moka::Expiry;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::subject::{Delivered, Source};
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

    /// The token handed out, from `source`.
    pub(super) fn delivered(&self, source: Source) -> Delivered {
        Delivered {
            token: self.access_token.clone(),
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            source,
            issue_id: self.issue_id,
        }
    }

    /// About how many bytes the entry holds.
    fn weight(&self) -> u64 {
        let heap = self.client_id.len() + self.access_token.expose_secret().len();
        (std::mem::size_of::<Self>() + heap + 64) as u64
    }
}

/// An entry lives until its token expires.
struct UntilExpiry;

impl Expiry<Uuid, Arc<CachedToken>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _: &Uuid,
        token: &Arc<CachedToken>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(
            (token.expires_at - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO),
        )
    }

    fn expire_after_update(
        &self,
        key: &Uuid,
        token: &Arc<CachedToken>,
        now: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, token, now)
    }
}

pub struct TokenCache {
    tokens: Cache<Uuid, Arc<CachedToken>>,
    /// Whether entries are keyed by something other than the seller's id (Restricted Data
    /// Tokens, keyed by seller and resource set): then a seller's change drops them all.
    keyed_by_seller: bool,
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
            keyed_by_seller: true,
            trusted: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        }
    }

    /// A cache for tokens whose number callers choose (one Restricted Data Token per resource
    /// set): at most `max_entries` entries and about `max_bytes` bytes, whichever comes first,
    /// and each entry gone when its token expires. (Each entry weighs its size, but at least
    /// `max_bytes / max_entries`, so that the byte bound is also the count bound.)
    pub fn bounded(max_entries: u64, max_bytes: u64) -> Self {
        let least_weight = (max_bytes / max_entries.max(1)).max(1);
        Self {
            tokens: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(move |_, token: &Arc<CachedToken>| {
                    u32::try_from(token.weight().max(least_weight)).unwrap_or(u32::MAX)
                })
                .expire_after(UntilExpiry)
                .build(),
            keyed_by_seller: false,
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
            Invalidation::Seller(id) if self.keyed_by_seller => self.tokens.invalidate(&id),
            // A seller's change is rare: dropping every entry is simpler than an index.
            Invalidation::Seller(_) => self.tokens.invalidate_all(),
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
    fn a_bounded_cache_keeps_no_more_entries_than_its_bound() {
        let cache = TokenCache::bounded(10, 1 << 20);
        cache.listener_changed(true);
        for _ in 0..100 {
            cache.insert(Uuid::now_v7(), token(), cache.generation());
        }
        cache.tokens.run_pending_tasks();
        assert!(
            cache.tokens.entry_count() <= 10,
            "{}",
            cache.tokens.entry_count()
        );
    }

    #[test]
    fn a_bounded_cache_keeps_no_more_bytes_than_its_bound() {
        let cache = TokenCache::bounded(1_000, 4_096);
        cache.listener_changed(true);
        for _ in 0..100 {
            cache.insert(Uuid::now_v7(), token(), cache.generation());
        }
        cache.tokens.run_pending_tasks();
        assert!(cache.tokens.weighted_size() <= 4_096);
        assert!(cache.tokens.entry_count() > 0);
    }

    #[test]
    fn a_bounded_cache_forgets_an_expired_token() {
        let cache = TokenCache::bounded(10, 1 << 20);
        cache.listener_changed(true);
        let key = Uuid::now_v7();
        let mut expired = Arc::into_inner(token()).unwrap();
        expired.expires_at = Utc::now() - chrono::Duration::seconds(1);
        cache.insert(key, Arc::new(expired), cache.generation());
        assert!(cache.get(key).is_none());
    }

    #[test]
    fn a_sellers_change_drops_the_tokens_keyed_by_its_resources() {
        let cache = TokenCache::bounded(10, 1 << 20);
        cache.listener_changed(true);
        let key = Uuid::now_v7();
        cache.insert(key, token(), cache.generation());
        cache.invalidate(Invalidation::Seller(Uuid::now_v7()));
        assert!(cache.get(key).is_none());
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
