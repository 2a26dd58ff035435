//! A few SP-API operations, answered as Amazon answers them (its JSON shapes, its error body,
//! `x-amzn-RequestId` and `x-amzn-RateLimit-Limit`), for the vault's SP-API proxy in tests,
//! benchmarks and `spvault dev`. Each checks the token in `x-amz-access-token` against the
//! tokens the emulator issued: a seller's (`Atza|…` for a refresh token) or a grantless one.
//!
//! - `GET /sellers/v1/marketplaceParticipations` — getMarketplaceParticipations (plain)
//! - `{any method} /emulator/v1/echo{/anything}` — the request body back as it came (same
//!   `content-type`), the method and query in `x-emulator-method` and `x-emulator-query`. Like
//!   Amazon's gateway, it reads the whole request before it answers.
//! - `GET /notifications/v1/destinations` — getDestinations (grantless, scope
//!   `sellingpartnerapi::notifications`)
//!
//! Control: `POST /_emulator/sp-api` `{"throttle_next"?: N, "forget_access_tokens"?: bool}`
//! (the next N calls get `429 QuotaExceeded`; every token issued so far stops working), and
//! `GET /_emulator/sp-api/calls` → the last calls seen (method, path, query, header names — never
//! a header's value, which may be a token).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use futures_util::StreamExt;
use serde::Deserialize;

use super::state::{EmulatorState, SeenCall, TokenHolder};

const NOTIFICATIONS_SCOPE: &str = "sellingpartnerapi::notifications";

/// The operations' routes and their control.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/sellers/v1/marketplaceParticipations",
        web::get().to(marketplace_participations),
    )
    .route("/emulator/v1/echo", web::route().to(echo))
    .route("/emulator/v1/echo/{tail:.*}", web::route().to(echo))
    .route(
        "/notifications/v1/destinations",
        web::get().to(destinations),
    )
    .route("/_emulator/sp-api", web::post().to(control))
    .route("/_emulator/sp-api/calls", web::get().to(calls));
}

/// Why a call is refused before its operation runs.
enum Refused {
    Throttled,
    Unauthorized,
}

impl Refused {
    /// Amazon's answer.
    fn response(self) -> HttpResponse {
        match self {
            Refused::Throttled => amazon(StatusCode::TOO_MANY_REQUESTS).json(errors(
                "QuotaExceeded",
                "You exceeded your quota for the requested resource.",
            )),
            Refused::Unauthorized => unauthorized(),
        }
    }
}

/// Who called: the holder of the token, or why Amazon refuses the caller.
fn admit(state: &EmulatorState, req: &HttpRequest) -> Result<TokenHolder, Refused> {
    let token = req
        .headers()
        .get("x-amz-access-token")
        .and_then(|v| v.to_str().ok());
    let holder = token.and_then(|t| state.token_holder(t));
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut headers: Vec<String> = req
        .headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .collect();
    headers.sort();
    state.remember(SeenCall {
        method: req.method().as_str().to_owned(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        headers,
        content_type: header("content-type"),
        accept: header("accept"),
        user_agent: header("user-agent"),
        token: match (&holder, token) {
            (Some(TokenHolder::Seller(_)), _) => "seller",
            (Some(TokenHolder::Grantless { .. }), _) => "grantless",
            (None, Some(_)) => "unknown",
            (None, None) => "none",
        },
        seller_refresh_token: match &holder {
            Some(TokenHolder::Seller(refresh_token)) => Some(refresh_token.clone()),
            _ => None,
        },
    });
    if state.throttled() {
        return Err(Refused::Throttled);
    }
    holder.ok_or(Refused::Unauthorized)
}

/// Amazon's answer for a token it does not accept.
fn unauthorized() -> HttpResponse {
    amazon(StatusCode::FORBIDDEN).json(errors(
        "Unauthorized",
        "Access to requested resource is denied.",
    ))
}

fn errors(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"errors": [{"code": code, "message": message, "details": ""}]})
}

/// A response with the headers every SP-API answer carries.
fn amazon(status: StatusCode) -> HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response
        .insert_header(("x-amzn-RequestId", uuid::Uuid::new_v4().to_string()))
        .insert_header(("x-amzn-RateLimit-Limit", "0.016"))
        .insert_header(("x-amz-apigw-id", "emulator"));
    response
}

async fn marketplace_participations(
    state: web::Data<EmulatorState>,
    req: HttpRequest,
) -> HttpResponse {
    match admit(&state, &req) {
        Ok(TokenHolder::Seller(_)) => amazon(StatusCode::OK).json(serde_json::json!({
            "payload": [{
                "marketplace": {"id": "ATVPDKIKX0DER", "countryCode": "US", "name": "Amazon.com",
                                "defaultCurrencyCode": "USD", "defaultLanguageCode": "en_US",
                                "domainName": "www.amazon.com"},
                "participation": {"isParticipating": true, "hasSuspendedListings": false},
                "storeName": "Emulated Store"
            }]
        })),
        Ok(TokenHolder::Grantless { .. }) => unauthorized(),
        Err(refused) => refused.response(),
    }
}

/// The most an echoed body may hold.
const ECHO_LIMIT: usize = 32 * 1024 * 1024;

async fn echo(
    state: web::Data<EmulatorState>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> HttpResponse {
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) if body.len() + chunk.len() <= ECHO_LIMIT => body.extend_from_slice(&chunk),
            Ok(_) => {
                return amazon(StatusCode::PAYLOAD_TOO_LARGE)
                    .json(errors("RequestEntityTooLarge", "The request is too large."))
            }
            Err(_) => {
                return amazon(StatusCode::BAD_REQUEST)
                    .json(errors("InvalidInput", "The request body broke off."))
            }
        }
    }
    match admit(&state, &req) {
        Ok(TokenHolder::Seller(_)) => {
            let mut response = amazon(StatusCode::OK);
            response
                .insert_header(("x-emulator-method", req.method().as_str()))
                .insert_header(("x-emulator-query", req.query_string()));
            if let Some(content_type) = req.headers().get("content-type") {
                response.insert_header(("content-type", content_type.clone()));
            }
            response.body(body.freeze())
        }
        Ok(TokenHolder::Grantless { .. }) => unauthorized(),
        Err(refused) => refused.response(),
    }
}

async fn destinations(state: web::Data<EmulatorState>, req: HttpRequest) -> HttpResponse {
    match admit(&state, &req) {
        Ok(TokenHolder::Grantless { scope, .. })
            if scope.split(' ').any(|s| s == NOTIFICATIONS_SCOPE) =>
        {
            amazon(StatusCode::OK).json(serde_json::json!({"payload": [{
                "name": "emulated-queue",
                "destinationId": "00000000-0000-4000-8000-000000000001",
                "resource": {"sqs": {"arn": "arn:aws:sqs:us-east-1:000000000000:emulated"}}
            }]}))
        }
        Ok(_) => unauthorized(),
        Err(refused) => refused.response(),
    }
}

#[derive(Deserialize)]
struct Control {
    throttle_next: Option<u32>,
    forget_access_tokens: Option<bool>,
}

async fn control(state: web::Data<EmulatorState>, body: web::Json<Control>) -> HttpResponse {
    if let Some(n) = body.throttle_next {
        state.throttle_sp_api(n);
    }
    if body.forget_access_tokens == Some(true) {
        state.forget_access_tokens();
    }
    HttpResponse::NoContent().finish()
}

async fn calls(state: web::Data<EmulatorState>) -> HttpResponse {
    HttpResponse::Ok().json(state.sp_api_calls())
}
