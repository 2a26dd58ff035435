//! The client of Login with Amazon's token endpoint.
//!
//! One exchange is a series of attempts: transient failures (5xx, 408, 429, timeouts, connection
//! errors) are retried with jittered exponential backoff until the retry budget is spent; LWA's
//! verdicts on the credentials (`invalid_grant`, `invalid_client`, …) are final. Every attempt is
//! returned, so each can be recorded.
//!
//! The client follows the policy of `amazon::http`: no redirects, https unless loopback or
//! allowed, answers read up to 64 KiB.

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, SubsecRound, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::amazon::http::{self, BodyError, Endpoint, MAX_RESPONSE_BYTES};
use crate::amazon::lwa::{self, ErrorBody, TokenResponse};
use crate::config::Settings;

/// What to exchange.
pub enum Grant<'a> {
    RefreshToken(&'a SecretString),
    ClientCredentials {
        scope: &'a str,
    },
    /// A seller's consent (seller onboarding): the `spapi_oauth_code` Amazon sent to
    /// `redirect_uri`, which must be the one the consent page was opened with.
    AuthorizationCode {
        code: &'a SecretString,
        redirect_uri: &'a str,
    },
}

impl Grant<'_> {
    pub fn grant_type(&self) -> &'static str {
        match self {
            Grant::RefreshToken(_) => "refresh_token",
            Grant::ClientCredentials { .. } => "client_credentials",
            Grant::AuthorizationCode { .. } => "authorization_code",
        }
    }
}

/// A token LWA issued.
pub struct LwaToken {
    pub access_token: SecretString,
    /// Seconds, 1 to `MAX_LIFETIME_SECS`.
    pub expires_in: u32,
    /// Only the `authorization_code` grant brings one (and must).
    pub refresh_token: Option<SecretString>,
}

/// The longest token lifetime accepted from LWA (a day; LWA's own is an hour).
pub const MAX_LIFETIME_SECS: u32 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// LWA's verdict on the request or credentials, such as `invalid_grant`: do not retry.
    Rejected(String),
    /// Worth retrying: `server_error`, `http_503`, `timeout`, `connection_failed`, …
    Transient(String),
}

impl Failure {
    pub fn code(&self) -> &str {
        match self {
            Failure::Rejected(code) | Failure::Transient(code) => code,
        }
    }
}

pub struct Attempt {
    pub started_at: DateTime<Utc>,
    pub latency: Duration,
    pub result: Result<LwaToken, Failure>,
}

impl Attempt {
    /// How it ended, as the exchange metric labels it.
    pub fn outcome(&self) -> &'static str {
        match &self.result {
            Ok(_) => "issued",
            Err(Failure::Rejected(_)) => "rejected",
            Err(Failure::Transient(_)) => "transient",
        }
    }

    /// Its latency in whole milliseconds, as the trail records it.
    pub fn latency_ms(&self) -> i32 {
        i32::try_from(self.latency.as_millis()).unwrap_or(i32::MAX)
    }

    /// When `token`, which this attempt brought, expires (lifetimes are at most a day).
    pub fn expires_at(&self, token: &LwaToken) -> DateTime<Utc> {
        self.started_at + chrono::Duration::seconds(i64::from(token.expires_in))
    }
}

pub struct LwaClient {
    http: reqwest::Client,
    endpoint: Endpoint,
    request_timeout: Duration,
    budget: Duration,
}

