//! `spvault dev`: the vault for a newcomer, in one command. A master key kept in a local file
//! (made on the first run, reused after), the LWA emulator built in, and a demo tenant,
//! application and seller, with a fresh tenant key printed next to a `curl` line that works.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::Actor;
use crate::auth::key;
use crate::config::Settings;
use crate::crypto::Keyring;
use crate::db::api_keys::{self, NewApiKey};
use crate::db::applications::{self, NewApplication};
use crate::db::sellers::{self, NewSeller};
use crate::db::tenants;
use crate::domain::{
    ClientId, DisplayName, MarketplaceIds, Region, Scopes, SellingPartnerId, TenantName,
};
use crate::keystore::{places, KeyStore};
use crate::lwa_emulator::{EmulatorState, LwaEmulator};
use crate::startup::Application;
use crate::telemetry::RequestId;

const KEY_FILE: &str = ".spvault-dev/master-keys";
const DEMO_CLIENT_ID: &str = "amzn1.application-oa2-client.00000000000000000000000000000de0";
const DEMO_SELLER: &str = "ADEMOSELLER1";

/// The dev master key: read from `.spvault-dev/master-keys`, or made and written there.
fn dev_master_keys(path: &Path) -> anyhow::Result<SecretString> {
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read {}", path.display()))?;
        return Ok(SecretString::from(text.trim().to_owned()));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let entry = Keyring::generate_entry(1);
    write_private(path, &entry)?;
    Ok(SecretString::from(entry))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("could not create {}", path.display()))?;
    writeln!(file, "{text}")?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, format!("{text}\n"))
        .with_context(|| format!("could not write {}", path.display()))
}

pub async fn run(mut settings: Settings) -> anyhow::Result<()> {
    if settings.master_keys.is_none() && settings.master_keys_file.is_none() {
        settings.master_keys = Some(dev_master_keys(&PathBuf::from(KEY_FILE))?);
    }
    let emulator = LwaEmulator::start("127.0.0.1:0", Arc::new(EmulatorState::lenient()))
        .context("could not start the LWA emulator")?;
    settings.lwa_endpoint = emulator.token_url();
    let listen = settings.listen.clone();
    let app = Application::build(settings).await?;
    let demo = seed(app.pool(), &app.keystore()).await?;
    let operator = crate::cli::create_operator_key(
        app.pool(),
        &DisplayName::parse("spvault dev").map_err(anyhow::Error::msg)?,
    )
    .await?;
    let base = format!("http://{listen}");
    println!("spvault dev is serving on {base}");
    println!("  LWA emulator:   {}", emulator.token_url());
    println!("  master key:     {KEY_FILE} (reused on the next run)");
    println!("  demo seller:    {}", demo.seller_id);
    println!(
        "  tenant key:     {} (scopes admin, tokens, audit)",
        demo.key.expose_secret()
    );
    println!(
        "  operator key:   {} (manages tenants)",
        operator.expose_secret()
    );
    println!();
    println!("Fetch an access token (run it twice: the second comes from the cache):");
    println!(
        "  curl -s -X POST {base}/v1/sellers/{}/access-token -H 'Authorization: Bearer {}'",
        demo.seller_id,
        demo.key.expose_secret()
    );
    println!("See both deliveries:");
    println!(
        "  curl -s {base}/v1/token-deliveries -H 'Authorization: Bearer {}'",
        demo.key.expose_secret()
    );
    app.run_until_stopped().await?;
    emulator.stop().await;
    Ok(())
}

struct Demo {
    seller_id: Uuid,
    key: SecretString,
}

/// The demo tenant, application and seller (made once), and a new tenant key for this run.
async fn seed(pool: &PgPool, keystore: &KeyStore) -> anyhow::Result<Demo> {
    let name = TenantName::parse("demo").map_err(anyhow::Error::msg)?;
    let issued = key::issue_off_runtime().await?;
    let mut tx = pool.begin().await?;
    let tenant_id = match tenants::find_tenant_by_name(pool, &name).await? {
        Some(tenant) => tenant.id,
        None => {
            let id = Uuid::now_v7();
            tenants::insert_tenant(&mut tx, id, &name).await?;
            keystore.create_data_key(&mut tx, id).await?;
            id
        }
    };
    let actor = Actor {
        tenant_id: Some(tenant_id),
        api_key_id: issued.id,
        request_id: RequestId("spvault-dev".into()),
    };
    api_keys::insert_api_key(
        &mut tx,
        NewApiKey {
            id: issued.id,
            tenant_id: Some(tenant_id),
            name: &DisplayName::parse("spvault dev").map_err(anyhow::Error::msg)?,
            scopes: &Scopes::all(),
            key_hash: &issued.hash,
            expires_at: None,
        },
    )
    .await?;
    actor
        .record(&mut tx, "api_key.created", "api_key", issued.id)
        .await?;
    tx.commit().await?;

    let client_id = ClientId::parse(DEMO_CLIENT_ID).map_err(anyhow::Error::msg)?;
    let application_id =
        match applications::find_application_by_client_id(pool, tenant_id, &client_id).await? {
            Some(app) => app.id,
            None => {
                let id = Uuid::now_v7();
                let secret = SecretString::from("amzn1.oa2-cs.v1.demo-secret");
                let sealed = keystore
                    .seal(&places::client_secret(tenant_id, id), &secret)
                    .await?;
                let mut tx = pool.begin().await?;
                applications::insert_application(
                    &mut tx,
                    NewApplication {
                        id,
                        tenant_id,
                        name: &DisplayName::parse("demo app").map_err(anyhow::Error::msg)?,
                        client_id: &client_id,
                        sealed_secret: &sealed,
                        secret_expires_at: None,
                    },
                )
                .await?;
                actor
                    .record(&mut tx, "application.created", "application", id)
                    .await?;
                tx.commit().await?;
                id
            }
        };

    let partner = SellingPartnerId::parse(DEMO_SELLER).map_err(anyhow::Error::msg)?;
    let seller_id =
        match sellers::find_seller_by_partner(pool, application_id, &partner, Region::Na).await? {
            Some(seller) => seller.id,
            None => {
                let id = Uuid::now_v7();
                let token = SecretString::from("Atzr|IwEBI-demo-refresh-token");
                let sealed = keystore
                    .seal(&places::refresh_token(tenant_id, id), &token)
                    .await?;
                let mut tx = pool.begin().await?;
                sellers::insert_seller(
                    &mut tx,
                    NewSeller {
                        id,
                        tenant_id,
                        application_id,
                        selling_partner_id: &partner,
                        region: Region::Na,
                        sealed_refresh_token: &sealed,
                        external_id: None,
                        marketplace_ids: &MarketplaceIds::parse(&["ATVPDKIKX0DER".into()])
                            .map_err(anyhow::Error::msg)?,
                    },
                )
                .await?;
                actor
                    .record(&mut tx, "seller.created", "seller", id)
                    .await?;
                tx.commit().await?;
                id
            }
        };
    Ok(Demo {
        seller_id,
        key: issued.key,
    })
}
