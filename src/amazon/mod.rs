//! Amazon's wire protocols and the vault's clients of them.
//!
//! - `http`       — the HTTP policy for every Amazon host: no redirects, https unless loopback,
//!   bounded answers
//! - `lwa`        — Login with Amazon's token protocol (shapes and lenient parsing), spoken by the
//!   client below, the emulator and the vault's own LWA-compatible endpoint
//! - `lwa_client` — exchanges at Login with Amazon, with retries within a budget

pub mod http;
pub mod lwa;
pub mod lwa_client;
