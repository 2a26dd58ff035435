//! The heart of the vault: access tokens on demand.
//!
//! - `broker`     — cache, single flight, refresh policy, fallbacks, delivery records
//! - `exchange`   — one exchange under PostgreSQL's locks (single flight across replicas), with
//!   its records
//! - `cache`      — tokens in memory, invalidated with the rest of the replica's caches
//! - `lwa_client` — exchanges at Login with Amazon, with retries within a budget

mod broker;
mod cache;
mod exchange;
pub mod lwa_client;

pub use broker::{
    grantless_cache_key, Broker, BrokerError, Delivered, Requester, Source, Via, Want,
    UPSTREAM_RETRY_AFTER_SECS,
};
pub use cache::{CachedToken, TokenCache};
