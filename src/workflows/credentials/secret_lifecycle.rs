//! Client secrets that never expire by surprise. Amazon expires an LWA client secret 180 days
//! after it is made; only a rotation makes a new one, which arrives by notification, and the old
//! one then works for 7 more days.
//!
//! - an application keeps its current secret and, until it expires, the previous one (each sealed
//!   in its own place); exchanges fall back to the previous one (`workflows::tokens::exchange`);
//! - [`receive_notification`] applies Amazon's `APPLICATION_OAUTH_CLIENT_NEW_SECRET` and
//!   `APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY`, each notification once per tenant;
//! - [`SecretRotation::rotate`] asks Amazon for a new secret (`rotateApplicationClientSecret`,
//!   with a grantless token from the broker), and [`SecretRotation::run`] does so by itself for
//!   `auto_rotate` applications whose secret expires within the lead time, each claimed by one
//!   replica and asked at most once a day while no new secret arrives.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::amazon::notifications::{Event, Notification};
use crate::amazon::sp_api::{SpApiClient, SpApiFailure, ROTATE_CLIENT_SECRET_PATH};
use crate::crypto::DataKey;
use crate::db::applications::{self, ApplicationRow, PreviousSecret};
use crate::db::cached_tokens;
use crate::domain::{ClientSecret, CredentialKind, Region};
use crate::invalidation::Invalidation;
use crate::keystore::{places, KeyStore};
use crate::workflows::secrets::{not_found, Credential};
use crate::workflows::tokens::{Broker, Requester, Want};
use crate::workflows::trail::Actor;
use crate::workflows::{commit_change, Change, Error, Result, Vault};

/// The grantless scope of `rotateApplicationClientSecret`.
pub const ROTATION_SCOPE: &str = "sellingpartnerapi::client_credential:rotation";

/// How long the previous secret is kept by default when a secret is replaced through the API
/// (Amazon keeps an old secret working as long after a rotation).
pub const DEFAULT_KEEP_PREVIOUS_DAYS: i64 = 7;

/// A rotation is asked of Amazon at most this often per application while no secret arrives.
const ROTATION_RETRY: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// Secrets expiring within this many days without a rotation in flight are warned of daily.
const WARN_DAYS: i64 = 14;

/// Applications claimed by one auto-rotation pass at most (Amazon allows one rotation a minute
/// per application; the pass asks each once).
const CLAIM_BATCH: i64 = 100;

/// A new current secret for an application.
pub struct NewSecret<'a> {
    pub secret: &'a ClientSecret,
    pub expires_at: Option<DateTime<Utc>>,
    /// Until when the replaced secret stays as the previous one (`None` or past: not kept).
    pub keep_previous_until: Option<DateTime<Utc>>,
}

/// A new secret sealed before its transaction begins (sealing may read the tenant's data key).
pub(super) struct Prepared {
    tenant_id: Uuid,
    application_id: Uuid,
    data_key: Arc<DataKey>,
    sealed: Vec<u8>,
    expires_at: Option<DateTime<Utc>>,
    keep_previous_until: Option<DateTime<Utc>>,
}

impl Prepared {
    pub(super) fn invalidation(&self) -> Invalidation {
        Credential::ClientSecret {
            application_id: self.application_id,
        }
        .invalidation()
    }
}

pub(super) async fn prepare(
    vault: &Vault,
    tenant_id: Uuid,
    application_id: Uuid,
    new: &NewSecret<'_>,
) -> Result<Prepared> {
    let data_key = vault
        .keystore
        .data_key(tenant_id)
        .await
        .map_err(|err| Error::secret(err, CredentialKind::ClientSecret))?;
    let sealed = KeyStore::seal_with(
        &data_key,
        &places::client_secret(tenant_id, application_id),
        new.secret.secret(),
    );
    Ok(Prepared {
        tenant_id,
        application_id,
        data_key,
        sealed,
        expires_at: new.expires_at,
        keep_previous_until: new.keep_previous_until,
    })
}

