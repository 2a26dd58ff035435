//! The LWA-compatible endpoint, proven with real clients: unmodified SP-API SDKs from their registries get tokens
//! from the vault's LWA-compatible endpoint (`tests/sdk/` holds the drivers and the installer);
//! and one makes its SP-API calls through the vault's SP-API proxy, holding no token at all.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{expect_status, spawn_app, TestApp, World};

fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk")
}

/// Installs the pinned SDKs once per run; `false` (with a message) when a registry is unreachable.
fn sdks_installed() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let output = Command::new("bash")
            .arg(sdk_dir().join("install.sh"))
            .output()
            .expect("bash runs");
        match output.status.code() {
            Some(0) => true,
            Some(3) => {
                eprintln!(
                    "SKIPPED the SDK tests: {}",
                    String::from_utf8_lossy(&output.stdout).trim()
                );
                false
            }
            _ => panic!(
                "installing the SDKs failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    })
}

#[derive(Clone, Copy)]
enum Sdk {
    PythonAmazonSpApi,
    AmznSpApi,
    SpApiSdkAuth,
}

/// What a driver needs: where the vault is and the credentials an SDK user would configure.
struct Target {
    vault: String,
    seller_id: String,
    client_id: String,
    tenant_key: String,
}

impl Target {
    fn new(app: &TestApp, world: &World, seller_id: &str) -> Self {
        Self {
            vault: app.address.clone(),
            seller_id: seller_id.to_owned(),
            client_id: world.application["client_id"].as_str().unwrap().to_owned(),
            tenant_key: world.tokens.key.clone(),
        }
    }
}

/// Runs the SDK's driver (a blocking child process); returns the one JSON line it prints.
fn run_sdk(sdk: Sdk, target: &Target) -> Value {
    let cache = sdk_dir().join(".cache");
    let mut command = match sdk {
        Sdk::PythonAmazonSpApi | Sdk::AmznSpApi => {
            let script = match sdk {
                Sdk::PythonAmazonSpApi => "python_amazon_sp_api.py",
                _ => "amzn_sp_api.py",
            };
            let mut command = Command::new(cache.join("venv/bin/python"));
            command.arg(sdk_dir().join(script));
            command
        }
        Sdk::SpApiSdkAuth => {
            // Node resolves packages next to the script: run a copy inside the install.
            let script = cache.join("node/sp_api_sdk_auth.mjs");
            std::fs::copy(sdk_dir().join("sp_api_sdk_auth.mjs"), &script).unwrap();
            let mut command = Command::new("node");
            command.arg(script);
            command
        }
    };
    let output = command
        .env("SPVAULT_URL", &target.vault)
        .env("SELLER_ID", &target.seller_id)
        .env("CLIENT_ID", &target.client_id)
        .env("TENANT_KEY", &target.tenant_key)
        .output()
        .expect("the SDK driver runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the driver crashed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|_| panic!("not one JSON line: {stdout}"))
}

async fn run_sdk_off_runtime(sdk: Sdk, target: Target) -> Value {
    tokio::task::spawn_blocking(move || run_sdk(sdk, &target))
        .await
        .unwrap()
}

async fn a_token_through(sdk: Sdk) {
    if !sdks_installed() {
        return;
    }
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let got = run_sdk_off_runtime(sdk, Target::new(&app, &world, &world.seller_id)).await;
    assert_eq!(got["ok"], true, "{got}");
    let expires_in = got["expires_in"].as_f64().unwrap();
    assert!(expires_in > 3000.0, "{got}");

    // The very token the vault's /v1 endpoint reports for the seller.
    let v1 = expect_status(
        app.access_token(&world.tokens, &world.seller_id, None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v1["access_token"], got["access_token"]);
    assert_eq!(v1["source"], "cache");
    let deliveries = expect_status(
        app.get("/v1/token-deliveries", &world.audit.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(deliveries["data"][1]["via"], "lwa_compat");
    assert_eq!(deliveries["data"][1]["source"], "lwa");
    assert_eq!(deliveries["data"][0]["via"], "v1");

    // A revoked seller: the SDK's own error type, with LWA's error where the SDK exposes it.
    let (revoked, refresh_token) = app.another_seller(&world).await;
    app.lwa.revoke_refresh_token(&refresh_token);
    let failed = run_sdk_off_runtime(sdk, Target::new(&app, &world, &revoked)).await;
    assert_eq!(failed["ok"], false, "{failed}");
    let (error_type, error) = match sdk {
        Sdk::PythonAmazonSpApi => ("AuthorizationError", Some("invalid_grant")),
        // The official SDK reads no error body: every 4xx becomes a code of its own.
        Sdk::AmznSpApi => ("LwaException", None),
        Sdk::SpApiSdkAuth => ("SellingPartnerApiAuthError", Some("invalid_grant")),
    };
    assert_eq!(failed["error_type"], error_type, "{failed}");
    if let Some(error) = error {
        assert_eq!(failed["error"], error, "{failed}");
    }
}

#[tokio::test]
async fn python_amazon_sp_api_gets_its_token_from_the_vault() {
    a_token_through(Sdk::PythonAmazonSpApi).await;
}

#[tokio::test]
async fn amazons_python_sdk_gets_its_token_from_the_vault_by_setting_only() {
    a_token_through(Sdk::AmznSpApi).await;
}

#[tokio::test]
async fn sp_api_sdk_auth_gets_its_token_from_the_vault() {
    a_token_through(Sdk::SpApiSdkAuth).await;
}

/// Runs `python_amazon_sp_api_proxy.py` (a blocking child process) against the seller and the
/// application of `world`; returns the one JSON line it prints.
async fn run_proxy_driver(app: &TestApp, world: &World) -> Value {
    let cache = sdk_dir().join(".cache");
    let mut command = Command::new(cache.join("venv/bin/python"));
    command
        .arg(sdk_dir().join("python_amazon_sp_api_proxy.py"))
        .env("SPVAULT_URL", &app.address)
        .env("SELLER_ID", &world.seller_id)
        .env("APPLICATION_ID", world.application["id"].as_str().unwrap())
        .env("TENANT_KEY", &world.tokens.key);
    let output = tokio::task::spawn_blocking(move || command.output().expect("the driver runs"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the driver crashed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|_| panic!("not one JSON line: {stdout}"))
}

#[tokio::test]
async fn python_amazon_sp_api_calls_through_the_proxy_holding_no_token() {
    if !sdks_installed() {
        return;
    }
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let got = run_proxy_driver(&app, &world).await;
    assert_eq!(got["ok"], true, "{got}");
    assert_eq!(got["marketplaces"], serde_json::json!(["ATVPDKIKX0DER"]));
    assert_eq!(got["destinations"], serde_json::json!(["emulated-queue"]));
    // Amazon's headers reached the library as Amazon sent them.
    assert_eq!(got["rate_limit"], "0.016");
    assert!(got["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    // Amazon got the vault's tokens, never the key the library sent.
    let calls = app.lwa.sp_api_calls();
    let tokens: Vec<&str> = calls.iter().map(|c| c.token).collect();
    assert_eq!(tokens, ["seller", "grantless"]);
    assert!(calls
        .iter()
        .all(|c| !c.headers.iter().any(|h| h == "x-amz-date")));
    let deliveries = expect_status(
        app.get("/v1/token-deliveries", &world.audit.key).await,
        StatusCode::OK,
    )
    .await;
    let vias: Vec<&str> = deliveries["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["via"].as_str().unwrap())
        .collect();
    assert_eq!(vias, ["proxy", "proxy"]);

    // Amazon's errors reach the library as its own exceptions.
    app.lwa.throttle_sp_api(1);
    let failed = run_proxy_driver(&app, &world).await;
    assert_eq!(failed["ok"], false, "{failed}");
    assert_eq!(failed["error_type"], "SellingApiRequestThrottledException");
    assert_eq!(failed["error"], "QuotaExceeded");
}
