//! The `spvault` binary's commands.

use std::process::{Command, Output};

use reqwest::StatusCode;

use crate::helpers::{expect_status, spawn_app};

fn spvault(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spvault"));
    command
        .args(args)
        .env_remove("SPVAULT_MASTER_KEYS")
        .env("SPVAULT_LOG", "off");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

#[test]
fn keygen_prints_a_usable_master_key_entry() {
    let output = spvault(&["keygen", "--id", "7"], &[]);
    assert!(output.status.success());
    let entry = String::from_utf8(output.stdout).unwrap();
    let keyring = spvault::crypto::Keyring::parse(entry.trim()).unwrap();
    assert_eq!(keyring.current_id(), 7);
}

#[test]
fn serve_without_a_master_key_refuses_and_says_how_to_make_one() {
    let output = spvault(&["serve"], &[("SPVAULT_LISTEN", "127.0.0.1:0")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("spvault keygen"), "{stderr}");
}

#[test]
fn serve_with_a_malformed_master_key_refuses_without_echoing_it() {
    let output = spvault(
        &["serve"],
        &[
            ("SPVAULT_MASTER_KEYS", "1:dG9vLXNob3J0"),
            ("SPVAULT_LISTEN", "127.0.0.1:0"),
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("spvault keygen"), "{stderr}");
    assert!(!stderr.contains("dG9vLXNob3J0"), "{stderr}");
}

#[tokio::test]
async fn operator_key_create_prints_only_a_working_key() {
    let app = spawn_app().await;
    let output = spvault(
        &["operator-key", "create", "--name", "ops"],
        &[("DATABASE_URL", &app.database.url())],
    );
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    let key = stdout.trim();
    assert!(key.starts_with("spv_"));
    expect_status(app.get("/v1/tenants", key).await, StatusCode::OK).await;

    let listed = spvault(
        &["operator-key", "list"],
        &[("DATABASE_URL", &app.database.url())],
    );
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.contains("ops") && listed.contains("test-operator"),
        "{listed}"
    );
    assert!(!listed.contains(key));
}

#[tokio::test]
async fn migrate_creates_a_missing_database() {
    let database = format!("spvault_test_{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}/{database}", crate::helpers::POSTGRES);
    let output = spvault(&["migrate"], &[("DATABASE_URL", &url)]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(applied >= 1);
    pool.close().await;
    drop(crate::helpers::TestDatabase { name: database });
}
