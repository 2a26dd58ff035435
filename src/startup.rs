//! Building and running the service: database, background tasks, HTTP server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::amazon::lwa_client::LwaClient;
use crate::amazon::sp_api::SpApiClient;
use crate::auth::{self, Authenticator, TenantRateLimit, TrustedProxies};
use crate::background::{self, Schedule, Task};
use crate::config::Settings;
use crate::error::ApiError;
use crate::invalidation::{self, Caches};
use crate::keystore::KeyStore;
use crate::readiness::Readiness;
use crate::routes;
use crate::routes::input::{BodyTimeout, MAX_BODY_BYTES};
use crate::routes::lwa_compat::CompatSettings;
use crate::workflows::credentials::secret_lifecycle::SecretRotation;
use crate::workflows::onboarding::{Onboarding, OnboardingUrls};
use crate::workflows::proxy::Proxy;
use crate::workflows::tokens::{Broker, RefreshPolicy, RestrictedDataTokens, TokenCache};
use crate::workflows::trail::deliveries::DeliveryWriter;
use crate::workflows::trail::retention;
use crate::workflows::Vault;
use crate::{db, telemetry, tls};

/// The invalidation listener reconnects at once, then backs off to a few seconds: while it is
/// down, every request reads key and tenant state from the database.
const LISTENER: Schedule = Schedule {
    every: Duration::ZERO,
    first_retry: Duration::from_millis(500),
    max_retry: Duration::from_secs(5),
};
/// Trail partitions and retention.
const HOURLY: Schedule = Schedule {
    every: retention::INTERVAL,
    first_retry: Duration::from_secs(1),
    max_retry: Duration::from_secs(300),
};
const USAGE: Schedule = Schedule {
    every: auth::USAGE_FLUSH_INTERVAL,
    first_retry: Duration::from_secs(1),
    max_retry: auth::USAGE_FLUSH_INTERVAL,
};
const METRICS_UPKEEP: Schedule = Schedule {
    every: Duration::from_secs(5),
    first_retry: Duration::from_secs(1),
    max_retry: Duration::from_secs(5),
};

/// The delivery writers' own connections: every token handed out waits for its delivery row, so
/// the group commits must never queue behind other work for the shared pool (a wave of
/// exchanges, say, each making a few short statements). They make one statement only, whose
/// generic plan (index probes per distinct tenant and seller) is as good as a custom one for any
/// batch: planning it afresh for each batch cost more than executing a small one. (Public for the
/// benchmark tool, which drives the writers alone.)
pub fn delivery_pool(settings: &Settings) -> anyhow::Result<PgPool> {
    Ok(db::pool(
        db::connect_options(&settings.database_url)?
            .application_name(DeliveryWriter::APPLICATION_NAME)
            .options([("plan_cache_mode", "force_generic_plan")]),
        DeliveryWriter::CONNECTIONS,
    ))
}

/// Creates the database if needed, applies migrations and returns a pool.
pub async fn prepare_database(settings: &Settings) -> anyhow::Result<PgPool> {
    db::create_database_if_missing(&settings.database_url).await?;
    let pool = db::pool(
        db::connect_options(&settings.database_url)?,
        settings.db_max_connections,
    );
    db::migrate(&pool).await?;
    db::token_trail::ensure_partitions(&pool)
        .await
        .context("could not create the trail's partitions")?;
    Ok(pool)
}

pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
    authenticator: web::Data<Authenticator>,
    keystore: web::Data<KeyStore>,
    vault: web::Data<Vault>,
    onboarding: web::Data<Onboarding>,
    rotation: SecretRotation,
    background: Vec<JoinHandle<()>>,
}

