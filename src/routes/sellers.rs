//! `/v1/sellers` (tenant keys with scope `admin`): a selling partner's authorization of an
//! application in one region. The refresh token is write-only: sealed on the way in, never
//! returned.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::input::{parse_fields, parse_uuid, present, JsonBody, PageQuery};
use super::no_content;
use crate::auth::{AdminScope, TenantCaller};
use crate::domain::{
    ExternalId, MarketplaceIds, Page, RefreshToken, Region, SellerStatus, SellingPartnerId,
};
use crate::error::ApiError;
use crate::telemetry::RequestId;
use crate::workflows::credentials::sellers::{
    self, NewSellerAuthorization, SellerChanges, SellerFilter, SellerRow,
};
use crate::workflows::Vault;

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f5a4-8a55-7d2e-b6a8-3c1f5e0c9d10",
    "application_id": "0192f5a4-8a55-7d2e-b6a8-3c1f5e0c9d11", "selling_partner_id": "A2EUQ1WTGCTBG2",
    "region": "eu", "external_id": "customer-42", "marketplace_ids": ["A1PA6795UKMFR9"],
    "status": "active", "created_at": "2026-11-28T12:00:00Z", "updated_at": "2026-11-28T12:00:00Z",
    "last_token_issued_at": null}))]
pub struct Seller {
    pub id: Uuid,
    pub application_id: Uuid,
    pub selling_partner_id: String,
    #[schema(value_type = Region)]
    pub region: String,
    pub external_id: Option<String>,
    pub marketplace_ids: Vec<String>,
    /// `active`, or `authorization_revoked` once LWA said `invalid_grant` (until the refresh token
    /// is replaced).
    pub status: SellerStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_token_issued_at: Option<DateTime<Utc>>,
}

