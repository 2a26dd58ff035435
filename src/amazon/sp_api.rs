//! The client of the Selling Partner API's HTTP operations (the Application Management API's
//! `rotateApplicationClientSecret` today), and the one place that builds HTTP clients for SP-API
//! hosts: no redirects followed, answers read up to a bound, `https` unless the host is this
//! machine (an emulator).
//!
//! A call is a series of attempts: 429, 5xx, timeouts and connection errors are retried with
//! jittered exponential backoff within a budget ([`SpApiFailure::Unavailable`] after it); any
//! other 4xx is Amazon's final word ([`SpApiFailure::Refused`], with the `errors` of its body).

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::domain::Region;

/// SP-API's hosts per region: production, then sandbox (Amazon's "SP-API endpoints" page).
pub const HOSTS: &[(Region, &str, &str)] = &[
    (
        Region::Na,
        "https://sellingpartnerapi-na.amazon.com",
        "https://sandbox.sellingpartnerapi-na.amazon.com",
    ),
    (
        Region::Eu,
        "https://sellingpartnerapi-eu.amazon.com",
        "https://sandbox.sellingpartnerapi-eu.amazon.com",
    ),
    (
        Region::Fe,
        "https://sellingpartnerapi-fe.amazon.com",
        "https://sandbox.sellingpartnerapi-fe.amazon.com",
    ),
];

/// The most of an SP-API answer read (larger answers are cut off and count as malformed).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// `rotateApplicationClientSecret` (Application Management API, version 2023-11-30).
pub const ROTATE_CLIENT_SECRET_PATH: &str = "/applications/2023-11-30/clientSecret";

/// One error of SP-API's error body `{"errors": [{"code", "message", "details"?}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpApiError {
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<SpApiError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpApiFailure {
    /// Amazon's final answer (a 4xx other than 408 and 429), with the errors it gave.
    Refused {
        status: u16,
        errors: Vec<SpApiError>,
    },
    /// 429, 5xx, timeouts or connection errors until the retry budget was spent; the last
    /// failure's name (`http_503`, `timeout`, …).
    Unavailable(String),
}

/// A successful answer: its status and body.
#[derive(Debug)]
pub struct SpApiAnswer {
    pub status: u16,
    pub body: Vec<u8>,
}

pub struct SpApiClient {
    http: reqwest::Client,
    /// `SPVAULT_SPAPI_ENDPOINT`: one base URL in place of every host (for emulators).
    endpoint: Option<String>,
    request_timeout: Duration,
    budget: Duration,
}

/// The `reqwest` client every call to an Amazon host uses: no redirects, bounded connect time.
pub fn http_client(connect_timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("spvault/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Refuses a base URL that is not `https`, unless it names this machine (an emulator).
pub fn check_base_url(url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).map_err(|err| anyhow::anyhow!("{url}: {err}"))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => anyhow::bail!("{url}: must be https (http only for a loopback address)"),
    }
}

