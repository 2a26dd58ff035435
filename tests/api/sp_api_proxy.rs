//! The SP-API proxy: `{METHOD} /v1/sellers/{id}/sp-api/{path…}` and
//! `{METHOD} /v1/applications/{id}/sp-api/{path…}`, against the emulator's SP-API operations.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{expect_problem, expect_status, spawn_app_and_world, TestApp, World};

const PARTICIPATIONS: &str = "/sellers/v1/marketplaceParticipations";
/// A grantless operation.
const DESTINATIONS: &str = "/notifications/v1/destinations";

fn seller_path(world: &World, operation: &str) -> String {
    format!("/v1/sellers/{}/sp-api{operation}", world.seller_id)
}

fn application_path(world: &World, operation: &str) -> String {
    format!(
        "/v1/applications/{}/sp-api{operation}",
        world.application["id"].as_str().unwrap()
    )
}

/// A proxied call with the tenant key in `x-amz-access-token`, as SP-API libraries send it.
fn as_a_library(app: &TestApp, method: Method, path: &str, key: &str) -> RequestBuilder {
    app.request(method, path).header("x-amz-access-token", key)
}

/// The application's Notifications destinations (grantless), asked as an SP-API library does.
fn destinations_as_a_library(app: &TestApp, world: &World) -> RequestBuilder {
    as_a_library(
        app,
        Method::GET,
        &application_path(world, DESTINATIONS),
        &world.tokens.key,
    )
}

/// Every byte of an answer as the caller receives it: status line, headers, body.
async fn every_byte(response: Response) -> (StatusCode, Vec<u8>) {
    let status = response.status();
    let mut bytes = Vec::new();
    for (name, value) in response.headers() {
        bytes.extend_from_slice(name.as_str().as_bytes());
        bytes.extend_from_slice(value.as_bytes());
    }
    bytes.extend_from_slice(&response.bytes().await.unwrap());
    (status, bytes)
}

/// A request written by hand, so that its path reaches the vault exactly as written (an HTTP
/// client would resolve `..` first); returns the status.
async fn raw_get(app: &TestApp, path: &str, key: &str) -> u16 {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer}"))
}

#[tokio::test]
async fn a_plain_call_comes_back_with_amazons_status_body_and_headers() {
    let (app, world) = spawn_app_and_world("acme").await;
    let response = app
        .get(&seller_path(&world, PARTICIPATIONS), &world.tokens.key)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    for header in [
        "x-amzn-requestid",
        "x-amzn-ratelimit-limit",
        "x-amz-apigw-id",
    ] {
        assert!(response.headers().contains_key(header), "{header} missing");
    }
    assert_eq!(response.headers()["x-amzn-ratelimit-limit"], "0.016");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["payload"][0]["marketplace"]["id"], "ATVPDKIKX0DER");

    // Amazon got the seller's own access token.
    let seen = app.lwa.sp_api_calls();
    let call = seen.last().unwrap();
    assert_eq!(call.path, PARTICIPATIONS);
    assert_eq!(call.token, "seller");
    assert_eq!(
        call.seller_refresh_token.as_deref(),
        Some(world.refresh_token.as_str())
    );
}

#[tokio::test]
async fn the_tenant_key_may_come_in_x_amz_access_token() {
    let (app, world) = spawn_app_and_world("acme").await;
    let response = as_a_library(
        &app,
        Method::GET,
        &seller_path(&world, PARTICIPATIONS),
        &world.tokens.key,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.lwa.sp_api_calls().last().unwrap().token, "seller");
}