impl From<SellerRow> for Seller {
    fn from(row: SellerRow) -> Self {
        Self {
            id: row.id,
            application_id: row.application_id,
            selling_partner_id: row.selling_partner_id,
            region: row.region,
            external_id: row.external_id,
            marketplace_ids: row.marketplace_ids,
            status: row.status,
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_token_issued_at: row.last_token_issued_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSeller {
    application_id: Uuid,
    #[schema(example = "A2EUQ1WTGCTBG2")]
    selling_partner_id: String,
    #[schema(value_type = Region, example = "eu")]
    region: String,
    /// Write-only. `Atzr|…`, at most 2048 bytes.
    #[schema(value_type = String, example = "Atzr|IwEBIA…")]
    refresh_token: SecretString,
    /// Your own reference for the seller, unique within the tenant (at most 128 characters).
    external_id: Option<String>,
    #[serde(default)]
    marketplace_ids: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSeller {
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    external_id: Option<Option<String>>,
    marketplace_ids: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceRefreshToken {
    /// Write-only. `Atzr|…`, at most 2048 bytes.
    #[schema(value_type = String, example = "Atzr|IwEBIA…")]
    refresh_token: SecretString,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SellerQuery {
    /// Only sellers of this application.
    #[param(value_type = Option<Uuid>)]
    application_id: Option<String>,
    /// `active` or `authorization_revoked`.
    status: Option<String>,
    external_id: Option<String>,
    /// 1–1000, default 100.
    #[param(value_type = Option<u16>)]
    limit: Option<String>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

/// Stores a seller's authorization with its refresh token.
#[utoipa::path(post, operation_id = "create_seller", path = "/v1/sellers", tag = "sellers", security(("tenant_key" = ["admin"])),
    request_body = CreateSeller,
    responses((status = 201, body = Seller),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json", description = "no such application"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json"), (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    vault: web::Data<Vault>,
    JsonBody(body): JsonBody<CreateSeller>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        selling_partner_id = "selling_partner_id" => SellingPartnerId::parse(&body.selling_partner_id),
        region = "region" => Region::parse(&body.region),
        refresh_token = "refresh_token" => RefreshToken::parse(&body.refresh_token),
        external_id = "external_id" => body.external_id.as_deref().map(ExternalId::parse).transpose(),
        marketplace_ids = "marketplace_ids" => MarketplaceIds::parse(&body.marketplace_ids),
    };
    let new = NewSellerAuthorization {
        application_id: body.application_id,
        selling_partner_id: &selling_partner_id,
        region,
        refresh_token: &refresh_token,
        external_id: external_id.as_ref(),
        marketplace_ids: &marketplace_ids,
    };
    let row = sellers::create(&vault, &caller.actor(&request_id), caller.tenant_id, new).await?;
    Ok(HttpResponse::Created().json(Seller::from(row)))
}

/// The tenant's sellers, newest first, optionally filtered.
#[utoipa::path(get, operation_id = "list_sellers", path = "/v1/sellers", tag = "sellers", security(("tenant_key" = ["admin"])),
    params(SellerQuery), responses((status = 200, body = Page<Seller>)))]
pub async fn list(
    caller: TenantCaller<AdminScope>,
    vault: web::Data<Vault>,
    query: web::Query<SellerQuery>,
) -> Result<HttpResponse, ApiError> {
    let page_query = PageQuery {
        limit: query.limit.clone(),
        cursor: query.cursor.clone(),
    };
    parse_fields! {
        application_id = "application_id" => parse_uuid(query.application_id.as_deref()),
        status = "status" => query.status.as_deref().map(SellerStatus::parse).transpose(),
        external_id = "external_id" => query.external_id.as_deref().map(ExternalId::parse).transpose(),
        limit = "limit" => page_query.limit(),
        cursor = "cursor" => page_query.cursor(),
    };
    let filter = SellerFilter {
        application_id,
        status,
        external_id: external_id.as_ref().map(ExternalId::as_str),
    };
    let rows = sellers::list(&vault, caller.tenant_id, filter, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |row| row.id).map(Seller::from);
    Ok(HttpResponse::Ok().json(page))
}

/// One seller.
#[utoipa::path(get, operation_id = "get_seller", path = "/v1/sellers/{seller_id}", tag = "sellers",
    security(("tenant_key" = ["admin"])), params(("seller_id" = Uuid, Path)),
    responses((status = 200, body = Seller), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(
    caller: TenantCaller<AdminScope>,
    vault: web::Data<Vault>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = sellers::get(&vault, caller.tenant_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(Seller::from(row)))
}

/// Changes a seller's external id or marketplaces.
#[utoipa::path(patch, operation_id = "update_seller", path = "/v1/sellers/{seller_id}", tag = "sellers",
    security(("tenant_key" = ["admin"])), params(("seller_id" = Uuid, Path)),
    request_body = UpdateSeller,
    responses((status = 200, body = Seller), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json"), (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    vault: web::Data<Vault>,
    path: web::Path<Uuid>,
    JsonBody(body): JsonBody<UpdateSeller>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! {
        external_id = "external_id" => body
            .external_id
            .as_ref()
            .map(|v| v.as_deref().map(ExternalId::parse).transpose())
            .transpose(),
        marketplace_ids = "marketplace_ids" => body
            .marketplace_ids
            .as_deref()
            .map(MarketplaceIds::parse)
            .transpose(),
    };
    let changes = SellerChanges {
        external_id: external_id.as_ref().map(Option::as_ref),
        marketplace_ids: marketplace_ids.as_ref(),
    };
    let actor = caller.actor(&request_id);
    let row = sellers::update(&vault, &actor, caller.tenant_id, path.into_inner(), changes).await?;
    Ok(HttpResponse::Ok().json(Seller::from(row)))
}

/// Replaces the refresh token (after the seller authorized again); clears
/// `authorization_revoked`.
#[utoipa::path(put, operation_id = "replace_refresh_token", path = "/v1/sellers/{seller_id}/refresh-token", tag = "sellers",
    security(("tenant_key" = ["admin"])), params(("seller_id" = Uuid, Path)),
    request_body = ReplaceRefreshToken,
    responses((status = 200, body = Seller), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn replace_refresh_token(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    vault: web::Data<Vault>,
    path: web::Path<Uuid>,
    JsonBody(body): JsonBody<ReplaceRefreshToken>,
) -> Result<HttpResponse, ApiError> {
    parse_fields! { refresh_token = "refresh_token" => RefreshToken::parse(&body.refresh_token) };
    let actor = caller.actor(&request_id);
    let id = path.into_inner();
    let row = sellers::replace_refresh_token(&vault, &actor, caller.tenant_id, id, &refresh_token)
        .await?;
    Ok(HttpResponse::Ok().json(Seller::from(row)))
}

/// Deletes a seller.
#[utoipa::path(delete, operation_id = "delete_seller", path = "/v1/sellers/{seller_id}", tag = "sellers",
    security(("tenant_key" = ["admin"])), params(("seller_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    caller: TenantCaller<AdminScope>,
    request_id: RequestId,
    vault: web::Data<Vault>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor(&request_id);
    sellers::delete(&vault, &actor, caller.tenant_id, path.into_inner()).await?;
    Ok(no_content())
}
