//! `/v1/api-keys`: a tenant's API keys, managed with scope `admin`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_problem, expect_status, spawn_app, Key, TestApp};

#[tokio::test]
async fn an_admin_creates_a_scoped_key_that_is_shown_once() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let response = app
        .post(
            "/v1/api-keys",
            &admin.key,
            &json!({"name": "billing-worker", "scopes": ["tokens"],
                    "expires_at": "2100-01-01T00:00:00Z"}),
        )
        .await;
    let created = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(created["name"], "billing-worker");
    assert_eq!(created["scopes"], json!(["tokens"]));
    assert_eq!(created["expires_at"], "2100-01-01T00:00:00Z");
    assert!(created["last_used_at"].is_null() && created["revoked_at"].is_null());
    assert!(created["key"].as_str().unwrap().starts_with("spv_"));

    let list = expect_status(app.get("/v1/api-keys", &admin.key).await, StatusCode::OK).await;
    let listed = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == created["id"])
        .unwrap()
        .clone();
    assert!(
        listed.get("key").is_none(),
        "a listed key must not reveal the key"
    );
    let mut expected = created.clone();
    expected.as_object_mut().unwrap().remove("key");
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn a_response_revealing_a_new_key_is_not_stored_by_caches() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let response = app
        .post(
            "/v1/api-keys",
            &admin.key,
            &json!({"name": "billing-worker", "scopes": ["tokens"]}),
        )
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let created = expect_status(response, StatusCode::CREATED).await;
    assert!(created["key"].as_str().unwrap().starts_with("spv_"));
}

#[tokio::test]
async fn keys_are_listed_with_cursors_and_only_the_tenants_own() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let (_, other_admin) = app.create_tenant("globex").await;
    for _ in 0..3 {
        app.create_key(&admin, &["tokens"]).await;
    }
    let first = expect_status(
        app.get("/v1/api-keys?limit=3", &admin.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = expect_status(
        app.get(&format!("/v1/api-keys?limit=3&cursor={cursor}"), &admin.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["id"], admin.id);
    assert!(second["next_cursor"].is_null());

    let theirs = expect_status(
        app.get("/v1/api-keys", &other_admin.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(theirs["data"].as_array().unwrap().len(), 1);
    assert_eq!(theirs["data"][0]["id"], other_admin.id);
}

/// The key `id` as `GET /v1/api-keys` lists it for `admin`.
async fn listed_key(app: &TestApp, admin: &Key, id: &str) -> Value {
    let list = expect_status(app.get("/v1/api-keys", &admin.key).await, StatusCode::OK).await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_revoked_key_stops_working_at_once() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let worker = app.create_key(&admin, &["admin"]).await;
    expect_status(app.get("/v1/api-keys", &worker.key).await, StatusCode::OK).await;

    let response = app
        .delete(&format!("/v1/api-keys/{}", worker.id), &admin.key)
        .await;
    expect_status(response, StatusCode::NO_CONTENT).await;
    expect_problem(
        app.get("/v1/api-keys", &worker.key).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;

    let revoked = listed_key(&app, &admin, &worker.id).await;
    assert!(revoked["revoked_at"].is_string());

    // Revoking it again changes nothing: still 204, the same time, one audit event.
    let response = app
        .delete(&format!("/v1/api-keys/{}", worker.id), &admin.key)
        .await;
    expect_status(response, StatusCode::NO_CONTENT).await;
    let again = listed_key(&app, &admin, &worker.id).await;
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    let events: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where action = 'api_key.revoked' and resource_id = $1",
    )
    .bind(&worker.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(events, 1);
}

#[tokio::test]
async fn the_last_admin_key_cannot_be_revoked() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let tokens = app.create_key(&admin, &["tokens", "audit"]).await;
    let response = app
        .delete(&format!("/v1/api-keys/{}", admin.id), &admin.key)
        .await;
    expect_problem(response, StatusCode::CONFLICT, "conflict").await;
    expect_status(app.get("/v1/api-keys", &admin.key).await, StatusCode::OK).await;

    // Non-admin keys can go.
    let response = app
        .delete(&format!("/v1/api-keys/{}", tokens.id), &admin.key)
        .await;
    expect_status(response, StatusCode::NO_CONTENT).await;

    // With a second admin key, the first may be revoked (even by itself), then not the second.
    let second = app.create_key(&admin, &["admin"]).await;
    let response = app
        .delete(&format!("/v1/api-keys/{}", admin.id), &admin.key)
        .await;
    expect_status(response, StatusCode::NO_CONTENT).await;
    let response = app
        .delete(&format!("/v1/api-keys/{}", second.id), &second.key)
        .await;
    expect_problem(response, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn concurrent_revocations_never_leave_a_tenant_without_an_admin_key() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let second = app.create_key(&admin, &["admin"]).await;
    let (first_path, second_path) = (
        format!("/v1/api-keys/{}", admin.id),
        format!("/v1/api-keys/{}", second.id),
    );
    let (a, b) = tokio::join!(
        app.delete(&first_path, &second.key),
        app.delete(&second_path, &admin.key),
    );
    // One wins; the other is refused as the last admin key, or finds its own key already revoked.
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses[0], StatusCode::NO_CONTENT);
    assert!(
        [StatusCode::UNAUTHORIZED, StatusCode::CONFLICT].contains(&statuses[1]),
        "{statuses:?}"
    );
    let usable_admins: i64 = sqlx::query_scalar(
        "select count(*) from api_key where revoked_at is null and 'admin' = any(scopes)
           and tenant_id is not null",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(usable_admins, 1);
}

#[tokio::test]
async fn an_expired_key_is_401() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let expires_at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let response = app
        .post(
            "/v1/api-keys",
            &admin.key,
            &json!({"name": "short-lived", "scopes": ["admin"], "expires_at": expires_at}),
        )
        .await;
    let created = expect_status(response, StatusCode::CREATED).await;
    let key = created["key"].as_str().unwrap();
    expect_status(app.get("/v1/api-keys", key).await, StatusCode::OK).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    expect_problem(
        app.get("/v1/api-keys", key).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn another_tenants_key_is_404() {
    let app = spawn_app().await;
    let (_, acme) = app.create_tenant("acme").await;
    let (_, globex) = app.create_tenant("globex").await;
    let globex_worker = app.create_key(&globex, &["tokens"]).await;
    let response = app
        .delete(&format!("/v1/api-keys/{}", globex_worker.id), &acme.key)
        .await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let unknown = app
        .delete(&format!("/v1/api-keys/{}", uuid::Uuid::now_v7()), &acme.key)
        .await;
    let body_unknown = expect_problem(unknown, StatusCode::NOT_FOUND, "not_found").await;
    assert!(body_unknown["detail"]
        .as_str()
        .unwrap()
        .contains("not found"));
    // The key still works for its own tenant.
    let response = app.get("/v1/api-keys", &globex_worker.key).await;
    expect_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn last_used_at_is_recorded() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let worker = app.create_key(&admin, &["audit"]).await;
    expect_status(
        app.get("/v1/audit-events", &worker.key).await,
        StatusCode::OK,
    )
    .await;
    app.authenticator.usage().flush(&app.pool).await;
    let list = expect_status(app.get("/v1/api-keys", &admin.key).await, StatusCode::OK).await;
    let used = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == worker.id.as_str())
        .unwrap()
        .clone();
    assert!(used["last_used_at"].is_string(), "{used}");
}
