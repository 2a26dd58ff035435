//! API tests: each starts the vault on a free port against a fresh PostgreSQL database.

mod api_keys;
mod applications;
mod audit_events;
mod authentication;
mod cli;
mod crash;
mod encryption;
mod errors;
mod exchanges;
mod helpers;
mod invalidation;
mod lwa_client;
mod lwa_compat;
mod lwa_emulator;
mod onboarding;
mod operations;
mod production;
mod sdks;
mod secret_lifecycle;
mod sellers;
mod sp_api_proxy;
mod tenants;
mod token_trail;
mod tokens;
mod trusted_proxies;
mod workflows;
