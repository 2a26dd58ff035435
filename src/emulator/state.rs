//! What the emulator knows and how it behaves.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use chrono::{DateTime, SecondsFormat, Utc};

use super::lwa_error;
use crate::amazon::lwa::{ErrorBody, TokenRequest, TokenResponse};

const ROTATION_SCOPE: &str = "sellingpartnerapi::client_credential:rotation";
const SCOPES: [&str; 2] = ["sellingpartnerapi::notifications", ROTATION_SCOPE];

/// Whose an access token is (see [`EmulatorState::token_holder`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenHolder {
    Seller(String),
    Grantless { client_id: String, scope: String },
}

/// What the emulator answers.
pub enum Outcome {
    Issued(TokenResponse),
    Error(u16, ErrorBody),
}

/// Misbehaviour on demand. Fields left out of a change keep their value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Behaviour {
    /// Added to every token request.
    pub latency_ms: Option<u64>,
    /// The next N token requests fail with `fail_status` (default 500).
    pub fail_next: Option<u32>,
    pub fail_status: Option<u16>,
    /// Token requests never get an answer (until this is turned off).
    pub hang: Option<bool>,
    /// Lifetime of issued tokens (default 3600).
    pub token_lifetime_secs: Option<u64>,
    /// The next N Tokens API calls fail with `tokens_api_fail_status` (default 500; 429 is
    /// `QuotaExceeded`, 403 `Unauthorized`, 400 `InvalidInput`).
    pub tokens_api_fail_next: Option<u32>,
    pub tokens_api_fail_status: Option<u16>,
}

#[derive(Debug, Serialize)]
pub struct Stats {
    pub exchanges: u64,
    /// The most token requests it was answering at once.
    pub max_in_flight: u64,
    /// Successful and failed exchange attempts per refresh token, or per
    /// `client_credentials:<client id>:<scope>`.
    pub by_key: HashMap<String, u64>,
    /// Tokens API calls (`createRestrictedDataToken`), answered or failed.
    pub tokens_api_calls: u64,
}

/// One of a client's secrets; a replaced one works until `valid_until` (as at Amazon, 7 days
/// after a rotation).
struct ClientSecretEntry {
    secret: String,
    valid_until: Option<DateTime<Utc>>,
}

/// How long a secret keeps working after a rotation made a new one.
const OLD_SECRET_DAYS: i64 = 7;
/// How long a new secret lives.
const SECRET_LIFETIME_DAYS: i64 = 180;

#[derive(Default)]
struct Registry {
    clients: HashMap<String, Vec<ClientSecretEntry>>,
    /// Grantless tokens issued: token → (client id, scope), so the SP-API operations can check
    /// what a token may do.
    grantless: HashMap<String, (String, String)>,
    /// Sellers' access tokens issued (token → refresh token): the Tokens API takes only these.
    seller_tokens: HashMap<String, String>,
    /// Restricted Data Tokens issued, with the (method, path) pairs each covers.
    restricted_tokens: HashMap<String, Vec<(String, String)>>,
    /// `APPLICATION_OAUTH_CLIENT_NEW_SECRET` notifications made by rotations, oldest first.
    notifications: Vec<serde_json::Value>,
    rejected_clients: HashSet<String>,
    refresh_tokens: HashMap<String, String>,
    revoked: HashSet<String>,
    by_key: HashMap<String, u64>,
    /// Solution ids (`amzn1.sp.solution.…`) and their applications' client ids.
    solutions: HashMap<String, String>,
    /// Consent codes not yet exchanged.
    codes: HashMap<String, ConsentCode>,
}

/// A one-time `spapi_oauth_code`: bound to the consent's redirect URI and, when its solution is
/// registered, to that application's client id.
struct ConsentCode {
    client_id: Option<String>,
    redirect_uri: String,
    issued: std::time::Instant,
}

/// Access tokens and RDTs remembered at most (the oldest are forgotten all at once beyond it:
/// long benchmark runs must not grow the emulator without bound).
const MOST_TOKENS_KEPT: usize = 200_000;

/// How long a consent code may be exchanged (Amazon's five minutes).
const CODE_LIFETIME: Duration = Duration::from_secs(300);

struct Failures {
    remaining: u32,
    status: u16,
}