/// Installs a prepared secret in `conn`'s transaction: the current one becomes the previous one
/// (sealed again in its own place) if it is to be kept, grantless tokens are dropped, and the
/// application is `active` with no rotation awaited. `None` if the application does not exist.
pub(super) async fn install(
    conn: &mut PgConnection,
    new: &Prepared,
) -> Result<Option<ApplicationRow>> {
    let (tenant_id, id) = (new.tenant_id, new.application_id);
    let Some(old) = applications::lock_current_secret(conn, tenant_id, id).await? else {
        return Ok(None);
    };
    let kept = match new.keep_previous_until.filter(|until| *until > Utc::now()) {
        Some(until) => {
            match KeyStore::open_with(&new.data_key, &places::client_secret(tenant_id, id), &old) {
                Ok(secret) => Some((
                    KeyStore::seal_with(
                        &new.data_key,
                        &places::previous_client_secret(tenant_id, id),
                        &secret,
                    ),
                    until,
                )),
                Err(_) => {
                    tracing::warn!(application_id = %id,
                        "the replaced client secret does not open; it is not kept as the previous one");
                    None
                }
            }
        }
        None => None,
    };
    let previous = kept.as_ref().map(|(sealed, until)| PreviousSecret {
        sealed,
        until: *until,
    });
    let row = applications::replace_client_secret(
        conn,
        tenant_id,
        id,
        &new.sealed,
        new.expires_at,
        previous,
    )
    .await?;
    cached_tokens::drop_grantless_tokens_of_application(conn, id).await?;
    Ok(row)
}

/// What became of a notification.
#[derive(Debug)]
pub struct Received {
    pub notification_id: String,
    pub notification_type: String,
    pub application_id: Option<Uuid>,
    /// Whether it changed anything (a replay or another type does not).
    pub applied: bool,
    /// Whether the vault reads this type at all.
    pub understood: bool,
}

/// Applies one of Amazon's notifications for `tenant_id`, once: the same notification again
/// changes nothing. A notification about a client id the tenant has no application for is
/// `NotFound`.
pub async fn receive_notification(
    rotation: &SecretRotation,
    actor: &Actor,
    tenant_id: Uuid,
    notification: Notification,
) -> Result<Received> {
    let vault = &rotation.0.vault;
    let Notification {
        notification_id,
        notification_type,
        event,
    } = notification;
    let mut received = Received {
        notification_id,
        notification_type,
        application_id: None,
        applied: false,
        understood: true,
    };
    let client_id = match &event {
        Event::NewSecret { client_id, .. } | Event::SecretExpiry { client_id, .. } => client_id,
        Event::Other => {
            received.understood = false;
            return Ok(received);
        }
    };
    let application =
        applications::find_application_by_client_id(&vault.pool, tenant_id, client_id)
            .await?
            .ok_or_else(|| Error::not_found("an application with this client id"))?;
    received.application_id = Some(application.id);
    let id = &received.notification_id;
    if applications::find_notification(&vault.pool, tenant_id, id)
        .await?
        .is_some()
    {
        return Ok(received);
    }
    match event {
        Event::NewSecret {
            new_secret,
            new_expires_at,
            old_expires_at,
            ..
        } => {
            let new = NewSecret {
                secret: &new_secret,
                expires_at: Some(new_expires_at),
                keep_previous_until: Some(old_expires_at),
            };
            let prepared = prepare(vault, tenant_id, application.id, &new).await?;
            let mut tx = vault.pool.begin().await?;
            if !applications::record_notification(
                &mut tx,
                tenant_id,
                id,
                &received.notification_type,
                application.id,
            )
            .await?
            {
                return Ok(received); // applied meanwhile (the transaction rolls back)
            }
            install(&mut tx, &prepared)
                .await?
                .ok_or_else(|| Error::not_found("an application with this client id"))?;
            let change = Change::new(
                "application.client_secret_received",
                "application",
                application.id,
            )
            .making_stale(prepared.invalidation());
            commit_change(vault, tx, actor, change).await?;
            received.applied = true;
        }
        Event::SecretExpiry { expires_at, .. } => {
            let mut tx = vault.pool.begin().await?;
            if !applications::record_notification(
                &mut tx,
                tenant_id,
                id,
                &received.notification_type,
                application.id,
            )
            .await?
            {
                return Ok(received);
            }
            let row =
                applications::record_secret_expiry(&mut tx, tenant_id, application.id, expires_at)
                    .await?
                    .ok_or_else(|| Error::not_found("an application with this client id"))?;
            let change = Change::new(
                "application.client_secret_expiry_noticed",
                "application",
                application.id,
            );
            commit_change(vault, tx, actor, change).await?;
            received.applied = true;
            let asked_lately = row
                .rotation_requested_at
                .is_some_and(|at| at > Utc::now() - ROTATION_RETRY);
            if row.auto_rotate && !asked_lately {
                // The notice is applied whatever Amazon says now; the auto-rotation pass asks
                // again later if this fails.
                if let Err(err) = rotation.rotate(actor, tenant_id, application.id).await {
                    tracing::warn!(application_id = %application.id, error = %err,
                        "the rotation an expiry notice asked for failed; auto-rotation retries");
                }
            }
        }
        Event::Other => unreachable!("handled above"),
    }
    Ok(received)
}

