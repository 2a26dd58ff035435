//! The client secret lifecycle: the previous secret as a fallback, Amazon's notifications, the
//! rotation call and auto-rotation, and what shows how close secrets are to expiring.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{
    client_id, client_secret, error_fields, expect_problem, expect_status, random_hex,
    refresh_token, spawn_app, Key, TestApp,
};

const ROTATION_SCOPE: &str = "sellingpartnerapi::client_credential:rotation";

/// A tenant with an application (its client known to the emulator with `secret` only) and a
/// seller of it.
struct Setup {
    admin: Key,
    tokens: Key,
    audit: Key,
    application_id: String,
    client_id: String,
    secret: String,
    seller_id: String,
}

/// A vault with a tenant whose application and seller `setup` made.
async fn spawn_with_setup() -> (TestApp, Setup) {
    let app = spawn_app().await;
    let s = setup(&app).await;
    (app, s)
}

async fn setup(app: &TestApp) -> Setup {
    let (_, admin) = app.create_tenant(&format!("t-{}", random_hex(4))).await;
    let tokens = app.create_key(&admin, &["tokens"]).await;
    let audit = app.create_key(&admin, &["audit"]).await;
    let (client_id, secret) = (client_id(), client_secret());
    let application = create_app(app, &admin, &client_id, &secret, json!({})).await;
    app.lwa.register_client(&client_id, &secret);
    let seller = app
        .create_seller(&admin, &application, &refresh_token())
        .await;
    Setup {
        admin,
        tokens,
        audit,
        application_id: application["id"].as_str().unwrap().to_owned(),
        client_id,
        secret,
        seller_id: seller["id"].as_str().unwrap().to_owned(),
    }
}

async fn create_app(
    app: &TestApp,
    admin: &Key,
    client_id: &str,
    secret: &str,
    extra: Value,
) -> Value {
    let mut body = json!({"name": format!("app-{}", random_hex(4)), "client_id": client_id,
                          "client_secret": secret});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    expect_status(
        app.post("/v1/applications", &admin.key, &body).await,
        StatusCode::CREATED,
    )
    .await
}

