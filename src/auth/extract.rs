//! Extractors that prove a request passed authentication and authorization.

use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use uuid::Uuid;

use super::{Authenticator, Principal, TenantRateLimit};
use crate::domain::Scope;
use crate::error::ApiError;

/// A caller holding an operator key.
#[derive(Debug, Clone, Copy)]
pub struct OperatorCaller {
    pub key_id: Uuid,
}

/// A caller holding a key of an enabled tenant with scope `S`.
#[derive(Debug, Clone, Copy)]
pub struct TenantCaller<S> {
    pub key_id: Uuid,
    pub tenant_id: Uuid,
    scope: PhantomData<S>,
}

pub trait RequiredScope: 'static {
    const SCOPE: Scope;
}

#[derive(Debug, Clone, Copy)]
pub struct Admin;
#[derive(Debug, Clone, Copy)]
pub struct Tokens;
#[derive(Debug, Clone, Copy)]
pub struct Audit;

impl RequiredScope for Admin {
    const SCOPE: Scope = Scope::Admin;
}
impl RequiredScope for Tokens {
    const SCOPE: Scope = Scope::Tokens;
}
impl RequiredScope for Audit {
    const SCOPE: Scope = Scope::Audit;
}

/// The client's address: the TCP peer. (Headers such as `X-Forwarded-For` are not trusted.)
pub fn client_address(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip())
}

/// The bearer token of the request, if the header is `Bearer <token>`.
fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn authenticate(req: &HttpRequest) -> LocalBoxFuture<'static, Result<Principal, ApiError>> {
    let auth = req.app_data::<web::Data<Authenticator>>().cloned();
    let token = bearer(req);
    let address = client_address(req);
    Box::pin(async move {
        let auth: Arc<Authenticator> = auth
            .ok_or_else(|| anyhow::anyhow!("the authenticator is not configured"))?
            .into_inner();
        auth.authenticate(token.as_deref(), address).await
    })
}

/// Any caller with a valid key (of an enabled tenant, for tenant keys).
#[derive(Debug, Clone)]
pub struct AnyCaller(pub Principal);

impl FromRequest for AnyCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let principal = authenticate(req);
        Box::pin(async move { principal.await.map(AnyCaller) })
    }
}

impl FromRequest for OperatorCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let principal = authenticate(req);
        Box::pin(async move {
            match principal.await? {
                Principal::Operator { key_id } => Ok(Self { key_id }),
                Principal::Tenant(_) => Err(ApiError::Forbidden(
                    "this route needs an operator key; tenant keys act inside their tenant only",
                )),
            }
        })
    }
}

/// Counts the request against its tenant's limit; the answer's headers will say where it stands.
pub fn limit_tenant(req: &HttpRequest, tenant_id: Uuid) -> Result<(), ApiError> {
    let Some(limit) = req.app_data::<web::Data<TenantRateLimit>>() else {
        return Ok(());
    };
    if let Some(info) = limit.check(tenant_id)? {
        req.extensions_mut().insert(info);
    }
    Ok(())
}

impl<S: RequiredScope> FromRequest for TenantCaller<S> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let principal = authenticate(req);
        let req = req.clone();
        Box::pin(async move {
            let principal = principal.await?;
            if let Principal::Tenant(tenant) = &principal {
                limit_tenant(&req, tenant.tenant_id)?;
            }
            match principal {
                Principal::Operator { .. } => Err(ApiError::Forbidden(
                    "operator keys manage tenants only; use a tenant key",
                )),
                Principal::Tenant(tenant) if tenant.scopes.contains(S::SCOPE) => Ok(Self {
                    key_id: tenant.key_id,
                    tenant_id: tenant.tenant_id,
                    scope: PhantomData,
                }),
                Principal::Tenant(_) => Err(ApiError::Forbidden(match S::SCOPE {
                    Scope::Admin => "this API key lacks the scope \"admin\"",
                    Scope::Tokens => "this API key lacks the scope \"tokens\"",
                    Scope::Audit => "this API key lacks the scope \"audit\"",
                })),
            }
        })
    }
}
