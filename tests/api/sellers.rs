//! `/v1/sellers`: a seller's authorization of an application, its write-only refresh token,
//! validation, uniqueness, listing, tenant isolation and audit.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    client_secret, error_fields, expect_problem, expect_status, refresh_token, selling_partner_id,
    spawn_app, Key, TestApp,
};

async fn setup() -> (TestApp, Key, Value) {
    let app = spawn_app().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = app.create_application(&admin, &client_secret()).await;
    (app, admin, application)
}

fn seller_body(application: &Value) -> Value {
    json!({"application_id": application["id"], "selling_partner_id": selling_partner_id(),
           "region": "eu", "refresh_token": refresh_token()})
}

#[tokio::test]
async fn a_seller_is_created_with_every_field_and_never_shows_its_token() {
    let (app, admin, application) = setup().await;
    let token = refresh_token();
    let response = app
        .post(
            "/v1/sellers",
            &admin.key,
            &json!({"application_id": application["id"], "selling_partner_id": "A2EUQ1WTGCTBG2",
                    "region": "eu", "refresh_token": token, "external_id": "customer-42",
                    "marketplace_ids": ["A1PA6795UKMFR9", "A1RKKUPIHCS9HS"]}),
        )
        .await;
    let seller = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(seller["application_id"], application["id"]);
    assert_eq!(seller["selling_partner_id"], "A2EUQ1WTGCTBG2");
    assert_eq!(seller["region"], "eu");
    assert_eq!(seller["external_id"], "customer-42");
    assert_eq!(
        seller["marketplace_ids"],
        json!(["A1PA6795UKMFR9", "A1RKKUPIHCS9HS"])
    );
    assert_eq!(seller["status"], "active");
    assert!(seller["last_token_issued_at"].is_null());
    for field in ["id", "created_at", "updated_at"] {
        assert!(seller[field].is_string(), "{field}");
    }
    assert_eq!(seller.as_object().unwrap().len(), 10, "{seller}");

    let path = format!("/v1/sellers/{}", seller["id"].as_str().unwrap());
    let fetched = expect_status(app.get(&path, &admin.key).await, StatusCode::OK).await;
    assert_eq!(fetched, seller);
    assert!(!fetched.to_string().contains(&token));
}

#[tokio::test]
async fn optional_seller_fields_default() {
    let (app, admin, application) = setup().await;
    let seller = app
        .create_seller(&admin, &application, &refresh_token())
        .await;
    assert!(seller["external_id"].is_null());
    assert_eq!(seller["marketplace_ids"], json!([]));
}

#[tokio::test]
async fn seller_fields_are_validated_one_error_per_field() {
    let (app, admin, application) = setup().await;
    let response = app
        .post(
            "/v1/sellers",
            &admin.key,
            &json!({"application_id": application["id"], "selling_partner_id": "lower case",
                    "region": "us", "refresh_token": "Atza|not-a-refresh-token",
                    "external_id": "x".repeat(129), "marketplace_ids": ["has space"]}),
        )
        .await;
    let body = expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(
        error_fields(&body),
        [
            "external_id",
            "marketplace_ids",
            "refresh_token",
            "region",
            "selling_partner_id"
        ]
    );
    assert!(!body.to_string().contains("not-a-refresh-token"));

    let too_long = format!("Atzr|{}", "a".repeat(2044));
    let mut body = seller_body(&application);
    body["refresh_token"] = json!(too_long);
    let response = app.post("/v1/sellers", &admin.key, &body).await;
    let problem = expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "refresh_token");

    let mut body = seller_body(&application);
    body["application_id"] = json!("not-a-uuid");
    let response = app.post("/v1/sellers", &admin.key, &body).await;
    let problem = expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "application_id");
}

