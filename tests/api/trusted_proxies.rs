//! The client address behind a load balancer: `SPVAULT_TRUSTED_PROXIES` and `X-Forwarded-For`,
//! as the failed-authentication limit and the delivery trail see it.

use reqwest::StatusCode;

use crate::helpers::{expect_problem, expect_status, spawn_app_with, TestApp};

const ROUTE: &str = "/v1/api-keys";

/// A key that can never verify.
fn wrong_key() -> String {
    format!("spv_{}_{}", uuid::Uuid::now_v7().simple(), "W".repeat(43))
}

async fn get_from(app: &TestApp, peer: &str, forwarded_for: &str, key: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .local_address(Some(peer.parse().unwrap()))
        .build()
        .unwrap()
        .get(format!("{}{ROUTE}", app.address))
        .header("x-forwarded-for", forwarded_for)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

/// Behind a load balancer every request comes from its address: limiting that address would let
/// one client's failures lock out all the others.
#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_limited_on_its_own() {
    let app = spawn_app_with(|s| {
        s.auth_failure_limit = 3;
        s.trusted_proxies = Some("127.0.0.1, 10.0.0.0/8".into());
    })
    .await;
    let (_, admin) = app.create_tenant("acme").await;
    let worker = app.create_key(&admin, &["admin"]).await;
    let wrong = wrong_key();
    for _ in 0..3 {
        let response = get_from(&app, "127.0.0.1", "203.0.113.7", &wrong).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = get_from(&app, "127.0.0.1", "203.0.113.7", &wrong).await;
    expect_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // Another client through the same proxy (and a second proxy hop) is not limited.
    let response = get_from(&app, "127.0.0.1", "203.0.113.8, 10.1.2.3", &worker.key).await;
    expect_status(response, StatusCode::OK).await;

    // IPv6 clients count per /64.
    for host in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"] {
        let response = get_from(&app, "127.0.0.1", host, &wrong).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = get_from(&app, "127.0.0.1", "2001:db8:1:2:ffff::9", &wrong).await;
    expect_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let response = get_from(&app, "127.0.0.1", "2001:db8:1:3::1", &wrong).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forwarded_for_written_by_the_client_is_not_believed() {
    let app = spawn_app_with(|s| {
        s.auth_failure_limit = 3;
        s.trusted_proxies = Some("127.0.0.1".into());
    })
    .await;
    let wrong = wrong_key();
    // From a peer that is not a trusted proxy, the header is ignored.
    for n in 0..3 {
        let response = get_from(&app, "127.0.0.2", &format!("198.51.100.{n}"), &wrong).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = get_from(&app, "127.0.0.2", "198.51.100.99", &wrong).await;
    expect_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // Through the proxy, what the client put left of the proxy's own entry is ignored.
    for n in 0..3 {
        let chain = format!("192.0.2.{n}, 203.0.113.7");
        let response = get_from(&app, "127.0.0.1", &chain, &wrong).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = get_from(&app, "127.0.0.1", "garbage, 203.0.113.7", &wrong).await;
    expect_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // A malformed header (where it is read) means the peer: here, the proxy itself.
    let response = get_from(&app, "127.0.0.1", "203.0.113.7:443", &wrong).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deliveries_record_the_client_behind_the_proxy() {
    let app = spawn_app_with(|s| s.trusted_proxies = Some("127.0.0.1".into())).await;
    let world = app.world("acme").await;
    let response = app
        .authed(
            reqwest::Method::POST,
            &format!("/v1/sellers/{}/access-token", world.seller_id),
            &world.tokens.key,
        )
        .header("x-forwarded-for", "198.51.100.23")
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    let deliveries = expect_status(
        app.get("/v1/token-deliveries", &world.audit.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(deliveries["data"][0]["client_ip"], "198.51.100.23");
}

#[tokio::test]
async fn a_malformed_trusted_proxies_setting_stops_the_start() {
    let database = std::sync::Arc::new(crate::helpers::TestDatabase::new_named());
    let mut settings = crate::helpers::test_settings(&database.url());
    settings.trusted_proxies = Some("10.0.0.0/8, proxy.internal".into());
    let err = spvault::startup::Application::build(settings)
        .await
        .err()
        .expect("the start fails");
    let message = format!("{err:#}");
    assert!(message.contains("SPVAULT_TRUSTED_PROXIES"), "{message}");
    assert!(message.contains("proxy.internal"), "{message}");
}
