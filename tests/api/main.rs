//! API tests: each starts the vault on a free port against a fresh PostgreSQL database.

mod api_keys;
mod audit_events;
mod authentication;
mod cli;
mod errors;
mod helpers;
mod operations;
mod tenants;
