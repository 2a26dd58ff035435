//! SP-API's Tokens API and one restricted operation, as the emulator plays them:
//!
//! - `POST /tokens/2021-03-01/restrictedDataToken` takes a seller's access token the emulator
//!   issued (else `403 Unauthorized`), checks the body as Amazon does (else `400 InvalidInput`)
//!   and answers `{"restrictedDataToken": "Atz.sprdt|…", "expiresIn"}`; it can be told to fail or
//!   throttle (`tokens_api_fail_next`, `tokens_api_fail_status` in `/_emulator/behaviour`).
//! - `GET /orders/v0/orders/{orderId}/address` (`getOrderAddress`) answers only to an RDT
//!   covering exactly that method and path; anything else is `403 Unauthorized`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::EmulatorState;

fn access_token(req: &HttpRequest) -> &str {
    req.headers()
        .get("x-amz-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn sp_api_error(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .insert_header(("x-amzn-RequestId", uuid::Uuid::new_v4().to_string()))
        .json(serde_json::json!({"errors": [{"code": code, "message": message}]}))
}

pub(super) async fn create_restricted_data_token(
    state: web::Data<EmulatorState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    match state
        .create_restricted_data_token(access_token(&req), &body)
        .await
    {
        Ok((token, expires_in)) => HttpResponse::Ok()
            .insert_header(("x-amzn-RequestId", uuid::Uuid::new_v4().to_string()))
            .insert_header(("x-amzn-RateLimit-Limit", "1.0"))
            .json(serde_json::json!({"restrictedDataToken": token, "expiresIn": expires_in})),
        Err((status, code, message)) => sp_api_error(status, code, &message),
    }
}

pub(super) async fn get_order_address(
    state: web::Data<EmulatorState>,
    req: HttpRequest,
    order_id: web::Path<String>,
) -> HttpResponse {
    if !state.restricted_token_covers(access_token(&req), "GET", req.path()) {
        return sp_api_error(
            403,
            "Unauthorized",
            "Access to requested resource is denied.",
        );
    }
    HttpResponse::Ok()
        .insert_header(("x-amzn-RequestId", uuid::Uuid::new_v4().to_string()))
        .json(serde_json::json!({"payload": {
            "AmazonOrderId": order_id.into_inner(),
            "ShippingAddress": {"Name": "Jane Doe", "AddressLine1": "1 Main Street",
                "City": "Seattle", "StateOrRegion": "WA", "PostalCode": "98101",
                "CountryCode": "US"}
        }}))
}
