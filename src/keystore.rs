//! Tenant data keys: made with the tenant, unwrapped on demand and cached in memory, re-wrapped by
//! master key rotation, and gone with the tenant. Sealing and opening a secret go through here.

use std::sync::Arc;

use anyhow::Context;
use moka::sync::Cache;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::crypto::{self, CryptoError, DataKey, Keyring, MasterKeyId, Place};
use crate::db::data_keys;
use crate::invalidation::Invalidate;
use crate::invalidation::Invalidation;
use crate::readiness::Readiness;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The sealed value does not open in its place: tampered with, or copied from elsewhere.
    #[error(
        "a stored secret does not open where it is: it was altered or copied from another row"
    )]
    Unreadable,
    /// The tenant (and so its data key) is gone.
    #[error("the tenant's data key no longer exists")]
    NoDataKey,
    /// The data key is wrapped by a master key this process was not given.
    #[error(
        "the tenant's data key is wrapped by master key {0}, which is not configured here; \
         add it to SPVAULT_MASTER_KEYS"
    )]
    UnknownMasterKey(MasterKeyId),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Where each kind of secret lives: the associated data its ciphertext is bound to.
pub mod places {
    use uuid::Uuid;

    use crate::crypto::{Place, Purpose};

    pub fn client_secret(tenant_id: Uuid, application_id: Uuid) -> Place {
        Place {
            tenant_id,
            table: "application",
            column: "client_secret",
            row_id: application_id,
            purpose: Purpose::Credential,
        }
    }

    /// The application's previous client secret, kept while it still works after a rotation.
    pub fn previous_client_secret(tenant_id: Uuid, application_id: Uuid) -> Place {
        Place {
            tenant_id,
            table: "application",
            column: "previous_client_secret",
            row_id: application_id,
            purpose: Purpose::Credential,
        }
    }

    pub fn refresh_token(tenant_id: Uuid, seller_id: Uuid) -> Place {
        Place {
            tenant_id,
            table: "seller",
            column: "refresh_token",
            row_id: seller_id,
            purpose: Purpose::Credential,
        }
    }

    /// A seller's (or an application and scope's) access token, stored for other replicas.
    pub fn cached_token(tenant_id: Uuid, cache_key: Uuid) -> Place {
        Place {
            tenant_id,
            table: "cached_token",
            column: "sealed_token",
            row_id: cache_key,
            purpose: Purpose::CachedToken,
        }
    }
}

pub struct KeyStore {
    keyring: Keyring,
    pool: PgPool,
    data_keys: Cache<Uuid, Arc<DataKey>>,
    readiness: Arc<Readiness>,
}

impl KeyStore {
    pub fn new(keyring: Keyring, pool: PgPool, readiness: Arc<Readiness>) -> Self {
        Self {
            keyring,
            pool,
            data_keys: Cache::builder().max_capacity(100_000).build(),
            readiness,
        }
    }

    /// Refuses a master key that does not match the database, before anything is served:
    /// every configured key must pass its check value (stored the first time a key is seen),
    /// and every master key that wraps a data key must be configured and open it.
    pub async fn verify_against_database(&self) -> anyhow::Result<()> {
        for id in self.keyring.ids() {
            let key = self.keyring.get(id).expect("ids() lists configured keys");
            let check = match data_keys::find_master_key_check(&self.pool, id).await? {
                Some(check) => check,
                None => {
                    let check = crypto::master_key_check(key, id);
                    data_keys::insert_master_key_check(&self.pool, id, &check).await?;
                    data_keys::find_master_key_check(&self.pool, id)
                        .await?
                        .context("the master key check vanished")?
                }
            };
            anyhow::ensure!(
                crypto::verify_master_key_check(key, id, &check),
                "master key {id} does not match this database: it is not the key the database \
                 was set up with. Refusing to start; nothing was read or written. Configure the \
                 original SPVAULT_MASTER_KEYS (a new key needs a new id: `spvault keygen --id N`)"
            );
        }
        for sample in data_keys::sample_per_master_key(&self.pool).await? {
            let id = sample.master_key_id;
            let key = self.keyring.get(id).with_context(|| {
                format!(
                    "tenant data keys in this database are wrapped by master key {id}, which is \
                     not configured. Add it to SPVAULT_MASTER_KEYS (an old key must stay until \
                     `spvault rotate-master-key` has finished)"
                )
            })?;
            crypto::unwrap_data_key(key, id, sample.tenant_id, &sample.wrapped_key).map_err(
                |_| {
                    anyhow::anyhow!(
                        "master key {id} does not open the tenant data keys wrapped by it: it \
                         does not match this database. Refusing to start"
                    )
                },
            )?;
        }
        Ok(())
    }

    /// Makes a tenant's data key, in the transaction that creates the tenant.
    pub async fn create_data_key(
        &self,
        conn: &mut PgConnection,
        tenant_id: Uuid,
    ) -> Result<(), sqlx::Error> {
        let data_key = DataKey::generate();
        let (master_id, master) = self.keyring.current();
        let wrapped = crypto::wrap_data_key(master, master_id, tenant_id, &data_key);
        data_keys::insert_data_key(conn, tenant_id, master_id, &wrapped).await?;
        Ok(())
    }