/// Another application of the setup's tenant, with credentials of its own and `extra` fields.
async fn another_app(app: &TestApp, s: &Setup, extra: Value) -> Value {
    create_app(app, &s.admin, &client_id(), &client_secret(), extra).await
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn replace_secret(app: &TestApp, s: &Setup, body: Value) -> Value {
    let path = format!("/v1/applications/{}/client-secret", s.application_id);
    expect_status(app.put(&path, &s.admin.key, &body).await, StatusCode::OK).await
}

async fn application(app: &TestApp, s: &Setup) -> Value {
    let path = format!("/v1/applications/{}", s.application_id);
    expect_status(app.get(&path, &s.admin.key).await, StatusCode::OK).await
}

/// The application's token issues, newest first.
async fn issues(app: &TestApp, s: &Setup) -> Vec<Value> {
    let path = format!("/v1/token-issues?application_id={}", s.application_id);
    let body = expect_status(app.get(&path, &s.audit.key).await, StatusCode::OK).await;
    body["data"].as_array().unwrap().clone()
}

fn new_secret_notification(client_id: &str, secret: &str) -> Value {
    let now = Utc::now();
    json!({
        "notificationVersion": "1.0",
        "notificationType": "APPLICATION_OAUTH_CLIENT_NEW_SECRET",
        "payloadVersion": "1.0",
        "eventTime": time(now),
        "payload": {"applicationOAuthClientNewSecret": {
            "clientId": client_id,
            "newClientSecret": secret,
            "newClientSecretExpiryTime": time(now + Duration::days(180)),
            "oldClientSecretExpiryTime": time(now + Duration::days(7))}},
        "notificationMetadata": {"applicationId": "amzn1.sellerapps.app.test",
            "subscriptionId": "sub", "publishTime": time(now),
            "notificationId": Uuid::new_v4().to_string()}
    })
}

async fn notify(app: &TestApp, admin: &Key, body: &Value) -> reqwest::Response {
    app.post("/v1/amazon-notifications", &admin.key, body).await
}

/// A notification the vault refuses with `status` and `code`; the problem.
async fn notify_refused(
    app: &TestApp,
    s: &Setup,
    body: &Value,
    status: StatusCode,
    code: &str,
) -> Value {
    expect_problem(notify(app, &s.admin, body).await, status, code).await
}

async fn token_status(app: &TestApp, s: &Setup) -> StatusCode {
    app.access_token(
        &s.tokens,
        &s.seller_id,
        Some(json!({"force_refresh": true})),
    )
    .await
    .status()
}

#[tokio::test]
async fn an_exchange_falls_back_to_the_previous_secret_and_the_issue_says_which_served() {
    let (app, s) = spawn_with_setup().await;
    // The vault gets a new secret that LWA does not know yet.
    let replaced = replace_secret(&app, &s, json!({"client_secret": client_secret()})).await;
    assert!(replaced["previous_client_secret_expires_at"].is_string());

    assert_eq!(token_status(&app, &s).await, StatusCode::OK);
    let issues = issues(&app, &s).await;
    assert_eq!(issues[0]["outcome"], "issued");
    assert_eq!(issues[0]["client_secret"], "previous");
    assert_eq!(issues[1]["error_code"], "invalid_client");
    assert_eq!(issues[1]["client_secret"], "current");
    assert_eq!(application(&app, &s).await["status"], "active");
}

#[tokio::test]
async fn only_both_secrets_refused_reject_the_application() {
    let (app, s) = spawn_with_setup().await;
    replace_secret(&app, &s, json!({"client_secret": client_secret()})).await;
    app.lwa.register_client(&s.client_id, &client_secret()); // knows neither

    let response = app.access_token(&s.tokens, &s.seller_id, None).await;
    expect_problem(
        response,
        StatusCode::CONFLICT,
        "client_credentials_rejected",
    )
    .await;
    assert_eq!(
        application(&app, &s).await["status"],
        "client_credentials_rejected"
    );
}

#[tokio::test]
async fn an_expired_previous_secret_is_not_tried() {
    let (app, s) = spawn_with_setup().await;
    replace_secret(&app, &s, json!({"client_secret": client_secret()})).await;
    sqlx::query("update application set previous_client_secret_expires_at = now() - interval '1 minute' where id = $1")
        .bind(Uuid::parse_str(&s.application_id).unwrap())
        .execute(&app.pool)
        .await
        .unwrap();

    let response = app.access_token(&s.tokens, &s.seller_id, None).await;
    expect_problem(
        response,
        StatusCode::CONFLICT,
        "client_credentials_rejected",
    )
    .await;
    let issues = issues(&app, &s).await;
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0]["client_secret"], "current");
}

#[tokio::test]
async fn keep_previous_until_null_drops_the_old_secret_at_once() {
    let (app, s) = spawn_with_setup().await;
    let replaced = replace_secret(
        &app,
        &s,
        json!({"client_secret": client_secret(), "keep_previous_until": null}),
    )
    .await;
    assert!(replaced["previous_client_secret_expires_at"].is_null());

    let response = app.access_token(&s.tokens, &s.seller_id, None).await;
    expect_problem(
        response,
        StatusCode::CONFLICT,
        "client_credentials_rejected",
    )
    .await;
}

