use reqwest::{Method, StatusCode};

use std::sync::Arc;

use crate::helpers::{expect_status, random_hex, spawn_app, start, test_settings, TestDatabase};

#[tokio::test]
async fn healthz_says_ok() {
    let app = spawn_app().await;
    let response = app.request(Method::GET, "/healthz").send().await.unwrap();
    let body = expect_status(response, StatusCode::OK).await;
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_is_ok_when_the_database_is_migrated() {
    let app = spawn_app().await;
    let response = app.request(Method::GET, "/readyz").send().await.unwrap();
    let body = expect_status(response, StatusCode::OK).await;
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_is_503_when_a_migration_is_missing() {
    let app = spawn_app().await;
    sqlx::query("delete from _sqlx_migrations")
        .execute(&app.pool)
        .await
        .unwrap();
    let response = app.request(Method::GET, "/readyz").send().await.unwrap();
    let body = expect_status(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(body["reason"].as_str().unwrap().contains("migrations"));
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let response = app
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap();
    let doc = expect_status(response, StatusCode::OK).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for (path, method) in [
        ("/v1/tenants", "post"),
        ("/v1/tenants", "get"),
        ("/v1/tenants/{tenant_id}", "get"),
        ("/v1/tenants/{tenant_id}", "patch"),
        ("/v1/tenants/{tenant_id}", "delete"),
        ("/v1/api-keys", "post"),
        ("/v1/api-keys", "get"),
        ("/v1/api-keys/{key_id}", "delete"),
        ("/v1/audit-events", "get"),
        ("/v1/applications", "post"),
        ("/v1/applications/{application_id}/client-secret", "put"),
        ("/v1/sellers", "get"),
        ("/v1/sellers/{seller_id}/refresh-token", "put"),
        ("/v1/sellers/{seller_id}/access-token", "post"),
        ("/v1/sellers/{seller_id}/restricted-data-token", "post"),
        ("/v1/applications/{application_id}/grantless-token", "post"),
        ("/v1/token-issues", "get"),
        ("/v1/token-issues/lookup", "post"),
        ("/v1/token-deliveries", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is missing"
        );
    }
    // Errors are documented as what they are (found by the fuzzer).
    let not_found = &doc["paths"]["/v1/sellers/{seller_id}"]["get"]["responses"]["404"];
    assert!(
        not_found["content"]["application/problem+json"].is_object(),
        "{not_found}"
    );
    let unauthenticated = &doc["paths"]["/v1/api-keys"]["get"]["responses"]["401"];
    assert!(unauthenticated["content"]["application/problem+json"].is_object());
    assert!(doc["paths"]["/auth/o2/token"]["post"]["responses"]["429"].is_object());
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["tenant_key"]["scheme"], "bearer");
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn a_sane_request_id_is_echoed_and_a_bad_one_replaced() {
    let app = spawn_app().await;
    let response = app
        .request(Method::GET, "/healthz")
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-42");

    let too_long = "x".repeat(65);
    let response = app
        .request(Method::GET, "/healthz")
        .header("x-request-id", &too_long)
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, too_long);
    assert!(!id.is_empty());
}

#[tokio::test]
async fn replicas_starting_together_on_a_new_database_do_not_trip_over_each_other() {
    let database = crate::helpers::TestDatabase::new_named();
    let mut settings = crate::helpers::test_settings(&database.url());
    settings.master_keys = Some(spvault::crypto::Keyring::generate_entry(1).into());
    let (a, b, c) = tokio::join!(
        spvault::startup::Application::build(settings.clone()),
        spvault::startup::Application::build(settings.clone()),
        spvault::startup::Application::build(settings.clone()),
    );
    for app in [a, b, c] {
        let app = app.expect("every replica starts");
        let ready: bool = spvault::db::migrations_applied(app.pool()).await.unwrap();
        assert!(ready);
    }
}

#[tokio::test]
async fn made_up_methods_do_not_become_metric_labels() {
    let app = spawn_app().await;
    let made_up: Vec<String> = (0..3)
        .map(|i| format!("SPVX{}{i}", random_hex(4).to_uppercase()))
        .collect();
    for method in &made_up {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        for path in ["/healthz", "/v1/tenants", "/no/such/route"] {
            let response = app.request(method.clone(), path).send().await.unwrap();
            assert!(response.status().is_client_error(), "{method} {path}");
        }
    }
    let response = app.request(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let metrics = response.text().await.unwrap();
    for method in &made_up {
        assert!(!metrics.contains(method.as_str()), "{method} is a label");
    }
    assert!(
        metrics.contains(r#"route="/healthz",method="other""#),
        "counted as other"
    );
}

#[tokio::test]
async fn docs_without_a_trailing_slash_redirects_to_the_page() {
    let app = spawn_app().await;
    let not_following = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for method in [Method::GET, Method::HEAD] {
        let response = not_following
            .request(method.clone(), format!("{}/docs", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::PERMANENT_REDIRECT,
            "{method}"
        );
        assert_eq!(response.headers()["location"], "/docs/", "{method}");
    }
    // A browser following it lands on the page.
    let page = app.request(Method::GET, "/docs").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.url().path(), "/docs/");
    assert!(page.text().await.unwrap().contains("swagger-ui"));
}

/// The value of one series in Prometheus text, if it is there.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A background task that fails (here retention, against a database whose retention function
/// is gone) is listed in /readyz and counted in /metrics, by name only, and the vault serves on.
#[tokio::test]
async fn a_failing_background_task_shows_in_readyz_and_metrics() {
    let database = Arc::new(TestDatabase::new_named());
    let settings = test_settings(&database.url());
    let pool = spvault::startup::prepare_database(&settings).await.unwrap();
    sqlx::query("drop function drop_trail_partitions_before(timestamptz)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    // Its first round runs at start.
    let app = start(settings, database).await;

    let mut waited = 0;
    let ready = loop {
        let response = app.request(Method::GET, "/readyz").send().await.unwrap();
        let body = expect_status(response, StatusCode::OK).await;
        if body["failing_tasks"].is_array() {
            break body;
        }
        waited += 1;
        assert!(waited < 600, "the failure never showed: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let failing = ready["failing_tasks"].as_array().unwrap();
    assert!(
        failing.contains(&serde_json::json!("trail_retention")),
        "{ready}"
    );
    assert!(
        !failing.contains(&serde_json::json!("trail_partitions")),
        "partitions are made regardless: {ready}"
    );
    assert_eq!(ready["status"], "ok", "a late cleanup is no outage");

    let response = app.request(Method::GET, "/metrics").send().await.unwrap();
    let metrics = response.text().await.unwrap();
    let failures = metric(
        &metrics,
        r#"spvault_background_task_failures_total{task="trail_retention"}"#,
    );
    assert!(failures.is_some_and(|n| n >= 1.0), "{failures:?}");
    let failing_now = metric(
        &metrics,
        r#"spvault_background_tasks_failing{task="trail_retention"}"#,
    );
    assert!(failing_now.is_some_and(|n| n >= 1.0), "{failing_now:?}");
    // The series of a task that works are there too, at 0 or more.
    assert!(metric(
        &metrics,
        r#"spvault_background_task_failures_total{task="trail_partitions"}"#
    )
    .is_some());
}
