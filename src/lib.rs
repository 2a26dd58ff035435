//! spvault: a multi-tenant credential vault for the Amazon Selling Partner API.
//!
//! The crate is organised so that every module has one job; see `README.md` for the map.

pub mod amazon;
pub mod auth;
pub mod background;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod dev;
pub mod domain;
pub mod emulator;
pub mod error;
pub mod invalidation;
pub mod keystore;
pub mod metrics;
pub mod openapi;
pub mod readiness;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod tls;
pub mod workflows;