#[tokio::test]
async fn keep_previous_until_in_the_past_is_refused() {
    let (app, s) = spawn_with_setup().await;
    let path = format!("/v1/applications/{}/client-secret", s.application_id);
    let body = json!({"client_secret": client_secret(),
                      "keep_previous_until": time(Utc::now() - Duration::hours(1))});
    let problem = expect_problem(
        app.put(&path, &s.admin.key, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["keep_previous_until"]);
}

#[tokio::test]
async fn a_new_secret_notification_installs_it_and_tokens_work_with_it_alone() {
    let (app, s) = spawn_with_setup().await;
    let new_secret = client_secret();
    let notification = new_secret_notification(&s.client_id, &new_secret);

    let response = notify(&app, &s.admin, &notification).await;
    let receipt = expect_status(response, StatusCode::OK).await;
    assert_eq!(receipt["applied"], true);
    assert_eq!(receipt["type"], "APPLICATION_OAUTH_CLIENT_NEW_SECRET");
    assert_eq!(receipt["application_id"], s.application_id.as_str());
    assert_eq!(
        receipt["notification_id"],
        notification["notificationMetadata"]["notificationId"]
    );
    let row = application(&app, &s).await;
    let expires: DateTime<Utc> = row["client_secret_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        time(expires),
        notification["payload"]["applicationOAuthClientNewSecret"]["newClientSecretExpiryTime"]
    );
    assert!(row["previous_client_secret_expires_at"].is_string());

    // Amazon knows the new secret; the old one is revoked there.
    app.lwa.register_client(&s.client_id, &new_secret);
    assert_eq!(token_status(&app, &s).await, StatusCode::OK);
    assert_eq!(issues(&app, &s).await[0]["client_secret"], "current");
}

#[tokio::test]
async fn a_replayed_notification_changes_nothing() {
    let (app, s) = spawn_with_setup().await;
    let notification = new_secret_notification(&s.client_id, &client_secret());
    expect_status(notify(&app, &s.admin, &notification).await, StatusCode::OK).await;
    let before = application(&app, &s).await;

    let mut replay = notification.clone();
    replay["payload"]["applicationOAuthClientNewSecret"]["newClientSecret"] =
        json!(client_secret());
    let receipt = expect_status(notify(&app, &s.admin, &replay).await, StatusCode::OK).await;
    assert_eq!(receipt["applied"], false);
    assert_eq!(receipt["application_id"], s.application_id.as_str());
    assert_eq!(application(&app, &s).await, before);
    let events = expect_status(
        app.get("/v1/audit-events", &s.audit.key).await,
        StatusCode::OK,
    )
    .await;
    let received = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "application.client_secret_received")
        .count();
    assert_eq!(received, 1);
}

#[tokio::test]
async fn an_eventbridge_event_is_read_from_its_detail() {
    let (app, s) = spawn_with_setup().await;
    let event = json!({"version": "0", "id": Uuid::new_v4().to_string(),
        "detail-type": "APPLICATION_OAUTH_CLIENT_NEW_SECRET",
        "source": "aws.partner/sellingpartnerapi.amazon/amzn1.sellerapps.app.test",
        "account": "123456789012", "time": time(Utc::now()), "region": "us-east-1",
        "resources": [], "detail": new_secret_notification(&s.client_id, &client_secret())});
    let receipt = expect_status(notify(&app, &s.admin, &event).await, StatusCode::OK).await;
    assert_eq!(receipt["applied"], true);
}

