//! Sellers: a selling partner's authorization of an application in one region, with its refresh
//! token. Replacing the refresh token happens here ([`replace_refresh_token`]).

use uuid::Uuid;

use crate::db;
use crate::db::sellers::{self, NewSeller};
pub use crate::db::sellers::{SellerChanges, SellerFilter, SellerRow};
use crate::domain::{
    Cursor, ExternalId, Limit, MarketplaceIds, RefreshToken, Region, SellingPartnerId,
};
use crate::workflows::secrets::{conflict, drop_minted_tokens, not_found, seal, Credential};
use crate::workflows::trail::Actor;
use crate::workflows::{commit_change, Change, Result, Vault};

const UNIQUE: &[(&str, &str)] = &[
    (
        sellers::PARTNER_CONSTRAINT,
        "this selling partner already authorized this application in this region",
    ),
    (
        sellers::EXTERNAL_ID_CONSTRAINT,
        "another seller of this tenant has this external_id",
    ),
];

/// A new seller, parsed.
pub struct NewSellerAuthorization<'a> {
    pub application_id: Uuid,
    pub selling_partner_id: &'a SellingPartnerId,
    pub region: Region,
    pub refresh_token: &'a RefreshToken,
    pub external_id: Option<&'a ExternalId>,
    pub marketplace_ids: &'a MarketplaceIds,
}

/// Stores a seller of `tenant_id` with its refresh token (sealed). The application must be the
/// tenant's.
pub async fn create(
    vault: &Vault,
    actor: &Actor,
    tenant_id: Uuid,
    new: NewSellerAuthorization<'_>,
) -> Result<SellerRow> {
    let id = Uuid::now_v7();
    let credential = Credential::RefreshToken { seller_id: id };
    let sealed = seal(vault, tenant_id, credential, new.refresh_token.secret()).await?;
    let mut tx = vault.pool.begin().await?;
    let row = sellers::insert_seller(
        &mut tx,
        NewSeller {
            id,
            tenant_id,
            application_id: new.application_id,
            selling_partner_id: new.selling_partner_id,
            region: new.region,
            sealed_refresh_token: &sealed,
            external_id: new.external_id,
            marketplace_ids: new.marketplace_ids,
        },
    )
    .await
    .map_err(|err| match db::violated_foreign_key(&err) {
        // The application does not exist, or is another tenant's: the same answer.
        Some(sellers::APPLICATION_CONSTRAINT) => not_found("application", new.application_id),
        _ => conflict(err, UNIQUE),
    })?;
    commit_change(
        vault,
        tx,
        actor,
        Change::new("seller.created", "seller", id),
    )
    .await?;
    Ok(row)
}

pub async fn list(
    vault: &Vault,
    tenant_id: Uuid,
    filter: SellerFilter<'_>,
    cursor: Option<Cursor>,
    limit: Limit,
) -> Result<Vec<SellerRow>> {
    let start = crate::domain::page_start(cursor);
    Ok(sellers::list_sellers(&vault.pool, tenant_id, filter, start, limit).await?)
}

pub async fn get(vault: &Vault, tenant_id: Uuid, id: Uuid) -> Result<SellerRow> {
    sellers::find_seller(&vault.pool, tenant_id, id)
        .await?
        .ok_or_else(|| not_found("seller", id))
}

/// The seller of `application_id` for this selling partner and region, if any.
pub async fn find_by_partner(
    vault: &Vault,
    application_id: Uuid,
    selling_partner_id: &SellingPartnerId,
    region: Region,
) -> Result<Option<SellerRow>> {
    Ok(
        sellers::find_seller_by_partner(&vault.pool, application_id, selling_partner_id, region)
            .await?,
    )
}

