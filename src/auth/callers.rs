//! Authentication before anything else, and extractors that prove it passed.
//!
//! Every route that needs an API key is wrapped in [`require_key`], which authenticates the
//! request (and counts it against its tenant's limit) before the handler's other extractors run.
//! actix polls a handler's extractors together, so authenticating inside an extractor would let
//! a bad path or body answer before a bad key; the middleware keeps the contract's order of checks
//! (401, 403 tenant disabled, 403 scope, then 404/400/422). The extractors below only read the
//! `Principal` the middleware left and check the route's scope.

use std::future::{ready, Ready};
use std::marker::PhantomData;

use actix_web::body::BoxBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use uuid::Uuid;

use super::client_address::client_address;
use super::{Authenticator, Principal, RateInfo, TenantRateLimit};
use crate::domain::Scope;
use crate::error::ApiError;
use crate::telemetry::RequestId;
use crate::workflows::trail::Actor;

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

impl OperatorCaller {
    /// The caller, for the audit trail.
    pub fn actor(&self, request_id: &RequestId) -> Actor {
        Actor::operator_key(self.key_id, request_id.as_str())
    }
}

impl<S> TenantCaller<S> {
    /// The caller, for the audit trail.
    pub fn actor(&self, request_id: &RequestId) -> Actor {
        Actor::tenant_key(self.tenant_id, self.key_id, request_id.as_str())
    }
}

pub trait RequiredScope: 'static {
    const SCOPE: Scope;
}

#[derive(Debug, Clone, Copy)]
pub struct AdminScope;
#[derive(Debug, Clone, Copy)]
pub struct TokensScope;
#[derive(Debug, Clone, Copy)]
pub struct AuditScope;

impl RequiredScope for AdminScope {
    const SCOPE: Scope = Scope::Admin;
}
impl RequiredScope for TokensScope {
    const SCOPE: Scope = Scope::Tokens;
}
impl RequiredScope for AuditScope {
    const SCOPE: Scope = Scope::Audit;
}

/// The bearer token of the request, if the header is `Bearer <token>`.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The header SP-API client libraries send their token in. The SP-API proxy routes take the API
/// key there too, so that a library whose "token" is the key works unchanged.
pub const AMAZON_TOKEN_HEADER: &str = "x-amz-access-token";

/// The API key a request presents: `Authorization: Bearer <key>`, or with `amazon_header`, when
/// no `Authorization` header is sent, the value of `x-amz-access-token`. An `Authorization`
/// header always wins, even one that is not a bearer token (it is then refused, never
/// second-guessed). Borrowed from the request: the key is never copied.
fn presented_key(req: &HttpRequest, amazon_header: bool) -> Option<&str> {
    if req.headers().contains_key(header::AUTHORIZATION) || !amazon_header {
        return bearer(req);
    }
    let value = req.headers().get(AMAZON_TOKEN_HEADER)?.to_str().ok()?;
    Some(value.trim())
}

/// Middleware for the routes that need an API key: authenticates the request, counts it against
/// its tenant's limit and leaves the `Principal` for the extractors; on failure answers at once.
pub async fn require_key(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    authenticate_then(req, next, false).await
}

/// [`require_key`] for the SP-API proxy routes: the key may also come in `x-amz-access-token`
/// (see [`AMAZON_TOKEN_HEADER`]).
pub async fn require_key_or_amazon_header(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    authenticate_then(req, next, true).await
}

async fn authenticate_then(
    req: ServiceRequest,
    next: Next<BoxBody>,
    amazon_header: bool,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let checked = match req.app_data::<web::Data<Authenticator>>() {
        Some(auth) => {
            let address = client_address(req.request());
            let key = presented_key(req.request(), amazon_header);
            auth.authenticate(key, address).await
        }
        None => Err(anyhow::anyhow!("the authenticator is not configured").into()),
    };
    let principal = match checked.and_then(|principal| {
        if let Principal::Tenant(tenant) = &principal {
            limit_tenant(req.request(), tenant.tenant_id)?;
        }
        Ok(principal)
    }) {
        Ok(principal) => principal,
        Err(err) => return Ok(with_rate_headers(req.error_response(err))),
    };
    req.extensions_mut().insert(principal);
    next.call(req).await.map(with_rate_headers)
}

/// The `RateLimit-*` headers of a request `limit_tenant` counted, on its answer whatever it is.
pub fn with_rate_headers<B>(mut response: ServiceResponse<B>) -> ServiceResponse<B> {
    let rate = response.request().extensions().get::<RateInfo>().copied();
    if let Some(rate) = rate {
        rate.write_headers(response.headers_mut());
    }
    response
}

/// The `Principal` that `require_key` established for this request.
fn principal(req: &HttpRequest) -> Result<Principal, ApiError> {
    req.extensions().get::<Principal>().cloned().ok_or_else(|| {
        anyhow::anyhow!("route {:?} is not wrapped in require_key", req.path()).into()
    })
}

/// Any caller with a valid key (of an enabled tenant, for tenant keys).
#[derive(Debug, Clone)]
pub struct AnyCaller(pub Principal);

impl FromRequest for AnyCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(principal(req).map(AnyCaller))
    }
}

impl FromRequest for OperatorCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(principal(req).and_then(|principal| match principal {
            Principal::Operator { key_id } => Ok(Self { key_id }),
            Principal::Tenant(_) => Err(ApiError::Forbidden(
                "this route needs an operator key; tenant keys act inside their tenant only",
            )),
        }))
    }
}

/// Counts the request against its tenant's limit; the answer's headers will say where it stands.
pub fn limit_tenant(req: &HttpRequest, tenant_id: Uuid) -> Result<(), ApiError> {
    let Some(limit) = req.app_data::<web::Data<TenantRateLimit>>() else {
        return Ok(());
    };
    match limit.check(tenant_id) {
        Ok(None) => Ok(()),
        Ok(Some(info)) => {
            req.extensions_mut().insert(info);
            Ok(())
        }
        Err(limited) => {
            req.extensions_mut().insert(limited.info);
            Err(limited.into())
        }
    }
}

impl<S: RequiredScope> FromRequest for TenantCaller<S> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(principal(req).and_then(|principal| match principal {
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
        }))
    }
}