#[tokio::test]
async fn a_notification_for_an_unknown_client_id_is_not_found() {
    let (app, s) = spawn_with_setup().await;
    let notification = new_secret_notification(&client_id(), &client_secret());
    notify_refused(&app, &s, &notification, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn another_notification_type_is_accepted_and_ignored() {
    let (app, s) = spawn_with_setup().await;
    let body = json!({"notificationVersion": "1.0", "notificationType": "ANY_OFFER_CHANGED",
        "payloadVersion": "1.0", "eventTime": time(Utc::now()), "payload": {"anyOfferChangedNotification": {}},
        "notificationMetadata": {"notificationId": "n-1", "publishTime": time(Utc::now())}});
    let receipt = expect_status(notify(&app, &s.admin, &body).await, StatusCode::ACCEPTED).await;
    assert_eq!(receipt["applied"], false);
    assert_eq!(receipt["type"], "ANY_OFFER_CHANGED");
}

#[tokio::test]
async fn a_malformed_notification_is_unprocessable() {
    let (app, s) = spawn_with_setup().await;
    let mut missing = new_secret_notification(&s.client_id, &client_secret());
    missing["payload"]["applicationOAuthClientNewSecret"]
        .as_object_mut()
        .unwrap()
        .remove("newClientSecret");
    let problem = notify_refused(
        &app,
        &s,
        &missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(
        error_fields(&problem),
        ["payload.applicationOAuthClientNewSecret.newClientSecret"]
    );
    for body in [
        json!([]),
        json!({"hello": "world"}),
        json!({"notificationType": 3}),
    ] {
        notify_refused(
            &app,
            &s,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
}

#[tokio::test]
async fn a_notified_secret_appears_in_no_response_audit_row_or_column() {
    let (app, s) = spawn_with_setup().await;
    let new_secret = client_secret();
    let mut bodies = Vec::new();
    let notification = new_secret_notification(&s.client_id, &new_secret);
    bodies.push(
        notify(&app, &s.admin, &notification)
            .await
            .text()
            .await
            .unwrap(),
    );
    bodies.push(
        notify(&app, &s.admin, &notification)
            .await
            .text()
            .await
            .unwrap(),
    );
    let mut bad = notification.clone();
    bad["payload"]["applicationOAuthClientNewSecret"]["newClientSecretExpiryTime"] =
        json!(new_secret.clone());
    bad["notificationMetadata"]["notificationId"] = json!("another");
    bodies.push(notify(&app, &s.admin, &bad).await.text().await.unwrap());
    for path in [
        format!("/v1/applications/{}", s.application_id),
        "/v1/applications".to_owned(),
    ] {
        bodies.push(app.get(&path, &s.admin.key).await.text().await.unwrap());
    }
    bodies.push(
        app.get("/v1/audit-events", &s.audit.key)
            .await
            .text()
            .await
            .unwrap(),
    );
    for body in &bodies {
        assert!(!body.contains(&new_secret), "{body}");
    }
    let rows: Vec<String> = sqlx::query_scalar(
        "select coalesce(encode(client_secret, 'escape'), '') || coalesce(encode(previous_client_secret, 'escape'), '') from application",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(rows
        .iter()
        .all(|row| !row.contains(&new_secret) && !row.contains(&s.secret)));
}

#[tokio::test]
async fn a_second_rotation_within_the_minute_is_refused_without_asking_amazon() {
    let (app, s) = spawn_with_setup().await;
    let path = format!("/v1/applications/{}/client-secret/rotate", s.application_id);
    expect_status(
        app.post(&path, &s.admin.key, &json!({})).await,
        StatusCode::ACCEPTED,
    )
    .await;
    let again = app.post(&path, &s.admin.key, &json!({})).await;
    assert_eq!(again.headers()["retry-after"], "60");
    expect_problem(again, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(app.lwa.notifications().len(), 1, "Amazon was asked once");
}

#[tokio::test]
async fn rotation_asks_amazon_with_one_cached_grantless_token() {
    let (app, s) = spawn_with_setup().await;
    let path = format!("/v1/applications/{}/client-secret/rotate", s.application_id);

    for round in 0..2 {
        if round == 1 {
            // Amazon allows one rotation call a minute: a minute passes.
            sqlx::query(
                "update application set rotation_requested_at = now() - interval '61 seconds'",
            )
            .execute(&app.pool)
            .await
            .unwrap();
        }
        let row = expect_status(
            app.post(&path, &s.admin.key, &json!({})).await,
            StatusCode::ACCEPTED,
        )
        .await;
        assert!(row["rotation_requested_at"].is_string());
    }
    let key = format!("client_credentials:{}:{ROTATION_SCOPE}", s.client_id);
    assert_eq!(app.lwa.exchanges_for(&key), 1);
    let notifications = app.lwa.notifications();
    assert_eq!(notifications.len(), 2);
    let events = expect_status(
        app.get("/v1/audit-events", &s.audit.key).await,
        StatusCode::OK,
    )
    .await;
    assert!(events["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "application.client_secret_rotation_requested"));

    // Amazon's notification closes the loop: the newest secret serves, the first is revoked.
    let receipt = expect_status(
        notify(&app, &s.admin, notifications.last().unwrap()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(receipt["applied"], true);
    assert!(application(&app, &s).await["rotation_requested_at"].is_null());
    app.lwa.revoke_client_secret(&s.client_id, &s.secret);
    assert_eq!(token_status(&app, &s).await, StatusCode::OK);
    assert_eq!(issues(&app, &s).await[0]["client_secret"], "current");
}

#[tokio::test]
async fn rotation_of_an_unknown_application_is_not_found() {
    let (app, s) = spawn_with_setup().await;
    let path = format!("/v1/applications/{}/client-secret/rotate", Uuid::now_v7());
    expect_problem(
        app.post(&path, &s.admin.key, &json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn an_expiry_notice_records_the_expiry_and_rotates_an_auto_rotate_application() {
    let (app, s) = spawn_with_setup().await;
    let path = format!("/v1/applications/{}", s.application_id);
    let row = expect_status(
        app.patch(&path, &s.admin.key, &json!({"auto_rotate": true}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(row["auto_rotate"], true);
    let expires = time(Utc::now() + Duration::days(20));
    let body = json!({"notificationVersion": "1.0",
        "notificationType": "APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY", "payloadVersion": "1.0",
        "eventTime": time(Utc::now()),
        "payload": {"applicationOAuthClientSecretExpiry": {"clientId": s.client_id,
            "clientSecretExpiryTime": expires, "clientSecretExpiryReason": "PERIODIC_ROTATION"}},
        "notificationMetadata": {"notificationId": Uuid::new_v4().to_string()}});
    let receipt = expect_status(notify(&app, &s.admin, &body).await, StatusCode::OK).await;
    assert_eq!(receipt["applied"], true);
    let row = application(&app, &s).await;
    let at: DateTime<Utc> = row["client_secret_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(time(at), expires);
    assert!(row["rotation_requested_at"].is_string());
    assert_eq!(app.lwa.notifications().len(), 1);
}

#[tokio::test]
async fn auto_rotation_asks_once_for_the_applications_due_whichever_replica_runs() {
    let (app, s) = spawn_with_setup().await;
    let soon = time(Utc::now() + Duration::days(10));
    let later = time(Utc::now() + Duration::days(100));
    let due = another_app(
        &app,
        &s,
        json!({"auto_rotate": true, "client_secret_expires_at": soon}),
    )
    .await;
    another_app(
        &app,
        &s,
        json!({"auto_rotate": true, "client_secret_expires_at": later}),
    )
    .await;
    another_app(&app, &s, json!({"client_secret_expires_at": soon})).await;
    let (other, third) = (app.another_instance().await, app.another_instance().await);

    let (a, b, c) = tokio::join!(
        app.rotation.rotate_due(),
        other.rotation.rotate_due(),
        third.rotation.rotate_due()
    );
    assert_eq!(a.unwrap() + b.unwrap() + c.unwrap(), 1);
    assert_eq!(app.rotation.rotate_due().await.unwrap(), 0);
    let notifications = app.lwa.notifications();
    assert_eq!(notifications.len(), 1);
    assert_eq!(
        notifications[0]["payload"]["applicationOAuthClientNewSecret"]["clientId"],
        due["client_id"]
    );
    let path = format!("/v1/applications/{}", due["id"].as_str().unwrap());
    let row = expect_status(app.get(&path, &s.admin.key).await, StatusCode::OK).await;
    assert!(row["rotation_requested_at"].is_string());
}

#[tokio::test]
async fn the_list_filter_finds_secrets_expiring_within_the_days_asked() {
    let (app, s) = spawn_with_setup().await;
    let soon = another_app(
        &app,
        &s,
        json!({"client_secret_expires_at": time(Utc::now() + Duration::days(5))}),
    )
    .await;
    another_app(
        &app,
        &s,
        json!({"client_secret_expires_at": time(Utc::now() + Duration::days(50))}),
    )
    .await;

    let body = expect_status(
        app.get(
            "/v1/applications?client_secret_expires_within_days=14",
            &s.admin.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let ids: Vec<&Value> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["id"])
        .collect();
    assert_eq!(ids, [&soon["id"]]);
    expect_problem(
        app.get(
            "/v1/applications?client_secret_expires_within_days=soon",
            &s.admin.key,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn metrics_count_expiring_and_rejected_secrets() {
    let (app, s) = spawn_with_setup().await;
    for days in [3, 20, 100] {
        another_app(
            &app,
            &s,
            json!({"client_secret_expires_at": time(Utc::now() + Duration::days(days))}),
        )
        .await;
    }
    sqlx::query("update application set status = 'client_credentials_rejected' where id = $1")
        .bind(Uuid::parse_str(&s.application_id).unwrap())
        .execute(&app.pool)
        .await
        .unwrap();

    let text = app
        .request(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("spvault_application_secrets_expiring{within=\"7d\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("spvault_application_secrets_expiring{within=\"30d\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("spvault_applications_client_credentials_rejected 1\n"),
        "{text}"
    );
}

/// The vault as a process of its own, logging everything (`debug`) to a file the test reads.
#[tokio::test]
async fn no_client_secret_reaches_a_log_line() {
    use secrecy::ExposeSecret;

    let database = crate::helpers::TestDatabase::new_named();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = std::env::temp_dir().join(format!("spvault-log-{}", Uuid::new_v4()));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut vault = tokio::process::Command::new(env!("CARGO_BIN_EXE_spvault"))
        .arg("serve")
        .env("DATABASE_URL", database.url())
        .env(
            "SPVAULT_MASTER_KEYS",
            spvault::crypto::Keyring::generate_entry(1),
        )
        .env("SPVAULT_LISTEN", format!("127.0.0.1:{port}"))
        .env("SPVAULT_LOG", "debug")
        .stderr(std::process::Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let pool = sqlx::PgPool::connect(&database.url()).await.unwrap();
    let operator = spvault::workflows::tenancy::create_operator_key(
        &pool,
        &spvault::domain::DisplayName::parse("ops").unwrap(),
    )
    .await
    .unwrap();
    let post = |path: &str, key: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .json(&body)
            .send()
    };
    let tenant = expect_status(
        post(
            "/v1/tenants",
            operator.expose_secret(),
            json!({"name": "acme"}),
        )
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let admin = tenant["admin_key"]["key"].as_str().unwrap().to_owned();
    let (client_id, first_secret, new_secret) = (client_id(), client_secret(), client_secret());
    expect_status(
        post(
            "/v1/applications",
            &admin,
            json!({"name": "app", "client_id": client_id, "client_secret": first_secret}),
        )
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let notification = new_secret_notification(&client_id, &new_secret);
    for expected in [StatusCode::OK, StatusCode::OK] {
        let response = post("/v1/amazon-notifications", &admin, notification.clone())
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
    }
    // The secret where a time belongs: refused, and not echoed anywhere either.
    let mut bad = notification.clone();
    bad["payload"]["applicationOAuthClientNewSecret"]["newClientSecretExpiryTime"] =
        json!(new_secret.clone());
    bad["notificationMetadata"]["notificationId"] = json!("another");
    let refused = post("/v1/amazon-notifications", &admin, bad).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

    vault.kill().await.unwrap();
    let logged = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    assert!(
        logged.contains("amazon-notifications"),
        "the requests were logged: {logged}"
    );
    for secret in [&first_secret, &new_secret] {
        assert!(
            !logged.contains(secret.as_str()),
            "a client secret in the log"
        );
    }
}
