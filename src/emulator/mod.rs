//! A stand-in for Login with Amazon's token endpoint, for `spvault dev`, `spvault fake-lwa`,
//! tests and benchmarks. It speaks LWA's protocol (form and JSON bodies, LWA's success and error
//! shapes), issues `Atza|` tokens, counts exchanges, and can be told to misbehave. It also plays
//! the Application Management API: `POST /applications/2023-11-30/clientSecret` with a grantless
//! token of the rotation scope makes a new secret for its client (the old ones keep working for 7
//! days) and the `APPLICATION_OAUTH_CLIENT_NEW_SECRET` notification Amazon would send.
//!
//! In **lenient** mode it accepts any well-formed client and refresh token it was not told to
//! reject; in **strict** mode only registered ones. Control is through [`EmulatorState`] in
//! process, or through `/_emulator/*` over HTTP:
//!
//! - `GET  /_emulator/stats` → `{"exchanges": N, "max_in_flight": N, "by_key": {…}}`
//! - `POST /_emulator/behaviour` `{"latency_ms"?, "fail_next"?, "fail_status"?, "hang"?, "token_lifetime_secs"?,
//!   "tokens_api_fail_next"?, "tokens_api_fail_status"?}`
//! - `POST /_emulator/clients` `{"client_id", "client_secret"}` · `POST /_emulator/refresh-tokens` `{"refresh_token", "client_id"}`
//! - `POST /_emulator/revoke` `{"refresh_token"}` · `POST /_emulator/reject-client` `{"client_id"}`
//! - `POST /_emulator/solutions` `{"solution_id", "client_id"}`: an SP-API application id, whose
//!   consent codes are then bound to that client
//! - `POST /_emulator/revoke-client-secret` `{"client_id", "client_secret"}` (its other secrets work on)
//! - `GET  /_emulator/notifications` → the notifications rotations made, oldest first (with their
//!   secrets, as Amazon's carry them: forward one to the vault's `/v1/amazon-notifications`)
//!
//! It answers a few SP-API operations too (see `sp_api`: one plain, one that echoes body and
//! query, one grantless), for the vault's SP-API proxy.
//! It plays SP-API's Tokens API too — `POST /tokens/2021-03-01/restrictedDataToken` for a
//! seller's access token it issued — and one restricted operation, `GET
//! /orders/v0/orders/{orderId}/address`, which takes only an RDT covering it (see `tokens_api`).
//! `GET /_emulator/stats` counts Tokens API calls (`tokens_api_calls`); `/_emulator/behaviour`
//! takes `tokens_api_fail_next` and `tokens_api_fail_status` (429 throttles).
//!
//! It also plays Seller Central's consent page and LWA's `authorization_code` grant (see
//! `consent`), so that seller onboarding runs end to end on one machine.

mod consent;
mod sp_api;
mod state;
mod tokens_api;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde::Deserialize;

pub use state::{Behaviour, EmulatorState, Outcome, SeenCall, TokenHolder};

use crate::amazon::lwa::{self, ErrorBody};

/// A running emulator.
pub struct LwaEmulator {
    pub state: Arc<EmulatorState>,
    pub port: u16,
    handle: ServerHandle,
}

impl LwaEmulator {
    /// Starts on `listen` (port 0 picks one) and serves in the background of the current runtime.
    pub fn start(listen: &str, state: Arc<EmulatorState>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        let port = listener.local_addr()?.port();
        let server = server(listener, Arc::clone(&state))?;
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            state,
            port,
            handle,
        })
    }

    /// The emulated Seller Central (`SPVAULT_SELLER_CENTRAL_URL`).
    pub fn seller_central_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where to send token requests.
    pub fn token_url(&self) -> String {
        format!("http://127.0.0.1:{}/auth/o2/token", self.port)
    }

    /// The base URL of its SP-API operations (for `SPVAULT_SPAPI_ENDPOINT`).
    pub fn sp_api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// The emulator's HTTP server on `listener`.
