//! Settings, from the environment and an optional TOML file.
//!
//! Every key of the TOML file is the environment variable's name in lower case without the
//! `SPVAULT_` prefix (`DATABASE_URL` is `database_url`); the environment wins. Secrets are held
//! in `secrecy` types, so `Debug` of the settings never shows them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::crypto::Keyring;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub database_url: SecretString,
    pub listen: String,
    pub master_keys: Option<SecretString>,
    pub master_keys_file: Option<PathBuf>,
    pub lwa_endpoint: String,
    pub refresh_skew_seconds: u64,
    /// Below this lifetime a token is still handed out, and replaced in the background.
    pub refresh_ahead_seconds: u64,
    /// Exchanges at Amazon in flight per process (independent of the database pool).
    pub max_concurrent_exchanges: usize,
    pub compat_min_ttl_seconds: Option<u64>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub log: String,
    /// HTTP worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    pub db_max_connections: u32,
    /// Failed authentications from one client address (or for one key id) before it is limited.
    pub auth_failure_limit: u32,
    pub auth_failure_window_seconds: u64,
    /// How long a key that verified is remembered without running argon2 again.
    pub key_cache_seconds: u64,
    pub audit_retention_days: u32,
    /// Connecting to LWA may take this long before the attempt counts as failed.
    pub lwa_connect_timeout_ms: u64,
    /// One LWA request may take this long.
    pub lwa_request_timeout_ms: u64,
    /// All attempts of one exchange (retries with jittered backoff) fit in this budget.
    pub lwa_retry_budget_ms: u64,
    /// Access tokens kept in memory (the database keeps them all).
    pub token_cache_capacity: u64,
    /// Requests a second per tenant (0: no limit), and the burst allowed above it.
    pub tenant_rate_limit_per_second: u32,
    pub tenant_rate_limit_burst: u32,
    /// A request whose head or body has not arrived after this long is cut off (408).
    pub request_timeout_ms: u64,
    /// One base URL in place of every SP-API host (for emulators); Amazon's hosts when unset.
    pub spapi_endpoint: Option<String>,
    /// Auto-rotation asks Amazon for a new client secret this many days before the current one
    /// expires.
    pub secret_rotation_lead_days: u32,
    /// How often each replica looks for applications due for auto-rotation.
    pub secret_rotation_check_seconds: u64,
}

/// The defaults the README's Configuration table lists; secrets have none.
#[derive(Serialize)]
struct Defaults {
    database_url: &'static str,
    listen: &'static str,
    lwa_endpoint: &'static str,
    refresh_skew_seconds: u64,
    refresh_ahead_seconds: u64,
    max_concurrent_exchanges: usize,
    log: &'static str,
    db_max_connections: u32,
    auth_failure_limit: u32,
    auth_failure_window_seconds: u64,
    key_cache_seconds: u64,
    audit_retention_days: u32,
    lwa_connect_timeout_ms: u64,
    lwa_request_timeout_ms: u64,
    lwa_retry_budget_ms: u64,
    token_cache_capacity: u64,
    tenant_rate_limit_per_second: u32,
    tenant_rate_limit_burst: u32,
    request_timeout_ms: u64,
    secret_rotation_lead_days: u32,
    secret_rotation_check_seconds: u64,
}

const DEFAULTS: Defaults = Defaults {
    database_url: "postgres://postgres@127.0.0.1:5432/spvault",
    listen: "127.0.0.1:8080",
    lwa_endpoint: "https://api.amazon.com/auth/o2/token",
    refresh_skew_seconds: 300,
    refresh_ahead_seconds: 600,
    max_concurrent_exchanges: 256,
    log: "info",
    db_max_connections: 32,
    auth_failure_limit: 20,
    auth_failure_window_seconds: 60,
    key_cache_seconds: 600,
    audit_retention_days: 400,
    lwa_connect_timeout_ms: 2_000,
    lwa_request_timeout_ms: 5_000,
    lwa_retry_budget_ms: 10_000,
    token_cache_capacity: 200_000,
    tenant_rate_limit_per_second: 20_000,
    tenant_rate_limit_burst: 40_000,
    request_timeout_ms: 10_000,
    secret_rotation_lead_days: 30,
    secret_rotation_check_seconds: 3_600,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error(
        "no master key is configured. Generate one with `spvault keygen` and set \
         SPVAULT_MASTER_KEYS=<its output> (or write it to a file and set SPVAULT_MASTER_KEYS_FILE)"
    )]
    MissingMasterKeys,
    #[error(
        "{0}. A master key entry is ID:BASE64 (32 random bytes), several separated by commas; \
         generate one with `spvault keygen`"
    )]
    MalformedMasterKeys(String),
}

