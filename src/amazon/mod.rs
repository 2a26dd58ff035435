//! Amazon's wire protocols and the vault's clients of them.
//!
//! - `http`       — the HTTP policy for every Amazon host: no redirects, https unless loopback,
//!   bounded answers
//! - `lwa`        — Login with Amazon's token protocol (shapes and lenient parsing), spoken by the
//!   client below, the emulator and the vault's own LWA-compatible endpoint
//! - `lwa_client` — exchanges at Login with Amazon, with retries within a budget
//! - `sp_api`     — SP-API's hosts and the client of its operations (retries, Amazon's errors)
//! - `forward`    — a caller's SP-API call forwarded as it is (the proxy): allowed headers,
//!   streamed bodies, Amazon's answer back
//! - `notifications` — SP-API notifications as Amazon delivers them (SQS body or EventBridge)
//! - `tokens_api` — the Tokens API: Restricted Data Tokens for operations with personal data

pub mod forward;
pub mod http;
pub mod lwa;
pub mod lwa_client;
pub mod notifications;
pub mod sp_api;
pub mod tokens_api;