impl SpApiClient {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let endpoint = match settings.spapi_endpoint.as_deref().map(str::trim) {
            Some("") | None => None,
            Some(url) => {
                check_base_url(url)
                    .map_err(|err| anyhow::anyhow!("SPVAULT_SPAPI_ENDPOINT {err}"))?;
                Some(url.trim_end_matches('/').to_owned())
            }
        };
        Ok(Self {
            http: http_client(Duration::from_millis(settings.lwa_connect_timeout_ms))?,
            endpoint,
            request_timeout: Duration::from_millis(settings.lwa_request_timeout_ms.max(1)),
            budget: Duration::from_millis(settings.lwa_retry_budget_ms),
        })
    }

    /// The HTTP client (no redirects; see [`http_client`]).
    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The longest one call can take, retries included.
    pub fn longest_call(&self) -> Duration {
        self.budget + self.request_timeout
    }

    /// The base URL of SP-API in `region` (sandbox or production), or the configured override.
    pub fn base_url(&self, region: Region, sandbox: bool) -> &str {
        if let Some(endpoint) = &self.endpoint {
            return endpoint;
        }
        let (_, production, sandbox_host) = HOSTS
            .iter()
            .find(|(r, _, _)| *r == region)
            .expect("every region has hosts");
        if sandbox {
            sandbox_host
        } else {
            production
        }
    }

    /// Calls `method path` at `base` with `access_token` in `x-amz-access-token`, retrying
    /// transient failures within the budget.
    pub async fn call(
        &self,
        method: Method,
        base: &str,
        path: &str,
        access_token: &SecretString,
        body: Option<&serde_json::Value>,
    ) -> Result<SpApiAnswer, SpApiFailure> {
        let started = Instant::now();
        let mut delays = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(2))
            .without_max_times()
            .build();
        loop {
            let remaining = self.budget.saturating_sub(started.elapsed());
            let timeout = self
                .request_timeout
                .min(remaining.max(Duration::from_millis(1)));
            let failure = match self
                .attempt(method.clone(), base, path, access_token, body, timeout)
                .await
            {
                Ok(answer) => return Ok(answer),
                Err(SpApiFailure::Unavailable(why)) => why,
                Err(refused) => return Err(refused),
            };
            match delays.next() {
                Some(delay) if started.elapsed() + delay < self.budget => {
                    tokio::time::sleep(delay).await
                }
                _ => return Err(SpApiFailure::Unavailable(failure)),
            }
        }
    }

    async fn attempt(
        &self,
        method: Method,
        base: &str,
        path: &str,
        access_token: &SecretString,
        body: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Result<SpApiAnswer, SpApiFailure> {
        let mut request = self
            .http
            .request(method, format!("{base}{path}"))
            .header("x-amz-access-token", access_token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(err) if err.is_timeout() => return Err(transient("timeout")),
            Err(err) if err.is_connect() => return Err(transient("connection_failed")),
            Err(_) => return Err(transient("request_failed")),
        };
        let status = response.status();
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if bytes.len() + chunk.len() <= MAX_RESPONSE_BYTES => {
                    bytes.extend_from_slice(&chunk)
                }
                Ok(Some(_)) => return Err(transient("response_too_large")),
                Ok(None) => break,
                Err(err) if err.is_timeout() => return Err(transient("timeout")),
                Err(_) => return Err(transient("response_interrupted")),
            }
        }
        if status.is_success() {
            return Ok(SpApiAnswer {
                status: status.as_u16(),
                body: bytes,
            });
        }
        if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
        {
            return Err(transient(&format!("http_{}", status.as_u16())));
        }
        if status.is_redirection() {
            return Err(SpApiFailure::Refused {
                status: status.as_u16(),
                errors: vec![SpApiError {
                    code: format!("http_{}", status.as_u16()),
                    message: "SP-API answered with a redirect, which is not followed".into(),
                    details: None,
                }],
            });
        }
        let errors = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|body| body.errors)
            .unwrap_or_default();
        Err(SpApiFailure::Refused {
            status: status.as_u16(),
            errors,
        })
    }
}

fn transient(why: &str) -> SpApiFailure {
    SpApiFailure::Unavailable(why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_must_be_https_unless_loopback() {
        assert!(check_base_url("https://sellingpartnerapi-na.amazon.com").is_ok());
        assert!(check_base_url("http://127.0.0.1:9000").is_ok());
        assert!(check_base_url("http://localhost:9000").is_ok());
        assert!(check_base_url("http://[::1]:9000").is_ok());
        assert!(check_base_url("http://example.com").is_err());
        assert!(check_base_url("ftp://127.0.0.1").is_err());
        assert!(check_base_url("not a url").is_err());
    }

    #[test]
    fn every_region_has_a_production_and_a_sandbox_host() {
        for region in [Region::Na, Region::Eu, Region::Fe] {
            let (_, production, sandbox) = HOSTS.iter().find(|(r, _, _)| *r == region).unwrap();
            assert!(production.starts_with("https://sellingpartnerapi-"));
            assert!(sandbox.starts_with("https://sandbox.sellingpartnerapi-"));
        }
    }
}
