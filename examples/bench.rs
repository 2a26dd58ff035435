//! The benchmark harness's helper (`bench/run` drives it; see BENCHMARKS.md).
//!
//!   bench seed --database URL --name NAME --sellers N --hot H --out DIR
//!       a tenant with a tokens key, an application and N sellers (refresh tokens sealed like
//!       the vault seals them), imported in bulk through the workflows; DIR gets key, client_id and the ids of H sellers
//!   bench warm --url URL --key KEY --ids FILE [--concurrency C] [--rdt 1]
//!       one access-token request per seller id (the cache is warm afterwards); with `--rdt 1`,
//!       one Restricted Data Token request each instead (the body of `bench/rdt.lua`)
//!   bench overhead --url URL --key KEY --ids FILE --lwa URL --client-id ID [--n N]
//!       median latency of cold fetches (an exchange each) and of the same exchange sent to the
//!       emulator directly
//!   bench burst --urls URL,URL,... --key KEY --seller ID [--n N]
//!       N concurrent cold requests for one seller spread over the vault processes
//!   bench wave --url URL --key KEY --ids FILE --probe-key KEY --probe-ids FILE
//!       one cold request for every seller in FILE, all at once; meanwhile, cached fetches of
//!       the probe sellers, one after another on 4 connections: how long the wave took to
//!       serve, and the probes' latency meanwhile
//!   bench busy --url URL --key KEY --seller ID [--seconds S] [--concurrency C]
//!       one seller's token fetched without pause for S seconds: the slowest request, and p99
//!   bench ceiling --database URL --seed DIR [--seconds S] [--concurrency C]
//!       the audit path alone: C tasks (64) each recording one delivery after another through
//!       the vault's own delivery writers (its pool, statement and commit pipeline), with no
//!       HTTP, key check or cache in front, for S seconds (15) after 2 of warm-up; the rows
//!       committed a second are what the cached fetch could reach with C requests in flight if
//!       everything before the delivery row cost nothing

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretString};
use spvault::config::Settings;
use spvault::domain::{
    ClientId, ClientSecret, DisplayName, RefreshToken, Region, SellingPartnerId, TenantName,
};
use spvault::invalidation::Caches;
use spvault::keystore::KeyStore;
use spvault::workflows::credentials::applications::{self, NewApp};
use spvault::workflows::credentials::sellers::{import as import_sellers, ImportedSeller};
use spvault::workflows::tenancy;
use spvault::workflows::tokens::{Source, Via};
use spvault::workflows::trail::deliveries::{DeliveryWriter, NewTokenDelivery};
use spvault::workflows::trail::Actor;
use spvault::workflows::Vault;
use tokio::task::JoinSet;
use uuid::Uuid;

fn parsed<T>(parse: Result<T, String>) -> anyhow::Result<T> {
    parse.map_err(anyhow::Error::msg)
}

fn arg(args: &[String], name: &str) -> anyhow::Result<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .with_context(|| format!("missing {name}"))
}

fn arg_or(args: &[String], name: &str, default: usize) -> anyhow::Result<usize> {
    match arg(args, name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name} must be a number")),
        Err(_) => Ok(default),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("seed") => seed(&args).await,
        Some("warm") => warm(&args).await,
        Some("overhead") => overhead(&args).await,
        Some("burst") => burst(&args).await,
        Some("wave") => wave(&args).await,
        Some("busy") => busy(&args).await,
        Some("ceiling") => ceiling(&args).await,
        _ => bail!(
            "usage: bench seed|warm|overhead|burst|wave|busy|ceiling … (see examples/bench.rs)"
        ),
    }
}

