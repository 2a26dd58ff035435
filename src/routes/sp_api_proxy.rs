//! The SP-API proxy (tenant keys with scope `tokens`): `{METHOD} /v1/sellers/{id}/sp-api/{path…}`
//! and, for grantless operations, `{METHOD} /v1/applications/{id}/sp-api/{path…}`.
//!
//! The key may come in `x-amz-access-token` instead of `Authorization` (see
//! `auth::require_key_or_amazon_header`), so an SP-API client library whose host is set to
//! `…/v1/sellers/{id}/sp-api` and whose "token" is the key works unchanged. The request body is
//! streamed to Amazon as it arrives (held whole when it is small, so that the call can be sent
//! again after a refused token), up to 10 MiB; Amazon's answer is streamed back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use uuid::Uuid;

use super::access_tokens::requester;
use super::input::BodyTimeout;
use crate::amazon::forward::{forwarded_headers, Answer, RequestBody};
use crate::auth::{TenantCaller, TokensScope};
use crate::domain::sp_api::{
    parse_data_elements, SpApiPath, DATA_ELEMENTS_HEADER, REPORT_TYPE_HEADER,
};
use crate::domain::Region;
use crate::error::ApiError;
use crate::telemetry::RequestId;
use crate::workflows::proxy::{Call, Proxy};
use crate::workflows::tokens::Via;

/// The largest request body the proxy forwards.
pub const MAX_PROXY_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// Bodies up to this size (by their `Content-Length`) are held whole before they are sent, so
/// that the call can be sent again if Amazon refuses the token; larger ones are streamed.
const HELD_BODY_BYTES: u64 = 1024 * 1024;

/// The header that picks the region of a grantless call (`na`, `eu` or `fe`; default `na`):
/// an application is not tied to one region as a seller is.
pub const REGION_HEADER: &str = "x-spvault-region";

/// A seller's SP-API call, forwarded with the seller's access token.
#[utoipa::path(method(get, post, put, patch, delete), tag = "sp-api proxy",
    path = "/v1/sellers/{seller_id}/sp-api/{operation_path}",
    security(("tenant_key" = ["tokens"])),
    params(("seller_id" = Uuid, Path),
        ("operation_path" = String, Path, description = "the SP-API operation's path, slashes \
            included (`orders/v0/orders/902-3159896-1390916`); the query string goes through \
            unchanged"),
        ("x-amz-access-token" = Option<String>, Header, description = "the tenant key, where \
            SP-API client libraries put their token (`Authorization: Bearer` wins when both are \
            sent); never forwarded")),
    request_body(content = Option<String>, description = "forwarded unchanged (up to 10 MiB) \
        with its `content-type`; `accept` and `user-agent` are forwarded too, no other header"),
    responses(
        (status = 200, description = "Amazon's status, headers and body, unchanged (any status \
            Amazon answers, 429 included)"),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json",
            description = "seller_authorization_revoked or client_credentials_rejected"),
        (status = 413, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json",
            description = "not an SP-API operation path (`..`, `//`, a scheme or host, over \
                2048 characters)"),
        (status = 503, body = crate::error::Problem, content_type = "application/problem+json",
            description = "upstream_unavailable (LWA or SP-API unreachable), or unavailable")))]
pub async fn seller_call(
    caller: TenantCaller<TokensScope>,
    request_id: RequestId,
    req: HttpRequest,
    proxy: web::Data<Proxy>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let seller_id = id_in_path(&req, "seller_id")?;
    let (call, too_large) = parse_call(&req, payload).await?;
    let who = requester(
        caller.tenant_id,
        caller.key_id,
        &request_id,
        &req,
        Via::Proxy,
    );
    let answer = proxy.seller_call(&who, seller_id, call).await;
    respond(answer, &too_large)
}