/// Changes a seller's external id or marketplaces.
pub async fn update(
    vault: &Vault,
    actor: &Actor,
    tenant_id: Uuid,
    id: Uuid,
    changes: SellerChanges<'_>,
) -> Result<SellerRow> {
    let mut tx = vault.pool.begin().await?;
    let row = sellers::update_seller(&mut tx, tenant_id, id, changes)
        .await
        .map_err(|err| conflict(err, UNIQUE))?
        .ok_or_else(|| not_found("seller", id))?;
    commit_change(
        vault,
        tx,
        actor,
        Change::new("seller.updated", "seller", id),
    )
    .await?;
    Ok(row)
}

/// Replaces the refresh token (after the seller authorized again): tokens the old one minted are
/// dropped everywhere, an exchange in flight with it keeps nothing, and the seller is `active`
/// again.
pub async fn replace_refresh_token(
    vault: &Vault,
    actor: &Actor,
    tenant_id: Uuid,
    id: Uuid,
    refresh_token: &RefreshToken,
) -> Result<SellerRow> {
    let credential = Credential::RefreshToken { seller_id: id };
    let sealed = seal(vault, tenant_id, credential, refresh_token.secret()).await?;
    let mut tx = vault.pool.begin().await?;
    let row = sellers::replace_refresh_token(&mut tx, tenant_id, id, &sealed)
        .await?
        .ok_or_else(|| credential.not_found())?;
    drop_minted_tokens(&mut tx, credential).await?;
    let change = Change::new("seller.refresh_token_replaced", "seller", id)
        .making_stale(credential.invalidation());
    commit_change(vault, tx, actor, change).await?;
    Ok(row)
}

/// Deletes a seller and its tokens.
pub async fn delete(vault: &Vault, actor: &Actor, tenant_id: Uuid, id: Uuid) -> Result<()> {
    let credential = Credential::RefreshToken { seller_id: id };
    let mut tx = vault.pool.begin().await?;
    if !sellers::delete_seller(&mut tx, tenant_id, id).await? {
        return Err(credential.not_found());
    }
    let change =
        Change::new("seller.deleted", "seller", id).making_stale(credential.invalidation());
    commit_change(vault, tx, actor, change).await
}

/// One seller of a bulk import.
pub struct ImportedSeller {
    pub selling_partner_id: SellingPartnerId,
    pub region: Region,
    pub refresh_token: RefreshToken,
}

/// Stores many sellers of one application at once (moving an existing fleet into the vault, and
/// the benchmark's seeding), in one transaction per call: each refresh token sealed like any
/// other, each seller with its own `seller.created` event. Returns their ids, in order.
pub async fn import(
    vault: &Vault,
    actor: &Actor,
    tenant_id: Uuid,
    application_id: Uuid,
    batch: &[ImportedSeller],
) -> Result<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(batch.len());
    let mut partners = Vec::with_capacity(batch.len());
    let mut regions = Vec::with_capacity(batch.len());
    let mut sealed = Vec::with_capacity(batch.len());
    for seller in batch {
        let id = Uuid::now_v7();
        let credential = Credential::RefreshToken { seller_id: id };
        sealed.push(seal(vault, tenant_id, credential, seller.refresh_token.secret()).await?);
        partners.push(seller.selling_partner_id.as_str().to_owned());
        regions.push(seller.region.as_str().to_owned());
        ids.push(id);
    }
    let mut tx = vault.pool.begin().await?;
    let rows = sellers::insert_sellers(
        &mut tx,
        sellers::NewSellers {
            tenant_id,
            application_id,
            ids: &ids,
            selling_partner_ids: &partners,
            regions: &regions,
            sealed_refresh_tokens: &sealed,
        },
    )
    .await
    .map_err(|err| match db::violated_foreign_key(&err) {
        Some(sellers::APPLICATION_CONSTRAINT) => not_found("application", application_id),
        _ => conflict(err, UNIQUE),
    })?;
    actor
        .record_many(&mut tx, "seller.created", "seller", &ids)
        .await?;
    tx.commit().await?;
    debug_assert_eq!(rows, ids.len() as u64);
    Ok(ids)
}
