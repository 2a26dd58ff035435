//! `GET /v1/audit-events`: every change made through the API, newest first.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_problem, expect_status, spawn_app};

#[tokio::test]
async fn changes_are_recorded_with_actor_request_and_resource() {
    let app = spawn_app().await;
    let (tenant, admin) = app.create_tenant("acme").await;
    let response = app
        .authed(reqwest::Method::POST, "/v1/api-keys", &admin.key)
        .header("x-request-id", "create-worker")
        .json(&json!({"name": "worker", "scopes": ["tokens"]}))
        .send()
        .await
        .unwrap();
    let worker = expect_status(response, StatusCode::CREATED).await;
    let worker_id = worker["id"].as_str().unwrap();
    expect_status(
        app.delete(&format!("/v1/api-keys/{worker_id}"), &admin.key)
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    app.patch(
        &format!("/v1/tenants/{}", tenant["id"].as_str().unwrap()),
        &app.operator_key,
        &json!({"name": "acme-2"}),
    )
    .await;

    let events = expect_status(
        app.get("/v1/audit-events", &admin.key).await,
        StatusCode::OK,
    )
    .await;
    let events = events["data"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "tenant.updated",
            "api_key.revoked",
            "api_key.created",
            "api_key.created",
            "tenant.created"
        ]
    );
    let created = &events[2];
    assert_eq!(created["actor"], "api_key");
    assert_eq!(created["api_key_id"], admin.id);
    assert_eq!(created["resource_type"], "api_key");
    assert_eq!(created["resource_id"], worker_id);
    assert_eq!(created["request_id"], "create-worker");
    for field in ["id", "at"] {
        assert!(created[field].is_string());
    }
    // Nothing secret is ever recorded.
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(worker["key"].as_str().unwrap()));
}

#[tokio::test]
async fn audit_events_filter_by_time_and_page() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    for _ in 0..3 {
        app.create_key(&admin, &["tokens"]).await;
    }
    let page = expect_status(
        app.get("/v1/audit-events?limit=2", &admin.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let next = page["next_cursor"].as_str().unwrap();
    let rest = expect_status(
        app.get(
            &format!("/v1/audit-events?limit=10&cursor={next}"),
            &admin.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 3);

    let future = "2100-01-01T00:00:00Z";
    let none = expect_status(
        app.get(&format!("/v1/audit-events?since={future}"), &admin.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(none["data"].as_array().unwrap().is_empty());
    let all = expect_status(
        app.get(&format!("/v1/audit-events?until={future}"), &admin.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all["data"].as_array().unwrap().len(), 5);

    let bad = app
        .get("/v1/audit-events?since=yesterday", &admin.key)
        .await;
    let body = expect_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "since");
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_events() {
    let app = spawn_app().await;
    let (_, acme) = app.create_tenant("acme").await;
    let (_, globex) = app.create_tenant("globex").await;
    app.create_key(&globex, &["tokens"]).await;
    let events = expect_status(app.get("/v1/audit-events", &acme.key).await, StatusCode::OK).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 2);
}

/// Operator actions on a tenant go to that tenant's trail, which its `audit` keys read: they must
/// say "the operator" without naming the operator's key (whose id a tenant could otherwise aim
/// guesses or a lockout at).
#[tokio::test]
async fn a_tenant_never_reads_the_operators_key_id_in_its_trail() {
    let app = spawn_app().await;
    let (tenant, admin) = app.create_tenant("acme").await;
    expect_status(
        app.patch(
            &format!("/v1/tenants/{}", tenant["id"].as_str().unwrap()),
            &app.operator_key,
            &json!({"name": "acme-2"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let audit = app.create_key(&admin, &["audit"]).await;

    let events = expect_status(
        app.get("/v1/audit-events", &audit.key).await,
        StatusCode::OK,
    )
    .await;
    let events = events["data"].as_array().unwrap();
    let summary: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("api_key.created", "api_key"),
            ("tenant.updated", "operator"),
            ("api_key.created", "operator"),
            ("tenant.created", "operator"),
        ]
    );
    assert_eq!(events[0]["api_key_id"], admin.id);
    for event in &events[1..] {
        assert!(event["api_key_id"].is_null(), "{event}");
    }
    let operator_id = app.operator_key.strip_prefix("spv_").unwrap();
    let operator_id = uuid::Uuid::parse_str(operator_id.split('_').next().unwrap()).unwrap();
    let text = serde_json::to_string(events).unwrap();
    assert!(!text.contains(&operator_id.to_string()), "{text}");
    assert!(!text.contains(&operator_id.simple().to_string()), "{text}");

    // The OpenAPI document says what each actor means.
    let document = expect_status(
        app.request(reqwest::Method::GET, "/openapi.json")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let schemas = &document["components"]["schemas"];
    assert!(schemas["AuditEvent"]["properties"]["actor"].is_object());
    assert_eq!(
        schemas["AuditActor"]["enum"],
        json!(["api_key", "operator", "cli", "seller"])
    );
}