#[tokio::test]
async fn a_seller_is_unique_per_application_partner_and_region_and_external_id_per_tenant() {
    let (app, admin, application) = setup().await;
    let mut body = seller_body(&application);
    body["external_id"] = json!("customer-1");
    expect_status(
        app.post("/v1/sellers", &admin.key, &body).await,
        StatusCode::CREATED,
    )
    .await;

    let mut same_partner = body.clone();
    same_partner["external_id"] = json!("customer-2");
    expect_problem(
        app.post("/v1/sellers", &admin.key, &same_partner).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    // Another region is another authorization.
    same_partner["region"] = json!("fe");
    expect_status(
        app.post("/v1/sellers", &admin.key, &same_partner).await,
        StatusCode::CREATED,
    )
    .await;

    let mut same_external = seller_body(&application);
    same_external["external_id"] = json!("customer-1");
    expect_problem(
        app.post("/v1/sellers", &admin.key, &same_external).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
}

#[tokio::test]
async fn a_seller_of_another_tenants_application_cannot_be_created() {
    let (app, _, _) = setup().await;
    let (_, globex) = app.create_tenant("globex").await;
    let (_, initech) = app.create_tenant("initech").await;
    let theirs = app.create_application(&globex, &client_secret()).await;
    let response = app
        .post("/v1/sellers", &initech.key, &seller_body(&theirs))
        .await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let missing = json!({"id": uuid::Uuid::now_v7()});
    let response = app
        .post("/v1/sellers", &initech.key, &seller_body(&missing))
        .await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn sellers_are_patched_and_external_id_can_be_cleared() {
    let (app, admin, application) = setup().await;
    let mut body = seller_body(&application);
    body["external_id"] = json!("customer-1");
    let seller = expect_status(
        app.post("/v1/sellers", &admin.key, &body).await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/v1/sellers/{}", seller["id"].as_str().unwrap());

    let patched = expect_status(
        app.patch(
            &path,
            &admin.key,
            &json!({"marketplace_ids": ["ATVPDKIKX0DER"]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["marketplace_ids"], json!(["ATVPDKIKX0DER"]));
    assert_eq!(patched["external_id"], "customer-1");

    let cleared = expect_status(
        app.patch(&path, &admin.key, &json!({"external_id": null}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(cleared["external_id"].is_null());
    assert_eq!(cleared["marketplace_ids"], json!(["ATVPDKIKX0DER"]));

    let response = app.patch(&path, &admin.key, &json!({"region": "na"})).await;
    expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
    let response = app
        .patch(&path, &admin.key, &json!({"external_id": ""}))
        .await;
    expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn the_refresh_token_is_replaced_and_the_seller_reactivated() {
    let (app, admin, application) = setup().await;
    let seller = app
        .create_seller(&admin, &application, &refresh_token())
        .await;
    let id = seller["id"].as_str().unwrap();
    sqlx::query("update seller set status = 'authorization_revoked' where id = $1::uuid")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let path = format!("/v1/sellers/{id}/refresh-token");
    let token = refresh_token();
    let response = app
        .authed(Method::PUT, &path, &admin.key)
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .unwrap();
    let replaced = expect_status(response, StatusCode::OK).await;
    assert_eq!(replaced["status"], "active");
    assert!(!replaced.to_string().contains(&token));

    let response = app
        .authed(Method::PUT, &path, &admin.key)
        .json(&json!({"refresh_token": "nope"}))
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
async fn sellers_are_listed_with_filters_and_cursors() {
    let (app, admin, application) = setup().await;
    let other_app = app.create_application(&admin, &client_secret()).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            app.create_seller(&admin, &application, &refresh_token())
                .await["id"]
                .clone(),
        );
    }
    let mut tagged = seller_body(&other_app);
    tagged["external_id"] = json!("tagged");
    let tagged = expect_status(
        app.post("/v1/sellers", &admin.key, &tagged).await,
        StatusCode::CREATED,
    )
    .await;
    sqlx::query("update seller set status = 'authorization_revoked' where id = $1::uuid")
        .bind(ids[0].as_str().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();

    let get = |query: String| {
        let app = &app;
        let key = admin.key.clone();
        async move {
            expect_status(
                app.get(&format!("/v1/sellers?{query}"), &key).await,
                StatusCode::OK,
            )
            .await
        }
    };
    let by_app = get(format!(
        "application_id={}",
        application["id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(by_app["data"].as_array().unwrap().len(), 3);
    let revoked = get("status=authorization_revoked".into()).await;
    assert_eq!(revoked["data"].as_array().unwrap().len(), 1);
    assert_eq!(revoked["data"][0]["id"], ids[0]);
    let by_external = get("external_id=tagged".into()).await;
    assert_eq!(by_external["data"][0]["id"], tagged["id"]);
    assert_eq!(by_external["data"].as_array().unwrap().len(), 1);

    let first = get("limit=3".into()).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    assert_eq!(first["data"][0]["id"], tagged["id"]);
    let rest = get(format!(
        "limit=3&cursor={}",
        first["next_cursor"].as_str().unwrap()
    ))
    .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["data"][0]["id"], ids[0]);

    for bad in ["status=gone", "application_id=nope", "limit=0"] {
        let response = app.get(&format!("/v1/sellers?{bad}"), &admin.key).await;
        expect_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
}

#[tokio::test]
async fn another_tenants_seller_is_404_on_every_route() {
    let (app, _, _) = setup().await;
    let (_, globex) = app.create_tenant("globex").await;
    let (_, initech) = app.create_tenant("initech").await;
    let theirs_app = app.create_application(&globex, &client_secret()).await;
    let theirs = app
        .create_seller(&globex, &theirs_app, &refresh_token())
        .await;
    let path = format!("/v1/sellers/{}", theirs["id"].as_str().unwrap());
    expect_problem(
        app.get(&path, &initech.key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_problem(
        app.patch(&path, &initech.key, &json!({"external_id": "mine"}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let response = app
        .authed(Method::PUT, &format!("{path}/refresh-token"), &initech.key)
        .json(&json!({"refresh_token": refresh_token()}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    expect_problem(
        app.delete(&path, &initech.key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let listed = expect_status(
        app.get(
            &format!(
                "/v1/sellers?application_id={}",
                theirs_app["id"].as_str().unwrap()
            ),
            &initech.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(listed["data"].as_array().unwrap().is_empty());
    let still = expect_status(app.get(&path, &globex.key).await, StatusCode::OK).await;
    assert_eq!(still, theirs);
}

#[tokio::test]
async fn seller_changes_are_audited() {
    let (app, admin, application) = setup().await;
    let seller = app
        .create_seller(&admin, &application, &refresh_token())
        .await;
    let id = seller["id"].as_str().unwrap();
    let path = format!("/v1/sellers/{id}");
    app.patch(&path, &admin.key, &json!({"external_id": "x"}))
        .await;
    app.authed(Method::PUT, &format!("{path}/refresh-token"), &admin.key)
        .json(&json!({"refresh_token": refresh_token()}))
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
            "seller.deleted",
            "seller.refresh_token_replaced",
            "seller.updated",
            "seller.created"
        ]
    );
}

#[tokio::test]
async fn a_token_for_a_seller_sets_its_last_issue_but_not_its_updated_at() {
    let (app, world) = crate::helpers::spawn_app_and_world("acme").await;
    let path = format!("/v1/sellers/{}", world.seller_id);
    let before = expect_status(app.get(&path, &world.admin.key).await, StatusCode::OK).await;
    assert!(before["last_token_issued_at"].is_null());
    let response = app
        .access_token(&world.tokens, &world.seller_id, None)
        .await;
    let token = expect_status(response, StatusCode::OK).await;

    let after = expect_status(app.get(&path, &world.admin.key).await, StatusCode::OK).await;
    assert_eq!(after["last_token_issued_at"], token["issued_at"]);
    assert_eq!(after["updated_at"], before["updated_at"]);
    // A change of the seller itself still moves it.
    let patched = expect_status(
        app.patch(&path, &world.admin.key, &json!({"external_id": "shop-7"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_ne!(patched["updated_at"], before["updated_at"]);
    assert_eq!(patched["last_token_issued_at"], token["issued_at"]);
}
