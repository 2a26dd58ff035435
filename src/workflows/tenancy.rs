//! Tenants and API keys: who may use the vault.
//!
//! A tenant is made with its data key and its first admin key in one transaction; disabling,
//! deleting and revoking take effect on every replica within a second (a `NOTIFY` in the
//! change's own transaction, and this replica's caches at once after the commit).

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::trail::Actor;
use super::{commit_change, Change, Error, Result, Vault};
pub use crate::db::api_keys::ApiKeyRow;
use crate::db::api_keys::{self, NewApiKey};
pub use crate::db::tenants::TenantRow;
use crate::db::{self, tenants};
use crate::domain::api_key;
use crate::domain::{Cursor, DisplayName, Limit, Scope, Scopes, TenantName};
use crate::invalidation::{self, Invalidation};

/// A key just made: its row and the key itself, which exists nowhere else (only its hash is
/// stored) and is shown once.
pub struct IssuedKey {
    pub row: ApiKeyRow,
    pub key: SecretString,
}

/// What a new tenant key may do.
pub struct KeySpec<'a> {
    pub name: &'a DisplayName,
    pub scopes: &'a Scopes,
    pub expires_at: Option<DateTime<Utc>>,
}

fn tenant_not_found(id: Uuid) -> Error {
    Error::not_found(format_args!("tenant {id}"))
}

fn conflict_on_name(name: &TenantName) -> impl FnOnce(sqlx::Error) -> Error + '_ {
    move |err| match db::violated_unique_constraint(&err) {
        Some(tenants::NAME_CONSTRAINT) => {
            Error::Conflict(format!("a tenant named {name:?} already exists"))
        }
        _ => err.into(),
    }
}

/// Makes a tenant, its data key and its first key (scopes `admin`, `tokens`, `audit`).
pub async fn create_tenant(
    vault: &Vault,
    actor: &Actor,
    name: &TenantName,
    first_key_name: &DisplayName,
) -> Result<(TenantRow, IssuedKey)> {
    let tenant_id = Uuid::now_v7();
    let actor = actor.in_tenant(tenant_id);
    let mut tx = vault.pool.begin().await?;
    let tenant = tenants::insert_tenant(&mut tx, tenant_id, name)
        .await
        .map_err(conflict_on_name(name))?;
    vault.keystore.create_data_key(&mut tx, tenant_id).await?;
    actor
        .record(&mut tx, "tenant.created", "tenant", tenant_id)
        .await?;
    let spec = KeySpec {
        name: first_key_name,
        scopes: &Scopes::all(),
        expires_at: None,
    };
    let key = insert_tenant_key(&mut tx, &actor, tenant_id, spec).await?;
    tx.commit().await?;
    Ok((tenant, key))
}

pub async fn list_tenants(
    vault: &Vault,
    cursor: Option<Cursor>,
    limit: Limit,
) -> Result<Vec<TenantRow>> {
    let start = crate::domain::page_start(cursor);
    Ok(tenants::list_tenants(&vault.pool, start, limit).await?)
}

pub async fn get_tenant(vault: &Vault, id: Uuid) -> Result<TenantRow> {
    tenants::find_tenant(&vault.pool, id)
        .await?
        .ok_or_else(|| tenant_not_found(id))
}

pub async fn find_tenant_by_name(vault: &Vault, name: &TenantName) -> Result<Option<TenantRow>> {
    Ok(tenants::find_tenant_by_name(&vault.pool, name).await?)
}

/// Renames, disables or re-enables a tenant.
pub async fn update_tenant(
    vault: &Vault,
    actor: &Actor,
    id: Uuid,
    name: Option<&TenantName>,
    disabled: Option<bool>,
) -> Result<TenantRow> {
    let actor = actor.in_tenant(id);
    let mut tx = vault.pool.begin().await?;
    let tenant = tenants::update_tenant(&mut tx, id, name, disabled)
        .await
        .map_err(|err| match name {
            Some(name) => conflict_on_name(name)(err),
            None => err.into(),
        })?
        .ok_or_else(|| tenant_not_found(id))?;
    let change = Change::new("tenant.updated", "tenant", id);
    let change = match disabled {
        // Keys of a disabled tenant stop working on every replica within a second.
        Some(_) => change.making_stale(Invalidation::Tenant(id)),
        None => change,
    };
    commit_change(vault, tx, &actor, change).await?;
    Ok(tenant)
}

/// Deletes a tenant with its keys, data key and everything it owns; its audit rows are kept.
pub async fn delete_tenant(vault: &Vault, actor: &Actor, id: Uuid) -> Result<()> {
    let actor = actor.in_tenant(id);
    let mut tx = vault.pool.begin().await?;
    if !tenants::delete_tenant(&mut tx, id).await? {
        return Err(tenant_not_found(id));
    }
    let change = Change::new("tenant.deleted", "tenant", id).making_stale(Invalidation::Tenant(id));
    commit_change(vault, tx, &actor, change).await
}