pub struct EmulatorState {
    strict: bool,
    latency_ms: AtomicU64,
    lifetime_secs: AtomicU64,
    hang: std::sync::atomic::AtomicBool,
    failures: Mutex<Failures>,
    tokens_api_failures: Mutex<Failures>,
    tokens_api_calls: AtomicU64,
    registry: Mutex<Registry>,
    exchanges: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    /// The SP-API operations' own state: calls seen, throttling on demand.
    sp_api: SpApiState,
}

/// How many calls [`SpApiState`] remembers.
const CALLS_KEPT: usize = 64;

/// A call an operation received, as tests inspect it: never a header's value, but the names
/// of the headers sent, and what kind of token came.
#[derive(Debug, Clone, Serialize)]
pub struct SeenCall {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-case header names, as received.
    pub headers: Vec<String>,
    /// `content-type`, `accept` and `user-agent`, which are not secret.
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub user_agent: Option<String>,
    /// `seller`, `grantless`, `unknown` (a token the emulator did not issue) or `none`.
    pub token: &'static str,
    /// The refresh token of the seller whose token it was.
    #[serde(skip)]
    pub seller_refresh_token: Option<String>,
}

/// The SP-API operations' own state (see `sp_api`): calls seen, throttling on demand.
#[derive(Default)]
pub(super) struct SpApiState {
    throttle_next: AtomicU32,
    calls: Mutex<VecDeque<SeenCall>>,
}

impl EmulatorState {
    /// The next `n` SP-API calls get `429 QuotaExceeded`.
    pub fn throttle_sp_api(&self, n: u32) {
        self.sp_api.throttle_next.store(n, Ordering::Relaxed);
    }

