//! `spawn_app()`: the vault on a free port against a fresh database of its own, and a client
//! with one method per endpoint.

use std::sync::Arc;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use spvault::auth::Authenticator;
use spvault::config::Settings;
use spvault::crypto::Keyring;
use spvault::domain::DisplayName;
use spvault::emulator::{EmulatorState, LwaEmulator};
use spvault::keystore::KeyStore;
use spvault::startup::Application;
use spvault::workflows::credentials::secret_lifecycle::SecretRotation;
use spvault::workflows::Vault;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

pub const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

/// A database made for one test and dropped after it.
pub struct TestDatabase {
    pub name: String,
}

impl TestDatabase {
    /// A name for a database the test (or the vault it starts) will create.
    pub fn new_named() -> Self {
        Self::new()
    }

    fn new() -> Self {
        Self {
            name: format!("spvault_test_{}", Uuid::new_v4().simple()),
        }
    }

    pub fn url(&self) -> String {
        format!("{POSTGRES}/{}", self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside of any usable runtime: do the work on a thread with its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for dropping the test database");
            runtime.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&format!("{POSTGRES}/postgres")).await {
                    let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

#[derive(Clone)]
pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    pub settings: Settings,
    pub authenticator: Arc<Authenticator>,
    pub keystore: Arc<KeyStore>,
    /// What the workflows act on, for tests of rules below HTTP.
    pub vault: Vault,
    /// Client secret rotation (to run an auto-rotation pass at will).
    pub rotation: SecretRotation,
    /// The LWA emulator this vault exchanges at (shared by its other instances).
    pub lwa: Arc<EmulatorState>,
    pub client: reqwest::Client,
    pub operator_key: String,
    pub database: Arc<TestDatabase>,
}

/// Settings for a test: a fresh master key, port 0, one worker.
pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::with_database(database_url);
    settings.listen = "127.0.0.1:0".into();
    settings.master_keys = Some(Keyring::generate_entry(1).into());
    settings.workers = Some(2);
    settings.db_max_connections = 5;
    settings.log = std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into());
    // Keep failing exchanges short.
    settings.lwa_connect_timeout_ms = 300;
    settings.lwa_request_timeout_ms = 500;
    settings.lwa_retry_budget_ms = 1_500;
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A vault with tenant `name`'s world (`TestApp::world`).
pub async fn spawn_app_and_world(name: &str) -> (TestApp, World) {
    let app = spawn_app().await;
    let world = app.world(name).await;
    (app, world)
}

pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    let database = Arc::new(TestDatabase::new());
    let lwa = Arc::new(EmulatorState::lenient());
    let emulator = LwaEmulator::start("127.0.0.1:0", Arc::clone(&lwa)).expect("the LWA emulator");
    let mut settings = test_settings(&database.url());
    settings.lwa_endpoint = emulator.token_url();
    settings.spapi_endpoint = Some(emulator.sp_api_url());
    customize(&mut settings);
    let mut app = start_with(settings, database, lwa).await;
    app.operator_key = app.create_operator_key("test-operator").await;
    app
}

/// Starts the application with `settings` (which name `database`).
pub async fn start(settings: Settings, database: Arc<TestDatabase>) -> TestApp {
    start_with(settings, database, Arc::new(EmulatorState::lenient())).await
}

async fn start_with(
    settings: Settings,
    database: Arc<TestDatabase>,
    lwa: Arc<EmulatorState>,
) -> TestApp {
    spvault::telemetry::init(&settings.log);
    let application = Application::build(settings.clone())
        .await
        .expect("the application builds");
    let port = application.port();
    let pool = application.pool().clone();
    let authenticator = application.authenticator();
    let keystore = application.keystore();
    let vault = application.vault();
    let rotation = application.secret_rotation();
    tokio::spawn(application.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        pool,
        settings,
        authenticator,
        keystore,
        vault,
        rotation,
        lwa,
        client: reqwest::Client::new(),
        operator_key: String::new(),
        database,
    }
}

/// An API key as a test holds it.
#[derive(Debug, Clone)]
pub struct Key {
    pub id: String,
    pub key: String,
}

impl TestApp {
    /// Another replica on the same database (with the same master key).
    pub async fn another_instance(&self) -> TestApp {
        let mut app = start_with(
            self.settings.clone(),
            Arc::clone(&self.database),
            Arc::clone(&self.lwa),
        )
        .await;
        app.operator_key = self.operator_key.clone();
        app
    }

    pub async fn create_operator_key(&self, name: &str) -> String {
        let name = DisplayName::parse(name).unwrap();
        spvault::workflows::tenancy::create_operator_key(&self.pool, &name)
            .await
            .expect("an operator key")
            .expose_secret()
            .to_owned()
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
    }

    pub fn authed(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(key)
    }