impl LwaClient {
    /// Refuses an endpoint the policy of `amazon::http` does not allow, with a message that
    /// names the setting.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let endpoint = http::endpoint(
            "SPVAULT_LWA_ENDPOINT",
            &settings.lwa_endpoint,
            settings.amazon_allow_http,
        )
        .map_err(anyhow::Error::msg)?;
        if endpoint.is_plain_http() {
            tracing::warn!(
                host = endpoint.url().host_str().unwrap_or_default(),
                "LWA is reached over plain http: only an emulator should be"
            );
        }
        let http = http::client(
            &endpoint,
            Duration::from_millis(settings.lwa_connect_timeout_ms),
        )?;
        Ok(Self {
            http,
            endpoint,
            request_timeout: Duration::from_millis(settings.lwa_request_timeout_ms.max(1)),
            budget: Duration::from_millis(settings.lwa_retry_budget_ms),
        })
    }

    /// The longest one exchange (all its attempts) can take.
    pub fn longest_exchange(&self) -> Duration {
        self.budget + self.request_timeout
    }

    /// Exchanges until a token, a final verdict, or the end of the retry budget.
    pub async fn exchange(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        grant: &Grant<'_>,
    ) -> Vec<Attempt> {
        let started = Instant::now();
        let mut delays = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(2))
            .without_max_times()
            .build();
        let mut attempts = Vec::new();
        loop {
            let remaining = self.budget.saturating_sub(started.elapsed());
            let timeout = self
                .request_timeout
                .min(remaining.max(Duration::from_millis(1)));
            let attempt = self.attempt(client_id, client_secret, grant, timeout).await;
            let retry = matches!(attempt.result, Err(Failure::Transient(_)));
            attempts.push(attempt);
            if !retry {
                return attempts;
            }
            let Some(delay) = delays.next() else {
                return attempts;
            };
            if started.elapsed() + delay >= self.budget {
                return attempts;
            }
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        grant: &Grant<'_>,
        timeout: Duration,
    ) -> Attempt {
        // Microseconds: what PostgreSQL keeps, so the time reads back the same.
        let started_at = Utc::now().trunc_subsecs(6);
        let clock = Instant::now();
        let mut fields = vec![
            ("grant_type", grant.grant_type()),
            ("client_id", client_id),
            ("client_secret", client_secret.expose_secret()),
        ];
        match grant {
            Grant::RefreshToken(token) => fields.push(("refresh_token", token.expose_secret())),
            Grant::ClientCredentials { scope } => fields.push(("scope", scope)),
            Grant::AuthorizationCode { code, redirect_uri } => {
                fields.push(("code", code.expose_secret()));
                fields.push(("redirect_uri", redirect_uri));
            }
        }
        // The body holds the client secret and refresh token: it is handed over as the buffer
        // itself, wiped when the request is done with it, never copied into a plain String.
        let body = reqwest::Body::from(bytes::Bytes::from_owner(lwa::encode_form(&fields)));
        let sent = self
            .http
            .post(self.endpoint.url().clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=UTF-8",
            )
            .body(body)
            .timeout(timeout)
            .send()
            .await;
        let result = match sent {
            Ok(response) => {
                let wants_refresh_token = matches!(grant, Grant::AuthorizationCode { .. });
                read_response(response, wants_refresh_token).await
            }
            Err(err) if err.is_timeout() => Err(Failure::Transient("timeout".into())),
            Err(err) if err.is_connect() => Err(Failure::Transient("connection_failed".into())),
            Err(_) => Err(Failure::Transient("request_failed".into())),
        };
        Attempt {
            started_at,
            latency: clock.elapsed(),
            result,
        }
    }
}

async fn read_response(
    response: reqwest::Response,
    wants_refresh_token: bool,
) -> Result<LwaToken, Failure> {
    let status = response.status();
    // A redirect is never followed (the request carries the credentials; see `amazon::http`).
    // It is not LWA's verdict on the credentials, so it must not mark a seller or application
    // as rejected; it is treated as a transient failure: retried within the budget (each
    // attempt goes to the configured endpoint only, so retrying reveals nothing more), then a
    // still-valid cached token is served or the caller gets `503 upstream_unavailable`. Each
    // attempt is recorded as `http_3xx`, so the trail shows what happened. Nothing is minted.
    if status.is_redirection() {
        return Err(Failure::Transient(format!("http_{}", status.as_u16())));
    }
    // 408: the server gave up waiting for the request (actix, for one, says so when its workers
    // were too busy to read it in time); the request itself was fine.
    let transient_status = status.is_server_error() || matches!(status.as_u16(), 408 | 429);
    let bytes = match http::read_body(response, MAX_RESPONSE_BYTES).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => return Err(Failure::Transient("response_too_large".into())),
        Err(BodyError::TimedOut) => return Err(Failure::Transient("timeout".into())),
        Err(BodyError::Interrupted) => {
            return Err(Failure::Transient("response_interrupted".into()))
        }
    };
    if status.is_success() {
        return match serde_json::from_slice::<TokenResponse>(&bytes) {
            Ok(body) if body.access_token.expose_secret().starts_with("Atza|") => {
                let refresh_token = match body.refresh_token {
                    Some(token)
                        if wants_refresh_token && token.expose_secret().starts_with("Atzr|") =>
                    {
                        Some(token)
                    }
                    _ if wants_refresh_token => {
                        return Err(Failure::Transient("malformed_response".into()))
                    }
                    _ => None,
                };
                // LWA's tokens live an hour; a lifetime of none or of more than a day is not
                // an answer to trust.
                match u32::try_from(body.expires_in) {
                    Ok(expires_in @ 1..=MAX_LIFETIME_SECS) => Ok(LwaToken {
                        access_token: body.access_token,
                        expires_in,
                        refresh_token,
                    }),
                    _ => Err(Failure::Transient("malformed_response".into())),
                }
            }
            _ => Err(Failure::Transient("malformed_response".into())),
        };
    }
    if transient_status {
        return Err(Failure::Transient(format!("http_{}", status.as_u16())));
    }
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) if is_known_error(&body.error) => Err(Failure::Rejected(body.error)),
        _ => Err(Failure::Rejected(format!("http_{}", status.as_u16()))),
    }
}

fn is_known_error(code: &str) -> bool {
    matches!(
        code,
        "invalid_grant"
            | "invalid_client"
            | "unauthorized_client"
            | "invalid_request"
            | "invalid_scope"
            | "unsupported_grant_type"
            | "access_denied"
    )
}