/// Asks Amazon for new client secrets: on demand, and by itself for `auto_rotate` applications.
#[derive(Clone)]
pub struct SecretRotation(Arc<Inner>);

struct Inner {
    vault: Vault,
    broker: Broker,
    sp_api: SpApiClient,
    lead: chrono::TimeDelta,
}

impl SecretRotation {
    pub fn new(vault: Vault, broker: Broker, sp_api: SpApiClient, lead_days: u32) -> Self {
        Self(Arc::new(Inner {
            vault,
            broker,
            sp_api,
            lead: chrono::TimeDelta::days(i64::from(lead_days)),
        }))
    }

    pub fn vault(&self) -> &Vault {
        &self.0.vault
    }

    /// Asks Amazon to rotate the application's client secret now; the new secret arrives by
    /// notification. Records `rotation_requested_at` and the audit event.
    pub async fn rotate(&self, actor: &Actor, tenant_id: Uuid, id: Uuid) -> Result<ApplicationRow> {
        let pool = &self.0.vault.pool;
        applications::find_application(pool, tenant_id, id)
            .await?
            .ok_or_else(|| not_found("application", id))?;
        // Amazon allows one rotation call a minute: the claim keeps concurrent callers (and
        // replicas) to one, and a second within the minute waits, told so.
        let Some(before) = applications::claim_rotation_request(pool, tenant_id, id).await? else {
            return Err(Error::TooSoon {
                detail: "a new client secret was asked of Amazon less than a minute ago; Amazon \
                         allows one rotation a minute",
                retry_after_secs: 60,
            });
        };
        if let Err(err) = self.ask_amazon(actor, tenant_id, id).await {
            // Not asked after all: the next caller may try at once.
            applications::set_rotation_requested(pool, tenant_id, id, before).await?;
            return Err(err);
        }
        let mut tx = pool.begin().await?;
        let row = applications::set_rotation_requested(&mut *tx, tenant_id, id, Some(Utc::now()))
            .await?
            .ok_or_else(|| not_found("application", id))?;
        let change = Change::new(
            "application.client_secret_rotation_requested",
            "application",
            id,
        );
        commit_change(&self.0.vault, tx, actor, change).await?;
        Ok(row)
    }