async fn seed(args: &[String]) -> anyhow::Result<()> {
    let mut settings = Settings::with_database(&arg(args, "--database")?);
    settings.master_keys = Some(SecretString::from(
        std::env::var("SPVAULT_MASTER_KEYS").context("SPVAULT_MASTER_KEYS")?,
    ));
    let sellers = arg_or(args, "--sellers", 10_000)?;
    let hot = arg_or(args, "--hot", sellers)?.min(sellers);
    let out = std::path::PathBuf::from(arg(args, "--out")?);
    let pool = spvault::startup::prepare_database(&settings).await?;
    let keystore = KeyStore::new(settings.keyring()?, pool.clone(), Default::default());
    keystore.verify_against_database().await?;
    let vault = Vault::new(pool, Arc::new(keystore), Caches::new(Vec::new()));
    let actor = Actor::command_line(None, "bench-seed");

    let name = parsed(TenantName::parse(&arg(args, "--name")?))?;
    let key_name = parsed(DisplayName::parse("bench"))?;
    let (tenant, issued) = tenancy::create_tenant(&vault, &actor, &name, &key_name).await?;
    let actor = actor.in_tenant(tenant.id);
    let client_id = parsed(ClientId::parse(&format!(
        "amzn1.application-oa2-client.{}",
        Uuid::new_v4().simple()
    )))?;
    let new = NewApp {
        name: &parsed(DisplayName::parse("bench app"))?,
        client_id: &client_id,
        client_secret: &parsed(ClientSecret::parse(&SecretString::from(
            "amzn1.oa2-cs.v1.bench",
        )))?,
        client_secret_expires_at: None,
        solution_id: None,
        draft: false,
        redirect_uri: None,
        auto_rotate: false,
        sandbox: false,
    };
    let application = applications::create(&vault, &actor, tenant.id, new).await?;

    let started = Instant::now();
    let mut hot_ids = Vec::with_capacity(hot);
    for batch_start in (0..sellers).step_by(10_000) {
        let batch = (batch_start..(batch_start + 10_000).min(sellers))
            .map(|i| {
                let token = format!("Atzr|bench-{i}-{}", Uuid::new_v4().simple());
                Ok(ImportedSeller {
                    selling_partner_id: parsed(SellingPartnerId::parse(&format!("A{i:012}")))?,
                    region: Region::Na,
                    refresh_token: parsed(RefreshToken::parse(&SecretString::from(token)))?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let ids = import_sellers(&vault, &actor, tenant.id, application.id, &batch).await?;
        hot_ids.extend(ids.into_iter().take(hot - hot_ids.len()));
    }
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("key"), issued.key.expose_secret())?;
    std::fs::write(out.join("client_id"), client_id.as_str())?;
    std::fs::write(out.join("tenant_id"), tenant.id.to_string())?;
    std::fs::write(out.join("application_id"), application.id.to_string())?;
    std::fs::write(out.join("api_key_id"), issued.row.id.to_string())?;
    let ids: Vec<String> = hot_ids.iter().map(Uuid::to_string).collect();
    std::fs::write(out.join("hot_ids"), ids.join("\n") + "\n")?;
    eprintln!(
        "seeded {sellers} sellers ({hot} hot) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn read_ids(path: &str) -> anyhow::Result<Vec<String>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a client")
}

async fn fetch(client: &reqwest::Client, url: &str, key: &str, seller: &str) -> anyhow::Result<()> {
    let response = client
        .post(format!("{url}/v1/sellers/{seller}/access-token"))
        .bearer_auth(key)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!(
            "{} for seller {seller}: {}",
            response.status(),
            response.text().await?
        );
    }
    Ok(())
}

/// The resource set `bench/rdt.lua` asks for.
const RDT_BODY: &str = r#"{"restricted_resources":[{"method":"GET","path":"/orders/v0/orders/902-1845936-5435065/address"}]}"#;

async fn fetch_rdt(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    seller: &str,
) -> anyhow::Result<()> {
    let response = client
        .post(format!("{url}/v1/sellers/{seller}/restricted-data-token"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(RDT_BODY)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!(
            "{} for seller {seller}'s RDT: {}",
            response.status(),
            response.text().await?
        );
    }
    Ok(())
}

async fn warm(args: &[String]) -> anyhow::Result<()> {
    let (url, key) = (arg(args, "--url")?, arg(args, "--key")?);
    let ids = read_ids(&arg(args, "--ids")?)?;
    let concurrency = arg_or(args, "--concurrency", 32)?;
    let rdt = arg_or(args, "--rdt", 0)? == 1;
    let started = Instant::now();
    let client = client();
    let mut tasks = JoinSet::new();
    let mut pending = ids.into_iter();
    let mut done = 0usize;
    loop {
        while tasks.len() < concurrency {
            let Some(id) = pending.next() else { break };
            let (client, url, key) = (client.clone(), url.clone(), key.clone());
            tasks.spawn(async move {
                if rdt {
                    fetch_rdt(&client, &url, &key, &id).await
                } else {
                    fetch(&client, &url, &key, &id).await
                }
            });
        }
        match tasks.join_next().await {
            Some(result) => {
                result??;
                done += 1;
            }
            None => break,
        }
    }
    eprintln!(
        "warmed {done} sellers in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

async fn overhead(args: &[String]) -> anyhow::Result<()> {
    let (url, key) = (arg(args, "--url")?, arg(args, "--key")?);
    let (lwa, client_id) = (arg(args, "--lwa")?, arg(args, "--client-id")?);
    let ids = read_ids(&arg(args, "--ids")?)?;
    let n = arg_or(args, "--n", 200)?.min(ids.len());
    let client = client();
    // Connections warm first, on both sides.
    for _ in 0..20 {
        client.get(format!("{url}/healthz")).send().await?;
    }
    let mut cold = Vec::with_capacity(n);
    let mut direct = Vec::with_capacity(n);
    for (i, id) in ids.iter().take(n).enumerate() {
        let started = Instant::now();
        fetch(&client, &url, &key, id).await?;
        cold.push(started.elapsed());
        let form = format!(
            "grant_type=refresh_token&refresh_token=Atzr%7Cdirect-{i}&client_id={client_id}&client_secret=s"
        );
        let started = Instant::now();
        let response = client
            .post(&lwa)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await?;
        response.bytes().await?;
        direct.push(started.elapsed());
    }
    let (cold, direct) = (median_ms(cold), median_ms(direct));
    println!(
        "{{\"cold_fetch_p50_ms\": {cold:.3}, \"emulator_p50_ms\": {direct:.3}, \"overhead_p50_ms\": {:.3}, \"n\": {n}}}",
        cold - direct
    );
    Ok(())
}

async fn burst(args: &[String]) -> anyhow::Result<()> {
    let urls: Vec<String> = arg(args, "--urls")?.split(',').map(str::to_owned).collect();
    let (key, seller) = (arg(args, "--key")?, arg(args, "--seller")?);
    let n = arg_or(args, "--n", 1000)?;
    let client = client();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let (client, url, key, seller, barrier) = (
            client.clone(),
            urls[i % urls.len()].clone(),
            key.clone(),
            seller.clone(),
            barrier.clone(),
        );
        tasks.spawn(async move {
            barrier.wait().await;
            fetch(&client, &url, &key, &seller).await
        });
    }
    let mut ok = 0;
    while let Some(result) = tasks.join_next().await {
        if result?.is_ok() {
            ok += 1;
        }
    }
    println!("{{\"requests\": {n}, \"ok\": {ok}}}");
    Ok(())
}

/// The p-th percentile (0–100) of `samples`, in milliseconds.
fn percentile_ms(mut samples: Vec<Duration>, p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort();
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank].as_secs_f64() * 1000.0
}

async fn wave(args: &[String]) -> anyhow::Result<()> {
    let (url, key) = (arg(args, "--url")?, arg(args, "--key")?);
    let ids = read_ids(&arg(args, "--ids")?)?;
    let probe_key = arg(args, "--probe-key")?;
    let probe_ids = read_ids(&arg(args, "--probe-ids")?)?;
    let client = client();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The probes stand for other tenants' backends: their own thread, runtime and connections,
    // so that what they measure is the vault, not this tool's queue of the wave's 1,000 tasks.
    let probes = {
        let (url, done) = (url.clone(), done.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(probe(&url, &probe_key, &probe_ids, &done))
        })
    };
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(ids.len()));
    let started = Instant::now();
    let mut cold = JoinSet::new();
    for seller in &ids {
        let (client, url, key, seller, barrier) = (
            client.clone(),
            url.clone(),
            key.clone(),
            seller.clone(),
            barrier.clone(),
        );
        cold.spawn(async move {
            barrier.wait().await;
            fetch(&client, &url, &key, &seller).await
        });
    }
    let mut ok = 0;
    while let Some(result) = cold.join_next().await {
        if result?.is_ok() {
            ok += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let latencies = probes
        .join()
        .map_err(|_| anyhow::anyhow!("the probes' thread panicked"))??;
    println!(
        "{{\"sellers\": {}, \"ok\": {ok}, \"seconds\": {seconds:.3}, \"probe_requests\": {}, \"probe_p99_ms\": {:.2}}}",
        ids.len(),
        latencies.len(),
        percentile_ms(latencies, 99.0)
    );
    Ok(())
}

/// Four workers fetching cached tokens of `ids` one after another until `done`: the latencies.
async fn probe(
    url: &str,
    key: &str,
    ids: &[String],
    done: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<Vec<Duration>> {
    let client = client();
    let workers = (0..4).map(|worker| {
        let client = &client;
        async move {
            let mut latencies = Vec::new();
            let mut i = worker;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                fetch(client, url, key, &ids[i % ids.len()]).await?;
                latencies.push(started.elapsed());
                i += 4;
            }
            anyhow::Ok(latencies)
        }
    });
    let mut latencies = Vec::new();
    for result in futures_util::future::join_all(workers).await {
        latencies.extend(result?);
    }
    Ok(latencies)
}

async fn busy(args: &[String]) -> anyhow::Result<()> {
    let (url, key, seller) = (
        arg(args, "--url")?,
        arg(args, "--key")?,
        arg(args, "--seller")?,
    );
    let seconds = arg_or(args, "--seconds", 12)?;
    let concurrency = arg_or(args, "--concurrency", 8)?;
    let client = client();
    let began = Instant::now();
    let until = began + Duration::from_secs(seconds as u64);
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (client, url, key, seller) = (client.clone(), url.clone(), key.clone(), seller.clone());
        workers.spawn(async move {
            // (When each request started, since the run began; how long it took.)
            let mut requests = Vec::new();
            while Instant::now() < until {
                let started = Instant::now();
                fetch(&client, &url, &key, &seller).await?;
                requests.push((started - began, started.elapsed()));
            }
            anyhow::Ok(requests)
        });
    }
    let mut requests = Vec::new();
    while let Some(result) = workers.join_next().await {
        requests.extend(result??);
    }
    let latencies: Vec<Duration> = requests.iter().map(|(_, took)| *took).collect();
    let max = latencies.iter().max().copied().unwrap_or_default();
    // The slowest requests and when they started, to set beside the refreshes.
    requests.sort_by_key(|(_, took)| std::cmp::Reverse(*took));
    let slowest: Vec<String> = requests
        .iter()
        .take(5)
        .map(|(at, took)| {
            format!(
                "[{:.3}, {:.2}]",
                at.as_secs_f64(),
                took.as_secs_f64() * 1000.0
            )
        })
        .collect();
    let over_10_ms = latencies.iter().filter(|l| l.as_millis() > 10).count();
    println!(
        "{{\"requests\": {}, \"max_ms\": {:.2}, \"p99_ms\": {:.2}, \"over_10_ms\": {over_10_ms}, \"slowest_at_s_ms\": [{}]}}",
        latencies.len(),
        max.as_secs_f64() * 1000.0,
        percentile_ms(latencies, 99.0),
        slowest.join(", ")
    );
    Ok(())
}

async fn ceiling(args: &[String]) -> anyhow::Result<()> {
    let settings = Settings::with_database(&arg(args, "--database")?);
    let seed = std::path::PathBuf::from(arg(args, "--seed")?);
    let id = |name: &str| -> anyhow::Result<Uuid> {
        let text = std::fs::read_to_string(seed.join(name)).with_context(|| name.to_owned())?;
        Ok(text.trim().parse()?)
    };
    let (tenant_id, application_id, api_key_id) =
        (id("tenant_id")?, id("application_id")?, id("api_key_id")?);
    let sellers: Arc<Vec<Uuid>> = Arc::new(
        read_ids(&seed.join("hot_ids").to_string_lossy())?
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()?,
    );
    if sellers.is_empty() {
        bail!("no seller ids in the seed's hot_ids");
    }
    let seconds = arg_or(args, "--seconds", 15)? as u64;
    let concurrency = arg_or(args, "--concurrency", 64)?;

    let readiness = Arc::new(spvault::readiness::Readiness::default());
    let task = spvault::background::Task::new("delivery_writer", readiness);
    let (writer, _supervisors) =
        DeliveryWriter::start(spvault::startup::delivery_pool(&settings)?, task)?;
    let warm_up = Duration::from_secs(2);
    let started = Instant::now();
    let measured_until = started + warm_up + Duration::from_secs(seconds);
    let mut tasks = JoinSet::new();
    for n in 0..concurrency {
        let (writer, sellers) = (writer.clone(), Arc::clone(&sellers));
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut i = n;
            loop {
                let asked = Instant::now();
                if asked >= measured_until {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                i = (i + 7_919) % sellers.len();
                let row = NewTokenDelivery {
                    id: Uuid::now_v7(),
                    tenant_id,
                    issue_id: Uuid::now_v7(),
                    seller_id: Some(sellers[i]),
                    application_id,
                    api_key_id,
                    source: Source::Cache.as_str(),
                    via: Via::V1.as_str(),
                    kind: "access_token",
                    delivered_at: chrono::Utc::now(),
                    request_id: Uuid::now_v7().to_string(),
                    client_ip: "127.0.0.1".to_owned(),
                    proxy: None,
                };
                // Bounded: writers that cannot reach the database retry for ever.
                tokio::time::timeout(Duration::from_secs(30), writer.record(row))
                    .await
                    .context("a delivery was not committed within 30 s")?
                    .map_err(|err| anyhow::anyhow!("{err}"))?;
                if asked >= started + warm_up {
                    latencies.push(asked.elapsed());
                }
            }
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done??);
    }
    let rows = latencies.len();
    let report = serde_json::json!({
        "concurrency": concurrency,
        "seconds": seconds,
        "rows": rows,
        "rows_per_second": rows as f64 / seconds as f64,
        "p50_ms": percentile_ms(latencies.clone(), 50.0),
        "p99_ms": percentile_ms(latencies, 99.0),
    });
    println!("{report}");
    Ok(())
}
