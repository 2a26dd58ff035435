//! `spvault dev`: the vault for a newcomer, in one command. A master key kept in a local file
//! (made on the first run, reused after), the LWA emulator built in, and a demo tenant,
//! application and seller, with a fresh tenant key printed next to a `curl` line that works.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::config::Settings;
use crate::crypto::Keyring;
use crate::domain::{
    ClientId, ClientSecret, DisplayName, LinkLifetime, MarketplaceIds, Partner, RefreshToken,
    Region, Scopes, SellingPartnerId, SolutionId, TenantName,
};
use crate::emulator::{EmulatorState, LwaEmulator};
use crate::startup::Application;
use crate::workflows::credentials::applications::{self, ApplicationChanges, NewApp};
use crate::workflows::credentials::sellers::{self, NewSellerAuthorization};
use crate::workflows::onboarding::{NewLink, Onboarding};
use crate::workflows::tenancy::{self, KeySpec};
use crate::workflows::trail::Actor;
use crate::workflows::Vault;

const KEY_FILE: &str = ".spvault-dev/master-keys";
const DEMO_CLIENT_ID: &str = "amzn1.application-oa2-client.00000000000000000000000000000de0";
const DEMO_SELLER: &str = "ADEMOSELLER1";
const DEMO_SOLUTION_ID: &str = "amzn1.sp.solution.00000000-0000-0000-0000-00000000de00";

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

/// The restricted operation the demo's Restricted Data Token covers (the emulator plays it).
const DEMO_ORDER_PATH: &str = "/orders/v0/orders/902-1845936-5435065/address";

pub async fn run(mut settings: Settings) -> anyhow::Result<()> {
    if settings.master_keys.is_none() && settings.master_keys_file.is_none() {
        settings.master_keys = Some(dev_master_keys(&PathBuf::from(KEY_FILE))?);
    }
    let emulator = LwaEmulator::start("127.0.0.1:0", Arc::new(EmulatorState::lenient()))
        .context("could not start the LWA emulator")?;
    emulator
        .state
        .register_solution(DEMO_SOLUTION_ID, DEMO_CLIENT_ID);
    settings.lwa_endpoint = emulator.token_url();
    settings.seller_central_url = Some(emulator.seller_central_url());
    // The emulator plays the SP-API operations the vault calls itself (secret rotation).
    settings.spapi_endpoint = Some(emulator.sp_api_url());
    let listen = settings.listen.clone();
    let app = Application::build(settings).await?;
    let demo = seed(&app.vault()).await?;
    let operator =
        tenancy::create_operator_key(app.pool(), &parsed(DisplayName::parse("spvault dev"))?)
            .await?;
    let base = format!("http://{listen}");
    let link = onboarding_link(&app.onboarding(), &demo).await?;
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
    println!();
    println!("Fetch a Restricted Data Token for an order's address (cached per resource set), and");
    println!(
        "call the emulated getOrderAddress with it ({}):",
        emulator.sp_api_url()
    );
    println!(
        "  curl -s -X POST {base}/v1/sellers/{}/restricted-data-token -H 'Authorization: Bearer {}' \\\n    \
         -H 'Content-Type: application/json' \\\n    \
         -d '{{\"restricted_resources\": [{{\"method\": \"GET\", \"path\": \"{DEMO_ORDER_PATH}\"}}]}}'",
        demo.seller_id,
        demo.key.expose_secret()
    );
    println!(
        "  curl -s {}{DEMO_ORDER_PATH} -H 'x-amz-access-token: <its restricted_data_token>'",
        emulator.sp_api_url()
    );
    println!();
    println!("Onboard a seller: open this link in a browser (it works once, for an hour), click");
    println!("Authorize on the emulated Seller Central, and the new seller is in GET /v1/sellers:");
    println!("  {}", link.expose_secret());
    app.run_until_stopped().await?;
    emulator.stop().await;
    Ok(())
}

struct Demo {
    tenant_id: Uuid,
    application_id: Uuid,
    seller_id: Uuid,
    key: SecretString,
}