    /// `rotateApplicationClientSecret` with a grantless token of the rotation scope (cached and
    /// single flight like every token; used by the vault itself, so no delivery is recorded).
    async fn ask_amazon(&self, actor: &Actor, tenant_id: Uuid, id: Uuid) -> Result<()> {
        let who = Requester::internal(tenant_id, actor.api_key_id(), actor.request_id());
        let token = self
            .0
            .broker
            .grantless_token(&who, id, ROTATION_SCOPE, Want::default())
            .await?;
        // The Application Management API is not regional: any region's host serves it.
        let base = self.0.sp_api.base_url(Region::Na, false);
        match self
            .0
            .sp_api
            .call(
                Method::POST,
                base,
                ROTATE_CLIENT_SECRET_PATH,
                &token.token,
                None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(SpApiFailure::Refused { status, errors }) => {
                Err(Error::SpApiRefused { status, errors })
            }
            Err(SpApiFailure::Unavailable(why)) => Err(Error::SpApiUnavailable(why)),
        }
    }

    /// One auto-rotation pass: claims the `auto_rotate` applications whose secret expires within
    /// the lead time and that were not asked for a rotation in the last day (each claimed by one
    /// replica only), and asks Amazon to rotate each. A failed ask is forgotten, so the next
    /// pass tries again. Returns how many rotations were asked.
    pub async fn rotate_due(&self) -> Result<usize> {
        let now = Utc::now();
        let claimed = applications::claim_due_rotations(
            &self.0.vault.pool,
            now + self.0.lead,
            now - ROTATION_RETRY,
            CLAIM_BATCH,
        )
        .await?;
        let mut asked = 0;
        for due in claimed {
            let request_id = format!("auto-rotation-{}", Uuid::now_v7());
            let actor = Actor::command_line(Some(due.tenant_id), &request_id);
            match self
                .ask_amazon(&actor, due.tenant_id, due.application_id)
                .await
            {
                Ok(()) => {
                    let tx = self.0.vault.pool.begin().await?;
                    let change = Change::new(
                        "application.client_secret_rotation_requested",
                        "application",
                        due.application_id,
                    );
                    commit_change(&self.0.vault, tx, &actor, change).await?;
                    asked += 1;
                }
                Err(err) => {
                    tracing::warn!(application_id = %due.application_id, error = %err,
                        "auto-rotation could not ask Amazon for a new client secret; it tries again later");
                    applications::set_rotation_requested(
                        &self.0.vault.pool,
                        due.tenant_id,
                        due.application_id,
                        due.previously_requested_at,
                    )
                    .await?;
                }
            }
        }
        Ok(asked)
    }

    /// Logs a warning for every application whose secret expires within 14 days with no
    /// rotation in flight (identifiers only).
    pub async fn warn_of_expiries(&self) -> Result<()> {
        let now = Utc::now();
        let unattended = applications::unattended_expiries(
            &self.0.vault.pool,
            now + chrono::TimeDelta::days(WARN_DAYS),
            now - ROTATION_RETRY,
        )
        .await?;
        for app in unattended {
            tracing::warn!(tenant_id = %app.tenant_id, application_id = %app.id,
                expires_at = ?app.client_secret_expires_at,
                "an application's client secret expires within 14 days and no rotation is in flight");
        }
        Ok(())
    }

    /// Runs an auto-rotation pass every `every` (the first `every` after start), and the expiry
    /// warning once a day, for as long as the process runs.
    pub async fn run(self, every: Duration) {
        let every = every.max(Duration::from_secs(1));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let mut warned: Option<tokio::time::Instant> = None;
        loop {
            ticker.tick().await;
            if warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(86_400)) {
                warned = Some(tokio::time::Instant::now());
                if let Err(err) = self.warn_of_expiries().await {
                    tracing::warn!(error = %err, "could not look for expiring client secrets");
                }
            }
            match self.rotate_due().await {
                Ok(0) => {}
                Ok(asked) => {
                    tracing::info!(asked, "auto-rotation asked Amazon for new client secrets")
                }
                Err(err) => tracing::warn!(error = %err, "an auto-rotation pass failed"),
            }
        }
    }
}

/// Counts for `/metrics` (no identifiers).
pub async fn secret_counts(vault: &Vault) -> Result<applications::SecretCounts> {
    Ok(applications::count_secret_states(&vault.pool).await?)
}