/// A grantless SP-API call (Notifications API destinations and deleteSubscriptionById,
/// Application Management), forwarded with the application's grantless token of the scope the
/// operation needs.
#[utoipa::path(method(get, post, put, patch, delete), tag = "sp-api proxy",
    path = "/v1/applications/{application_id}/sp-api/{operation_path}",
    security(("tenant_key" = ["tokens"])),
    params(("application_id" = Uuid, Path),
        ("operation_path" = String, Path, description = "a grantless operation's path \
            (`notifications/v1/destinations`)"),
        ("x-spvault-region" = Option<String>, Header, description = "`na` (default), `eu` or \
            `fe`: the SP-API host the call goes to"),
        ("x-amz-access-token" = Option<String>, Header, description = "the tenant key (see the \
            seller route)")),
    request_body(content = Option<String>, description = "forwarded unchanged (up to 10 MiB)"),
    responses(
        (status = 200, description = "Amazon's status, headers and body, unchanged"),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json",
            description = "client_credentials_rejected"),
        (status = 413, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json",
            description = "not a grantless operation's path, or a bad region"),
        (status = 503, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn application_call(
    caller: TenantCaller<TokensScope>,
    request_id: RequestId,
    req: HttpRequest,
    proxy: web::Data<Proxy>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let application_id = id_in_path(&req, "application_id")?;
    let region = match req.headers().get(REGION_HEADER) {
        None => Region::Na,
        Some(value) => value
            .to_str()
            .map_err(|_| "must be na, eu or fe".to_owned())
            .and_then(|v| Region::parse(v.trim()))
            .map_err(|message| ApiError::validation(REGION_HEADER, message))?,
    };
    let (call, too_large) = parse_call(&req, payload).await?;
    let who = requester(
        caller.tenant_id,
        caller.key_id,
        &request_id,
        &req,
        Via::Proxy,
    );
    let answer = proxy
        .application_call(&who, application_id, region, call)
        .await;
    respond(answer, &too_large)
}

fn id_in_path(req: &HttpRequest, name: &str) -> Result<Uuid, ApiError> {
    req.match_info()
        .get(name)
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| ApiError::NotFound("no resource has that id".into()))
}

/// The operation's path as the caller sent it (still percent-encoded): what follows
/// `/v1/{sellers|applications}/{id}/sp-api` in the raw request path.
fn operation_path(req: &HttpRequest) -> Result<SpApiPath, ApiError> {
    let raw = req.uri().path();
    let rest = raw
        .splitn(5, '/')
        .nth(4)
        .and_then(|tail| tail.strip_prefix("sp-api"))
        .unwrap_or_default();
    SpApiPath::parse(rest).map_err(|message| ApiError::validation("path", message))
}

/// The call as it will be forwarded; and whether its body turned out too large while streaming.
async fn parse_call(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(Call, Arc<AtomicBool>), ApiError> {
    let path = operation_path(req)?;
    let hint = |name: &'static str| -> Result<Option<&str>, ApiError> {
        req.headers()
            .get(name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| ApiError::validation(name, "must be visible ASCII"))
            })
            .transpose()
    };
    let data_elements = match hint(DATA_ELEMENTS_HEADER)? {
        None => Vec::new(),
        Some(value) => parse_data_elements(value)
            .map_err(|message| ApiError::validation(DATA_ELEMENTS_HEADER, message))?,
    };
    let report_type = hint(REPORT_TYPE_HEADER)?.map(|t| t.trim().to_owned());
    let mut headers = forwarded_headers(
        req.headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
    );
    let too_large = Arc::new(AtomicBool::new(false));
    let (body, length) = request_body(req, payload, Arc::clone(&too_large)).await?;
    if let (RequestBody::Streamed(_), Some(length)) = (&body, length) {
        // A streamed body keeps the length it was announced with (not sent chunked).
        headers.insert(reqwest::header::CONTENT_LENGTH, length.into());
    }
    let call = Call {
        method: reqwest::Method::from_bytes(req.method().as_str().as_bytes())
            .map_err(|_| ApiError::MethodNotAllowed)?,
        path,
        query: req.uri().query().map(str::to_owned),
        headers,
        body,
        data_elements,
        report_type,
    };
    Ok((call, too_large))
}

