//! The vault as a client of LWA, against stand-ins that misbehave on purpose: a redirect to
//! another address, an endless answer, an endpoint over plain http off loopback.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use reqwest::StatusCode;
use spvault::startup::Application;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{expect_problem, spawn_app_with, test_settings, token_issues, TestDatabase};

/// A raw HTTP/1.1 server on a free loopback port: counts the connections it accepts, reads each
/// request whole and writes the same answer, then closes.
struct StandIn {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl StandIn {
    async fn start(answer: Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let answer = Arc::new(answer);
        tokio::spawn({
            let connections = Arc::clone(&connections);
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    connections.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(serve_one(stream, Arc::clone(&answer)));
                }
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}/auth/o2/token"),
            connections,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve_one(mut stream: TcpStream, answer: Arc<Vec<u8>>) {
    // Read the head, then as many body bytes as it announces: answering before the request is
    // read would make the client see a reset instead of the answer.
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let body_start = loop {
        let Ok(n) = stream.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..body_start]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while request.len() < body_start + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    // The client may stop reading early (that is the point of one test): errors are expected.
    let _ = stream.write_all(&answer).await;
    let _ = stream.shutdown().await;
}

/// What a forger would answer: a well-formed LWA token.
const FORGED: &str =
    r#"{"access_token":"Atza|forged-by-the-stand-in","token_type":"bearer","expires_in":3600}"#;

fn answer(status: &str, headers: &str, body: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\n{headers}Connection: close\r\n\r\n{body}").into_bytes()
}

#[tokio::test]
async fn a_redirecting_lwa_gets_no_credentials_and_mints_no_token() {
    let target = StandIn::start(answer(
        "200 OK",
        &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            FORGED.len()
        ),
        FORGED,
    ))
    .await;
    for status in ["307 Temporary Redirect", "308 Permanent Redirect"] {
        let redirector = StandIn::start(answer(
            status,
            &format!("Location: {}\r\nContent-Length: 0\r\n", target.url),
            "",
        ))
        .await;
        let url = redirector.url.clone();
        let app = spawn_app_with(|settings| settings.lwa_endpoint = url).await;
        let world = app.world("acme").await;

        let response = app
            .access_token(&world.tokens, &world.seller_id, None)
            .await;
        let body = expect_problem(
            response,
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_unavailable",
        )
        .await;
        assert!(!body.to_string().contains("Atza|"), "{body}");
        assert!(redirector.connections() >= 1, "the endpoint was asked");
        assert_eq!(
            target.connections(),
            0,
            "{status}: the redirect target received the credentials"
        );

        let issues = token_issues(&app, &world).await;
        assert!(!issues.is_empty(), "every attempt is recorded");
        let code = format!("http_{}", &status[..3]);
        for issue in &issues {
            assert_eq!(issue["outcome"], "lwa_error", "{issue}");
            assert_eq!(issue["error_code"], code.as_str(), "{issue}");
            assert!(issue["token_fingerprint"].is_null(), "{issue}");
        }
    }
}

#[tokio::test]
async fn an_oversized_lwa_answer_is_cut_off_and_mints_no_token() {
    // A valid token, then a megabyte in a field nobody reads, with no Content-Length: only
    // reading it all would find that it parses.
    let padded = format!(
        r#"{{"access_token":"Atza|forged-by-the-stand-in","token_type":"bearer","expires_in":3600,"padding":"{}"}}"#,
        "a".repeat(1024 * 1024)
    );
    let endless = StandIn::start(answer(
        "200 OK",
        "Content-Type: application/json\r\n",
        &padded,
    ))
    .await;
    let url = endless.url.clone();
    let app = spawn_app_with(|settings| settings.lwa_endpoint = url).await;
    let world = app.world("acme").await;

    let response = app
        .access_token(&world.tokens, &world.seller_id, None)
        .await;
    expect_problem(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream_unavailable",
    )
    .await;
    let issues = token_issues(&app, &world).await;
    assert!(!issues.is_empty());
    for issue in &issues {
        assert_eq!(issue["error_code"], "response_too_large", "{issue}");
    }
}

#[tokio::test]
async fn a_plain_http_lwa_endpoint_off_loopback_is_refused_at_start() {
    let database = TestDatabase::new_named();
    let mut settings = test_settings(&database.url());
    settings.lwa_endpoint = "http://lwa.example.com/auth/o2/token".into();
    let err = Application::build(settings.clone())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("SPVAULT_LWA_ENDPOINT") && err.contains("SPVAULT_AMAZON_ALLOW_HTTP"),
        "{err}"
    );

    // Allowed when asked for (an emulator on another host).
    settings.amazon_allow_http = true;
    Application::build(settings)
        .await
        .expect("plain http is allowed when asked for");
}
