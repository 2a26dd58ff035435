//! Logging and request identity.
//!
//! Logs are JSON lines on stderr. Each request gets an id (the caller's `x-request-id` if it is
//! sane, else a fresh one) that is echoed in the response header, written into every error body
//! and attached to the one log line the request produces. Headers and bodies are never logged, so
//! neither an `Authorization` header nor a secret in a body can reach the log.

use std::borrow::Cow;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use tracing_subscriber::EnvFilter;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: RequestId;
}

/// The route template a request matched (`/v1/sellers/{seller_id}`), set by the resource that
/// serves it: the label of its log line and metrics, never the raw path.
#[derive(Debug, Clone, Copy)]
pub struct RouteTemplate(pub &'static str);

/// The id of the request being served. Available to handlers as an extension and an extractor.
///
/// Held as the header value it is echoed in: a clone (into the request's extensions, its task's
/// scope, the response) shares the bytes instead of copying them, and a caller's own id is the
/// very bytes of its request's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// Takes the caller's id when it is 1–64 visible ASCII characters; otherwise makes a new one.
    pub fn from_header(value: Option<&HeaderValue>) -> Self {
        match value {
            Some(v)
                if !v.is_empty()
                    && v.len() <= 64
                    && v.as_bytes().iter().all(u8::is_ascii_graphic) =>
            {
                Self(v.clone())
            }
            _ => {
                let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
                let text = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut text);
                Self(HeaderValue::from_str(text).expect("a UUID is a valid header value"))
            }
        }
    }

    pub fn as_str(&self) -> &str {
        // Only visible ASCII is ever held (above), which is always a valid `str`.
        self.0.to_str().unwrap_or("-")
    }

    /// The id as the value of the response's `x-request-id` header.
    pub fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }
}

impl actix_web::FromRequest for RequestId {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let id = req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId::from_header(None));
        std::future::ready(Ok(id))
    }
}

/// The request id of the task serving the current request ("-" outside of a request).
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.as_str().to_owned())
        .unwrap_or_else(|_| "-".to_owned())
}

/// Installs the JSON subscriber. `filter` is an `EnvFilter` directive such as `info`.
pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // A second call (tests start many apps in one process) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Middleware: assigns the request id, serves the request inside its scope, echoes the id and
/// writes one log line with method, route template, status and latency.
pub async fn request_middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = RequestId::from_header(req.headers().get(&REQUEST_ID_HEADER));
    req.extensions_mut().insert(id.clone());
    let method = req.method().clone();

    let result = REQUEST_ID.scope(id.clone(), next.call(req)).await;
    let mut response = match result {
        Ok(response) => response,
        Err(err) => {
            tracing::error!(error = %err, request_id = id.as_str(), "request failed in middleware");
            return Err(err);
        }
    };
    let template = response
        .request()
        .extensions()
        .get::<RouteTemplate>()
        .copied();
    let route = match template {
        Some(RouteTemplate(route)) => Cow::Borrowed(route),
        // Services mounted whole (the docs UI) and unknown routes.
        None => response
            .request()
            .match_pattern()
            .map_or(Cow::Borrowed("unmatched"), Cow::Owned),
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    response
        .headers_mut()
        .insert(REQUEST_ID_HEADER, id.header_value());
    tracing::info!(
        method = %method,
        route = %route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        request_id = id.as_str(),
        "request"
    );
    crate::metrics::record_request(route, method.as_str(), status, elapsed);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_request_id_is_echoed() {
        let value = HeaderValue::from_static("abc-123_XYZ");
        assert_eq!(RequestId::from_header(Some(&value)).as_str(), "abc-123_XYZ");
    }

    #[test]
    fn an_overlong_or_invisible_request_id_is_replaced() {
        let long = HeaderValue::from_str(&"a".repeat(65)).unwrap();
        assert_ne!(RequestId::from_header(Some(&long)).as_str(), "a".repeat(65));
        let spaced = HeaderValue::from_static("a b");
        assert_ne!(RequestId::from_header(Some(&spaced)).as_str(), "a b");
        assert_eq!(RequestId::from_header(None).as_str().len(), 36);
    }
}
