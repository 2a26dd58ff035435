//! The SP-API proxy: a caller's SP-API call made with a token the caller never sees.
//!
//! The call goes to the seller's regional SP-API host (or `SPVAULT_SPAPI_ENDPOINT`) with the
//! seller's access token, or for a grantless operation an application's grantless token, got
//! from the broker like any other (cache, single flight, refresh ahead). A restricted operation
//! (`domain::sp_api::RESTRICTED_OPERATIONS`) goes with a Restricted Data Token for exactly its
//! method and path (and the data elements the caller asked for), got and cached by
//! `tokens::RestrictedDataTokens` like any other RDT. If Amazon refuses the
//! token (`403` `Unauthorized`), the token is refreshed once and the call sent again — when its
//! body can be sent again (an empty or held body; a streamed body is sent once, and the refreshed
//! token serves the next call). Amazon's answer, a `429` included, goes back as it is.
//!
//! Every call is a delivery (`via: "proxy"`, with the method, the path and Amazon's status),
//! committed before Amazon's answer is handed back: an answer whose record cannot be written is
//! not returned.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use moka::sync::Cache;
use reqwest::header::HeaderMap;
use reqwest::Method;
use sqlx::PgPool;
use uuid::Uuid;

use crate::amazon::forward::{Answer, Forward, ForwardFailure, RequestBody};
use crate::amazon::sp_api::SpApiClient;
use crate::db::token_trail::{NewTokenDelivery, ProxiedCall};
use crate::db::{applications, sellers, tenants};
use crate::domain::sp_api::{
    grantless_operation_scope, operation_family, restricted_operation, SpApiPath,
};
use crate::domain::Region;
use crate::domain::{ResourceInput, ResourceSet};
use crate::metrics;
use crate::workflows::tokens::{Broker, Delivered, Requester, RestrictedDataTokens, Want};
use crate::workflows::trail::deliveries::{DeliveryError, DeliveryWriter};
use crate::workflows::Error;

/// A caller's call, parsed.
pub struct Call {
    pub method: Method,
    pub path: SpApiPath,
    /// The query string as sent (without `?`).
    pub query: Option<String>,
    /// The caller's headers that are forwarded (`amazon::forward::forwarded_headers`).
    pub headers: HeaderMap,
    pub body: RequestBody,
    /// The PII a restricted Orders call asks for (`x-spvault-data-elements`), sorted.
    pub data_elements: Vec<&'static str>,
    /// The report type the caller named for getReportDocument (`x-spvault-report-type`).
    pub report_type: Option<String>,
}

/// What kind of token a call went with, for its delivery record.
const ACCESS_TOKEN: &str = "access_token";
const RESTRICTED_DATA_TOKEN: &str = "restricted_data_token";

/// Where a seller's calls go: its region (fixed when the seller is created) and whether its
/// application is a sandbox one.
#[derive(Debug, Clone, Copy)]
struct SellerTarget {
    tenant_id: Uuid,
    application_id: Uuid,
    region: Region,
    sandbox: bool,
}

/// A token with any life left, refreshed if `force_refresh`.
fn want(force_refresh: bool) -> Want {
    Want {
        min_ttl_seconds: 0,
        force_refresh,
    }
}

/// How long where a seller's calls go is remembered: its region never changes, an
/// application's `sandbox` flag seldom (a change reaches the proxy within this time); a
/// deleted seller's entry is harmless, since the broker finds no token for it.
const TARGET_TTL: Duration = Duration::from_secs(60);

/// The proxy; cheap to clone.
#[derive(Clone)]
pub struct Proxy(Arc<Inner>);

struct Inner {
    pool: PgPool,
    broker: Broker,
    restricted: RestrictedDataTokens,
    deliveries: DeliveryWriter,
    sp_api: SpApiClient,
    targets: Cache<Uuid, SellerTarget>,
}

impl Proxy {
    pub fn new(
        pool: PgPool,
        broker: Broker,
        restricted: RestrictedDataTokens,
        deliveries: DeliveryWriter,
        sp_api: SpApiClient,
    ) -> Self {
        Self(Arc::new(Inner {
            pool,
            broker,
            restricted,
            deliveries,
            sp_api,
            targets: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(TARGET_TTL)
                .build(),
        }))
    }

