//! The heart of the vault: access tokens on demand. Imports point down this list:
//!
//! - `restricted` — Restricted Data Tokens from SP-API's Tokens API, by the same rules and
//!   mechanisms (cache, flights, leases, fenced commit, deliveries), per seller and resource set;
//!   its `mint` is one Tokens API call in the shape of `exchange`, with its pieces; it asks the
//!   broker for the seller's access token and records deliveries through it
//! - `broker`   — the policy: memory cache, single flight, refresh rules (and refresh ahead of
//!   expiry, in the background), fallbacks, delivery records, and what LWA's verdicts mean for
//!   the caches
//! - `exchange` — the mechanics of one exchange: a lease for single flight across replicas, LWA
//!   called with no connection held, and a fenced commit of its records and of what LWA's
//!   verdicts mean in the database
//! - `cache`    — tokens in memory, invalidated with the rest of the replica's caches
//! - `subject`  — the types all of them share: whose token, who asks, what for, LWA's verdicts
//! - `authorization_code` — a seller's consent exchanged for its refresh token (onboarding), and
//!   its records

mod authorization_code;
mod broker;
mod cache;
mod exchange;
mod restricted;
mod subject;

pub use authorization_code::{CodeExchange, CodeOutcome, CodeRecord};
pub use broker::{Broker, RefreshPolicy};
pub use cache::{CachedToken, TokenCache};
pub use restricted::{RestrictedDataTokens, RESTRICTED_DATA_TOKEN_GRANT};
pub use subject::{grantless_cache_key, Delivered, Requester, Source, Via, Want};
