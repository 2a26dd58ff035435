//! One caller's SP-API call forwarded as it is (the vault's SP-API proxy): the caller's method,
//! path, query and body, the few request headers an operation needs, and a token the vault
//! holds; Amazon's answer comes back as it is, streamed.
//!
//! The request goes only to the base URL [`SpApiClient::base_url`] gives (Amazon's regional host,
//! or `SPVAULT_SPAPI_ENDPOINT`), with the same client rules as every SP-API call (no redirects;
//! https unless loopback). The path is an [`SpApiPath`], which cannot leave that host.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};

use super::sp_api::{SpApiClient, SpApiError};
use crate::domain::sp_api::SpApiPath;

/// The caller's request headers that are forwarded; every other one (`Authorization`, any
/// `x-amz-*`, cookies, `Host`, hop-by-hop headers…) stays at the vault.
pub const FORWARDED_REQUEST_HEADERS: [&str; 3] = ["content-type", "accept", "user-agent"];

/// Amazon's response headers that are not passed back: they describe the connection between the
/// vault and Amazon, not the answer (the vault's server sets its own).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// How long Amazon may take to start answering.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of a `403` is read to tell whether Amazon refused the token.
const REFUSAL_BYTES: usize = 64 * 1024;

/// The body of a forwarded request.
pub enum RequestBody {
    Empty,
    /// Held whole, so the call can be sent again (after a refused token).
    Whole(Bytes),
    /// Streamed from the caller as it arrives: sent once.
    Streamed(reqwest::Body),
}

impl RequestBody {
    /// Whether the call can be sent again with this body.
    pub fn replayable(&self) -> bool {
        !matches!(self, RequestBody::Streamed(_))
    }

    /// The body for one more attempt (the stream is handed over; a second take has nothing).
    fn take(&mut self) -> reqwest::Body {
        match std::mem::replace(self, RequestBody::Empty) {
            RequestBody::Empty => reqwest::Body::from(Bytes::new()),
            RequestBody::Whole(bytes) => {
                *self = RequestBody::Whole(bytes.clone());
                reqwest::Body::from(bytes)
            }
            RequestBody::Streamed(body) => body,
        }
    }
}

/// A call to forward.
pub struct Forward<'a> {
    pub method: Method,
    pub base: &'a str,
    pub path: &'a SpApiPath,
    pub query: Option<&'a str>,
    /// Already limited to [`FORWARDED_REQUEST_HEADERS`] (see [`forwarded_headers`]).
    pub headers: &'a HeaderMap,
}

/// Amazon's answer: status and headers read, the body still arriving. `head` holds what was
/// read already (of a `403`, to look for a refused token); `rest` streams the remainder.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub content_length: Option<u64>,
    pub head: Bytes,
    pub rest: Option<reqwest::Response>,
}

impl Answer {
    /// Whether this is Amazon refusing the token itself (`403` with `Unauthorized`, or
    /// `InvalidInput` about the token): a refresh may mend it.
    pub fn refuses_token(&self) -> bool {
        self.status == 403 && refuses_token(&self.head)
    }
}

/// Why no answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardFailure {
    Timeout,
    Connection,
    /// Sending failed, the caller's body stream included (it may have been cut off).
    Request,
}

impl ForwardFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardFailure::Timeout => "timeout",
            ForwardFailure::Connection => "connection_failed",
            ForwardFailure::Request => "request_failed",
        }
    }
}

/// The caller's headers that may go to Amazon (see [`FORWARDED_REQUEST_HEADERS`]).
pub fn forwarded_headers<'a>(headers: impl Iterator<Item = (&'a str, &'a [u8])>) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        if !FORWARDED_REQUEST_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            out.append(name, value);
        }
    }
    out
}

impl SpApiClient {
    /// Sends `call` with `token` in `x-amz-access-token` and waits for Amazon's status and
    /// headers (a `403`'s body is read too, up to a bound). Not retried here: the caller decides.
    pub async fn forward(
        &self,
        call: &Forward<'_>,
        token: &SecretString,
        body: &mut RequestBody,
    ) -> Result<Answer, ForwardFailure> {
        let mut url = format!("{}{}", call.base, call.path.as_str());
        if let Some(query) = call.query.filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(query);
        }
        let mut token_value =
            HeaderValue::from_str(token.expose_secret()).map_err(|_| ForwardFailure::Request)?;
        token_value.set_sensitive(true);
        let mut request = self
            .http()
            .request(call.method.clone(), url)
            .headers(call.headers.clone())
            .header("x-amz-access-token", token_value);
        if !matches!(body, RequestBody::Empty) {
            request = request.body(body.take());
        }
        let response = match tokio::time::timeout(RESPONSE_TIMEOUT, request.send()).await {
            Err(_) => return Err(ForwardFailure::Timeout),
            Ok(Err(err)) if err.is_timeout() => return Err(ForwardFailure::Timeout),
            Ok(Err(err)) if err.is_connect() => return Err(ForwardFailure::Connection),
            Ok(Err(_)) => return Err(ForwardFailure::Request),
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let content_length = response.content_length();
        let mut answer = Answer {
            status,
            headers,
            content_length,
            head: Bytes::new(),
            rest: Some(response),
        };
        if status == 403 {
            read_head(&mut answer, REFUSAL_BYTES).await;
        }
        Ok(answer)
    }
}

/// Reads up to `limit` bytes of the answer's body into `head`; what is left stays in `rest`.
async fn read_head(answer: &mut Answer, limit: usize) {
    let Some(mut response) = answer.rest.take() else {
        return;
    };
    let mut head = Vec::new();
    // Until the whole body is read (or it broke off: what came is what the caller gets).
    while let Ok(Some(chunk)) = response.chunk().await {
        head.extend_from_slice(&chunk);
        if head.len() >= limit {
            answer.rest = Some(response);
            break;
        }
    }
    answer.head = Bytes::from(head);
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<SpApiError>,
}

/// Whether a `403` body says the token was refused: `Unauthorized`, or `InvalidInput` about the
/// token (Amazon's words for a malformed or expired one).
fn refuses_token(body: &[u8]) -> bool {
    let Ok(body) = serde_json::from_slice::<ErrorBody>(body) else {
        return false;
    };
    body.errors.iter().any(|e| {
        e.code == "Unauthorized"
            || (e.code == "InvalidInput" && e.message.to_ascii_lowercase().contains("token"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_allowed_request_headers_are_forwarded() {
        let sent: Vec<(&str, &[u8])> = vec![
            ("Content-Type", b"application/json"),
            ("accept", b"application/json"),
            ("User-Agent", b"python-sp-api/2.1"),
            ("authorization", b"Bearer spv_x_y"),
            ("x-amz-access-token", b"spv_x_y"),
            ("x-amz-date", b"20261130T120000Z"),
            ("host", b"vault.example.com"),
            ("cookie", b"a=b"),
            ("x-forwarded-for", b"10.0.0.1"),
        ];
        let headers = forwarded_headers(sent.into_iter());
        let mut names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "content-type", "user-agent"]);
    }

    #[test]
    fn a_refused_token_is_told_from_other_refusals() {
        assert!(refuses_token(
            br#"{"errors":[{"code":"Unauthorized","message":"Access to requested resource is denied."}]}"#
        ));
        assert!(refuses_token(
            br#"{"errors":[{"code":"InvalidInput","message":"Invalid access token"}]}"#
        ));
        assert!(!refuses_token(
            br#"{"errors":[{"code":"InvalidInput","message":"Invalid marketplaceIds"}]}"#
        ));
        assert!(!refuses_token(b"<html>forbidden</html>"));
    }
}
