//! `POST /auth/o2/token`: LWA's endpoint as SP-API SDKs call it, in LWA's shapes and errors (the
//! README's "Using spvault from your SDK").

use reqwest::StatusCode;
use serde_json::{json, Value};
use spvault::emulator::Behaviour;

use crate::helpers::{expect_status, spawn_app, spawn_app_with, TestApp, World};

async fn form(app: &TestApp, body: String) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let response = app
        .request(reqwest::Method::POST, "/auth/o2/token")
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=UTF-8",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, response.json().await.unwrap(), headers)
}

fn refresh_form(world: &World, seller: &str, key: &str) -> String {
    format!(
        "grant_type=refresh_token&refresh_token={seller}&client_id={}&client_secret={key}",
        world.application["client_id"].as_str().unwrap()
    )
}

async fn lwa_error(app: &TestApp, body: String, status: StatusCode, error: &str) {
    let (got, body, _) = form(app, body).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string());
    assert!(!body.to_string().contains("Atza|"));
}

#[tokio::test]
async fn a_refresh_token_grant_gets_the_same_token_as_v1_in_lwas_shape() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let (status, body, headers) = form(
        &app,
        refresh_form(&world, &world.seller_id, &world.tokens.key),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["refresh_token"], world.seller_id.as_str());
    assert_eq!(body["token_type"], "bearer");
    let expires_in = body["expires_in"].as_i64().unwrap();
    assert!((3590..=3600).contains(&expires_in));
    assert_eq!(body.as_object().unwrap().len(), 4);

    let v1 = expect_status(
        app.access_token(&world.tokens, &world.seller_id, None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v1["source"], "cache");
    assert_eq!(v1["access_token"], body["access_token"]);
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 1);

    let deliveries = expect_status(
        app.get("/v1/token-deliveries", &world.audit.key).await,
        StatusCode::OK,
    )
    .await;
    let vias: Vec<&str> = deliveries["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["via"].as_str().unwrap())
        .collect();
    assert_eq!(vias, ["v1", "lwa_compat"]);
}