    /// The tenant's data key, from memory or unwrapped from the database.
    pub async fn data_key(&self, tenant_id: Uuid) -> Result<Arc<DataKey>, SecretError> {
        if let Some(key) = self.data_keys.get(&tenant_id) {
            return Ok(key);
        }
        let row = data_keys::find_data_key(&self.pool, tenant_id)
            .await?
            .ok_or(SecretError::NoDataKey)?;
        // `/readyz` needs no key: it says what is wrong, the log says which tenant and key.
        let Some(master) = self.keyring.get(row.master_key_id) else {
            let err = SecretError::UnknownMasterKey(row.master_key_id);
            tracing::error!(
                %tenant_id,
                master_key_id = %row.master_key_id,
                "a tenant data key is wrapped by a master key that is not configured"
            );
            self.readiness.set_problem(
                "a tenant data key is wrapped by a master key that is not configured here; \
                 the log names both",
            );
            return Err(err);
        };
        let key = crypto::unwrap_data_key(master, row.master_key_id, tenant_id, &row.wrapped_key)
            .map_err(|_| {
            tracing::error!(
                %tenant_id,
                master_key_id = %row.master_key_id,
                "a configured master key does not open a tenant data key"
            );
            self.readiness.set_problem(
                "a configured master key does not open a tenant data key; the log names both",
            );
            anyhow::anyhow!(
                "master key {} does not open tenant {tenant_id}'s data key",
                row.master_key_id
            )
        })?;
        let key = Arc::new(key);
        self.data_keys.insert(tenant_id, Arc::clone(&key));
        Ok(key)
    }

    pub async fn seal(&self, place: &Place, secret: &SecretString) -> Result<Vec<u8>, SecretError> {
        let key = self.data_key(place.tenant_id).await?;
        Ok(Self::seal_with(&key, place, secret))
    }

    pub async fn open(&self, place: &Place, sealed: &[u8]) -> Result<SecretString, SecretError> {
        let key = self.data_key(place.tenant_id).await?;
        Self::open_with(&key, place, sealed)
    }

    /// Seals with a data key already in hand (from [`Self::data_key`]): no database access.
    pub fn seal_with(key: &DataKey, place: &Place, secret: &SecretString) -> Vec<u8> {
        crypto::seal(key, place, secret.expose_secret().as_bytes())
    }

    /// Opens with a data key already in hand (from [`Self::data_key`]): no database access.
    pub fn open_with(
        key: &DataKey,
        place: &Place,
        sealed: &[u8],
    ) -> Result<SecretString, SecretError> {
        let plain = crypto::open(key, place, sealed).map_err(|err| match err {
            CryptoError::DoesNotOpen | CryptoError::UnknownVersion => SecretError::Unreadable,
        })?;
        let text = std::str::from_utf8(&plain).map_err(|_| SecretError::Unreadable)?;
        Ok(SecretString::from(text))
    }

    /// Re-wraps every data key not yet under the newest master key, `batch` at a time, each batch
    /// in its own transaction: interrupting loses nothing, and running again carries on. The data
    /// keys themselves do not change, so nothing sealed under them is touched.
    pub async fn rotate(
        &self,
        batch: i64,
        mut progress: impl FnMut(u64, u64),
    ) -> anyhow::Result<u64> {
        let (current_id, current) = self.keyring.current();
        let total = u64::try_from(data_keys::count_keys_to_rewrap(&self.pool, current_id).await?)
            .unwrap_or(0);
        let mut done = 0u64;
        progress(done, total);
        loop {
            let mut tx = self.pool.begin().await?;
            let rows = data_keys::lock_keys_to_rewrap(&mut tx, current_id, batch).await?;
            if rows.is_empty() {
                tx.rollback().await?;
                // Rows another rotation holds are skipped: wait for it, then look again.
                if data_keys::count_keys_to_rewrap(&self.pool, current_id).await? == 0 {
                    return Ok(done);
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            }
            for row in &rows {
                let old = self.keyring.get(row.master_key_id).with_context(|| {
                    format!(
                        "tenant {}'s data key is wrapped by master key {}, which is not \
                         configured; add it to SPVAULT_MASTER_KEYS and run again",
                        row.tenant_id, row.master_key_id
                    )
                })?;
                let data_key = crypto::unwrap_data_key(
                    old,
                    row.master_key_id,
                    row.tenant_id,
                    &row.wrapped_key,
                )
                .map_err(|_| {
                    anyhow::anyhow!(
                        "master key {} does not open tenant {}'s data key",
                        row.master_key_id,
                        row.tenant_id
                    )
                })?;
                let wrapped = crypto::wrap_data_key(current, current_id, row.tenant_id, &data_key);
                data_keys::rewrap(&mut tx, row.tenant_id, current_id, &wrapped).await?;
            }
            tx.commit().await?;
            done += rows.len() as u64;
            progress(done, total.max(done));
        }
    }

    pub fn current_master_key_id(&self) -> MasterKeyId {
        self.keyring.current_id()
    }
}

impl Invalidate for KeyStore {
    /// A deleted tenant's data key must not outlive it in memory either.
    fn invalidate(&self, what: Invalidation) {
        if let Invalidation::Tenant(tenant_id) = what {
            self.data_keys.invalidate(&tenant_id);
        }
    }

    fn listener_changed(&self, _connected: bool) {
        self.data_keys.invalidate_all();
    }
}
