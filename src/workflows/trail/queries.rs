//! Reading the trail back, always within one tenant.

use uuid::Uuid;

pub use crate::db::audit_events::{AuditEventRow, TimeRange};
pub use crate::db::token_trail::{DeliveryFilter, IssueFilter, TokenDeliveryRow, TokenIssueRow};
use crate::db::{audit_events, token_trail};
use crate::domain::{self, CredentialKind, Cursor, Limit};
use crate::workflows::{Error, Result, Vault};

/// Exchange attempts, newest first.
pub async fn token_issues(
    vault: &Vault,
    tenant_id: Uuid,
    filter: IssueFilter,
    range: TimeRange,
    cursor: Option<Cursor>,
    limit: Limit,
) -> Result<Vec<TokenIssueRow>> {
    let start = domain::page_start(cursor);
    Ok(token_trail::list_token_issues(&vault.pool, tenant_id, filter, range, start, limit).await?)
}

/// Tokens handed out, newest first.
pub async fn token_deliveries(
    vault: &Vault,
    tenant_id: Uuid,
    filter: DeliveryFilter,
    range: TimeRange,
    cursor: Option<Cursor>,
    limit: Limit,
) -> Result<Vec<TokenDeliveryRow>> {
    let start = domain::page_start(cursor);
    Ok(
        token_trail::list_token_deliveries(&vault.pool, tenant_id, filter, range, start, limit)
            .await?,
    )
}

/// Changes made through the API, newest first.
pub async fn audit_events(
    vault: &Vault,
    tenant_id: Uuid,
    range: TimeRange,
    cursor: Option<Cursor>,
    limit: Limit,
) -> Result<Vec<AuditEventRow>> {
    let start = domain::page_start(cursor);
    Ok(audit_events::list_audit_events(&vault.pool, tenant_id, range, start, limit).await?)
}

/// The exchange of `tenant_id` that minted `access_token`, found by its keyed fingerprint (the
/// token itself is never stored in the clear).
pub async fn issue_of_token(
    vault: &Vault,
    tenant_id: Uuid,
    access_token: &str,
) -> Result<TokenIssueRow> {
    let data_key = vault
        .keystore
        .data_key(tenant_id)
        .await
        .map_err(|err| Error::secret(err, CredentialKind::AccessToken))?;
    let fingerprint = data_key.token_fingerprint(access_token);
    token_trail::find_issue_by_fingerprint(&vault.pool, tenant_id, &fingerprint)
        .await?
        .ok_or_else(|| Error::NotFound("no exchange of this tenant minted this token".into()))
}
