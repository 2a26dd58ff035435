//! The `seller` table. Every query is scoped by the owning tenant.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{ExternalId, Limit, MarketplaceIds, Region, SellerStatus, SellingPartnerId};

pub const PARTNER_CONSTRAINT: &str = "seller_partner_key";
pub const EXTERNAL_ID_CONSTRAINT: &str = "seller_external_id_key";
pub const APPLICATION_CONSTRAINT: &str = "seller_application_fkey";

#[derive(Debug, Clone)]
pub struct SellerRow {
    pub id: Uuid,
    pub application_id: Uuid,
    pub selling_partner_id: String,
    pub region: String,
    pub external_id: Option<String>,
    pub marketplace_ids: Vec<String>,
    pub status: SellerStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_token_issued_at: Option<DateTime<Utc>>,
}

pub struct NewSeller<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub application_id: Uuid,
    pub selling_partner_id: &'a SellingPartnerId,
    pub region: Region,
    pub sealed_refresh_token: &'a [u8],
    pub external_id: Option<&'a ExternalId>,
    pub marketplace_ids: &'a MarketplaceIds,
}

/// Filters of `GET /v1/sellers`.
#[derive(Debug, Default)]
pub struct SellerFilter<'a> {
    pub application_id: Option<Uuid>,
    pub status: Option<SellerStatus>,
    pub external_id: Option<&'a str>,
}

#[tracing::instrument(skip_all, fields(id = %seller.id))]
pub async fn insert_seller(
    conn: &mut PgConnection,
    seller: NewSeller<'_>,
) -> Result<SellerRow, sqlx::Error> {
    sqlx::query_as!(
        SellerRow,
        "insert into seller (id, tenant_id, application_id, selling_partner_id, region, refresh_token,
                             external_id, marketplace_ids)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         returning id, application_id, selling_partner_id, region, external_id, marketplace_ids,
                   status as \"status: SellerStatus\", created_at, updated_at, last_token_issued_at",
        seller.id,
        seller.tenant_id,
        seller.application_id,
        seller.selling_partner_id.as_str(),
        seller.region.as_str(),
        seller.sealed_refresh_token,
        seller.external_id.map(ExternalId::as_str),
        seller.marketplace_ids.as_slice()
    )
    .fetch_one(conn)
    .await
}

/// Many sellers of one application, with nothing but their credentials (a bulk import).
pub struct NewSellers<'a> {
    pub tenant_id: Uuid,
    pub application_id: Uuid,
    pub ids: &'a [Uuid],
    pub selling_partner_ids: &'a [String],
    pub regions: &'a [String],
    pub sealed_refresh_tokens: &'a [Vec<u8>],
}

#[tracing::instrument(skip_all, fields(count = sellers.ids.len()))]
pub async fn insert_sellers(
    conn: &mut PgConnection,
    sellers: NewSellers<'_>,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query!(
        "insert into seller (id, tenant_id, application_id, selling_partner_id, region, refresh_token)
         select id, $2, $3, partner, region, token
         from unnest($1::uuid[], $4::text[], $5::text[], $6::bytea[]) as s(id, partner, region, token)",
        sellers.ids,
        sellers.tenant_id,
        sellers.application_id,
        sellers.selling_partner_ids,
        sellers.regions,
        sellers.sealed_refresh_tokens
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

#[tracing::instrument(skip(pool))]
pub async fn list_sellers(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: SellerFilter<'_>,
    before: Uuid,
    limit: Limit,
) -> Result<Vec<SellerRow>, sqlx::Error> {
    sqlx::query_as!(
        SellerRow,
        "select id, application_id, selling_partner_id, region, external_id, marketplace_ids,
                status as \"status: SellerStatus\", created_at, updated_at, last_token_issued_at
         from seller
         where tenant_id = $1 and id < $2
           and ($3::uuid is null or application_id = $3)
           and ($4::text is null or status = $4)
           and ($5::text is null or external_id = $5)
         order by id desc limit $6",
        tenant_id,
        before,
        filter.application_id,
        filter.status.map(SellerStatus::as_str),
        filter.external_id,
        limit.fetch()
    )
    .fetch_all(pool)
    .await
}

#[tracing::instrument(skip(pool))]
pub async fn find_seller(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<SellerRow>, sqlx::Error> {
    sqlx::query_as!(
        SellerRow,
        "select id, application_id, selling_partner_id, region, external_id, marketplace_ids,
                status as \"status: SellerStatus\", created_at, updated_at, last_token_issued_at
         from seller where tenant_id = $1 and id = $2",
        tenant_id,
        id
    )
    .fetch_optional(pool)
    .await
}

/// What `PATCH /v1/sellers/{id}` changes: `None` keeps a field.
pub struct SellerChanges<'a> {
    /// `Some(None)` clears the external id.
    pub external_id: Option<Option<&'a ExternalId>>,
    pub marketplace_ids: Option<&'a MarketplaceIds>,
}

#[tracing::instrument(skip_all, fields(%id))]
pub async fn update_seller(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    changes: SellerChanges<'_>,
) -> Result<Option<SellerRow>, sqlx::Error> {
    sqlx::query_as!(
        SellerRow,
        "update seller
         set external_id = case when $3 then $4 else external_id end,
             marketplace_ids = coalesce($5, marketplace_ids)
         where tenant_id = $1 and id = $2
         returning id, application_id, selling_partner_id, region, external_id, marketplace_ids,
                   status as \"status: SellerStatus\", created_at, updated_at, last_token_issued_at",
        tenant_id,
        id,
        changes.external_id.is_some(),
        changes.external_id.flatten().map(ExternalId::as_str),
        changes.marketplace_ids.map(MarketplaceIds::as_slice)
    )
    .fetch_optional(conn)
    .await
}

/// Replaces the sealed refresh token; the seller is `active` again.
#[tracing::instrument(skip(conn, sealed_refresh_token))]
pub async fn replace_refresh_token(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    sealed_refresh_token: &[u8],
) -> Result<Option<SellerRow>, sqlx::Error> {
    sqlx::query_as!(
        SellerRow,
        "update seller set refresh_token = $3, status = 'active'
         where tenant_id = $1 and id = $2
         returning id, application_id, selling_partner_id, region, external_id, marketplace_ids,
                   status as \"status: SellerStatus\", created_at, updated_at, last_token_issued_at",
        tenant_id,
        id,
        sealed_refresh_token
    )
    .fetch_optional(conn)
    .await
}

#[tracing::instrument(skip(conn))]
pub async fn delete_seller(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        "delete from seller where tenant_id = $1 and id = $2",
        tenant_id,
        id
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn find_seller_by_partner(
    pool: &PgPool,
    application_id: Uuid,
    selling_partner_id: &SellingPartnerId,
    region: Region,
) -> Result<Option<SellerRow>, sqlx::Error> {
    sqlx::query_as!(
        SellerRow,
        "select id, application_id, selling_partner_id, region, external_id, marketplace_ids,
                status as \"status: SellerStatus\", created_at, updated_at, last_token_issued_at
         from seller where application_id = $1 and selling_partner_id = $2 and region = $3",
        application_id,
        selling_partner_id.as_str(),
        region.as_str()
    )
    .fetch_optional(pool)
    .await
}