pub fn server(listener: TcpListener, state: Arc<EmulatorState>) -> std::io::Result<Server> {
    let data = web::Data::from(state);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(64 * 1024))
            .route("/auth/o2/token", web::post().to(token))
            .route("/_emulator/stats", web::get().to(stats))
            .route("/_emulator/behaviour", web::post().to(behaviour))
            .route("/_emulator/clients", web::post().to(register_client))
            .route(
                "/_emulator/refresh-tokens",
                web::post().to(register_refresh_token),
            )
            .route("/_emulator/revoke", web::post().to(revoke))
            .route("/_emulator/reject-client", web::post().to(reject_client))
            .route("/_emulator/solutions", web::post().to(register_solution))
            .route("/apps/authorize/consent", web::get().to(consent::consent))
            .route(
                "/apps/authorize/decision",
                web::post().to(consent::decision),
            )
            .route(
                "/_emulator/revoke-client-secret",
                web::post().to(revoke_client_secret),
            )
            .route("/_emulator/notifications", web::get().to(notifications))
            .route(
                "/applications/2023-11-30/clientSecret",
                web::post().to(rotate_client_secret),
            )
            .configure(sp_api::routes)
            .route(
                crate::amazon::tokens_api::RESTRICTED_DATA_TOKEN_PATH,
                web::post().to(tokens_api::create_restricted_data_token),
            )
            .route(
                "/orders/v0/orders/{order_id}/address",
                web::get().to(tokens_api::get_order_address),
            )
    })
    // A busy machine (benchmarks share two cores) must not turn into 408s: LWA does not time a
    // request out within seconds of connecting.
    .client_request_timeout(std::time::Duration::from_secs(60))
    .listen(listener)?
    .workers(2)
    .disable_signals()
    .shutdown_timeout(1)
    .run())
}

async fn token(
    state: web::Data<EmulatorState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let outcome = match lwa::parse_token_request(content_type, &body) {
        Ok(request) => state.exchange(&request).await,
        Err(error) => Outcome::Error(400, error),
    };
    match outcome {
        Outcome::Issued(response) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(response),
        Outcome::Error(status, body) => HttpResponse::build(
            actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
        )
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body),
    }
}

async fn stats(state: web::Data<EmulatorState>) -> HttpResponse {
    HttpResponse::Ok().json(state.stats())
}

async fn behaviour(state: web::Data<EmulatorState>, body: web::Json<Behaviour>) -> HttpResponse {
    state.set_behaviour(body.into_inner());
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct ClientBody {
    client_id: String,
    client_secret: String,
}

async fn register_client(
    state: web::Data<EmulatorState>,
    body: web::Json<ClientBody>,
) -> HttpResponse {
    state.register_client(&body.client_id, &body.client_secret);
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct RefreshTokenBody {
    refresh_token: String,
    client_id: String,
}

async fn register_refresh_token(
    state: web::Data<EmulatorState>,
    body: web::Json<RefreshTokenBody>,
) -> HttpResponse {
    state.register_refresh_token(&body.refresh_token, &body.client_id);
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct RevokeBody {
    refresh_token: String,
}

async fn revoke(state: web::Data<EmulatorState>, body: web::Json<RevokeBody>) -> HttpResponse {
    state.revoke_refresh_token(&body.refresh_token);
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct RejectBody {
    client_id: String,
}

async fn reject_client(
    state: web::Data<EmulatorState>,
    body: web::Json<RejectBody>,
) -> HttpResponse {
    state.reject_client(&body.client_id);
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct SolutionBody {
    solution_id: String,
    client_id: String,
}

async fn register_solution(
    state: web::Data<EmulatorState>,
    body: web::Json<SolutionBody>,
) -> HttpResponse {
    state.register_solution(&body.solution_id, &body.client_id);
    HttpResponse::NoContent().finish()
}

async fn revoke_client_secret(
    state: web::Data<EmulatorState>,
    body: web::Json<ClientBody>,
) -> HttpResponse {
    state.revoke_client_secret(&body.client_id, &body.client_secret);
    HttpResponse::NoContent().finish()
}

async fn notifications(state: web::Data<EmulatorState>) -> HttpResponse {
    HttpResponse::Ok().json(state.notifications())
}

/// `rotateApplicationClientSecret`: `204` and a notification, or SP-API's error shape.
async fn rotate_client_secret(state: web::Data<EmulatorState>, req: HttpRequest) -> HttpResponse {
    let token = req
        .headers()
        .get("x-amz-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match state.rotate_client_secret(token) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err((status, code)) => HttpResponse::build(
            actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::FORBIDDEN),
        )
        .json(serde_json::json!({"errors": [{"code": code,
            "message": "Access to requested resource is denied."}]})),
    }
}

/// An error as LWA words it.
pub(crate) fn lwa_error(status: u16, error: &str, description: &str) -> Outcome {
    Outcome::Error(status, ErrorBody::new(error, description))
}
