//! What an operator checks before trusting the vault with production traffic: metrics, API docs,
//! TLS, rate limits and hostile input.

use std::io::{Read, Write};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{expect_problem, expect_status, spawn_app, spawn_app_with};

#[tokio::test]
async fn metrics_use_route_templates_and_reveal_no_identifiers() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    for _ in 0..2 {
        expect_status(
            app.access_token(&world.tokens, &world.seller_id, None)
                .await,
            StatusCode::OK,
        )
        .await;
    }
    let response = app.request(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    for expected in [
        r#"spvault_http_requests_total{route="/v1/sellers/{seller_id}/access-token",method="POST",status="200"}"#,
        "spvault_http_request_duration_seconds_bucket",
        r#"spvault_token_cache_total{result="hit"}"#,
        r#"spvault_token_cache_total{result="miss"}"#,
        r#"spvault_lwa_exchanges_total{outcome="issued"}"#,
        "spvault_lwa_exchange_duration_seconds_bucket",
        "spvault_audit_batch_rows_count",
        "spvault_audit_write_duration_seconds_bucket",
        r#"spvault_db_pool_connections{state="idle"}"#,
        r#"spvault_key_cache_total{result="hit"}"#,
        "spvault_argon2_verifications_total",
    ] {
        assert!(text.contains(expected), "missing {expected}");
    }
    for secret_or_id in [
        &world.seller_id,
        &world.tenant_id,
        &world.tokens.id,
        &world.tokens.key,
    ] {
        assert!(!text.contains(secret_or_id.as_str()));
    }
}

#[tokio::test]
async fn the_api_docs_are_browsable_without_internet() {
    let app = spawn_app().await;
    let response = app.request(Method::GET, "/docs/").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"));
    assert!(!html.contains("https://"), "no asset comes from a CDN");
    let config = app
        .request(Method::GET, "/docs/swagger-initializer.js")
        .send()
        .await
        .unwrap();
    assert_eq!(config.status(), StatusCode::OK);
    assert!(config.text().await.unwrap().contains("/openapi.json"));
    let bundle = app
        .request(Method::GET, "/docs/swagger-ui-bundle.js")
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_vault_serves_https_with_the_configured_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("spvault-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let app = spawn_app_with(|s| {
        s.tls_cert = Some(cert_path.clone());
        s.tls_key = Some(key_path.clone());
    })
    .await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = client
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Plain HTTP is not served on the TLS port.
    let plain = reqwest::get(format!("http://localhost:{port}/healthz")).await;
    assert!(!plain.is_ok_and(|r| r.status().is_success()));
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn half_configured_tls_is_refused_at_start() {
    let database = crate::helpers::TestDatabase::new_named();
    let mut settings = crate::helpers::test_settings(&database.url());
    settings.tls_cert = Some("/nonexistent/cert.pem".into());
    let err = spvault::startup::Application::build(settings)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("SPVAULT_TLS_KEY"), "{err}");
}

#[tokio::test]
async fn a_tenant_over_its_request_limit_gets_429_with_the_usual_headers() {
    let app = spawn_app_with(|s| {
        s.tenant_rate_limit_per_second = 1;
        s.tenant_rate_limit_burst = 3;
    })
    .await;
    let (_, admin) = app.create_tenant("acme").await;
    let (_, other) = app.create_tenant("globex").await;
    // Creating the tenant's first key used none of its budget; three requests pass.
    let mut remaining = Vec::new();
    for _ in 0..2 {
        let response = app.get("/v1/api-keys", &admin.key).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["ratelimit-limit"], "3");
        remaining.push(
            response.headers()["ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(remaining, ["2", "1"]);
    expect_status(app.get("/v1/api-keys", &admin.key).await, StatusCode::OK).await;
    let limited = app.get("/v1/api-keys", &admin.key).await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(limited.headers()["ratelimit-limit"], "3");
    assert_eq!(limited.headers()["ratelimit-remaining"], "0");
    assert!(limited.headers().contains_key("ratelimit-reset"));
    expect_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    expect_status(app.get("/v1/api-keys", &other.key).await, StatusCode::OK).await;
}

#[tokio::test]
async fn a_body_that_trickles_in_is_cut_off() {
    let app = spawn_app_with(|s| s.request_timeout_ms = 500).await;
    let (_, admin) = app.create_tenant("acme").await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let admin_key = admin.key.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "POST /v1/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin_key}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"na"
        )
        .unwrap();
        let started = std::time::Instant::now();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        (answer, started.elapsed())
    })
    .await
    .unwrap();
    let (answer, waited) = answer;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"));
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[tokio::test]
async fn huge_numbers_and_wrong_types_are_422_not_500() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    for body in [
        json!({"min_ttl_seconds": 1e308}),
        json!({"min_ttl_seconds": -1}),
        json!({"min_ttl_seconds": "10"}),
        json!({"force_refresh": "yes"}),
    ] {
        let response = app
            .access_token(&world.tokens, &world.seller_id, Some(body.clone()))
            .await;
        let problem = expect_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert!(problem["errors"][0]["field"].is_string(), "{body}");
    }
    let response = app
        .authed(
            Method::POST,
            &format!("/v1/sellers/{}/access-token", world.seller_id),
            &world.tokens.key,
        )
        .header("content-type", "application/json")
        .body(r#"{"min_ttl_seconds": 123456789012345678901234567890}"#)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
}

#[tokio::test]
async fn oversized_headers_are_refused_cleanly() {
    let app = spawn_app().await;
    let response = app
        .request(Method::GET, "/healthz")
        .header("x-padding", "a".repeat(1024 * 1024))
        .send()
        .await;
    // A client error, or a closed connection: either way not a crash.
    if let Ok(response) = response {
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    // The vault still serves.
    let response = app.request(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
