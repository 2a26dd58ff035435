//! `/v1/applications`: SP-API applications with their write-only client secrets, validation,
//! uniqueness, deletion while in use, paging, tenant isolation and audit.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    client_id, client_secret, error_fields, expect_problem, expect_status, refresh_token,
    spawn_app, Key, TestApp,
};

async fn create(app: &TestApp, admin: &Key, body: Value) -> reqwest::Response {
    app.post("/v1/applications", &admin.key, &body).await
}

#[tokio::test]
async fn an_application_is_created_and_read_back_without_its_secret() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let id = client_id();
    let secret = client_secret();
    let response = create(
        &app,
        &admin,
        json!({"name": "main app", "client_id": id, "client_secret": secret,
               "client_secret_expires_at": "2027-05-27T12:00:00Z"}),
    )
    .await;
    let created = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(created["name"], "main app");
    assert_eq!(created["client_id"], id);
    assert_eq!(created["status"], "active");
    assert_eq!(created["client_secret_expires_at"], "2027-05-27T12:00:00Z");
    for field in ["id", "client_secret_updated_at", "created_at"] {
        assert!(created[field].is_string(), "{field}");
    }
    assert_eq!(created["auto_rotate"], false);
    assert!(created["previous_client_secret_expires_at"].is_null());
    assert!(created["rotation_requested_at"].is_null());
    assert_eq!(created["sandbox"], false);
    // Seven fields, the three of onboarding (solution_id, draft, redirect_uri), the three of the
    // secret's lifecycle, whether it is a sandbox application, and nothing else: no secret.
    assert_eq!(created.as_object().unwrap().len(), 14, "{created}");

    let path = format!("/v1/applications/{}", created["id"].as_str().unwrap());
    let fetched = expect_status(app.get(&path, &admin.key).await, StatusCode::OK).await;
    assert_eq!(fetched, created);
    let listed = expect_status(
        app.get("/v1/applications", &admin.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["data"][0], created);
    for body in [&created, &fetched, &listed] {
        assert!(!body.to_string().contains(&secret));
    }
}

#[tokio::test]
async fn application_fields_are_validated_one_error_per_field() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let response = create(
        &app,
        &admin,
        json!({"name": "", "client_id": "not-a-client-id", "client_secret": ""}),
    )
    .await;
    let body = expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&body), ["client_id", "client_secret", "name"]);

    let long_secret = "a".repeat(2049);
    let response = create(
        &app,
        &admin,
        json!({"name": "x", "client_id": client_id(), "client_secret": long_secret}),
    )
    .await;
    let body = expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "client_secret");
    assert!(!body.to_string().contains(&long_secret));

    let response = create(&app, &admin, json!({"name": "x", "client_id": client_id()})).await;
    let body = expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "client_secret");
}

