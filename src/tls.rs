//! HTTPS: with `SPVAULT_TLS_CERT` and `SPVAULT_TLS_KEY` (PEM files) the vault serves TLS only.

use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

use anyhow::Context;
use rustls::ServerConfig;

use crate::config::Settings;

/// The rustls configuration, if TLS is configured; an error if it is half-configured or broken.
pub fn server_config(settings: &Settings) -> anyhow::Result<Option<ServerConfig>> {
    let (cert_path, key_path) = match (&settings.tls_cert, &settings.tls_key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => anyhow::bail!("set both SPVAULT_TLS_CERT and SPVAULT_TLS_KEY, or neither"),
    };
    let mut reader = BufReader::new(
        File::open(cert_path)
            .with_context(|| format!("cannot open SPVAULT_TLS_CERT {}", cert_path.display()))?,
    );
    let certs = rustls_pemfile::certs(&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("SPVAULT_TLS_CERT {} is not PEM", cert_path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "SPVAULT_TLS_CERT {} holds no certificate",
        cert_path.display()
    );
    let mut reader = BufReader::new(
        File::open(key_path)
            .with_context(|| format!("cannot open SPVAULT_TLS_KEY {}", key_path.display()))?,
    );
    let key = rustls_pemfile::private_key(&mut reader)
        .with_context(|| format!("SPVAULT_TLS_KEY {} is not PEM", key_path.display()))?
        .with_context(|| {
            format!(
                "SPVAULT_TLS_KEY {} holds no private key",
                key_path.display()
            )
        })?;
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .context("the TLS certificate and key do not fit together")?;
    Ok(Some(config))
}