    /// `call` made for a seller of the requester's tenant, with the seller's token (an RDT for
    /// a restricted operation).
    pub async fn seller_call(
        &self,
        who: &Requester,
        seller_id: Uuid,
        mut call: Call,
    ) -> Result<Answer, Error> {
        let target = self.seller_target(who.tenant_id, seller_id).await?;
        let base = self
            .0
            .sp_api
            .base_url(target.region, target.sandbox)
            .to_owned();
        let method = call.method.as_str().to_owned();
        let restricted = restricted_operation(&method, &call.path, call.report_type.as_deref())
            .map(|op| {
                // Data elements only where the RDT may carry them (getOrders, getOrder,
                // getOrderItems).
                let elements: Vec<String> = if op.data_elements {
                    call.data_elements.iter().map(|e| (*e).to_owned()).collect()
                } else {
                    Vec::new()
                };
                elements
            });
        let (delivered, result, kind) = match restricted {
            None => {
                let token = |force_refresh| async move {
                    self.0
                        .broker
                        .seller_token(who, seller_id, None, want(force_refresh))
                        .await
                };
                let (delivered, result) = self.send(&base, &mut call, token).await?;
                (delivered, result, ACCESS_TOKEN)
            }
            Some(elements) => {
                let input = ResourceInput {
                    method: &method,
                    path: call.path.as_str(),
                    data_elements: (!elements.is_empty()).then_some(elements.as_slice()),
                };
                let set = ResourceSet::parse(&[input], None).map_err(|problems| {
                    let message = problems
                        .into_iter()
                        .map(|(_, message)| message)
                        .collect::<Vec<_>>()
                        .join("; ");
                    Error::Invalid {
                        field: "path",
                        message: format!(
                            "cannot be asked for in a Restricted Data Token: {message}"
                        ),
                    }
                })?;
                let token = |force_refresh| {
                    let set = &set;
                    async move {
                        self.0
                            .restricted
                            .restricted_data_token(who, seller_id, set, want(force_refresh))
                            .await
                    }
                };
                let (delivered, result) = self.send(&base, &mut call, token).await?;
                (delivered, result, RESTRICTED_DATA_TOKEN)
            }
        };
        self.finish(
            who,
            Some(seller_id),
            target.application_id,
            (&delivered, kind),
            &call,
            result,
        )
        .await
    }

    /// `call`, a grantless operation, made for an application of the requester's tenant with
    /// its grantless token of the operation's scope, at the SP-API host of `region`.
    pub async fn application_call(
        &self,
        who: &Requester,
        application_id: Uuid,
        region: Region,
        mut call: Call,
    ) -> Result<Answer, Error> {
        let scope =
            grantless_operation_scope(call.method.as_str(), &call.path).ok_or_else(|| {
                Error::Invalid {
                    field: "path",
                    message: "is not a grantless operation (Notifications API destinations and \
                          deleteSubscriptionById, Application Management); call other \
                          operations through a seller"
                        .into(),
                }
            })?;
        let sandbox = applications::find_application(&self.0.pool, who.tenant_id, application_id)
            .await?
            .ok_or_else(|| Error::not_found(format_args!("application {application_id}")))?
            .sandbox;
        let base = self.0.sp_api.base_url(region, sandbox).to_owned();
        let token = |force_refresh| async move {
            self.0
                .broker
                .grantless_token(who, application_id, scope, want(force_refresh))
                .await
        };
        let (delivered, result) = self.send(&base, &mut call, token).await?;
        self.finish(
            who,
            None,
            application_id,
            (&delivered, ACCESS_TOKEN),
            &call,
            result,
        )
        .await
    }

