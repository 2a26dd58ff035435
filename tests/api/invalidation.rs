//! The invalidation listener keeps every replica's caches fresh; a listener that stops hearing
//! (a half-open connection: nothing arrives and nothing says so) must stop trusting them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use secrecy::ExposeSecret;
use spvault::invalidation::Caches;
use spvault::workflows::trail::Actor;
use spvault::workflows::{tenancy, Vault};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

use crate::helpers::{expect_status, spawn_app_with, TestApp};

/// A TCP proxy in front of PostgreSQL that can make the connections that issued `LISTEN` go
/// deaf: it stops passing their bytes on, and keeps them open.
struct DeafeningProxy {
    port: u16,
    deaf: Arc<AtomicBool>,
}

impl DeafeningProxy {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let deaf = Arc::new(AtomicBool::new(false));
        let all_deaf = Arc::clone(&deaf);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect("127.0.0.1:5432").await.unwrap();
                let listening = Arc::new(AtomicBool::new(false));
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let deafen = Deafen {
                    deaf: Arc::clone(&all_deaf),
                    listening: Arc::clone(&listening),
                };
                tokio::spawn(pump(client_read, server_write, deafen.clone(), true));
                tokio::spawn(pump(server_read, client_write, deafen, false));
            }
        });
        Self { port, deaf }
    }

    fn deafen_listeners(&self) {
        self.deaf.store(true, Ordering::SeqCst);
    }
}

#[derive(Clone)]
struct Deafen {
    deaf: Arc<AtomicBool>,
    /// This connection sent `LISTEN`.
    listening: Arc<AtomicBool>,
}

async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    deafen: Deafen,
    from_client: bool,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let Ok(n) = from.read(&mut buffer).await else {
            return;
        };
        if n == 0 {
            return;
        }
        let bytes = &buffer[..n];
        if from_client && bytes.windows(7).any(|w| w.eq_ignore_ascii_case(b"listen ")) {
            deafen.listening.store(true, Ordering::SeqCst);
        }
        if deafen.deaf.load(Ordering::SeqCst) && deafen.listening.load(Ordering::SeqCst) {
            continue; // swallowed: the half-open connection
        }
        if to.write_all(bytes).await.is_err() {
            return;
        }
    }
}

async fn until_listening(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app.authenticator.listener_connected() {
        assert!(Instant::now() < deadline, "the listener never heard itself");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn status_of(app: &TestApp, key: &str) -> StatusCode {
    app.get("/v1/api-keys", key).await.status()
}

#[tokio::test]
async fn a_revocation_reaches_a_replica_whose_listener_went_deaf() {
    let proxy = DeafeningProxy::start().await;
    let port = proxy.port;
    let app = spawn_app_with(|settings| {
        // In clear text, so that the proxy can see which connection listens.
        let url = settings
            .database_url
            .expose_secret()
            .replace(":5432/", &format!(":{port}/"))
            + "?sslmode=disable";
        settings.database_url = url.into();
    })
    .await;
    until_listening(&app).await;
    let (tenant, admin) = app.create_tenant("acme").await;
    let worker = app.create_key(&admin, &["admin"]).await;
    // The key verified and its state is cached.
    expect_status(app.get("/v1/api-keys", &worker.key).await, StatusCode::OK).await;

    proxy.deafen_listeners();
    // Revoked by another process: only a notification could tell this replica.
    let elsewhere = PgPool::connect(&app.database.url()).await.unwrap();
    let vault = Vault::new(elsewhere, app.keystore.clone(), Caches::new(Vec::new()));
    let tenant_id = Uuid::parse_str(tenant["id"].as_str().unwrap()).unwrap();
    let actor = Actor::tenant_key(tenant_id, Uuid::parse_str(&admin.id).unwrap(), "test");
    let worker_id = Uuid::parse_str(&worker.id).unwrap();
    tenancy::revoke_key(&vault, &actor, tenant_id, worker_id)
        .await
        .unwrap();

    // The listener's own pings stop coming back; it stops trusting the caches and reads the
    // key's state from the database. (The key cache alone would keep it for ten minutes.)
    let deadline = Instant::now() + Duration::from_secs(15);
    while status_of(&app, &worker.key).await != StatusCode::UNAUTHORIZED {
        assert!(
            Instant::now() < deadline,
            "a deaf listener kept the revoked key working"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!app.authenticator.listener_connected());
    let metrics = app
        .request(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("spvault_invalidation_listener_losses_total"));
}