/// Makes a key of `tenant_id`.
pub async fn issue_key(
    vault: &Vault,
    actor: &Actor,
    tenant_id: Uuid,
    spec: KeySpec<'_>,
) -> Result<IssuedKey> {
    let mut tx = vault.pool.begin().await?;
    let key = insert_tenant_key(&mut tx, actor, tenant_id, spec).await?;
    tx.commit().await?;
    Ok(key)
}

async fn insert_tenant_key(
    conn: &mut PgConnection,
    actor: &Actor,
    tenant_id: Uuid,
    spec: KeySpec<'_>,
) -> Result<IssuedKey> {
    let issued = api_key::issue_off_runtime().await?;
    let row = api_keys::insert_api_key(
        &mut *conn,
        NewApiKey {
            id: issued.id,
            tenant_id: Some(tenant_id),
            name: spec.name,
            scopes: spec.scopes,
            key_hash: &issued.hash,
            expires_at: spec.expires_at,
        },
    )
    .await?;
    actor
        .record(conn, "api_key.created", "api_key", row.id)
        .await?;
    Ok(IssuedKey {
        row,
        key: issued.key,
    })
}

pub async fn list_keys(
    vault: &Vault,
    tenant_id: Uuid,
    cursor: Option<Cursor>,
    limit: Limit,
) -> Result<Vec<ApiKeyRow>> {
    let start = crate::domain::page_start(cursor);
    Ok(api_keys::list_tenant_keys(&vault.pool, tenant_id, start, limit).await?)
}

/// Revokes a key of `tenant_id`: it stops working on every replica within a second. Revoking a
/// revoked key changes nothing; the tenant's last usable admin key cannot be revoked.
pub async fn revoke_key(vault: &Vault, actor: &Actor, tenant_id: Uuid, id: Uuid) -> Result<()> {
    let not_found = || Error::not_found(format_args!("API key {id}"));
    let mut tx = vault.pool.begin().await?;
    // Serialises revocations within the tenant, so two of them cannot each leave the other as
    // the last admin key.
    if !tenants::lock_tenant(&mut tx, tenant_id).await? {
        return Err(not_found());
    }
    let revoked = api_keys::revoke_tenant_key(&mut tx, tenant_id, id)
        .await?
        .ok_or_else(not_found)?;
    if !revoked.newly_revoked {
        // Revoked before: nothing changes, and nothing new goes on record.
        return Ok(());
    }
    let key = revoked.key;
    let was_usable_admin = key.scopes.iter().any(|s| s == Scope::Admin.as_str())
        && key.expires_at.is_none_or(|at| at > Utc::now());
    if was_usable_admin && api_keys::count_other_admin_keys(&mut tx, tenant_id, id).await? == 0 {
        return Err(Error::Conflict(
            "this is the tenant's last admin key; create another admin key before revoking it"
                .into(),
        ));
    }
    let change = Change::new("api_key.revoked", "api_key", id).making_stale(Invalidation::Key(id));
    commit_change(vault, tx, actor, change).await
}

/// Makes an operator key (they manage tenants), stores its hash and records the fact; returns
/// the key. Only the command line makes them.
pub async fn create_operator_key(pool: &PgPool, name: &DisplayName) -> Result<SecretString> {
    let issued = api_key::issue_off_runtime().await?;
    let mut tx = pool.begin().await?;
    api_keys::insert_api_key(
        &mut tx,
        NewApiKey {
            id: issued.id,
            tenant_id: None,
            name,
            scopes: &Scopes::none(),
            key_hash: &issued.hash,
            expires_at: None,
        },
    )
    .await?;
    Actor::command_line(None, "cli")
        .record(&mut tx, "operator_key.created", "operator_key", issued.id)
        .await?;
    tx.commit().await?;
    Ok(issued.key)
}

pub async fn list_operator_keys(pool: &PgPool) -> Result<Vec<ApiKeyRow>> {
    Ok(api_keys::list_operator_keys(pool).await?)
}

/// Revokes an operator key on every replica within a second.
pub async fn revoke_operator_key(pool: &PgPool, id: Uuid) -> Result<()> {
    let mut tx = pool.begin().await?;
    if !api_keys::revoke_operator_key(&mut tx, id).await? {
        return Err(Error::NotFound(format!("no operator key has the id {id}")));
    }
    Actor::command_line(None, "cli")
        .record(&mut tx, "operator_key.revoked", "operator_key", id)
        .await?;
    invalidation::announce(&mut tx, Invalidation::Key(id)).await?;
    tx.commit().await?;
    Ok(())
}
