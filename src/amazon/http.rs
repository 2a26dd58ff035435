//! The one HTTP policy for every Amazon host the vault calls (Login with Amazon now; SP-API and
//! the Tokens API use the same): what an endpoint may be, how the client behaves, and how much of
//! an answer is read.
//!
//! - **No redirects.** A request to Amazon carries credentials (a client secret, a refresh
//!   token, an access token). Following a redirect would hand them to whatever host the answer
//!   names, and whatever that host answers would be taken as Amazon's. A 3xx is an answer like
//!   any other unusable one; each client decides what it means (see `lwa_client`).
//! - **https only**, unless the endpoint is a loopback address (the emulator of `spvault dev`,
//!   the tests and the benchmarks) or `SPVAULT_AMAZON_ALLOW_HTTP` is set (an emulator on another
//!   host). Checked once, at start-up, by [`endpoint`]; with redirects off the scheme cannot
//!   change afterwards, and a client for an https endpoint refuses plain http besides.
//! - **Bounded answers.** [`read_body`] reads at most [`MAX_RESPONSE_BYTES`], chunk by chunk,
//!   and stops at the first byte beyond: a hostile or broken upstream cannot make the vault
//!   buffer more.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;
use zeroize::Zeroizing;

/// The most of one answer from Amazon that is read (LWA's answers are well under 2 KiB).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The environment variable that allows plain http to a host that is not loopback.
pub const ALLOW_HTTP_SETTING: &str = "SPVAULT_AMAZON_ALLOW_HTTP";

/// An endpoint that passed [`endpoint`].
#[derive(Debug, Clone)]
pub struct Endpoint {
    url: Url,
}

impl Endpoint {
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether requests to it go over plain http.
    pub fn is_plain_http(&self) -> bool {
        self.url.scheme() == "http"
    }
}

/// Checks the endpoint configured in `setting`: an absolute `https` URL, or `http` to a loopback
/// address, or `http` anywhere when `allow_http`. The message names the setting and says what to
/// do; it shows the scheme and host, never the rest of the URL.
pub fn endpoint(setting: &str, value: &str, allow_http: bool) -> Result<Endpoint, String> {
    let url = Url::parse(value.trim())
        .map_err(|err| format!("{setting} is not an absolute URL ({err})"))?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("{setting} has no host"))?
        .to_owned();
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{setting} must not carry credentials in the URL; the vault sends its own"
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if allow_http || is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "{setting} is plain http to {host}, which is not a loopback address: credentials \
                 would cross the network unencrypted. Use https, or for an emulator on another \
                 host set {ALLOW_HTTP_SETTING}=true"
            ))
        }
        other => return Err(format!("{setting} must be an https URL, not {other}:")),
    }
    Ok(Endpoint { url })
}

/// `127.0.0.0/8`, `::1` or `localhost`.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    // An IPv6 host comes in brackets.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The HTTP client for `endpoint`: redirects off, plain http refused unless the endpoint itself
/// is plain http, a connect timeout, and the vault's user agent.
pub fn client(endpoint: &Endpoint, connect_timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .https_only(!endpoint.is_plain_http())
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("spvault/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Why an answer's body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the limit (said so by `Content-Length`, or found while reading).
    TooLarge,
    TimedOut,
    Interrupted,
}

/// Reads the body of `response`, at most `limit` bytes, chunk by chunk; the buffer is wiped when
/// dropped (an answer may hold a token).
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Zeroizing<Vec<u8>>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge);
    }
    // Allocated once at its greatest size, so it never moves and leaves a copy behind.
    let mut body = Zeroizing::new(Vec::with_capacity(limit));
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if chunk.len() > limit - body.len() {
                    return Err(BodyError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(err) if err.is_timeout() => return Err(BodyError::TimedOut),
            Err(_) => return Err(BodyError::Interrupted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTING: &str = "SPVAULT_LWA_ENDPOINT";

    #[test]
    fn https_is_always_accepted() {
        let endpoint = endpoint(SETTING, "https://api.amazon.com/auth/o2/token", false).unwrap();
        assert!(!endpoint.is_plain_http());
    }

    #[test]
    fn plain_http_is_accepted_on_loopback_only() {
        for url in [
            "http://127.0.0.1:9000/auth/o2/token",
            "http://127.8.9.10/auth/o2/token",
            "http://[::1]:9000/auth/o2/token",
            "http://localhost:9000/auth/o2/token",
        ] {
            assert!(endpoint(SETTING, url, false).is_ok(), "{url}");
        }
        for url in [
            "http://api.amazon.com/auth/o2/token",
            "http://10.0.0.5/auth/o2/token",
            "http://localhost.example.com/auth/o2/token",
        ] {
            let err = endpoint(SETTING, url, false).unwrap_err();
            assert!(
                err.contains(SETTING) && err.contains(ALLOW_HTTP_SETTING),
                "{err}"
            );
        }
    }

    #[test]
    fn plain_http_elsewhere_needs_the_setting() {
        let endpoint = endpoint(SETTING, "http://lwa-emulator:9000/auth/o2/token", true).unwrap();
        assert!(endpoint.is_plain_http());
    }

    #[test]
    fn other_schemes_relative_urls_and_credentials_are_refused() {
        for url in [
            "ftp://api.amazon.com/x",
            "api.amazon.com/auth/o2/token",
            "https://user:pw@api.amazon.com/auth/o2/token",
        ] {
            let err = endpoint(SETTING, url, true).unwrap_err();
            assert!(err.contains(SETTING), "{err}");
            assert!(!err.contains("pw"), "{err}");
        }
    }
}
