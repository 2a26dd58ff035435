//! The key hierarchy: what is stored reveals nothing, opens only in its place, survives master
//! key rotation, and dies with its tenant.

use std::sync::Arc;

use base64::Engine;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;
use spvault::crypto::Keyring;
use spvault::keystore::{places, SecretError};
use spvault::startup::Application;
use uuid::Uuid;

use crate::helpers::{
    client_id, client_secret, expect_problem, expect_status, refresh_token, spawn_app, start,
    test_settings, TestApp,
};

fn uuid_of(value: &Value) -> Uuid {
    Uuid::parse_str(value.as_str().unwrap()).unwrap()
}

async fn sealed_refresh_token(app: &TestApp, seller_id: Uuid) -> Vec<u8> {
    sqlx::query_scalar("select refresh_token from seller where id = $1")
        .bind(seller_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// A tenant with an application and a seller; returns (tenant id, seller id, secret, token).
async fn tenant_with_seller(app: &TestApp, name: &str) -> (Uuid, Uuid, String, String) {
    let (tenant, admin) = app.create_tenant(name).await;
    let secret = client_secret();
    let token = refresh_token();
    let application = app.create_application(&admin, &secret).await;
    let seller = app.create_seller(&admin, &application, &token).await;
    (
        uuid_of(&tenant["id"]),
        uuid_of(&seller["id"]),
        secret,
        token,
    )
}

#[tokio::test]
async fn secrets_round_trip_through_the_api_and_the_database() {
    let app = spawn_app().await;
    let (tenant, admin) = app.create_tenant("acme").await;
    let tenant_id = uuid_of(&tenant["id"]);
    let secret = client_secret();
    let application = app.create_application(&admin, &secret).await;
    let token = refresh_token();
    let seller = app.create_seller(&admin, &application, &token).await;

    let sealed_secret: Vec<u8> =
        sqlx::query_scalar("select client_secret from application where id = $1")
            .bind(uuid_of(&application["id"]))
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let opened = app
        .keystore
        .open(
            &places::client_secret(tenant_id, uuid_of(&application["id"])),
            &sealed_secret,
        )
        .await
        .unwrap();
    assert_eq!(opened.expose_secret(), secret);

    let seller_id = uuid_of(&seller["id"]);
    let sealed = sealed_refresh_token(&app, seller_id).await;
    assert_eq!(sealed[0], 2, "the stored form carries its format version");
    let opened = app
        .keystore
        .open(&places::refresh_token(tenant_id, seller_id), &sealed)
        .await
        .unwrap();
    assert_eq!(opened.expose_secret(), token);

    // Replacing seals the new token afresh.
    let new_token = refresh_token();
    app.authed(
        reqwest::Method::PUT,
        &format!("/v1/sellers/{seller_id}/refresh-token"),
        &admin.key,
    )
    .json(&serde_json::json!({"refresh_token": new_token}))
    .send()
    .await
    .unwrap();
    let resealed = sealed_refresh_token(&app, seller_id).await;
    assert_ne!(resealed, sealed);
    let opened = app
        .keystore
        .open(&places::refresh_token(tenant_id, seller_id), &resealed)
        .await
        .unwrap();
    assert_eq!(opened.expose_secret(), new_token);
}

#[tokio::test]
async fn a_ciphertext_copied_to_another_row_or_tenant_does_not_open() {
    let app = spawn_app().await;
    let (acme, first, _, _) = tenant_with_seller(&app, "acme").await;
    // A second seller of the same tenant, given a copy of the first one's sealed token.
    let second: Uuid = sqlx::query_scalar(
        "insert into seller (id, tenant_id, application_id, selling_partner_id, region, refresh_token)
         select $1, tenant_id, application_id, 'ACOPY', region, refresh_token from seller where id = $2
         returning id",
    )
    .bind(Uuid::now_v7())
    .bind(first)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let copied = sealed_refresh_token(&app, second).await;
    let err = app
        .keystore
        .open(&places::refresh_token(acme, second), &copied)
        .await
        .unwrap_err();
    assert!(matches!(err, SecretError::Unreadable), "{err:?}");

    // Copied to another tenant's seller.
    let (globex, theirs, _, _) = tenant_with_seller(&app, "globex").await;
    sqlx::query("update seller set refresh_token = (select refresh_token from seller where id = $1) where id = $2")
        .bind(first)
        .bind(theirs)
        .execute(&app.pool)
        .await
        .unwrap();
    let copied = sealed_refresh_token(&app, theirs).await;
    let err = app
        .keystore
        .open(&places::refresh_token(globex, theirs), &copied)
        .await
        .unwrap_err();
    assert!(matches!(err, SecretError::Unreadable), "{err:?}");

    // The original still opens where it belongs.
    let original = sealed_refresh_token(&app, first).await;
    assert!(app
        .keystore
        .open(&places::refresh_token(acme, first), &original)
        .await
        .is_ok());
}

/// Every form of `secret` a dump reader could try to recognise.
fn recognisable_forms(secret: &str) -> Vec<String> {
    let bytes = secret.as_bytes();
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    vec![
        secret.to_owned(),
        secret.split('|').nth(1).unwrap_or(secret).to_owned(),
        hex::encode(bytes),
        b64.trim_end_matches('=').to_owned(),
        secret.chars().rev().collect(),
    ]
}

#[tokio::test]
async fn a_database_dump_contains_no_secret_in_any_recognisable_form() {
    let app = spawn_app().await;
    let mut secrets = Vec::new();
    for name in ["acme", "globex"] {
        let (_, _, secret, token) = tenant_with_seller(&app, name).await;
        secrets.push(secret);
        secrets.push(token);
    }
    let output = std::process::Command::new("pg_dump")
        .arg("--no-owner")
        .arg(app.database.url())
        .output()
        .expect("pg_dump runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dump = String::from_utf8_lossy(&output.stdout).to_lowercase();
    assert!(
        dump.contains("copy public.seller"),
        "the dump has the seller table"
    );
    for secret in &secrets {
        for form in recognisable_forms(secret) {
            assert!(
                !dump.contains(&form.to_lowercase()),
                "the dump reveals a secret"
            );
        }
    }
}

#[tokio::test]
async fn a_master_key_that_does_not_match_the_database_is_refused_at_start() {
    let app = spawn_app().await;
    tenant_with_seller(&app, "acme").await;

    // The same id, other bytes.
    let mut wrong = test_settings(&app.database.url());
    wrong.master_keys = Some(Keyring::generate_entry(1).into());
    let err = Application::build(wrong)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("does not match"), "{err}");

    // Another id, while data keys are wrapped by the first.
    let mut missing = test_settings(&app.database.url());
    missing.master_keys = Some(Keyring::generate_entry(2).into());
    let err = Application::build(missing)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("master key 1") && err.contains("not configured"),
        "{err}"
    );
}

/// The settings' master keys with a new one (id 2) added.
fn with_second_master_key(app: &TestApp) -> String {
    let first = app
        .settings
        .master_keys
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    format!("{first},{}", Keyring::generate_entry(2))
}

async fn master_key_ids(app: &TestApp) -> Vec<i32> {
    sqlx::query_scalar("select master_key_id from tenant_data_key order by master_key_id")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn rotation_under_load_then_removing_the_old_key_keeps_everything_readable() {
    let app = spawn_app().await;
    let mut sellers = Vec::new();
    for i in 0..5 {
        sellers.push(tenant_with_seller(&app, &format!("tenant-{i}")).await);
    }
    let both = with_second_master_key(&app);
    let mut settings = app.settings.clone();
    settings.master_keys = Some(both.clone().into());
    let mut serving = start(settings, Arc::clone(&app.database)).await;
    serving.operator_key = app.operator_key.clone();

    // Requests keep coming while the rotation runs on another process.
    let (_, admin) = serving.create_tenant("busy").await;
    let load = {
        let serving_address = serving.address.clone();
        let admin_key = admin.key.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut ok = 0;
            for _ in 0..30 {
                let response = client
                    .post(format!("{serving_address}/v1/applications"))
                    .bearer_auth(&admin_key)
                    .json(&serde_json::json!({"name": Uuid::new_v4().to_string(),
                        "client_id": crate::helpers::client_id(), "client_secret": client_secret()}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
                ok += 1;
            }
            ok
        })
    };
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_spvault"))
        .args(["rotate-master-key", "--batch", "2"])
        .env("DATABASE_URL", app.database.url())
        .env("SPVAULT_MASTER_KEYS", &both)
        .env("SPVAULT_LOG", "off")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("re-wrapped"), "{stdout}");
    assert_eq!(load.await.unwrap(), 30);
    // The tenant made during the rotation may have been made under key 1; run again to finish.
    let again = tokio::process::Command::new(env!("CARGO_BIN_EXE_spvault"))
        .arg("rotate-master-key")
        .env("DATABASE_URL", app.database.url())
        .env("SPVAULT_MASTER_KEYS", &both)
        .env("SPVAULT_LOG", "off")
        .output()
        .await
        .unwrap();
    assert!(again.status.success());
    assert!(master_key_ids(&app).await.iter().all(|id| *id == 2));

    // The old key is removed: a fresh process with key 2 only opens every secret.
    let only_new = both.split(',').nth(1).unwrap().to_owned();
    let mut settings = app.settings.clone();
    settings.master_keys = Some(only_new.into());
    let fresh = start(settings, Arc::clone(&app.database)).await;
    for (tenant, seller, _, token) in &sellers {
        let sealed = sealed_refresh_token(&fresh, *seller).await;
        let opened = fresh
            .keystore
            .open(&places::refresh_token(*tenant, *seller), &sealed)
            .await
            .unwrap();
        assert_eq!(opened.expose_secret(), token);
    }
}

#[tokio::test]
async fn an_interrupted_rotation_loses_nothing_and_resumes() {
    let app = spawn_app().await;
    let mut sellers = Vec::new();
    for i in 0..5 {
        sellers.push(tenant_with_seller(&app, &format!("tenant-{i}")).await);
    }
    let both = Keyring::parse(&with_second_master_key(&app)).unwrap();
    let keystore = Arc::new(spvault::keystore::KeyStore::new(
        both,
        app.pool.clone(),
        Default::default(),
    ));
    keystore.verify_against_database().await.unwrap();

    // The process dies right after its first batch of two committed.
    let interrupted = tokio::spawn({
        let keystore = Arc::clone(&keystore);
        async move {
            keystore
                .rotate(2, |done, _| {
                    assert!(done < 2, "killed after the first batch")
                })
                .await
        }
    });
    assert!(interrupted.await.unwrap_err().is_panic());
    let ids = master_key_ids(&app).await;
    assert_eq!(ids.iter().filter(|id| **id == 2).count(), 2, "{ids:?}");
    assert_eq!(ids.iter().filter(|id| **id == 1).count(), 3, "{ids:?}");
    for (tenant, seller, _, token) in &sellers {
        let sealed = sealed_refresh_token(&app, *seller).await;
        let opened = keystore
            .open(&places::refresh_token(*tenant, *seller), &sealed)
            .await
            .unwrap();
        assert_eq!(opened.expose_secret(), token);
    }

    let done = keystore.rotate(2, |_, _| {}).await.unwrap();
    assert_eq!(done, 3);
    assert!(master_key_ids(&app).await.iter().all(|id| *id == 2));
}

#[tokio::test]
async fn deleting_a_tenant_destroys_its_data_key() {
    let app = spawn_app().await;
    let (tenant_id, seller_id, _, _) = tenant_with_seller(&app, "acme").await;
    let copied_aside = sealed_refresh_token(&app, seller_id).await;
    let place = places::refresh_token(tenant_id, seller_id);
    assert!(
        app.keystore.open(&place, &copied_aside).await.is_ok(),
        "opens before deletion"
    );

    let response = app
        .delete(&format!("/v1/tenants/{tenant_id}"), &app.operator_key)
        .await;
    expect_status(response, StatusCode::NO_CONTENT).await;

    let wrapped: i64 =
        sqlx::query_scalar("select count(*) from tenant_data_key where tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(wrapped, 0, "the wrapped data key is gone");
    let left: i64 = sqlx::query_scalar("select count(*) from seller where tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    // Not even this process, which had the key in memory, can open the copy any more.
    let err = app.keystore.open(&place, &copied_aside).await.unwrap_err();
    assert!(matches!(err, SecretError::NoDataKey), "{err:?}");
}

/// `/readyz` needs no key: when a data key cannot be opened it says so, but names neither the
/// tenant nor the master key (the log does).
#[tokio::test]
async fn readyz_says_a_data_key_does_not_open_without_naming_the_tenant_or_the_key() {
    let app = spawn_app().await;
    let ready = app
        .request(reqwest::Method::GET, "/readyz")
        .send()
        .await
        .unwrap();
    expect_status(ready, StatusCode::OK).await;

    // Two tenants whose data keys this process has not opened yet (making a tenant does not).
    let (missing, missing_admin) = app.create_tenant("missing-key").await;
    let (garbled, garbled_admin) = app.create_tenant("garbled-key").await;
    // One wrapped by a master key this process does not have, one its key does not open.
    sqlx::query("update tenant_data_key set master_key_id = 977 where tenant_id = $1")
        .bind(uuid_of(&missing["id"]))
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "update tenant_data_key set wrapped_key = set_byte(wrapped_key, 20, get_byte(wrapped_key, 20) # 1)
         where tenant_id = $1",
    )
    .bind(uuid_of(&garbled["id"]))
    .execute(&app.pool)
    .await
    .unwrap();

    for (tenant, admin, what) in [
        (&missing, &missing_admin, "not configured"),
        (&garbled, &garbled_admin, "does not open"),
    ] {
        let response = app
            .post(
                "/v1/applications",
                &admin.key,
                &serde_json::json!({"name": "app", "client_id": client_id(),
                                    "client_secret": client_secret()}),
            )
            .await;
        expect_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;

        let response = app
            .request(reqwest::Method::GET, "/readyz")
            .send()
            .await
            .unwrap();
        let body = expect_status(response, StatusCode::SERVICE_UNAVAILABLE).await;
        let reason = body["reason"].as_str().unwrap();
        assert!(reason.contains(what), "{reason}");
        let tenant_id = tenant["id"].as_str().unwrap();
        assert!(!reason.contains(tenant_id), "names the tenant: {reason}");
        assert!(
            !reason.contains(&tenant_id[..8]) && !reason.chars().any(|c| c.is_ascii_digit()),
            "names an identifier: {reason}"
        );
    }
}
