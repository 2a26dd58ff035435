//! Applications: SP-API app registrations with their LWA client secrets.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db;
pub use crate::db::applications::ApplicationChanges;
pub use crate::db::applications::ApplicationRow;
use crate::db::applications::{self, NewApplication};
use crate::db::sellers::APPLICATION_CONSTRAINT;
use crate::domain::{BrowserUrl, ClientId, ClientSecret, Cursor, Limit, SolutionId};
use crate::workflows::secrets::{conflict, drop_minted_tokens, not_found, seal, Credential};
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
        },
    )
    .await
    .map_err(|err| conflict(err, UNIQUE))?;
    let change = Change::new("application.created", "application", id);
    commit_change(vault, tx, actor, change).await?;
    Ok(row)
}

pub async fn list(
    vault: &Vault,
    tenant_id: Uuid,
    cursor: Option<Cursor>,
    limit: Limit,
) -> Result<Vec<ApplicationRow>> {
    let start = crate::domain::page_start(cursor);
    Ok(applications::list_applications(&vault.pool, tenant_id, start, limit).await?)
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

/// Changes an application's name or onboarding fields.
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

/// Replaces the client secret (after a rotation at Amazon): grantless tokens the old one minted
/// are dropped everywhere, an exchange in flight with it keeps nothing, and the application is
/// `active` again.
pub async fn replace_client_secret(
    vault: &Vault,
    actor: &Actor,
    tenant_id: Uuid,
    id: Uuid,
    secret: &ClientSecret,
    expires_at: Option<DateTime<Utc>>,
) -> Result<ApplicationRow> {
    let credential = Credential::ClientSecret { application_id: id };
    let sealed = seal(vault, tenant_id, credential, secret.secret()).await?;
    let mut tx = vault.pool.begin().await?;
    let row = applications::replace_client_secret(&mut tx, tenant_id, id, &sealed, expires_at)
        .await?
        .ok_or_else(|| credential.not_found())?;
    drop_minted_tokens(&mut tx, credential).await?;
    let change = Change::new("application.client_secret_replaced", "application", id)
        .making_stale(credential.invalidation());
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