/// The body, and its announced length.
async fn request_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    too_large: Arc<AtomicBool>,
) -> Result<(RequestBody, Option<u64>), ApiError> {
    let idle = req
        .app_data::<BodyTimeout>()
        .map_or(Duration::from_secs(10), |t| t.0);
    let length = match req.headers().get(actix_web::http::header::CONTENT_LENGTH) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::Malformed("Content-Length is not a number".into()))?,
        ),
    };
    let chunked = req
        .headers()
        .contains_key(actix_web::http::header::TRANSFER_ENCODING);
    let body = match length {
        Some(n) if n > MAX_PROXY_BODY_BYTES => return Err(ApiError::ProxyPayloadTooLarge),
        Some(0) => RequestBody::Empty,
        None if !chunked => RequestBody::Empty,
        Some(n) if n <= HELD_BODY_BYTES => {
            let mut body = bytes::BytesMut::with_capacity(n as usize);
            while let Some(chunk) = tokio::time::timeout(idle, payload.next())
                .await
                .map_err(|_| ApiError::RequestTimeout)?
            {
                let chunk = chunk.map_err(|_| {
                    ApiError::Malformed("the request body could not be read".into())
                })?;
                if (body.len() + chunk.len()) as u64 > n {
                    return Err(ApiError::Malformed(
                        "the request body is longer than its Content-Length".into(),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            RequestBody::Whole(body.freeze())
        }
        _ => RequestBody::Streamed(stream_body(payload, idle, too_large)),
    };
    Ok((body, length))
}

/// The caller's body as a stream for the upstream request, fed by a task on this worker (the
/// payload cannot leave it) that cuts the stream off past [`MAX_PROXY_BODY_BYTES`].
fn stream_body(
    mut payload: web::Payload,
    idle: Duration,
    too_large: Arc<AtomicBool>,
) -> reqwest::Body {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    actix_web::rt::spawn(async move {
        let mut total: u64 = 0;
        loop {
            let next = match tokio::time::timeout(idle, payload.next()).await {
                Err(_) => Some(Err(std::io::Error::other("the request body stalled"))),
                Ok(None) => None,
                Ok(Some(Ok(chunk))) => {
                    total += chunk.len() as u64;
                    if total > MAX_PROXY_BODY_BYTES {
                        too_large.store(true, Ordering::Release);
                        Some(Err(std::io::Error::other(
                            "the request body is over 10 MiB",
                        )))
                    } else {
                        Some(Ok(chunk))
                    }
                }
                Ok(Some(Err(err))) => Some(Err(std::io::Error::other(err.to_string()))),
            };
            let Some(item) = next else { return };
            let last = item.is_err();
            if sender.send(item).await.is_err() || last {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    reqwest::Body::wrap_stream(stream)
}

/// Amazon's answer as it came: status, headers, body streamed.
fn respond(
    answer: Result<Answer, crate::workflows::Error>,
    too_large: &AtomicBool,
) -> Result<HttpResponse, ApiError> {
    if too_large.load(Ordering::Acquire) {
        return Err(ApiError::ProxyPayloadTooLarge);
    }
    let answer = answer?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    for (name, value) in &answer.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            response.append_header((name, value));
        }
    }
    let head = futures_util::stream::iter(
        (!answer.head.is_empty()).then(|| Ok::<_, reqwest::Error>(answer.head.clone())),
    );
    let rest = futures_util::stream::unfold(answer.rest, |rest| async move {
        let mut response = rest?;
        match response.chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(response))),
            Ok(None) => None,
            Err(err) => Some((Err(err), None)),
        }
    });
    let body = head.chain(rest);
    Ok(match answer.content_length {
        Some(length) => response.body(SizedStream::new(length, body)),
        None => response.body(BodyStream::new(body)),
    })
}
