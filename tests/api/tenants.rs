//! `/v1/tenants`: tenants, managed with operator keys.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_problem, expect_status, spawn_app};

#[tokio::test]
async fn a_response_revealing_the_first_admin_key_is_not_stored_by_caches() {
    let app = spawn_app().await;
    let response = app
        .post("/v1/tenants", &app.operator_key, &json!({"name": "acme"}))
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body = expect_status(response, StatusCode::CREATED).await;
    assert!(body["admin_key"]["key"]
        .as_str()
        .unwrap()
        .starts_with("spv_"));
}

#[tokio::test]
async fn creating_a_tenant_returns_it_with_a_first_admin_key() {
    let app = spawn_app().await;
    let response = app
        .post("/v1/tenants", &app.operator_key, &json!({"name": "acme"}))
        .await;
    let body = expect_status(response, StatusCode::CREATED).await;

    let tenant = &body["tenant"];
    assert_eq!(tenant["name"], "acme");
    assert_eq!(tenant["disabled"], false);
    assert!(uuid::Uuid::parse_str(tenant["id"].as_str().unwrap()).is_ok());
    assert!(tenant["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(tenant.as_object().unwrap().len(), 4);

    let key = &body["admin_key"];
    assert_eq!(key["scopes"], json!(["admin", "tokens", "audit"]));
    assert!(key["key"].as_str().unwrap().starts_with("spv_"));
    for field in [
        "id",
        "name",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ] {
        assert!(key.get(field).is_some(), "admin_key.{field} is missing");
    }
    let hex_id = key["id"].as_str().unwrap().replace('-', "");
    assert!(key["key"]
        .as_str()
        .unwrap()
        .starts_with(&format!("spv_{hex_id}_")));
}

#[tokio::test]
async fn the_key_is_stored_only_as_an_argon2id_hash() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let hash: String = sqlx::query_scalar("select key_hash from api_key where id = $1::uuid")
        .bind(&admin.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
    // The secret is all that follows the key's id: it may itself contain `_`, so not the last
    // `_`-separated piece (a piece of a few characters can turn up in any hash by chance).
    let prefix = format!("spv_{}_", admin.id.replace('-', ""));
    let secret = admin.key.strip_prefix(&prefix).unwrap();
    assert!(
        secret.len() >= 32,
        "the secret part is {} characters",
        secret.len()
    );
    assert!(!hash.contains(secret));
}

#[tokio::test]
async fn tenant_names_are_validated() {
    let app = spawn_app().await;
    for bad in ["", "has space", "semi;colon", &"x".repeat(65)] {
        let response = app
            .post("/v1/tenants", &app.operator_key, &json!({"name": bad}))
            .await;
        let body = expect_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "name");
    }
}

#[tokio::test]
async fn a_duplicate_name_is_409() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let response = app
        .post("/v1/tenants", &app.operator_key, &json!({"name": "acme"}))
        .await;
    expect_problem(response, StatusCode::CONFLICT, "conflict").await;

    let (other, _) = app.create_tenant("globex").await;
    let response = app
        .patch(
            &format!("/v1/tenants/{}", other["id"].as_str().unwrap()),
            &app.operator_key,
            &json!({"name": "acme"}),
        )
        .await;
    expect_problem(response, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn tenants_can_be_read_renamed_and_disabled() {
    let app = spawn_app().await;
    let (tenant, _) = app.create_tenant("acme").await;
    let path = format!("/v1/tenants/{}", tenant["id"].as_str().unwrap());

    let fetched = expect_status(app.get(&path, &app.operator_key).await, StatusCode::OK).await;
    assert_eq!(fetched, tenant);

    let renamed = app
        .patch(
            &path,
            &app.operator_key,
            &json!({"name": "acme-eu", "disabled": true}),
        )
        .await;
    let renamed = expect_status(renamed, StatusCode::OK).await;
    assert_eq!(renamed["name"], "acme-eu");
    assert_eq!(renamed["disabled"], true);
    assert_eq!(renamed["created_at"], tenant["created_at"]);

    let unchanged = expect_status(
        app.patch(&path, &app.operator_key, &json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(unchanged, renamed);
}

#[tokio::test]
async fn an_unknown_tenant_is_404() {
    let app = spawn_app().await;
    let path = format!("/v1/tenants/{}", uuid::Uuid::now_v7());
    expect_problem(
        app.get(&path, &app.operator_key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_problem(
        app.patch(&path, &app.operator_key, &json!({"disabled": true}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_problem(
        app.delete(&path, &app.operator_key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn deleting_a_tenant_removes_its_keys_and_keeps_its_audit_trail() {
    let app = spawn_app().await;
    let (tenant, admin) = app.create_tenant("acme").await;
    let tenant_id = tenant["id"].as_str().unwrap();
    let path = format!("/v1/tenants/{tenant_id}");

    expect_status(app.get("/v1/api-keys", &admin.key).await, StatusCode::OK).await;
    expect_status(
        app.delete(&path, &app.operator_key).await,
        StatusCode::NO_CONTENT,
    )
    .await;

    expect_problem(
        app.get(&path, &app.operator_key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_problem(
        app.get("/v1/api-keys", &admin.key).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let keys: i64 = sqlx::query_scalar("select count(*) from api_key where tenant_id = $1::uuid")
        .bind(tenant_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(keys, 0);
    let actions: Vec<String> =
        sqlx::query_scalar("select action from audit_event where tenant_id = $1::uuid order by id")
            .bind(tenant_id)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        actions,
        ["tenant.created", "api_key.created", "tenant.deleted"]
    );
}

#[tokio::test]
async fn tenants_are_listed_newest_first_with_cursors() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.create_tenant(&format!("tenant-{i}")).await;
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/tenants?limit=2&cursor={c}"),
            None => "/v1/tenants?limit=2".to_owned(),
        };
        let page = expect_status(app.get(&path, &app.operator_key).await, StatusCode::OK).await;
        pages += 1;
        for tenant in page["data"].as_array().unwrap() {
            names.push(tenant["name"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        ["tenant-4", "tenant-3", "tenant-2", "tenant-1", "tenant-0"]
    );

    let all = expect_status(
        app.get("/v1/tenants", &app.operator_key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all["data"].as_array().unwrap().len(), 5);
    assert!(all["next_cursor"].is_null());
}

#[tokio::test]
async fn tenant_keys_cannot_manage_tenants() {
    let app = spawn_app().await;
    let (tenant, admin) = app.create_tenant("acme").await;
    let path = format!("/v1/tenants/{}", tenant["id"].as_str().unwrap());
    for response in [
        app.get("/v1/tenants", &admin.key).await,
        app.post("/v1/tenants", &admin.key, &json!({"name": "evil"}))
            .await,
        app.get(&path, &admin.key).await,
        app.patch(&path, &admin.key, &json!({"disabled": false}))
            .await,
        app.delete(&path, &admin.key).await,
    ] {
        expect_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
}
