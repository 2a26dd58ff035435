//! A `kill -9` of a serving process under load leaves no token delivered without its record.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use spvault::crypto::Keyring;
use spvault::domain::DisplayName;
use spvault::emulator::{EmulatorState, LwaEmulator};
use uuid::Uuid;

use crate::helpers::{
    client_id, client_secret, expect_status, refresh_token, selling_partner_id, TestDatabase,
};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_killed_process_never_delivered_a_token_without_its_record() {
    let database = TestDatabase::new_named();
    let emulator = LwaEmulator::start("127.0.0.1:0", Arc::new(EmulatorState::lenient())).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut vault = tokio::process::Command::new(env!("CARGO_BIN_EXE_spvault"))
        .arg("serve")
        .env("DATABASE_URL", database.url())
        .env("SPVAULT_MASTER_KEYS", Keyring::generate_entry(1))
        .env("SPVAULT_LISTEN", format!("127.0.0.1:{port}"))
        .env("SPVAULT_LWA_ENDPOINT", emulator.token_url())
        .env("SPVAULT_LOG", "off")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the vault did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let pool = sqlx::PgPool::connect(&database.url()).await.unwrap();
    let operator = spvault::workflows::tenancy::create_operator_key(
        &pool,
        &DisplayName::parse("ops").unwrap(),
    )
    .await
    .unwrap();
    use secrecy::ExposeSecret;
    let post = |path: &str, key: &str, body: serde_json::Value| {
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
    let key = tenant["admin_key"]["key"].as_str().unwrap().to_owned();
    let application = expect_status(
        post(
            "/v1/applications",
            &key,
            json!({"name": "app", "client_id": client_id(), "client_secret": client_secret()}),
        )
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let mut sellers = Vec::new();
    for _ in 0..8 {
        let seller = expect_status(
            post("/v1/sellers", &key, json!({"application_id": application["id"], "selling_partner_id": selling_partner_id(),
                "region": "na", "refresh_token": refresh_token()})).await.unwrap(),
            StatusCode::CREATED,
        )
        .await;
        sellers.push(seller["id"].as_str().unwrap().to_owned());
    }

    // Load from 16 workers; the process is killed in the middle of it.
    let delivered: Arc<Mutex<Vec<String>>> = Arc::default();
    let workers: Vec<_> = (0..16)
        .map(|worker| {
            let (client, base, key, sellers, delivered) = (
                client.clone(),
                base.clone(),
                key.clone(),
                sellers.clone(),
                Arc::clone(&delivered),
            );
            tokio::spawn(async move {
                for i in 0.. {
                    let request_id = Uuid::new_v4().to_string();
                    let seller = &sellers[(worker + i) % sellers.len()];
                    let sent = client
                        .post(format!("{base}/v1/sellers/{seller}/access-token"))
                        .bearer_auth(&key)
                        .header("x-request-id", &request_id)
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                    let Ok(response) = sent else { return };
                    if response.status() == StatusCode::OK {
                        if let Ok(body) = response.json::<serde_json::Value>().await {
                            if body["access_token"].is_string() {
                                delivered.lock().unwrap().push(request_id);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    vault.start_kill().unwrap();
    vault.wait().await.unwrap();
    for worker in workers {
        worker.await.unwrap();
    }

    let delivered = delivered.lock().unwrap().clone();
    assert!(
        delivered.len() > 10,
        "the load did get tokens ({})",
        delivered.len()
    );
    let recorded: Vec<String> =
        sqlx::query_scalar("select request_id from token_delivery where request_id = any($1)")
            .bind(&delivered)
            .fetch_all(&pool)
            .await
            .unwrap();
    let recorded: std::collections::HashSet<String> = recorded.into_iter().collect();
    let missing: Vec<&String> = delivered
        .iter()
        .filter(|id| !recorded.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} tokens have no record",
        missing.len(),
        delivered.len()
    );
    pool.close().await;
    emulator.stop().await;
}
