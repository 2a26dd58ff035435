//! The `authorization_link` table: consent links of seller onboarding. Every query a tenant makes
//! is scoped by it; the callback finds its link by the state's digest alone.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::sealed::Sealed;
use crate::domain::{Limit, LinkStatus};

#[derive(Debug, Clone)]
pub struct AuthorizationLinkRow {
    pub id: Uuid,
    pub application_id: Uuid,
    pub region: String,
    pub external_id: Option<String>,
    pub status: LinkStatus,
    pub expires_at: DateTime<Utc>,
    pub seller_id: Option<Uuid>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub struct NewAuthorizationLink<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub application_id: Uuid,
    pub region: &'a str,
    pub marketplace_id: Option<&'a str>,
    pub partner: &'a str,
    pub external_id: Option<&'a str>,
    pub return_url: Option<&'a str>,
    pub redirect_uri: &'a str,
    pub state_hash: &'a [u8],
    pub expires_at: DateTime<Utc>,
}

#[tracing::instrument(skip_all, fields(id = %link.id))]
pub async fn insert_link(
    conn: &mut PgConnection,
    link: NewAuthorizationLink<'_>,
) -> Result<AuthorizationLinkRow, sqlx::Error> {
    sqlx::query_as!(
        AuthorizationLinkRow,
        r#"insert into authorization_link (id, tenant_id, application_id, region, marketplace_id,
                                          partner, external_id, return_url, redirect_uri,
                                          state_hash, expires_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           returning id, application_id, region, external_id, status as "status: LinkStatus",
                     expires_at, seller_id, error, created_at"#,
        link.id,
        link.tenant_id,
        link.application_id,
        link.region,
        link.marketplace_id,
        link.partner,
        link.external_id,
        link.return_url,
        link.redirect_uri,
        link.state_hash,
        link.expires_at
    )
    .fetch_one(conn)
    .await
}

#[tracing::instrument(skip(pool))]
pub async fn find_link(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<AuthorizationLinkRow>, sqlx::Error> {
    sqlx::query_as!(
        AuthorizationLinkRow,
        r#"select id, application_id, region, external_id,
                  case when status = 'pending' and expires_at <= now() then 'expired' else status end
                      as "status!: LinkStatus",
                  expires_at, seller_id, error, created_at
           from authorization_link where tenant_id = $1 and id = $2"#,
        tenant_id,
        id
    )
    .fetch_optional(pool)
    .await
}

#[tracing::instrument(skip(pool))]
pub async fn list_links(
    pool: &PgPool,
    tenant_id: Uuid,
    status: Option<LinkStatus>,
    before: Uuid,
    limit: Limit,
) -> Result<Vec<AuthorizationLinkRow>, sqlx::Error> {
    sqlx::query_as!(
        AuthorizationLinkRow,
        r#"select id, application_id, region, external_id, status as "status!: LinkStatus",
                  expires_at, seller_id, error, created_at
           from (select *, case when status = 'pending' and expires_at <= now() then 'expired'
                                else status end as effective
                 from authorization_link where tenant_id = $1 and id < $2) l
           where ($3::text is null or effective = $3)
           order by id desc limit $4"#,
        tenant_id,
        before,
        status.map(LinkStatus::as_str),
        limit.fetch()
    )
    .fetch_all(pool)
    .await
}

/// A link whose state a callback just used, with what its code exchange needs.
pub struct ClaimedLinkRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub tenant_disabled: bool,
    pub application_id: Uuid,
    pub client_id: String,
    pub sealed_client_secret: Sealed,
    pub region: String,
    pub marketplace_id: Option<String>,
    pub external_id: Option<String>,
    pub return_url: Option<String>,
    pub redirect_uri: String,
}

/// Uses the state with this digest, once: of callbacks racing with one state, exactly one gets
/// the link (the row lock orders them; the others find `state_used_at` set). A used state, an
/// expired link or one no longer pending gives `None`.
#[tracing::instrument(skip_all)]
pub async fn claim_state(
    pool: &PgPool,
    state_hash: &[u8],
) -> Result<Option<ClaimedLinkRow>, sqlx::Error> {
    sqlx::query_as!(
        ClaimedLinkRow,
        r#"update authorization_link l set state_used_at = now()
           from application a, tenant t
           where l.state_hash = $1 and l.state_used_at is null and l.status = 'pending'
             and l.expires_at > now()
             and a.id = l.application_id and a.tenant_id = l.tenant_id and t.id = l.tenant_id
           returning l.id, l.tenant_id, t.disabled as tenant_disabled, l.application_id,
                     a.client_id, a.client_secret as "sealed_client_secret: Sealed", l.region,
                     l.marketplace_id, l.external_id, l.return_url, l.redirect_uri"#,
        state_hash
    )
    .fetch_optional(pool)
    .await
}

/// The link ended with a seller.
pub async fn complete_link(
    conn: &mut PgConnection,
    id: Uuid,
    seller_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update authorization_link set status = 'completed', seller_id = $2 where id = $1",
        id,
        seller_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The link ended without a seller, for the reason `error` (a code).
pub async fn fail_link(conn: &mut PgConnection, id: Uuid, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update authorization_link set status = 'failed', error = $2 where id = $1",
        id,
        error
    )
    .execute(conn)
    .await?;
    Ok(())
}