    pub async fn get(&self, path: &str, key: &str) -> Response {
        self.authed(Method::GET, path, key).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Response {
        self.authed(Method::POST, path, key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, key: &str, body: &Value) -> Response {
        self.authed(Method::PUT, path, key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, key: &str, body: &Value) -> Response {
        self.authed(Method::PATCH, path, key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, key: &str) -> Response {
        self.authed(Method::DELETE, path, key).send().await.unwrap()
    }

    /// Creates a tenant; returns its JSON and its first admin key.
    pub async fn create_tenant(&self, name: &str) -> (Value, Key) {
        let response = self
            .post("/v1/tenants", &self.operator_key, &json!({ "name": name }))
            .await;
        let body = expect_status(response, StatusCode::CREATED).await;
        let key = Key {
            id: body["admin_key"]["id"].as_str().unwrap().to_owned(),
            key: body["admin_key"]["key"].as_str().unwrap().to_owned(),
        };
        (body["tenant"].clone(), key)
    }

    /// Registers an application with a random client id and `secret`; returns its JSON.
    pub async fn create_application(&self, admin: &Key, secret: &str) -> Value {
        let response = self
            .post(
                "/v1/applications",
                &admin.key,
                &json!({"name": format!("app-{}", random_hex(4)), "client_id": client_id(),
                        "client_secret": secret}),
            )
            .await;
        expect_status(response, StatusCode::CREATED).await
    }

    /// Stores a seller of `application` with `refresh_token`; returns its JSON.
    pub async fn create_seller(
        &self,
        admin: &Key,
        application: &Value,
        refresh_token: &str,
    ) -> Value {
        let response = self
            .post(
                "/v1/sellers",
                &admin.key,
                &json!({"application_id": application["id"], "selling_partner_id": selling_partner_id(),
                        "region": "na", "refresh_token": refresh_token}),
            )
            .await;
        expect_status(response, StatusCode::CREATED).await
    }

    /// Creates a key with `scopes` in the tenant of `admin`.
    pub async fn create_key(&self, admin: &Key, scopes: &[&str]) -> Key {
        let response = self
            .post(
                "/v1/api-keys",
                &admin.key,
                &json!({"name": format!("{scopes:?}"), "scopes": scopes}),
            )
            .await;
        let body = expect_status(response, StatusCode::CREATED).await;
        Key {
            id: body["id"].as_str().unwrap().to_owned(),
            key: body["key"].as_str().unwrap().to_owned(),
        }
    }
}

/// A tenant with every kind of key, an application and a seller, for the token tests.
pub struct World {
    pub tenant_id: String,
    pub admin: Key,
    pub tokens: Key,
    pub audit: Key,
    pub application: Value,
    pub seller_id: String,
    pub refresh_token: String,
}

impl TestApp {
    pub async fn world(&self, name: &str) -> World {
        let (tenant, admin) = self.create_tenant(name).await;
        let tokens = self.create_key(&admin, &["tokens"]).await;
        let audit = self.create_key(&admin, &["audit"]).await;
        let secret = client_secret();
        let application = self.create_application(&admin, &secret).await;
        let token = refresh_token();
        let seller = self.create_seller(&admin, &application, &token).await;
        World {
            tenant_id: tenant["id"].as_str().unwrap().to_owned(),
            admin,
            tokens,
            audit,
            seller_id: seller["id"].as_str().unwrap().to_owned(),
            application,
            refresh_token: token,
        }
    }

    /// Replaces the world's seller's refresh token with a new one (as its admin): the new one.
    pub async fn replace_refresh_token(&self, world: &World) -> String {
        let new_token = refresh_token();
        let response = self
            .put(
                &format!("/v1/sellers/{}/refresh-token", world.seller_id),
                &world.admin.key,
                &json!({ "refresh_token": new_token }),
            )
            .await;
        expect_status(response, StatusCode::OK).await;
        new_token
    }

    /// Another seller of the world's application.
    pub async fn another_seller(&self, world: &World) -> (String, String) {
        let token = refresh_token();
        let seller = self
            .create_seller(&world.admin, &world.application, &token)
            .await;
        (seller["id"].as_str().unwrap().to_owned(), token)
    }

    /// `POST /v1/sellers/{id}/access-token` with an optional body.
    pub async fn access_token(&self, key: &Key, seller_id: &str, body: Option<Value>) -> Response {
        let request = self.authed(
            Method::POST,
            &format!("/v1/sellers/{seller_id}/access-token"),
            &key.key,
        );
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        request.send().await.unwrap()
    }
}

/// Asserts the status and returns the JSON body (`Null` when there is none).
/// The tenant's token issues (`/v1/token-issues`, with the world's audit key), newest first.
pub async fn token_issues(app: &TestApp, world: &World) -> Vec<Value> {
    let issues = expect_status(
        app.get("/v1/token-issues", &world.audit.key).await,
        StatusCode::OK,
    )
    .await;
    issues["data"].as_array().unwrap().clone()
}

pub async fn expect_status(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

/// Asserts a problem+json error with `status` and `code`; returns its body.
pub async fn expect_problem(response: Response, status: StatusCode, code: &str) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert!(response.headers().contains_key("x-request-id"));
    let body = expect_status(response, status).await;
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["type"], "about:blank");
    assert!(body["title"].is_string() && body["detail"].is_string());
    assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    body
}

pub fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

pub fn client_id() -> String {
    format!("amzn1.application-oa2-client.{}", random_hex(16))
}

pub fn client_secret() -> String {
    format!("amzn1.oa2-cs.v1.{}", random_hex(32))
}

pub fn refresh_token() -> String {
    format!("Atzr|IwEBI{}", random_hex(48))
}

pub fn selling_partner_id() -> String {
    format!("A{}", random_hex(6).to_uppercase())
}

/// The fields named in a `422`'s `errors`, sorted.
pub fn error_fields(problem: &Value) -> Vec<String> {
    let mut fields: Vec<String> = problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    fields.sort();
    fields
}

/// Polls `done` (every 20 ms, for up to 15 s) until it holds.
pub async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..750 {
        if done().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("never: {what}");
}
