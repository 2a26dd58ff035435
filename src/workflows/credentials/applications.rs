//! Applications: SP-API app registrations with their LWA client secrets.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db;
pub use crate::db::applications::ApplicationChanges;
pub use crate::db::applications::ApplicationRow;
use crate::db::applications::{self, NewApplication};
use crate::db::sellers::APPLICATION_CONSTRAINT;
use crate::domain::{BrowserUrl, ClientId, ClientSecret, Cursor, Limit, SolutionId};
use crate::workflows::secrets::{conflict, not_found, seal, Credential};
use crate::workflows::trail::Actor;
use crate::workflows::{commit_change, Change, Error, Result, Vault};

const UNIQUE: &[(&str, &str)] = &[
    (
        applications::NAME_CONSTRAINT,
        "an application with this name already exists",
    ),
    (
        applications::CLIENT_ID_CONSTRAINT,
        "an application with this client_id already exists",
    ),
];

/// A new application, parsed.
pub struct NewApp<'a> {
    pub name: &'a crate::domain::DisplayName,
    pub client_id: &'a ClientId,
    pub client_secret: &'a ClientSecret,
    pub client_secret_expires_at: Option<DateTime<Utc>>,
    /// Seller onboarding: the application's id at Amazon, whether it is a draft, and the
    /// redirect URI registered with it (`None`: the vault's own callback).
    pub solution_id: Option<&'a SolutionId>,
    pub draft: bool,
    pub redirect_uri: Option<&'a BrowserUrl>,
    pub auto_rotate: bool,
    /// SP-API calls go to Amazon's sandbox hosts.
    pub sandbox: bool,
}

/// Registers an application of `tenant_id` with its client secret (sealed).
pub async fn create(
    vault: &Vault,
    actor: &Actor,
    tenant_id: Uuid,
    new: NewApp<'_>,
) -> Result<ApplicationRow> {
    let id = Uuid::now_v7();
    let credential = Credential::ClientSecret { application_id: id };
    let sealed = seal(vault, tenant_id, credential, new.client_secret.secret()).await?;
    let mut tx = vault.pool.begin().await?;
    let row = applications::insert_application(
        &mut tx,
        NewApplication {
            id,
            tenant_id,
            name: new.name,
            client_id: new.client_id,
            sealed_secret: &sealed,
            secret_expires_at: new.client_secret_expires_at,
            solution_id: new.solution_id,
            draft: new.draft,
            redirect_uri: new.redirect_uri,
            auto_rotate: new.auto_rotate,
            sandbox: new.sandbox,
        },
    )
    .await
    .map_err(|err| conflict(err, UNIQUE))?;
    let change = Change::new("application.created", "application", id);
    commit_change(vault, tx, actor, change).await?;
    Ok(row)
}

/// A page of the tenant's applications; with `expiring_within_days`, only those whose current
/// secret expires within that many days (or has expired).
pub async fn list(
    vault: &Vault,
    tenant_id: Uuid,
    cursor: Option<Cursor>,
    limit: Limit,
    expiring_within_days: Option<u32>,
) -> Result<Vec<ApplicationRow>> {
    let start = crate::domain::page_start(cursor);
    let expiring_by =
        expiring_within_days.map(|days| Utc::now() + chrono::Duration::days(i64::from(days)));
    Ok(applications::list_applications(&vault.pool, tenant_id, start, limit, expiring_by).await?)
}

pub async fn get(vault: &Vault, tenant_id: Uuid, id: Uuid) -> Result<ApplicationRow> {
    applications::find_application(&vault.pool, tenant_id, id)
        .await?
        .ok_or_else(|| not_found("application", id))
}

/// The tenant's application with this LWA client id, if any.
pub async fn find_by_client_id(
    vault: &Vault,
    tenant_id: Uuid,
    client_id: &ClientId,
) -> Result<Option<ApplicationRow>> {
    Ok(applications::find_application_by_client_id(&vault.pool, tenant_id, client_id).await?)
}

/// Changes an application's name, onboarding fields or auto-rotation.
pub async fn update(
    vault: &Vault,
    actor: &Actor,
    tenant_id: Uuid,
    id: Uuid,
    changes: ApplicationChanges<'_>,
) -> Result<ApplicationRow> {
    let mut tx = vault.pool.begin().await?;
    let row = applications::update_application(&mut tx, tenant_id, id, changes)
        .await
        .map_err(|err| conflict(err, UNIQUE))?
        .ok_or_else(|| not_found("application", id))?;
    let change = Change::new("application.updated", "application", id);
    commit_change(vault, tx, actor, change).await?;
    Ok(row)
}

/// Replaces the client secret (after a rotation at Amazon). The replaced secret stays as the
/// previous one until `keep_previous_until` (`None`: dropped at once), so exchanges fall back to
/// it while the new one is not yet known to LWA. Grantless tokens the old secret minted are
/// dropped everywhere, an exchange in flight with it keeps nothing, and the application is
/// `active` again.
pub async fn replace_client_secret(
    vault: &Vault,
    actor: &Actor,
    tenant_id: Uuid,
    id: Uuid,
    secret: &ClientSecret,
    expires_at: Option<DateTime<Utc>>,
    keep_previous_until: Option<DateTime<Utc>>,
) -> Result<ApplicationRow> {
    let new = super::secret_lifecycle::NewSecret {
        secret,
        expires_at,
        keep_previous_until,
    };
    let prepared = super::secret_lifecycle::prepare(vault, tenant_id, id, &new).await?;
    let mut tx = vault.pool.begin().await?;
    let row = super::secret_lifecycle::install(&mut tx, &prepared)
        .await?
        .ok_or_else(|| Credential::ClientSecret { application_id: id }.not_found())?;
    let change = Change::new("application.client_secret_replaced", "application", id)
        .making_stale(prepared.invalidation());
    commit_change(vault, tx, actor, change).await?;
    Ok(row)
}

/// Deletes an application no seller uses (`Conflict` while one does).
pub async fn delete(vault: &Vault, actor: &Actor, tenant_id: Uuid, id: Uuid) -> Result<()> {
    let credential = Credential::ClientSecret { application_id: id };
    let mut tx = vault.pool.begin().await?;
    let deleted = applications::delete_application(&mut tx, tenant_id, id)
        .await
        .map_err(|err| match db::violated_foreign_key(&err) {
            Some(APPLICATION_CONSTRAINT) => {
                Error::Conflict("sellers still use this application; delete them first".into())
            }
            _ => err.into(),
        })?;
    if !deleted {
        return Err(credential.not_found());
    }
    let change = Change::new("application.deleted", "application", id)
        .making_stale(credential.invalidation());
    commit_change(vault, tx, actor, change).await
}