    /// The SP-API calls seen (the last few), oldest first.
    pub fn sp_api_calls(&self) -> Vec<SeenCall> {
        self.sp_api
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    pub(super) fn remember(&self, call: SeenCall) {
        let mut calls = self.sp_api.calls.lock().unwrap_or_else(|e| e.into_inner());
        if calls.len() == CALLS_KEPT {
            calls.pop_front();
        }
        calls.push_back(call);
    }

    pub(super) fn throttled(&self) -> bool {
        self.sp_api
            .throttle_next
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// Counts a token request as in flight while it lives.
struct InFlight<'a>(&'a EmulatorState);

impl<'a> InFlight<'a> {
    fn start(state: &'a EmulatorState) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        state.max_in_flight.fetch_max(now, Ordering::AcqRel);
        Self(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl EmulatorState {
    /// Accepts any well-formed client and refresh token not rejected or revoked.
    pub fn lenient() -> Self {
        Self::new(false)
    }

    /// Accepts only registered clients (with their secret) and refresh tokens.
    pub fn strict() -> Self {
        Self::new(true)
    }

    fn new(strict: bool) -> Self {
        Self {
            strict,
            latency_ms: AtomicU64::new(0),
            lifetime_secs: AtomicU64::new(3600),
            hang: false.into(),
            failures: Mutex::new(Failures {
                remaining: 0,
                status: 500,
            }),
            tokens_api_failures: Mutex::new(Failures {
                remaining: 0,
                status: 500,
            }),
            tokens_api_calls: AtomicU64::new(0),
            registry: Mutex::default(),
            exchanges: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            sp_api: SpApiState::default(),
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Knows the client with this secret only (and no longer rejects it).
    pub fn register_client(&self, client_id: &str, client_secret: &str) {
        let mut registry = self.registry();
        registry.rejected_clients.remove(client_id);
        registry.clients.insert(
            client_id.to_owned(),
            vec![ClientSecretEntry {
                secret: client_secret.to_owned(),
                valid_until: None,
            }],
        );
    }

    /// From now on, this secret of the client is refused (its other secrets still work).
    pub fn revoke_client_secret(&self, client_id: &str, client_secret: &str) {
        if let Some(entries) = self.registry().clients.get_mut(client_id) {
            entries.retain(|entry| entry.secret != client_secret);
        }
    }

    /// `rotateApplicationClientSecret` for the holder of `access_token`: a new secret for its
    /// client, the old ones working for 7 more days, and the notification Amazon would send.
    pub fn rotate_client_secret(&self, access_token: &str) -> Result<(), (u16, &'static str)> {
        let mut registry = self.registry();
        let Some((client_id, scope)) = registry.grantless.get(access_token).cloned() else {
            return Err((403, "Unauthorized"));
        };
        if !scope.split(' ').any(|s| s == ROTATION_SCOPE) {
            return Err((403, "Unauthorized"));
        }
        let now = Utc::now();
        let old_until = now + chrono::Duration::days(OLD_SECRET_DAYS);
        let new_until = now + chrono::Duration::days(SECRET_LIFETIME_DAYS);
        let secret = format!(
            "amzn1.oa2-cs.v1.{}",
            hex::encode(crate::crypto::random_bytes::<32>())
        );
        let entries = registry.clients.entry(client_id.clone()).or_default();
        for entry in entries.iter_mut() {
            entry.valid_until = Some(entry.valid_until.map_or(old_until, |t| t.min(old_until)));
        }
        entries.push(ClientSecretEntry {
            secret: secret.clone(),
            valid_until: None,
        });
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        registry.notifications.push(serde_json::json!({
            "notificationVersion": "1.0",
            "notificationType": "APPLICATION_OAUTH_CLIENT_NEW_SECRET",
            "payloadVersion": "1.0",
            "eventTime": time(now),
            "payload": {"applicationOAuthClientNewSecret": {
                "clientId": client_id,
                "newClientSecret": secret,
                "newClientSecretExpiryTime": time(new_until),
                "oldClientSecretExpiryTime": time(old_until),
            }},
            "notificationMetadata": {
                "applicationId": "amzn1.sellerapps.app.emulator",
                "subscriptionId": "emulator",
                "publishTime": time(now),
                "notificationId": uuid::Uuid::new_v4().to_string(),
            }
        }));
        Ok(())
    }

    /// Who holds `access_token`: the refresh token of the seller it was issued for, or the
    /// client id and scope of a grantless token; `None` for a token the emulator did not issue
    /// (or forgot, see [`EmulatorState::forget_access_tokens`]).
    pub fn token_holder(&self, access_token: &str) -> Option<TokenHolder> {
        let registry = self.registry();
        if let Some(refresh_token) = registry.seller_tokens.get(access_token) {
            return Some(TokenHolder::Seller(refresh_token.clone()));
        }
        registry
            .grantless
            .get(access_token)
            .map(|(client_id, scope)| TokenHolder::Grantless {
                client_id: client_id.clone(),
                scope: scope.clone(),
            })
    }

    /// Stops accepting every access token issued so far (as Amazon does with a token it
    /// revoked before its hour was up): the next SP-API call with one gets `403 Unauthorized`.
    pub fn forget_access_tokens(&self) {
        let mut registry = self.registry();
        registry.seller_tokens.clear();
        registry.grantless.clear();
        registry.restricted_tokens.clear();
    }

    /// Tokens API calls so far (answered or failed).
    pub fn tokens_api_calls(&self) -> u64 {
        self.tokens_api_calls.load(Ordering::Relaxed)
    }

    /// `createRestrictedDataToken` for the holder of `access_token` (a seller's access token
    /// this emulator issued), with the request `body`: the RDT and its lifetime, or SP-API's
    /// error (status, code, message).
    pub(super) async fn create_restricted_data_token(
        &self,
        access_token: &str,
        body: &[u8],
    ) -> Result<(String, u64), (u16, &'static str, String)> {
        self.tokens_api_calls.fetch_add(1, Ordering::Relaxed);
        let latency = self.latency_ms.load(Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        {
            let mut failures = self
                .tokens_api_failures
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if failures.remaining > 0 {
                failures.remaining -= 1;
                return Err(match failures.status {
                    429 => (
                        429,
                        "QuotaExceeded",
                        "You exceeded your quota for the requested resource.".into(),
                    ),
                    403 => (
                        403,
                        "Unauthorized",
                        "Access to requested resource is denied.".into(),
                    ),
                    400 => (
                        400,
                        "InvalidInput",
                        "The emulator was told to refuse this request.".into(),
                    ),
                    status => (
                        status,
                        "InternalFailure",
                        "We encountered an internal error. Please try again.".into(),
                    ),
                });
            }
        }
        if !self.registry().seller_tokens.contains_key(access_token) {
            return Err((
                403,
                "Unauthorized",
                "Access to requested resource is denied.".into(),
            ));
        }
        let resources =
            restricted_resources(body).map_err(|message| (400, "InvalidInput", message))?;
        let token = format!(
            "Atz.sprdt|{}",
            URL_SAFE_NO_PAD.encode(crate::crypto::random_bytes::<48>())
        );
        let mut registry = self.registry();
        if registry.restricted_tokens.len() >= MOST_TOKENS_KEPT {
            registry.restricted_tokens.clear();
        }
        registry.restricted_tokens.insert(token.clone(), resources);
        Ok((token, self.lifetime_secs.load(Ordering::Relaxed)))
    }

    /// Whether `token` is an RDT this emulator issued for exactly `method path`.
    pub(super) fn restricted_token_covers(&self, token: &str, method: &str, path: &str) -> bool {
        self.registry()
            .restricted_tokens
            .get(token)
            .is_some_and(|covered| covered.iter().any(|(m, p)| m == method && p == path))
    }

    /// The notifications rotations made, oldest first (each carries its new secret, as Amazon's
    /// do).
    pub fn notifications(&self) -> Vec<serde_json::Value> {
        self.registry().notifications.clone()
    }

    /// Knows the SP-API application `solution_id` by its client id: its consent codes are bound
    /// to that client.
    pub fn register_solution(&self, solution_id: &str, client_id: &str) {
        self.registry()
            .solutions
            .insert(solution_id.to_owned(), client_id.to_owned());
    }

    /// Whether the consent page knows this solution (strict mode knows only registered ones).
    pub fn knows_solution(&self, solution_id: &str) -> bool {
        !self.strict || self.registry().solutions.contains_key(solution_id)
    }

    /// A selling partner's consent to `solution_id`: a one-time code for `redirect_uri`.
    pub fn issue_consent_code(&self, solution_id: &str, redirect_uri: &str) -> String {
        let code = format!(
            "ANemu{}",
            URL_SAFE_NO_PAD.encode(crate::crypto::random_bytes::<24>())
        );
        let mut registry = self.registry();
        let client_id = registry.solutions.get(solution_id).cloned();
        registry.codes.insert(
            code.clone(),
            ConsentCode {
                client_id,
                redirect_uri: redirect_uri.to_owned(),
                issued: std::time::Instant::now(),
            },
        );
        code
    }

    pub fn register_refresh_token(&self, refresh_token: &str, client_id: &str) {
        self.registry()
            .refresh_tokens
            .insert(refresh_token.to_owned(), client_id.to_owned());
    }

    /// From now on, this refresh token gets `invalid_grant`.
    pub fn revoke_refresh_token(&self, refresh_token: &str) {
        self.registry().revoked.insert(refresh_token.to_owned());
    }

    /// From now on, this client gets `invalid_client`.
    pub fn reject_client(&self, client_id: &str) {
        self.registry()
            .rejected_clients
            .insert(client_id.to_owned());
    }

    pub fn set_behaviour(&self, change: Behaviour) {
        if let Some(ms) = change.latency_ms {
            self.latency_ms.store(ms, Ordering::Relaxed);
        }
        if let Some(secs) = change.token_lifetime_secs {
            self.lifetime_secs.store(secs, Ordering::Relaxed);
        }
        if let Some(hang) = change.hang {
            self.hang.store(hang, Ordering::Relaxed);
        }
        if change.tokens_api_fail_next.is_some() || change.tokens_api_fail_status.is_some() {
            let mut failures = self
                .tokens_api_failures
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(n) = change.tokens_api_fail_next {
                failures.remaining = n;
            }
            if let Some(status) = change.tokens_api_fail_status {
                failures.status = status;
            }
        }
        if change.fail_next.is_some() || change.fail_status.is_some() {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = change.fail_next {
                failures.remaining = n;
            }
            if let Some(status) = change.fail_status {
                failures.status = status;
            }
        }
    }

    /// Exchanges seen for one refresh token (or `client_credentials:<client id>:<scope>`).
    pub fn exchanges_for(&self, key: &str) -> u64 {
        self.registry().by_key.get(key).copied().unwrap_or(0)
    }

    pub fn total_exchanges(&self) -> u64 {
        self.exchanges.load(Ordering::Relaxed)
    }

    /// The most token requests it was answering at once, so far.
    pub fn max_in_flight(&self) -> u64 {
        self.max_in_flight.load(Ordering::Acquire)
    }

    pub fn stats(&self) -> Stats {
        Stats {
            exchanges: self.total_exchanges(),
            max_in_flight: self.max_in_flight(),
            by_key: self.registry().by_key.clone(),
            tokens_api_calls: self.tokens_api_calls(),
        }
    }

    pub(super) async fn exchange(&self, request: &TokenRequest) -> Outcome {
        let _in_flight = InFlight::start(self);
        let latency = self.latency_ms.load(Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        while self.hang.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let key = match request.grant_type.as_deref() {
            Some("refresh_token") => request
                .refresh_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            Some("client_credentials") => Some(format!(
                "client_credentials:{}:{}",
                request.client_id.as_deref().unwrap_or_default(),
                request.scope.as_deref().unwrap_or_default()
            )),
            Some("authorization_code") => Some(format!(
                "authorization_code:{}",
                request.client_id.as_deref().unwrap_or_default()
            )),
            _ => None,
        };
        self.exchanges.fetch_add(1, Ordering::Relaxed);
        if let Some(key) = &key {
            *self.registry().by_key.entry(key.clone()).or_default() += 1;
        }
        {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if failures.remaining > 0 {
                failures.remaining -= 1;
                let status = failures.status;
                let error = if status == 429 {
                    "too_many_requests"
                } else if status == 503 {
                    "temporarily_unavailable"
                } else {
                    "server_error"
                };
                return lwa_error(status, error, "The emulator was told to fail this request.");
            }
        }
        self.answer(request)
    }

    fn answer(&self, request: &TokenRequest) -> Outcome {
        let (Some(client_id), Some(client_secret)) = (&request.client_id, &request.client_secret)
        else {
            return lwa_error(
                400,
                "invalid_request",
                "client_id and client_secret are required",
            );
        };
        if let Some(outcome) = self.check_client(client_id, client_secret.expose_secret()) {
            return outcome;
        }
        match request.grant_type.as_deref() {
            Some("refresh_token") => {
                let Some(refresh_token) = &request.refresh_token else {
                    return lwa_error(400, "invalid_request", "refresh_token is required");
                };
                let refresh_token = refresh_token.expose_secret();
                if let Some(outcome) = self.check_refresh_token(refresh_token, client_id) {
                    return outcome;
                }
                let issued = self.issue(Some(refresh_token.to_owned()));
                let mut registry = self.registry();
                if registry.seller_tokens.len() >= MOST_TOKENS_KEPT {
                    registry.seller_tokens.clear();
                }
                registry.seller_tokens.insert(
                    issued.access_token.expose_secret().to_owned(),
                    refresh_token.to_owned(),
                );
                Outcome::Issued(issued)
            }
            Some("client_credentials") => {
                let scope = request.scope.as_deref().unwrap_or_default();
                let valid = !scope.is_empty() && scope.split(' ').all(|s| SCOPES.contains(&s));
                if !valid {
                    return lwa_error(400, "invalid_scope", "The requested scope is invalid.");
                }
                let issued = self.issue(None);
                self.registry().grantless.insert(
                    issued.access_token.expose_secret().to_owned(),
                    (client_id.clone(), scope.to_owned()),
                );
                Outcome::Issued(issued)
            }
            Some("authorization_code") => self.redeem_code(request, client_id),
            Some(_) => lwa_error(
                400,
                "unsupported_grant_type",
                "The grant type is not supported.",
            ),
            None => lwa_error(400, "invalid_request", "grant_type is required"),
        }
    }

    /// The `authorization_code` grant: a code once, within its lifetime, by its client, for
    /// its redirect URI; the answer brings a new refresh token (known from then on).
    fn redeem_code(&self, request: &TokenRequest, client_id: &str) -> Outcome {
        let invalid = |what: &str| {
            lwa_error(
                400,
                "invalid_grant",
                &format!("The request has an invalid grant parameter : {what}"),
            )
        };
        let Some(code) = &request.code else {
            return lwa_error(400, "invalid_request", "code is required");
        };
        // Taken out whatever follows: a code is good for one attempt.
        let Some(consent) = self.registry().codes.remove(code.expose_secret()) else {
            return invalid("code");
        };
        if consent.issued.elapsed() > CODE_LIFETIME {
            return invalid("code");
        }
        if consent
            .client_id
            .as_deref()
            .is_some_and(|id| id != client_id)
        {
            return invalid("code");
        }
        if request.redirect_uri.as_deref() != Some(consent.redirect_uri.as_str()) {
            return invalid("redirect_uri");
        }
        let refresh_token = format!(
            "Atzr|IwEBIemu{}",
            URL_SAFE_NO_PAD.encode(crate::crypto::random_bytes::<48>())
        );
        self.register_refresh_token(&refresh_token, client_id);
        Outcome::Issued(self.issue(Some(refresh_token)))
    }

    fn check_client(&self, client_id: &str, client_secret: &str) -> Option<Outcome> {
        let registry = self.registry();
        let invalid = || {
            lwa_error(
                401,
                "invalid_client",
                "Client authentication failed: unknown client or wrong secret.",
            )
        };
        if registry.rejected_clients.contains(client_id) {
            return Some(invalid());
        }
        let now = Utc::now();
        match registry.clients.get(client_id) {
            Some(entries)
                if !entries.iter().any(|entry| {
                    entry.secret == client_secret && entry.valid_until.is_none_or(|t| t > now)
                }) =>
            {
                Some(invalid())
            }
            None if self.strict => Some(invalid()),
            None if !client_id.starts_with("amzn1.application-oa2-client.") => Some(invalid()),
            _ => None,
        }
    }

    fn check_refresh_token(&self, refresh_token: &str, client_id: &str) -> Option<Outcome> {
        let registry = self.registry();
        let invalid = || {
            lwa_error(
                400,
                "invalid_grant",
                "The request has an invalid grant parameter : refresh_token",
            )
        };
        if registry.revoked.contains(refresh_token) || !refresh_token.starts_with("Atzr|") {
            return Some(invalid());
        }
        match registry.refresh_tokens.get(refresh_token) {
            Some(owner) if owner != client_id => Some(invalid()),
            None if self.strict => Some(invalid()),
            _ => None,
        }
    }

    fn issue(&self, refresh_token: Option<String>) -> TokenResponse {
        let random = crate::crypto::random_bytes::<48>();
        TokenResponse {
            access_token: format!("Atza|{}", URL_SAFE_NO_PAD.encode(random)).into(),
            refresh_token: refresh_token.map(SecretString::from),
            token_type: "bearer".into(),
            expires_in: self.lifetime_secs.load(Ordering::Relaxed),
        }
    }
}

/// The (method, path) pairs of a `createRestrictedDataToken` body, checked as Amazon checks
/// them: 1–50 resources, known methods, paths starting with `/`, `dataElements` only on Orders
/// paths.
fn restricted_resources(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Resource {
        method: String,
        path: String,
        data_elements: Option<Vec<String>>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        restricted_resources: Vec<Resource>,
        #[allow(dead_code)]
        target_application: Option<String>,
    }
    let body: Body =
        serde_json::from_slice(body).map_err(|err| format!("Invalid request body: {err}"))?;
    if body.restricted_resources.is_empty() || body.restricted_resources.len() > 50 {
        return Err("restrictedResources must hold 1 to 50 resources".into());
    }
    body.restricted_resources
        .into_iter()
        .map(|r| {
            if !["GET", "PUT", "POST", "DELETE"].contains(&r.method.as_str()) {
                return Err(format!("Invalid method: {}", r.method));
            }
            if !r.path.starts_with('/') || r.path.contains('?') {
                return Err(format!("Invalid path: {}", r.path));
            }
            let elements = r.data_elements.unwrap_or_default();
            if !elements.is_empty() && !r.path.starts_with("/orders/") {
                return Err("dataElements are only supported for the Orders API".into());
            }
            if let Some(unknown) = elements.iter().find(|e| {
                !["buyerInfo", "shippingAddress", "buyerTaxInformation"].contains(&e.as_str())
            }) {
                return Err(format!("Invalid dataElement: {unknown}"));
            }
            Ok((r.method, r.path))
        })
        .collect()
}