#[tokio::test]
async fn authorization_wins_when_both_headers_carry_a_key() {
    let (app, world) = spawn_app_and_world("acme").await;
    let path = seller_path(&world, PARTICIPATIONS);
    let response = as_a_library(&app, Method::GET, &path, &world.tokens.key)
        .bearer_auth("spv_unknown_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // The other way round: a valid Authorization, nonsense in x-amz-access-token.
    let response = as_a_library(&app, Method::GET, &path, "Atza|not-a-key")
        .bearer_auth(&world.tokens.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Nothing at all.
    let response = app.request(Method::GET, &path).send().await.unwrap();
    expect_problem(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn the_proxy_needs_the_tokens_scope_and_the_tenants_own_seller() {
    let (app, world) = spawn_app_and_world("acme").await;
    let other = app.world("globex").await;
    let path = seller_path(&world, PARTICIPATIONS);
    expect_problem(
        app.get(&path, &world.audit.key).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_problem(
        app.get(&path, &other.tokens.key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let unknown = format!(
        "/v1/sellers/{}/sp-api{PARTICIPATIONS}",
        uuid::Uuid::new_v4()
    );
    expect_problem(
        app.get(&unknown, &world.tokens.key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(app.lwa.sp_api_calls().is_empty());
}

#[tokio::test]
async fn body_and_query_pass_through_unchanged() {
    let (app, world) = spawn_app_and_world("acme").await;
    let query = "marketplaceIds=ATVPDKIKX0DER&sku=A%2FB%20c&issueLocale=en_US";
    let body = br#"{"productType":"SHIRT","requirements":"LISTING","attributes":{}}"#;
    for method in [Method::PUT, Method::POST, Method::PATCH, Method::DELETE] {
        let response = app
            .authed(
                method.clone(),
                &format!(
                    "{}?{query}",
                    seller_path(&world, "/emulator/v1/echo/items/A1/SKU%2F1")
                ),
                &world.tokens.key,
            )
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        assert_eq!(response.headers()["x-emulator-method"], method.as_str());
        assert_eq!(response.headers()["x-emulator-query"], query);
        assert_eq!(
            response.headers()["content-type"],
            "application/json; charset=utf-8"
        );
        assert_eq!(response.bytes().await.unwrap().as_ref(), body);
        let seen = app.lwa.sp_api_calls();
        assert_eq!(
            seen.last().unwrap().path,
            "/emulator/v1/echo/items/A1/SKU%2F1"
        );
    }
}

#[tokio::test]
async fn the_callers_authorization_and_x_amz_headers_are_not_forwarded() {
    let (app, world) = spawn_app_and_world("acme").await;
    let response = as_a_library(
        &app,
        Method::POST,
        &seller_path(&world, "/emulator/v1/echo"),
        &world.tokens.key,
    )
    .header("x-amz-date", "20261130T120000Z")
    .header("x-amz-security-token", "session")
    .header("cookie", "session=1")
    .header("x-forwarded-for", "10.1.2.3")
    .header("x-spvault-data-elements", "buyerInfo")
    .header("accept", "application/hal+json")
    .header("user-agent", "python-amazon-sp-api-2.1.35")
    .header("content-type", "application/json")
    .body("{}")
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = app.lwa.sp_api_calls();
    let call = seen.last().unwrap();
    for header in [
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "cookie",
        "x-forwarded-for",
        "x-spvault-data-elements",
    ] {
        assert!(
            !call.headers.iter().any(|h| h == header),
            "{header} was forwarded: {:?}",
            call.headers
        );
    }
    // The one x-amz header Amazon gets is the vault's token, not the key the caller sent.
    assert_eq!(call.token, "seller");
    assert_eq!(call.accept.as_deref(), Some("application/hal+json"));
    assert_eq!(
        call.user_agent.as_deref(),
        Some("python-amazon-sp-api-2.1.35")
    );
    assert_eq!(call.content_type.as_deref(), Some("application/json"));

    // With the key in Authorization too, neither header goes on.
    let response = app
        .authed(
            Method::GET,
            &seller_path(&world, PARTICIPATIONS),
            &world.tokens.key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = app.lwa.sp_api_calls();
    assert!(!seen
        .last()
        .unwrap()
        .headers
        .iter()
        .any(|h| h == "authorization"));
}

#[tokio::test]
async fn a_grantless_call_goes_with_the_applications_grantless_token() {
    let (app, world) = spawn_app_and_world("acme").await;
    let response = destinations_as_a_library(&app, &world)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-amzn-requestid"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["payload"][0]["name"], "emulated-queue");
    assert_eq!(app.lwa.sp_api_calls().last().unwrap().token, "grantless");

    // An operation that is not grantless is not made with an application's token.
    let problem = expect_problem(
        app.get(&application_path(&world, PARTICIPATIONS), &world.tokens.key)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "path");
    // A region that is not one.
    let response = app
        .authed(
            Method::GET,
            &application_path(&world, DESTINATIONS),
            &world.tokens.key,
        )
        .header("x-spvault-region", "moon")
        .send()
        .await
        .unwrap();
    expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn paths_that_are_not_operation_paths_are_refused() {
    let (app, world) = spawn_app_and_world("acme").await;
    let prefix = format!("/v1/sellers/{}/sp-api", world.seller_id);
    for operation in [
        "/sellers/../tokens/2021-03-01/restrictedDataToken",
        "/sellers/%2e%2e/tokens",
        "/sellers/a%2F..%2Fb",
        "//evil.example.com/sellers",
        "/http://evil.example.com/x",
        "/orders/%0d%0aHost:%20evil.example.com",
        "/",
    ] {
        let status = raw_get(&app, &format!("{prefix}{operation}"), &world.tokens.key).await;
        assert_eq!(status, 422, "{operation}");
    }
    let long = format!("{prefix}/orders/{}", "a".repeat(2100));
    let problem = expect_problem(
        app.get(&long, &world.tokens.key).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "path");
    assert!(
        app.lwa.sp_api_calls().is_empty(),
        "none of them reached Amazon"
    );
}

#[tokio::test]
async fn a_body_over_10_mib_is_refused() {
    let (app, world) = spawn_app_and_world("acme").await;
    let path = seller_path(&world, "/emulator/v1/echo");
    // Announced by its Content-Length: refused before Amazon is called.
    let response = app
        .authed(Method::POST, &path, &world.tokens.key)
        .body(vec![b'x'; 10 * 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert!(app.lwa.sp_api_calls().is_empty());
    // Chunked, with no length: cut off where it passes the limit.
    let chunks = (0..11).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 1024 * 1024]));
    let response = app
        .authed(Method::POST, &path, &world.tokens.key)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn a_10_mib_body_streams_through_both_ways() {
    let (app, world) = spawn_app_and_world("acme").await;
    let document: Vec<u8> = (0..10 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let sent = Sha256::digest(&document);
    // Streamed in (no length), streamed out.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = document
        .chunks(256 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let response = app
        .authed(
            Method::POST,
            &seller_path(&world, "/emulator/v1/echo"),
            &world.tokens.key,
        )
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let got = response.bytes().await.unwrap();
    assert_eq!(got.len(), document.len());
    assert_eq!(Sha256::digest(&got), sent);
    // With its length announced, as most clients send it.
    let response = app
        .authed(
            Method::PUT,
            &seller_path(&world, "/emulator/v1/echo"),
            &world.tokens.key,
        )
        .body(document)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(Sha256::digest(response.bytes().await.unwrap()), sent);
}

#[tokio::test]
async fn every_proxied_call_is_a_delivery_with_the_call_and_amazons_status() {
    let (app, world) = spawn_app_and_world("acme").await;
    let response = app
        .get(
            &format!("{}?x=1", seller_path(&world, PARTICIPATIONS)),
            &world.tokens.key,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    app.lwa.throttle_sp_api(1);
    let response = destinations_as_a_library(&app, &world)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);

    let deliveries = expect_status(
        app.get("/v1/token-deliveries", &world.audit.key).await,
        StatusCode::OK,
    )
    .await;
    let rows = deliveries["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{deliveries}");
    let grantless = &rows[0];
    assert_eq!(grantless["via"], "proxy");
    assert_eq!(grantless["seller_id"], Value::Null);
    assert_eq!(grantless["application_id"], world.application["id"]);
    assert_eq!(
        grantless["proxy"],
        json!({"method": "GET", "path": DESTINATIONS, "status": 429})
    );
    let seller = &rows[1];
    assert_eq!(seller["via"], "proxy");
    assert_eq!(seller["source"], "lwa");
    assert_eq!(seller["seller_id"], world.seller_id.as_str());
    assert_eq!(seller["api_key_id"], world.tokens.id.as_str());
    assert_eq!(
        seller["proxy"],
        json!({"method": "GET", "path": PARTICIPATIONS, "status": 200})
    );
    // Other deliveries carry no proxy field.
    app.access_token(&world.tokens, &world.seller_id, None)
        .await;
    let deliveries = expect_status(
        app.get("/v1/token-deliveries", &world.audit.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(deliveries["data"][0]["via"], "v1");
    assert!(deliveries["data"][0].get("proxy").is_none());

    // And they are counted by family and status class, with no ids (the recorder is the test
    // process's, shared by the tests running in it: the series are there, whatever their count).
    let metrics = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        r#"spvault_sp_api_proxy_calls_total{family="sellers",status="2xx"} "#,
        r#"spvault_sp_api_proxy_calls_total{family="notifications",status="4xx"} "#,
    ] {
        assert!(metrics.contains(series), "{series} missing");
    }
    assert!(!metrics.contains(&world.seller_id));
    assert!(!metrics.contains(world.application["id"].as_str().unwrap()));
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_the_call_sent_again() {
    let (app, world) = spawn_app_and_world("acme").await;
    let path = seller_path(&world, PARTICIPATIONS);
    assert_eq!(
        app.get(&path, &world.tokens.key).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 1);
    // Amazon stops taking the token the vault holds before its hour is up.
    app.lwa.forget_access_tokens();
    let calls_before = app.lwa.sp_api_calls().len();
    assert_eq!(
        app.get(&path, &world.tokens.key).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 2);
    let calls = app.lwa.sp_api_calls();
    assert_eq!(calls.len() - calls_before, 2);
    assert_eq!(calls[calls.len() - 2].token, "unknown");
    assert_eq!(calls[calls.len() - 1].token, "seller");
    // A body that is held is sent again as it was.
    app.lwa.forget_access_tokens();
    let response = app
        .authed(
            Method::POST,
            &seller_path(&world, "/emulator/v1/echo"),
            &world.tokens.key,
        )
        .body("again")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "again");
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 3);
}

#[tokio::test]
async fn amazons_429_is_passed_back_as_it_is_and_not_retried() {
    let (app, world) = spawn_app_and_world("acme").await;
    let path = seller_path(&world, PARTICIPATIONS);
    app.lwa.throttle_sp_api(1);
    let response = app.get(&path, &world.tokens.key).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("x-amzn-ratelimit-limit"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "QuotaExceeded");
    assert_eq!(app.lwa.sp_api_calls().len(), 1, "not retried");
    assert_eq!(
        app.get(&path, &world.tokens.key).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn no_amazon_token_reaches_the_caller() {
    let (app, world) = spawn_app_and_world("acme").await;
    let mut answers = Vec::new();
    for request in [
        app.authed(
            Method::GET,
            &seller_path(&world, PARTICIPATIONS),
            &world.tokens.key,
        ),
        as_a_library(
            &app,
            Method::POST,
            &seller_path(&world, "/emulator/v1/echo?a=b"),
            &world.tokens.key,
        )
        .body("{}"),
        destinations_as_a_library(&app, &world),
        app.authed(
            Method::GET,
            &application_path(&world, PARTICIPATIONS),
            &world.tokens.key,
        ),
    ] {
        answers.push(every_byte(request.send().await.unwrap()).await);
    }
    app.lwa.forget_access_tokens();
    app.lwa.throttle_sp_api(1);
    answers.push(
        every_byte(
            app.get(&seller_path(&world, PARTICIPATIONS), &world.tokens.key)
                .await,
        )
        .await,
    );
    assert!(answers.iter().any(|(status, _)| *status == StatusCode::OK));
    for (status, bytes) in answers {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("Atza|") && !text.contains("Atz.sprdt|"),
            "{status}: {text}"
        );
    }
}

#[tokio::test]
async fn a_restricted_call_goes_with_an_rdt_got_once_and_reused() {
    let (app, world) = spawn_app_and_world("acme").await;
    let path = seller_path(&world, "/orders/v0/orders/902-3159896-1390916/address");
    for _ in 0..3 {
        let (status, bytes) = every_byte(app.get(&path, &world.tokens.key).await).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("Jane Doe"), "{text}");
        assert!(
            !text.contains("Atz.sprdt|") && !text.contains("Atza|"),
            "{text}"
        );
    }
    assert_eq!(app.lwa.tokens_api_calls(), 1, "one RDT, reused");

    let deliveries = expect_status(
        app.get("/v1/token-deliveries", &world.audit.key).await,
        StatusCode::OK,
    )
    .await;
    let rows = deliveries["data"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{deliveries}");
    for row in rows {
        assert_eq!(row["via"], "proxy");
        assert_eq!(row["kind"], "restricted_data_token");
        assert_eq!(
            row["proxy"],
            json!({"method": "GET", "path": "/orders/v0/orders/902-3159896-1390916/address",
                   "status": 200})
        );
    }
    assert_eq!(rows[2]["source"], "sp_api");
    assert_eq!(rows[0]["source"], "cache");
    // The issue is the Tokens API call.
    let issues = expect_status(
        app.get("/v1/token-issues", &world.audit.key).await,
        StatusCode::OK,
    )
    .await;
    assert!(issues["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["grant_type"] == "restricted_data_token" && i["id"] == rows[0]["issue_id"]));
}

#[tokio::test]
async fn data_elements_are_checked_before_anything_is_called() {
    let (app, world) = spawn_app_and_world("acme").await;
    let response = app
        .authed(
            Method::GET,
            &seller_path(&world, "/orders/v0/orders"),
            &world.tokens.key,
        )
        .header("x-spvault-data-elements", "buyerInfo,creditCardNumber")
        .send()
        .await
        .unwrap();
    let problem = expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "x-spvault-data-elements");
    assert_eq!(app.lwa.tokens_api_calls(), 0);
}
