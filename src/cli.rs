//! The `spvault` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::config::Settings;
use crate::crypto::Keyring;
use crate::domain::DisplayName;
use crate::emulator::{Behaviour, EmulatorState, LwaEmulator};
use crate::keystore::KeyStore;
use crate::startup::{prepare_database, Application};
use crate::telemetry;
use crate::workflows::tenancy;

#[derive(Debug, Parser)]
#[command(
    name = "spvault",
    version,
    about = "A credential vault for the Amazon Selling Partner API"
)]
pub struct Cli {
    /// A TOML file with settings (environment variables win over it).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (the default command).
    Serve,
    /// Run the vault for local development: default address and database, a master key kept in
    /// .spvault-dev/, the LWA emulator built in, and a demo tenant, application and seller.
    Dev,
    /// Run the LWA emulator on its own.
    FakeLwa {
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: String,
        /// Accept only registered clients and refresh tokens (see /_emulator/*).
        #[arg(long)]
        strict: bool,
        /// Lifetime of the tokens it issues, in seconds.
        #[arg(long, default_value_t = 3600)]
        token_lifetime: u64,
        /// Added to every token request, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage operator keys (they manage tenants).
    #[command(subcommand)]
    OperatorKey(OperatorKeyCommand),
    /// Re-wrap every tenant data key under the newest master key (safe while `serve` runs,
    /// safe to interrupt and run again); afterwards older master keys can be removed.
    RotateMasterKey {
        /// Data keys re-wrapped per transaction.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        batch: i64,
    },
    /// Print a fresh `ID:BASE64` master key entry.
    Keygen {
        /// The entry's id; give a higher one than the current key's when rotating.
        #[arg(long, default_value_t = 1)]
        id: i32,
    },
}

#[derive(Debug, Subcommand)]
enum OperatorKeyCommand {
    /// Create an operator key and print it on stdout (nothing else goes to stdout).
    Create {
        #[arg(long)]
        name: String,
    },
    /// List operator keys.
    List,
    /// Revoke an operator key.
    Revoke { id: String },
}

impl Cli {
    pub fn run(self) -> ExitCode {
        match self.execute() {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        }
    }

    fn execute(self) -> anyhow::Result<()> {
        let settings = Settings::load(self.config.as_deref())?;
        let command = self.command.unwrap_or(Command::Serve);
        if let Command::Keygen { id } = command {
            anyhow::ensure!(id > 0, "--id must be a positive integer");
            println!("{}", Keyring::generate_entry(id));
            return Ok(());
        }
        telemetry::init(&settings.log);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("could not start the async runtime")?;
        runtime.block_on(async move {
            match command {
                Command::Serve => serve(settings).await,
                Command::Dev => crate::dev::run(settings).await,
                Command::FakeLwa {
                    listen,
                    strict,
                    token_lifetime,
                    latency_ms,
                } => fake_lwa(&listen, strict, token_lifetime, latency_ms).await,
                Command::Migrate => {
                    prepare_database(&settings).await?;
                    eprintln!("migrations applied");
                    Ok(())
                }
                Command::OperatorKey(cmd) => operator_key(settings, cmd).await,
                Command::RotateMasterKey { batch } => rotate_master_key(settings, batch).await,
                Command::Keygen { .. } => unreachable!("handled before the runtime starts"),
            }
        })
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.listen.clone();
    let app = Application::build(settings).await?;
    tracing::info!(address = %listen, port = app.port(), "spvault is serving");
    app.run_until_stopped().await?;
    tracing::info!("spvault stopped");
    Ok(())
}

async fn fake_lwa(
    listen: &str,
    strict: bool,
    lifetime: u64,
    latency_ms: u64,
) -> anyhow::Result<()> {
    let state = if strict {
        EmulatorState::strict()
    } else {
        EmulatorState::lenient()
    };
    state.set_behaviour(Behaviour {
        token_lifetime_secs: Some(lifetime),
        latency_ms: Some(latency_ms),
        ..Behaviour::default()
    });
    let emulator = LwaEmulator::start(listen, std::sync::Arc::new(state))
        .with_context(|| format!("could not listen on {listen}"))?;
    eprintln!("LWA emulator: {}", emulator.token_url());
    tokio::signal::ctrl_c().await?;
    emulator.stop().await;
    Ok(())
}

async fn rotate_master_key(settings: Settings, batch: i64) -> anyhow::Result<()> {
    let keyring = settings.keyring()?;
    let pool = prepare_database(&settings).await?;
    let keystore = KeyStore::new(keyring, pool, Default::default());
    keystore.verify_against_database().await?;
    let current = keystore.current_master_key_id();
    let done = keystore
        .rotate(batch, |done, total| {
            println!("re-wrapped {done} of {total} tenant data keys under master key {current}");
        })
        .await?;
    println!(
        "done: {done} re-wrapped; every tenant data key is wrapped by master key {current}. \
         Older master keys can now be removed from SPVAULT_MASTER_KEYS."
    );
    Ok(())
}

async fn operator_key(settings: Settings, command: OperatorKeyCommand) -> anyhow::Result<()> {
    let pool = prepare_database(&settings).await?;
    match command {
        OperatorKeyCommand::Create { name } => {
            let name = DisplayName::parse(&name).map_err(|m| anyhow::anyhow!("--name {m}"))?;
            let key = tenancy::create_operator_key(&pool, &name).await?;
            println!("{}", key.expose_secret());
        }
        OperatorKeyCommand::List => {
            for key in tenancy::list_operator_keys(&pool).await? {
                let state = match key.revoked_at {
                    Some(at) => format!("revoked {}", at.to_rfc3339()),
                    None => "active".to_owned(),
                };
                println!(
                    "{}\t{}\t{}\t{state}",
                    key.id,
                    key.name,
                    key.created_at.to_rfc3339()
                );
            }
        }
        OperatorKeyCommand::Revoke { id } => {
            let id = Uuid::try_parse(&id).context("the id is not a key id")?;
            tenancy::revoke_operator_key(&pool, id).await?;
            eprintln!("operator key {id} revoked");
        }
    }
    Ok(())
}