impl Application {
    /// Binds the listener (port 0 picks a free port) and prepares everything the server needs.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        let keyring = settings.keyring()?;
        // Before anything is touched: an endpoint the policy refuses stops the start.
        let lwa = LwaClient::new(&settings)?;
        let trusted_proxies = web::Data::new(TrustedProxies::from_settings(&settings)?);
        crate::metrics::install();
        let pool = prepare_database(&settings).await?;
        let readiness = Arc::new(Readiness::default());
        let keystore = web::Data::new(KeyStore::new(keyring, pool.clone(), Arc::clone(&readiness)));
        keystore.verify_against_database().await?;

        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("could not listen on {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let urls = onboarding_urls(&settings, listener.local_addr()?)?;

        let authenticator = web::Data::new(Authenticator::new(pool.clone(), &settings));
        let token_cache = Arc::new(TokenCache::new(settings.token_cache_capacity));
        let rdt_cache = Arc::new(TokenCache::bounded(
            settings.rdt_cache_max_entries.max(1),
            settings.rdt_cache_max_bytes.max(1),
        ));
        let caches = Caches::new(vec![
            authenticator.clone().into_inner(),
            keystore.clone().into_inner(),
            token_cache.clone(),
            rdt_cache.clone(),
        ]);
        anyhow::ensure!(
            settings.refresh_ahead_seconds > settings.refresh_skew_seconds,
            "SPVAULT_REFRESH_AHEAD_SECONDS ({}) must be more than SPVAULT_REFRESH_SKEW_SECONDS ({})",
            settings.refresh_ahead_seconds,
            settings.refresh_skew_seconds
        );
        anyhow::ensure!(
            settings.max_concurrent_exchanges > 0,
            "SPVAULT_MAX_CONCURRENT_EXCHANGES must be at least 1"
        );
        let task = |name| Task::new(name, Arc::clone(&readiness));
        let (deliveries, mut background) =
            DeliveryWriter::start(delivery_pool(&settings)?, task("delivery_writer"))
                .context("could not start the delivery writers' thread")?;
        let policy = RefreshPolicy {
            skew_seconds: settings.refresh_skew_seconds,
            ahead_seconds: settings.refresh_ahead_seconds,
            max_concurrent_exchanges: settings.max_concurrent_exchanges,
        };
        let broker = web::Data::new(Broker::new(
            pool.clone(),
            keystore.clone().into_inner(),
            lwa,
            token_cache,
            deliveries.clone(),
            policy,
        ));
        let restricted = web::Data::new(RestrictedDataTokens::new(
            broker.get_ref().clone(),
            SpApiClient::new(&settings)?,
            pool.clone(),
            keystore.clone().into_inner(),
            rdt_cache,
            policy,
        ));
        // Every background task is supervised: a failure is logged, counted in /metrics, shown
        // in /readyz, and retried with backoff (see `background`).
        let invalidations = task("invalidation_listener");
        background.extend([
            background::service(invalidations.clone(), LISTENER, {
                let (pool, caches) = (pool.clone(), caches.clone());
                move || {
                    let invalidations = invalidations.clone();
                    invalidation::listen_once(pool.clone(), caches.clone(), move || {
                        invalidations.succeeded()
                    })
                }
            }),
            background::periodic(task("trail_partitions"), HOURLY, {
                let pool = pool.clone();
                move || {
                    let pool = pool.clone();
                    async move { retention::keep_partitions_ahead(&pool).await }
                }
            }),
            background::periodic(task("trail_retention"), HOURLY, {
                let (pool, days) = (pool.clone(), settings.audit_retention_days);
                move || {
                    let pool = pool.clone();
                    async move { retention::remove_expired(&pool, days).await.map(drop) }
                }
            }),
            background::periodic(task("key_usage_recorder"), USAGE, {
                let (usage, pool) = (authenticator.usage(), pool.clone());
                move || {
                    let (usage, pool) = (Arc::clone(&usage), pool.clone());
                    async move { Ok(usage.write(&pool).await?) }
                }
            }),
            background::periodic(task("metrics_upkeep"), METRICS_UPKEEP, || async {
                crate::metrics::upkeep();
                Ok(())
            }),
        ]);

        let readiness = web::Data::from(readiness);
        let pool_data = web::Data::new(pool.clone());
        let auth_data = authenticator.clone();
        let keystore_data = keystore.clone();
        let broker_data = broker.clone();
        let body_timeout = BodyTimeout(Duration::from_millis(settings.request_timeout_ms));
        let rate_limit = web::Data::new(TenantRateLimit::new(
            settings.tenant_rate_limit_per_second,
            settings.tenant_rate_limit_burst,
        ));
        let compat = web::Data::new(CompatSettings {
            min_ttl_seconds: i64::try_from(settings.compat_min_ttl()).unwrap_or(i64::MAX),
        });
        let vault = web::Data::new(Vault::new(
            pool.clone(),
            keystore.clone().into_inner(),
            caches,
        ));
        let onboarding = web::Data::new(Onboarding::new(
            vault.get_ref().clone(),
            broker.get_ref().clone(),
            urls,
        ));
        let onboarding_data = onboarding.clone();
        let rotation = web::Data::new(SecretRotation::new(
            vault.get_ref().clone(),
            broker.get_ref().clone(),
            SpApiClient::new(&settings)?,
            settings.secret_rotation_lead_days,
        ));
        background.push(tokio::spawn(
            rotation
                .get_ref()
                .clone()
                .run(Duration::from_secs(settings.secret_rotation_check_seconds)),
        ));
        let rotation_handle = rotation.get_ref().clone();
        let proxy = web::Data::new(Proxy::new(
            pool.clone(),
            broker.get_ref().clone(),
            restricted.get_ref().clone(),
            deliveries,
            SpApiClient::new(&settings)?,
        ));
        let document = web::Data::new(crate::openapi::document());
        let vault_data = vault.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(telemetry::request_middleware))
                .app_data(document.clone())
                .app_data(pool_data.clone())
                .app_data(auth_data.clone())
                .app_data(readiness.clone())
                .app_data(keystore_data.clone())
                .app_data(broker_data.clone())
                .app_data(restricted.clone())
                .app_data(compat.clone())
                .app_data(rate_limit.clone())
                .app_data(trusted_proxies.clone())
                .app_data(vault.clone())
                .app_data(onboarding.clone())
                .app_data(rotation.clone())
                .app_data(proxy.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .app_data(body_timeout)
                .app_data(web::PathConfig::default().error_handler(|_, _| {
                    ApiError::NotFound("no resource has that id".into()).into()
                }))
                .app_data(web::QueryConfig::default().error_handler(|err, _| {
                    ApiError::Malformed(format!("the query string is malformed: {err}")).into()
                }))
                .configure(routes::configure)
                .service(crate::openapi::docs())
                .default_service(web::to(routes::not_found))
        })
        // A client that does not finish its request head in time is cut off.
        .client_request_timeout(body_timeout.0)
        .shutdown_timeout(30);
        server = match tls::server_config(&settings)? {
            Some(config) => server.listen_rustls_0_23(listener, config)?,
            None => server.listen(listener)?,
        };
        if let Some(workers) = settings.workers {
            server = server.workers(workers.max(1));
        }

        Ok(Self {
            port,
            server: server.run(),
            pool,
            authenticator,
            keystore,
            vault: vault_data,
            onboarding: onboarding_data,
            rotation: rotation_handle,
            background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn authenticator(&self) -> Arc<Authenticator> {
        self.authenticator.clone().into_inner()
    }

    /// What the workflows act on, for commands that run beside the server (`spvault dev`).
    pub fn vault(&self) -> Vault {
        self.vault.get_ref().clone()
    }

    /// The onboarding workflow (consent links), for `spvault dev`.
    pub fn onboarding(&self) -> Onboarding {
        self.onboarding.get_ref().clone()
    }

    /// Client secret rotation (its auto-rotation pass can be run at will, for tests).
    pub fn secret_rotation(&self) -> SecretRotation {
        self.rotation.clone()
    }

    pub fn keystore(&self) -> Arc<KeyStore> {
        self.keystore.clone().into_inner()
    }

    /// Serves until SIGTERM or SIGINT, then lets in-flight requests finish (up to 30 s).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        for task in self.background {
            task.abort();
        }
        result
    }
}

/// `SPVAULT_PUBLIC_URL` (or the bound address) and `SPVAULT_SELLER_CENTRAL_URL`, checked.
fn onboarding_urls(
    settings: &Settings,
    bound: std::net::SocketAddr,
) -> anyhow::Result<OnboardingUrls> {
    let public_url = settings.public_url(bound);
    let absolute = |name: &str, value: &str| -> anyhow::Result<()> {
        let url = url::Url::parse(value)
            .with_context(|| format!("{name} is not an absolute URL: {value}"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https") && url.host().is_some(),
            "{name} must be an http or https URL: {value}"
        );
        Ok(())
    };
    absolute("SPVAULT_PUBLIC_URL", &public_url)?;
    if let Some(url) = &settings.seller_central_url {
        absolute("SPVAULT_SELLER_CENTRAL_URL", url)?;
    }
    Ok(OnboardingUrls {
        public_url,
        seller_central_url: settings.seller_central_url.clone(),
    })
}