impl Settings {
    /// Reads the optional TOML file, then the environment over it.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(DEFAULTS));
        if let Some(path) = config_file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment
            .merge(Env::prefixed("SPVAULT_"))
            .merge(Env::raw().only(&["database_url"]))
            .extract()
            .map_err(|err| ConfigError::Invalid(err.to_string()))
    }

    /// The defaults with the given database and no master key: a base for tests and tools.
    pub fn with_database(database_url: &str) -> Self {
        let figment = Figment::from(Serialized::defaults(DEFAULTS))
            .merge(("database_url", database_url.to_owned()));
        figment
            .extract()
            .expect("the built-in defaults are a valid configuration")
    }

    /// The master keys, from `SPVAULT_MASTER_KEYS` or the file `SPVAULT_MASTER_KEYS_FILE` names.
    pub fn keyring(&self) -> Result<Keyring, ConfigError> {
        let text = match (&self.master_keys, &self.master_keys_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid(
                    "set SPVAULT_MASTER_KEYS or SPVAULT_MASTER_KEYS_FILE, not both".into(),
                ))
            }
            (Some(keys), None) => keys.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(SecretString::from)
                .map_err(|err| {
                    ConfigError::Invalid(format!(
                        "cannot read SPVAULT_MASTER_KEYS_FILE {}: {err}",
                        path.display()
                    ))
                })?,
            (None, None) => return Err(ConfigError::MissingMasterKeys),
        };
        if text.expose_secret().trim().is_empty() {
            return Err(ConfigError::MissingMasterKeys);
        }
        Keyring::parse(text.expose_secret()).map_err(ConfigError::MalformedMasterKeys)
    }

    pub fn key_cache_ttl(&self) -> Duration {
        Duration::from_secs(self.key_cache_seconds)
    }

    /// The least remaining lifetime of a token handed out by `/auth/o2/token`.
    pub fn compat_min_ttl(&self) -> u64 {
        self.compat_min_ttl_seconds
            .unwrap_or(self.refresh_skew_seconds)
    }

    pub fn auth_failure_window(&self) -> Duration {
        Duration::from_secs(self.auth_failure_window_seconds.max(1))
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's `Jail` closures return its large error type
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_follow_the_contract() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let s = Settings::load(None).unwrap();
            assert_eq!(s.listen, "127.0.0.1:8080");
            assert_eq!(s.refresh_skew_seconds, 300);
            assert_eq!(s.lwa_endpoint, "https://api.amazon.com/auth/o2/token");
            assert_eq!(s.secret_rotation_lead_days, 30);
            assert_eq!(s.spapi_endpoint, None);
            assert_eq!(
                s.database_url.expose_secret(),
                "postgres://postgres@127.0.0.1:5432/spvault"
            );
            Ok(())
        });
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "spvault.toml",
                "listen = \"0.0.0.0:9000\"\nrefresh_skew_seconds = 120\ndatabase_url = \"postgres://file\"",
            )?;
            jail.set_env("SPVAULT_LISTEN", "127.0.0.1:9999");
            jail.set_env("DATABASE_URL", "postgres://env");
            let s = Settings::load(Some(Path::new("spvault.toml"))).unwrap();
            assert_eq!(s.listen, "127.0.0.1:9999");
            assert_eq!(s.refresh_skew_seconds, 120);
            assert_eq!(s.database_url.expose_secret(), "postgres://env");
            Ok(())
        });
    }

    #[test]
    fn a_missing_master_key_says_how_to_make_one() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let err = Settings::load(None).unwrap().keyring().unwrap_err();
            assert!(err.to_string().contains("spvault keygen"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_malformed_master_key_says_how_to_make_one() {
        Jail::expect_with(|jail| {
            jail.set_env("SPVAULT_MASTER_KEYS", "1:c2hvcnQ");
            let err = Settings::load(None).unwrap().keyring().unwrap_err();
            assert!(err.to_string().contains("spvault keygen"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn master_keys_can_come_from_a_file() {
        Jail::expect_with(|jail| {
            let entry = Keyring::generate_entry(3);
            jail.create_file("keys", &format!("{entry}\n"))?;
            jail.set_env("SPVAULT_MASTER_KEYS_FILE", "keys");
            let keyring = Settings::load(None).unwrap().keyring().unwrap();
            assert_eq!(keyring.current_id(), 3);
            Ok(())
        });
    }

    #[test]
    fn debug_output_hides_secrets() {
        Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "postgres://u:pw-secret@h/db");
            jail.set_env("SPVAULT_MASTER_KEYS", Keyring::generate_entry(1));
            let s = Settings::load(None).unwrap();
            let debug = format!("{s:?}");
            assert!(!debug.contains("pw-secret"), "{debug}");
            let key = s.master_keys.as_ref().unwrap().expose_secret().to_owned();
            assert!(!debug.contains(&key[2..]), "{debug}");
            Ok(())
        });
    }
}