    /// Sends the call with the token `token(false)` gives; if Amazon refuses that token, asks
    /// for a fresh one (`token(true)`) and, if the body can be sent again, sends it once more.
    async fn send<F, Fut>(
        &self,
        base: &str,
        call: &mut Call,
        token: F,
    ) -> Result<(Delivered, Result<Answer, ForwardFailure>), Error>
    where
        F: Fn(bool) -> Fut,
        Fut: std::future::Future<Output = Result<Delivered, Error>>,
    {
        let delivered = token(false).await?;
        let forward = Forward {
            method: call.method.clone(),
            base,
            path: &call.path,
            query: call.query.as_deref(),
            headers: &call.headers,
        };
        let first = self
            .0
            .sp_api
            .forward(&forward, &delivered.token, &mut call.body)
            .await;
        if !first.as_ref().is_ok_and(Answer::refuses_token) {
            return Ok((delivered, first));
        }
        tracing::info!("SP-API refused the token; refreshing it once");
        let fresh = match token(true).await {
            Ok(fresh) => fresh,
            Err(err) => {
                // Amazon's refusal stands; the refresh's failure says why (a revoked seller…).
                tracing::warn!(error = %err, "the refresh after SP-API refused the token failed");
                return Ok((delivered, first));
            }
        };
        if !call.body.replayable() {
            // The body was streamed and is gone: Amazon's answer goes back, and the fresh
            // token serves the next call.
            return Ok((delivered, first));
        }
        let second = self
            .0
            .sp_api
            .forward(&forward, &fresh.token, &mut call.body)
            .await;
        Ok((fresh, second))
    }

    /// Records the call (durably) and counts it; then Amazon's answer may go back.
    async fn finish(
        &self,
        who: &Requester,
        seller_id: Option<Uuid>,
        application_id: Uuid,
        (delivered, kind): (&Delivered, &'static str),
        call: &Call,
        result: Result<Answer, ForwardFailure>,
    ) -> Result<Answer, Error> {
        let status = result.as_ref().ok().map(|answer| answer.status);
        let row = NewTokenDelivery {
            id: Uuid::now_v7(),
            tenant_id: who.tenant_id,
            issue_id: delivered.issue_id,
            seller_id,
            application_id,
            api_key_id: who.api_key_id.unwrap_or_default(),
            source: delivered.source.as_str(),
            via: who.via.as_str(),
            kind,
            delivered_at: Utc::now(),
            request_id: who.request_id.clone(),
            client_ip: who.client_ip.clone(),
            proxy: Some(ProxiedCall {
                method: call.method.as_str().to_owned(),
                path: call.path.as_str().to_owned(),
                status: status.and_then(|s| i16::try_from(s).ok()),
            }),
        };
        metrics::sp_api_proxied(operation_family(&call.path), status);
        match self.0.deliveries.record(row).await {
            Ok(()) => {}
            Err(DeliveryError::Refused) => {
                return Err(
                    match tenants::find_tenant(&self.0.pool, who.tenant_id).await? {
                        Some(tenant) if tenant.disabled => Error::TenantDisabled,
                        _ => match seller_id {
                            Some(id) => Error::not_found(format_args!("seller {id}")),
                            None => Error::not_found(format_args!("application {application_id}")),
                        },
                    },
                )
            }
            Err(DeliveryError::Unwritten(reason)) => return Err(Error::RecordUnwritten(reason)),
        }
        result.map_err(|failure| Error::SpApiUnavailable(failure.as_str().to_owned()))
    }

    /// The seller's application and region, remembered.
    async fn seller_target(&self, tenant_id: Uuid, seller_id: Uuid) -> Result<SellerTarget, Error> {
        if let Some(target) = self
            .0
            .targets
            .get(&seller_id)
            .filter(|t| t.tenant_id == tenant_id)
        {
            return Ok(target);
        }
        let row = sellers::find_seller(&self.0.pool, tenant_id, seller_id)
            .await?
            .ok_or_else(|| Error::not_found(format_args!("seller {seller_id}")))?;
        let region = Region::parse(&row.region)
            .map_err(|err| anyhow::anyhow!("seller {seller_id} has a bad region: {err}"))?;
        let sandbox = applications::find_application(&self.0.pool, tenant_id, row.application_id)
            .await?
            .is_some_and(|application| application.sandbox);
        let target = SellerTarget {
            tenant_id,
            application_id: row.application_id,
            region,
            sandbox,
        };
        self.0.targets.insert(seller_id, target);
        Ok(target)
    }
}