#[tokio::test]
async fn json_bodies_and_unencoded_forms_are_taken() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let response = app
        .request(reqwest::Method::POST, "/auth/o2/token")
        .json(&json!({"grant_type": "refresh_token", "refresh_token": world.seller_id,
                      "client_id": world.application["client_id"], "client_secret": world.tokens.key}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // A key's `_` and `-` and a raw body without a content type, as the JavaScript helper sends.
    let response = app
        .request(reqwest::Method::POST, "/auth/o2/token")
        .body(refresh_form(&world, &world.seller_id, &world.tokens.key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn expires_in_is_the_true_remaining_lifetime_with_a_least_guarantee() {
    let app = spawn_app_with(|s| s.compat_min_ttl_seconds = Some(3300)).await;
    let world = app.world("acme").await;
    app.lwa.set_behaviour(Behaviour {
        token_lifetime_secs: Some(3400),
        ..Behaviour::default()
    });
    let body = refresh_form(&world, &world.seller_id, &world.tokens.key);
    let (_, first, _) = form(&app, body.clone()).await;
    let expires_in = first["expires_in"].as_i64().unwrap();
    assert!((3390..=3400).contains(&expires_in), "{expires_in}");
    let (_, again, _) = form(&app, body.clone()).await;
    assert_eq!(again["access_token"], first["access_token"]);

    // The stored token has 3 200 s left: enough for /v1 (skew 300), too little here.
    sqlx::query("update cached_token set expires_at = now() + interval '3200 seconds'")
        .execute(&app.pool)
        .await
        .unwrap();
    let restarted = app.another_instance().await;
    let v1 = expect_status(
        restarted
            .access_token(&world.tokens, &world.seller_id, None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v1["access_token"], first["access_token"]);
    let v1_expires_in = v1["expires_in"].as_i64().unwrap();
    assert!(
        (3190..=3200).contains(&v1_expires_in),
        "the true remaining lifetime: {v1_expires_in}"
    );
    let (_, renewed, _) = form(&restarted, body).await;
    assert_ne!(renewed["access_token"], first["access_token"]);
    assert!(renewed["expires_in"].as_i64().unwrap() >= 3300);
}

#[tokio::test]
async fn client_credentials_get_grantless_tokens() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let body = format!(
        "grant_type=client_credentials&scope=sellingpartnerapi%3A%3Anotifications&client_id={}&client_secret={}",
        world.application["client_id"].as_str().unwrap(),
        world.tokens.key
    );
    let (status, token, _) = form(&app, body).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert!(token.get("refresh_token").is_none());
    assert_eq!(token["token_type"], "bearer");

    let bad_scope = format!(
        "grant_type=client_credentials&scope=sellingpartnerapi::migration&client_id={}&client_secret={}",
        world.application["client_id"].as_str().unwrap(),
        world.tokens.key
    );
    lwa_error(&app, bad_scope, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let unknown_client = format!(
        "grant_type=client_credentials&scope=sellingpartnerapi::notifications&client_id=amzn1.application-oa2-client.ffff&client_secret={}",
        world.tokens.key
    );
    lwa_error(
        &app,
        unknown_client,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
}

#[tokio::test]
async fn nothing_about_a_seller_leaks_without_the_right_key_and_client_id() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let other = app.world("globex").await;
    let admin_only = app.create_key(&world.admin, &["admin", "audit"]).await;
    // Bad, unscoped or operator keys: invalid_client.
    for key in [
        "spv_garbage",
        admin_only.key.as_str(),
        app.operator_key.as_str(),
    ] {
        lwa_error(
            &app,
            refresh_form(&world, &world.seller_id, key),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        )
        .await;
    }
    // Another tenant's key: the seller does not exist for it.
    lwa_error(
        &app,
        refresh_form(&world, &world.seller_id, &other.tokens.key),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // The right key with another application's client id.
    let wrong_client = format!(
        "grant_type=refresh_token&refresh_token={}&client_id={}&client_secret={}",
        world.seller_id,
        other.application["client_id"].as_str().unwrap(),
        world.tokens.key
    );
    lwa_error(
        &app,
        wrong_client,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    // Not a seller id at all.
    lwa_error(
        &app,
        refresh_form(&world, "Atzr|a-real-refresh-token", &world.tokens.key),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(app.lwa.total_exchanges(), 0);
}

#[tokio::test]
async fn a_revoked_seller_is_invalid_grant() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    app.lwa.revoke_refresh_token(&world.refresh_token);
    lwa_error(
        &app,
        refresh_form(&world, &world.seller_id, &world.tokens.key),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    lwa_error(
        &app,
        refresh_form(&world, &world.seller_id, &world.tokens.key),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 1);
}

#[tokio::test]
async fn malformed_requests_get_lwas_errors() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    lwa_error(
        &app,
        String::new(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    lwa_error(
        &app,
        "grant_type=authorization_code&code=x".into(),
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    )
    .await;
    lwa_error(
        &app,
        format!("grant_type=refresh_token&refresh_token={}", world.seller_id),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let response = app
        .request(reqwest::Method::POST, "/auth/o2/token")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    let response = app
        .request(reqwest::Method::POST, "/auth/o2/token")
        .body(format!("grant_type={}", "x".repeat(70_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn lwa_being_down_is_temporarily_unavailable() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    app.lwa.set_behaviour(Behaviour {
        fail_next: Some(10_000),
        ..Behaviour::default()
    });
    let (status, body, headers) = form(
        &app,
        refresh_form(&world, &world.seller_id, &world.tokens.key),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(headers.contains_key("retry-after"));
}

async fn grantless(app: &TestApp, world: &World, scope: &str) -> (StatusCode, Value) {
    let response = app
        .request(reqwest::Method::POST, "/auth/o2/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            (
                "client_id",
                world.application["client_id"].as_str().unwrap(),
            ),
            ("client_secret", &world.tokens.key),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Each distinct `scope` string used to be its own cache entry: by varying spaces and repeats a
/// tenant bypassed the cache and single flight, and wrote a token-issue row per variant.
#[tokio::test]
async fn variants_of_one_scope_make_one_exchange_and_one_cache_entry() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let scope = "sellingpartnerapi::notifications";
    let mut tokens = std::collections::HashSet::new();
    for variant in [
        scope.to_owned(),
        format!("{scope} {scope}"),
        format!("  {scope}   {scope} {scope}\t"),
        format!("\n{scope}"),
    ] {
        let (status, body) = grantless(&app, &world, &variant).await;
        assert_eq!(status, StatusCode::OK, "{variant:?}: {body}");
        tokens.insert(body["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(tokens.len(), 1);
    assert_eq!(app.lwa.total_exchanges(), 1);
    let cached: i64 = sqlx::query_scalar("select count(*) from cached_token")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(cached, 1);
    let issues = expect_status(
        app.get("/v1/token-issues", &world.audit.key).await,
        StatusCode::OK,
    )
    .await;
    let issues = issues["data"].as_array().unwrap();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["scope"], scope);
    // /v1 names the same scope: the same cache entry again.
    let v1 = expect_status(
        app.post(
            &format!(
                "/v1/applications/{}/grantless-token",
                world.application["id"].as_str().unwrap()
            ),
            &world.tokens.key,
            &json!({ "scope": scope }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v1["source"], "cache");
    assert!(tokens.contains(v1["access_token"].as_str().unwrap()));
}

#[tokio::test]
async fn a_scope_that_is_not_one_known_scope_is_invalid_scope() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let notifications = "sellingpartnerapi::notifications";
    let rotation = "sellingpartnerapi::client_credential:rotation";
    for scope in [
        String::new(),
        "sellingpartnerapi::migration".to_owned(),
        format!("{notifications} {rotation}"),
        format!("{notifications} sellingpartnerapi::migration"),
        format!("{notifications} ").repeat(1_000),
    ] {
        let (status, body) = grantless(&app, &world, &scope).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "invalid_scope", "{body}");
        assert!(body["error_description"].is_string());
        assert!(!body.to_string().contains("sellingpartnerapi"), "{body}");
    }
    assert_eq!(app.lwa.total_exchanges(), 0);
}