#[tokio::test]
async fn names_and_client_ids_are_unique_within_a_tenant() {
    let app = spawn_app().await;
    let (_, acme) = app.create_tenant("acme").await;
    let (_, globex) = app.create_tenant("globex").await;
    let id = client_id();
    let body = json!({"name": "main", "client_id": id, "client_secret": client_secret()});
    expect_status(create(&app, &acme, body.clone()).await, StatusCode::CREATED).await;
    expect_problem(
        create(&app, &acme, body.clone()).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let same_name = json!({"name": "main", "client_id": client_id(), "client_secret": "s"});
    expect_problem(
        create(&app, &acme, same_name).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let same_client = json!({"name": "other", "client_id": id, "client_secret": "s"});
    expect_problem(
        create(&app, &acme, same_client).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    // Another tenant may register the same application.
    expect_status(create(&app, &globex, body).await, StatusCode::CREATED).await;
}

#[tokio::test]
async fn an_application_is_renamed_and_its_secret_replaced() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let created = app.create_application(&admin, &client_secret()).await;
    let path = format!("/v1/applications/{}", created["id"].as_str().unwrap());

    let renamed = expect_status(
        app.patch(&path, &admin.key, &json!({"name": "renamed"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(renamed["name"], "renamed");
    assert_eq!(renamed["client_id"], created["client_id"]);

    let response = app
        .authed(Method::PUT, &format!("{path}/client-secret"), &admin.key)
        .json(&json!({"client_secret": client_secret(), "client_secret_expires_at": "2027-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    let replaced = expect_status(response, StatusCode::OK).await;
    assert_eq!(replaced["client_secret_expires_at"], "2027-01-01T00:00:00Z");
    assert!(
        replaced["client_secret_updated_at"].as_str()
            >= created["client_secret_updated_at"].as_str()
    );

    let response = app
        .authed(Method::PUT, &format!("{path}/client-secret"), &admin.key)
        .json(&json!({"client_secret": ""}))
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
async fn an_application_in_use_cannot_be_deleted() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = app.create_application(&admin, &client_secret()).await;
    let seller = app
        .create_seller(&admin, &application, &refresh_token())
        .await;
    let path = format!("/v1/applications/{}", application["id"].as_str().unwrap());
    expect_problem(
        app.delete(&path, &admin.key).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    let seller_path = format!("/v1/sellers/{}", seller["id"].as_str().unwrap());
    expect_status(
        app.delete(&seller_path, &admin.key).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(app.delete(&path, &admin.key).await, StatusCode::NO_CONTENT).await;
    expect_problem(
        app.get(&path, &admin.key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn another_tenants_application_is_404_on_every_route() {
    let app = spawn_app().await;
    let (_, acme) = app.create_tenant("acme").await;
    let (_, globex) = app.create_tenant("globex").await;
    let theirs = app.create_application(&globex, &client_secret()).await;
    let path = format!("/v1/applications/{}", theirs["id"].as_str().unwrap());
    let missing = format!("/v1/applications/{}", uuid::Uuid::now_v7());
    for target in [&path, &missing] {
        expect_problem(
            app.get(target, &acme.key).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        expect_problem(
            app.patch(target, &acme.key, &json!({"name": "mine"})).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        let response = app
            .authed(Method::PUT, &format!("{target}/client-secret"), &acme.key)
            .json(&json!({"client_secret": "stolen"}))
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        expect_problem(
            app.delete(target, &acme.key).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let listed = expect_status(app.get("/v1/applications", &acme.key).await, StatusCode::OK).await;
    assert!(listed["data"].as_array().unwrap().is_empty());
    // Untouched.
    let still = expect_status(app.get(&path, &globex.key).await, StatusCode::OK).await;
    assert_eq!(still, theirs);
}

#[tokio::test]
async fn application_changes_are_audited() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = app.create_application(&admin, &client_secret()).await;
    let id = application["id"].as_str().unwrap();
    let path = format!("/v1/applications/{id}");
    app.patch(&path, &admin.key, &json!({"name": "renamed"}))
        .await;
    app.authed(Method::PUT, &format!("{path}/client-secret"), &admin.key)
        .json(&json!({"client_secret": client_secret()}))
        .send()
        .await
        .unwrap();
    app.delete(&path, &admin.key).await;
    let events = expect_status(
        app.get("/v1/audit-events", &admin.key).await,
        StatusCode::OK,
    )
    .await;
    let ours: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource_id"] == id)
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        ours,
        [
            "application.deleted",
            "application.client_secret_replaced",
            "application.updated",
            "application.created"
        ]
    );
}

#[tokio::test]
async fn applications_are_paged() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    for _ in 0..3 {
        app.create_application(&admin, &client_secret()).await;
    }
    let first = expect_status(
        app.get("/v1/applications?limit=2", &admin.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = expect_status(
        app.get(
            &format!("/v1/applications?limit=2&cursor={cursor}"),
            &admin.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
}

#[tokio::test]
async fn a_tokens_key_cannot_manage_applications() {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let tokens = app.create_key(&admin, &["tokens", "audit"]).await;
    let response = create(
        &app,
        &tokens,
        json!({"name": "x", "client_id": client_id(), "client_secret": client_secret()}),
    )
    .await;
    expect_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    expect_problem(
        app.get("/v1/applications", &tokens.key).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}
