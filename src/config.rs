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
    /// Plain http to an Amazon endpoint (LWA) that is not a loopback address: for an emulator on
    /// another host. Loopback endpoints may always be plain http (see `amazon::http`).
    pub amazon_allow_http: bool,
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
    /// Failed authentications from one client address (IPv6: one /64) before it is limited.
    pub auth_failure_limit: u32,
    pub auth_failure_window_seconds: u64,
    /// Load balancers whose `X-Forwarded-For` is believed: IP addresses and CIDR networks,
    /// comma-separated (parsed by `auth::TrustedProxies`). None by default: the client is the
    /// TCP peer.
    pub trusted_proxies: Option<String>,
    /// Keys not yet known to this process that may be looked up and verified (argon2) at once;
    /// beyond that a request with such a key is refused (`503 unavailable`), not queued.
    pub auth_max_concurrent_verifications: u32,
    /// How long a key that verified is remembered without running argon2 again.
    pub key_cache_seconds: u64,
    /// Days the trail is kept, within [`AUDIT_RETENTION_DAYS`].
    pub audit_retention_days: u32,
    /// Connecting to LWA may take this long before the attempt counts as failed.
    pub lwa_connect_timeout_ms: u64,
    /// One LWA request may take this long.
    pub lwa_request_timeout_ms: u64,
    /// All attempts of one exchange (retries with jittered backoff) fit in this budget.
    pub lwa_retry_budget_ms: u64,
    /// Access tokens kept in memory (the database keeps them all).
    pub token_cache_capacity: u64,
    /// Restricted Data Tokens kept in memory per process, and the bytes they may take at most.
    pub rdt_cache_max_entries: u64,
    pub rdt_cache_max_bytes: u64,
    /// Requests a second per tenant (0: no limit), and the burst allowed above it.
    pub tenant_rate_limit_per_second: u32,
    pub tenant_rate_limit_burst: u32,
    /// A request whose head or body has not arrived after this long is cut off (408).
    pub request_timeout_ms: u64,
    /// The vault as browsers and Amazon reach it; `http://` + the listen address if unset.
    pub public_url: Option<String>,
    /// One base URL replacing every Seller and Vendor Central host in consent links (emulators).
    pub seller_central_url: Option<String>,
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
    amazon_allow_http: bool,
    refresh_skew_seconds: u64,
    refresh_ahead_seconds: u64,
    max_concurrent_exchanges: usize,
    log: &'static str,
    db_max_connections: u32,
    auth_failure_limit: u32,
    auth_failure_window_seconds: u64,
    auth_max_concurrent_verifications: u32,
    key_cache_seconds: u64,
    audit_retention_days: u32,
    lwa_connect_timeout_ms: u64,
    lwa_request_timeout_ms: u64,
    lwa_retry_budget_ms: u64,
    token_cache_capacity: u64,
    rdt_cache_max_entries: u64,
    rdt_cache_max_bytes: u64,
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
    amazon_allow_http: false,
    refresh_skew_seconds: 300,
    refresh_ahead_seconds: 600,
    max_concurrent_exchanges: 256,
    log: "info",
    db_max_connections: 10,
    auth_failure_limit: 20,
    auth_failure_window_seconds: 60,
    auth_max_concurrent_verifications: 64,
    key_cache_seconds: 600,
    audit_retention_days: 400,
    lwa_connect_timeout_ms: 2_000,
    lwa_request_timeout_ms: 5_000,
    lwa_retry_budget_ms: 10_000,
    token_cache_capacity: 200_000,
    rdt_cache_max_entries: 100_000,
    rdt_cache_max_bytes: 64 * 1024 * 1024,
    tenant_rate_limit_per_second: 20_000,
    tenant_rate_limit_burst: 40_000,
    request_timeout_ms: 10_000,
    secret_rotation_lead_days: 30,
    secret_rotation_check_seconds: 3_600,
};

/// The trail is kept at least a day (0 would delete it as it is written) and at most ten years
/// (a larger number of days overflowed the retention task's date arithmetic, which then died).
pub const AUDIT_RETENTION_DAYS: std::ops::RangeInclusive<u32> = 1..=3650;

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
        let settings: Self = figment
            .merge(Env::prefixed("SPVAULT_"))
            .merge(Env::raw().only(&["database_url"]))
            .extract()
            .map_err(|err| ConfigError::Invalid(err.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Refuses values that parse but make no sense, naming the variable. `load` calls it, and
    /// so does `Application::build` (for settings made in code, as tests and tools make them).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !AUDIT_RETENTION_DAYS.contains(&self.audit_retention_days) {
            return Err(ConfigError::Invalid(format!(
                "SPVAULT_AUDIT_RETENTION_DAYS (audit_retention_days) is {}; it must be from {} to \
                 {} days",
                self.audit_retention_days,
                AUDIT_RETENTION_DAYS.start(),
                AUDIT_RETENTION_DAYS.end()
            )));
        }
        Ok(())
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

    /// `SPVAULT_PUBLIC_URL`, or `http://` + the address the server is bound to.
    pub fn public_url(&self, bound: std::net::SocketAddr) -> String {
        self.public_url
            .clone()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| format!("http://{bound}"))
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
    fn an_audit_retention_of_zero_or_of_centuries_is_refused_by_name() {
        for days in ["0", "3651", "4294967295"] {
            Jail::expect_with(|jail| {
                jail.clear_env();
                jail.set_env("SPVAULT_AUDIT_RETENTION_DAYS", days);
                let err = Settings::load(None).unwrap_err().to_string();
                assert!(err.contains("SPVAULT_AUDIT_RETENTION_DAYS"), "{err}");
                assert!(err.contains("from 1 to 3650"), "{err}");
                Ok(())
            });
        }
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("SPVAULT_AUDIT_RETENTION_DAYS", "3650");
            assert_eq!(Settings::load(None).unwrap().audit_retention_days, 3650);
            Ok(())
        });
    }

    #[test]
    fn plain_http_to_amazon_is_off_unless_asked_for() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            assert!(!Settings::load(None).unwrap().amazon_allow_http);
            jail.set_env("SPVAULT_AMAZON_ALLOW_HTTP", "true");
            assert!(Settings::load(None).unwrap().amazon_allow_http);
            jail.set_env("SPVAULT_AMAZON_ALLOW_HTTP", "perhaps");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(
                err.contains("AMAZON_ALLOW_HTTP") && err.contains("boolean"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn trusted_proxies_are_a_comma_separated_list() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            assert_eq!(Settings::load(None).unwrap().trusted_proxies, None);
            jail.set_env("SPVAULT_TRUSTED_PROXIES", "10.0.0.0/8,2001:db8::/32");
            let s = Settings::load(None).unwrap();
            assert_eq!(
                s.trusted_proxies.as_deref(),
                Some("10.0.0.0/8,2001:db8::/32")
            );
            jail.set_env("SPVAULT_TRUSTED_PROXIES", "192.0.2.7");
            let s = Settings::load(None).unwrap();
            assert_eq!(s.trusted_proxies.as_deref(), Some("192.0.2.7"));
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
