//! Every error is problem+json with a stable code: unknown routes and methods, bodies that are not
//! the request's JSON, field errors, bad ids, limits and cursors.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{error_fields, expect_problem, spawn_app};

#[tokio::test]
async fn an_unknown_route_is_404_problem_json() {
    let app = spawn_app().await;
    let response = app
        .request(Method::GET, "/v1/nothing-here")
        .header("x-request-id", "req-404")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-404");
    let body = expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(body["request_id"], "req-404");
}

#[tokio::test]
async fn a_wrong_method_is_405_problem_json_with_allow() {
    let app = spawn_app().await;
    let response = app
        .authed(Method::PUT, "/v1/tenants", &app.operator_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "POST, GET");
    expect_problem(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    // RFC 9110: every 405 names the methods the resource does answer, open routes too.
    for (method, path, allow) in [
        (Method::OPTIONS, "/v1/sellers/{id}", "GET, PATCH, DELETE"),
        (Method::GET, "/auth/o2/token", "POST"),
        (Method::POST, "/healthz", "GET"),
        (Method::TRACE, "/docs", "GET, HEAD"),
        // The SP-API proxy forwards the methods of SP-API's operations, and no other.
        (
            Method::TRACE,
            "/v1/sellers/{id}/sp-api/orders/v0/orders",
            "GET, POST, PUT, PATCH, DELETE",
        ),
        (
            Method::OPTIONS,
            "/v1/applications/{id}/sp-api/notifications/v1/destinations",
            "GET, POST, PUT, PATCH, DELETE",
        ),
    ] {
        let path = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
        let response = app
            .authed(method.clone(), &path, &app.operator_key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
    }
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let response = app
        .authed(Method::POST, "/v1/tenants", &app.operator_key)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
}

#[tokio::test]
async fn invalid_utf8_is_400() {
    let app = spawn_app().await;
    let response = app
        .authed(Method::POST, "/v1/tenants", &app.operator_key)
        .header("content-type", "application/json")
        .body(b"{\"name\": \"\xff\xfe\"}".to_vec())
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
}

#[tokio::test]
async fn an_unknown_field_is_400() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/v1/tenants",
            &app.operator_key,
            &json!({"name": "acme", "plan": "gold"}),
        )
        .await;
    let body = expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
    assert!(body["detail"].as_str().unwrap().contains("plan"));
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400() {
    let app = spawn_app().await;
    let response = app
        .authed(Method::POST, "/v1/tenants", &app.operator_key)
        .header("content-type", "text/plain")
        .body("name=acme")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let app = spawn_app().await;
    let big = json!({"name": "x".repeat(64 * 1024)});
    let response = app.post("/v1/tenants", &app.operator_key, &big).await;
    expect_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn a_body_of_exactly_64_kib_is_read() {
    let app = spawn_app().await;
    let padding = 64 * 1024 - r#"{"name":""}"#.len();
    let body = format!(r#"{{"name":"{}"}}"#, "x".repeat(padding));
    assert_eq!(body.len(), 64 * 1024);
    let response = app
        .authed(Method::POST, "/v1/tenants", &app.operator_key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    // Read and parsed: the name is simply too long.
    expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn invalid_values_are_422_with_one_error_per_field() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let response = app
        .post(
            "/v1/api-keys",
            &admin.key,
            &json!({"name": "", "scopes": ["root"], "expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    let body = expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&body), ["expires_at", "name", "scopes"]);
    assert!(body["errors"][0]["message"].is_string());
}

#[tokio::test]
async fn a_missing_or_mistyped_field_is_422_naming_it() {
    let app = spawn_app().await;
    let response = app.post("/v1/tenants", &app.operator_key, &json!({})).await;
    let body = expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "name");

    let response = app
        .post("/v1/tenants", &app.operator_key, &json!({"name": 7}))
        .await;
    let body = expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "name");
}

#[tokio::test]
async fn deeply_nested_json_is_refused_cleanly() {
    let app = spawn_app().await;
    let deep = format!("{{\"name\": {}1{}}}", "[".repeat(5000), "]".repeat(5000));
    let response = app
        .authed(Method::POST, "/v1/tenants", &app.operator_key)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
}

#[tokio::test]
async fn a_malformed_id_in_a_path_is_404() {
    let app = spawn_app().await;
    let response = app.get("/v1/tenants/not-a-uuid", &app.operator_key).await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn a_bad_limit_or_cursor_is_422() {
    let app = spawn_app().await;
    for query in ["limit=0", "limit=1001", "limit=abc", "cursor=garbage"] {
        let response = app
            .get(&format!("/v1/tenants?{query}"), &app.operator_key)
            .await;
        let body = expect_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let field = query.split('=').next().unwrap();
        assert_eq!(body["errors"][0]["field"], field, "{query}");
    }
}

/// Found by the fuzzer and by review: each was a 500.
#[tokio::test]
async fn times_beyond_four_digit_years_and_nul_bytes_in_filters_are_422() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    for at in ["-0001-01-01T00:00:00Z", "+10000-01-01T00:00:00Z"] {
        let response = app
            .post(
                "/v1/applications",
                &world.admin.key,
                &json!({"name": "far", "client_id": crate::helpers::client_id(),
                        "client_secret": crate::helpers::client_secret(),
                        "client_secret_expires_at": at}),
            )
            .await;
        let body = expect_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(error_fields(&body), ["client_secret_expires_at"], "{at}");
        let response = app
            .post(
                "/v1/api-keys",
                &world.admin.key,
                &json!({"name": "far", "scopes": ["tokens"], "expires_at": at}),
            )
            .await;
        expect_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    let response = app
        .get("/v1/sellers?external_id=%00", &world.admin.key)
        .await;
    let body = expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&body), ["external_id"]);
}

/// A secret sent in the wrong field must not come back in the error about it.
#[tokio::test]
async fn a_field_error_does_not_echo_the_value() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let secret = crate::helpers::refresh_token();
    let response = app
        .post(
            "/v1/sellers",
            &world.admin.key,
            &json!({"application_id": world.application["id"], "selling_partner_id": "A2EUQ1WTGCTBG2",
                    "region": "na", "refresh_token": secret, "marketplace_ids": secret}),
        )
        .await;
    let body = expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&body), ["marketplace_ids"]);
    assert!(!body.to_string().contains(&secret[5..]), "{body}");
}