/// A consent link for the demo application (onto the emulated Seller Central).
async fn onboarding_link(onboarding: &Onboarding, demo: &Demo) -> anyhow::Result<SecretString> {
    let actor = Actor::command_line(Some(demo.tenant_id), "spvault-dev");
    let new = NewLink {
        application_id: demo.application_id,
        region: Region::Na,
        marketplace_id: Some("ATVPDKIKX0DER"),
        partner: Partner::Seller,
        external_id: None,
        return_url: None,
        lifetime: parsed(LinkLifetime::parse(None))?,
        appstore: None,
    };
    Ok(onboarding
        .create_link(&actor, demo.tenant_id, new)
        .await?
        .url)
}

fn parsed<T>(parse: Result<T, String>) -> anyhow::Result<T> {
    parse.map_err(anyhow::Error::msg)
}

/// The demo tenant, application and seller (made once), and a new tenant key for this run.
async fn seed(vault: &Vault) -> anyhow::Result<Demo> {
    let name = parsed(TenantName::parse("demo"))?;
    let key_name = parsed(DisplayName::parse("spvault dev"))?;
    let actor = Actor::command_line(None, "spvault-dev");
    let (tenant_id, key) = match tenancy::find_tenant_by_name(vault, &name).await? {
        Some(tenant) => {
            let spec = KeySpec {
                name: &key_name,
                scopes: &Scopes::all(),
                expires_at: None,
            };
            let actor = actor.in_tenant(tenant.id);
            (
                tenant.id,
                tenancy::issue_key(vault, &actor, tenant.id, spec).await?,
            )
        }
        None => {
            let (tenant, key) = tenancy::create_tenant(vault, &actor, &name, &key_name).await?;
            (tenant.id, key)
        }
    };
    let actor = actor.in_tenant(tenant_id);

    let client_id = parsed(ClientId::parse(DEMO_CLIENT_ID))?;
    let application_id = match applications::find_by_client_id(vault, tenant_id, &client_id).await?
    {
        // Made by a version without onboarding: give it its solution id.
        Some(app) if app.solution_id.is_none() => {
            let changes = ApplicationChanges {
                solution_id: Some(Some(&parsed(SolutionId::parse(DEMO_SOLUTION_ID))?)),
                ..ApplicationChanges::default()
            };
            applications::update(vault, &actor, tenant_id, app.id, changes)
                .await?
                .id
        }
        Some(app) => app.id,
        None => {
            let secret = SecretString::from("amzn1.oa2-cs.v1.demo-secret");
            let new = NewApp {
                name: &parsed(DisplayName::parse("demo app"))?,
                client_id: &client_id,
                client_secret: &parsed(ClientSecret::parse(&secret))?,
                client_secret_expires_at: None,
                solution_id: Some(&parsed(SolutionId::parse(DEMO_SOLUTION_ID))?),
                draft: false,
                redirect_uri: None,
                auto_rotate: false,
                sandbox: false,
            };
            applications::create(vault, &actor, tenant_id, new)
                .await?
                .id
        }
    };

    let partner = parsed(SellingPartnerId::parse(DEMO_SELLER))?;
    let seller_id =
        match sellers::find_by_partner(vault, application_id, &partner, Region::Na).await? {
            Some(seller) => seller.id,
            None => {
                let token = SecretString::from("Atzr|IwEBI-demo-refresh-token");
                let new = NewSellerAuthorization {
                    application_id,
                    selling_partner_id: &partner,
                    region: Region::Na,
                    refresh_token: &parsed(RefreshToken::parse(&token))?,
                    external_id: None,
                    marketplace_ids: &parsed(MarketplaceIds::parse(&["ATVPDKIKX0DER".into()]))?,
                };
                sellers::create(vault, &actor, tenant_id, new).await?.id
            }
        };
    Ok(Demo {
        tenant_id,
        application_id,
        seller_id,
        key: key.key,
    })
}
