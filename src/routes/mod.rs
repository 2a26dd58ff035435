//! HTTP handlers, one file per resource. Handlers are thin: extract (the caller, proven by
//! `auth::require_key` before anything else is parsed, then path, query and body), call a module
//! below, respond.

pub mod access_tokens;
pub mod amazon_notifications;
pub mod api_keys;
pub mod applications;
pub mod audit_events;
pub mod authorization_links;
pub mod docs;
pub mod health;
pub(crate) mod input;
pub mod lwa_compat;
pub mod oauth_callback;
pub mod restricted_data_tokens;
pub mod sellers;
pub mod sp_api_proxy;
pub mod tenants;
mod timestamps;
pub mod token_trail;
pub mod whoami;

use actix_web::body::BoxBody;
use actix_web::dev::{HttpServiceFactory, ServiceRequest};
use actix_web::http::header::HeaderValue;
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::{from_fn, Next};
use actix_web::{
    guard, web, HttpMessage, HttpResponse, HttpResponseBuilder, Resource, ResponseError, Route,
};

use crate::auth::{require_key, require_key_or_amazon_header};
use crate::error::ApiError;
use crate::telemetry::RouteTemplate;

/// Who may reach a resource.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Anyone (or the route authenticates in its own protocol, like `/auth/o2/token`).
    Open,
    /// Callers with a valid API key; authenticated before the request is parsed any further.
    Key,
    /// As `Key`, the key also taken from `x-amz-access-token` (the SP-API proxy).
    KeyOrAmazonHeader,
}

/// The resource at `path` answering `routes` (one handler per method); other methods answer `405`
/// with `Allow` naming these (RFC 9110). Each request it serves carries its route template (for
/// logs and metrics), and `Access::Key` resources authenticate first (`auth::require_key`).
fn resource<const N: usize>(
    path: &'static str,
    access: Access,
    routes: [(Method, Route); N],
) -> impl HttpServiceFactory {
    let allow = allow_header(routes.iter().map(|(method, _)| method));
    let mut resource = web::resource(path);
    for (method, route) in routes {
        resource = resource.route(route.method(method));
    }
    guarded(resource, path, access, allow)
}

/// As `resource`, with one handler (`route`) for all of `methods`.
fn resource_any_of<const N: usize>(
    path: &'static str,
    access: Access,
    methods: [Method; N],
    route: Route,
) -> impl HttpServiceFactory {
    let allow = allow_header(methods.iter());
    let [first, rest @ ..] = &methods[..] else {
        panic!("{path}: a resource answers at least one method")
    };
    let any = rest
        .iter()
        .fold(guard::Any(guard::Method(first.clone())), |any, method| {
            any.or(guard::Method(method.clone()))
        });
    guarded(
        web::resource(path).route(route.guard(any)),
        path,
        access,
        allow,
    )
}

/// The methods SP-API's operations use.
const SP_API_METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// `resource` answering `405` with `allow` to other methods, carrying its route template,
/// authenticated first as `access` says.
fn guarded(
    resource: Resource,
    path: &'static str,
    access: Access,
    allow: HeaderValue,
) -> impl HttpServiceFactory {
    let resource = resource.default_service(web::to(move || method_not_allowed(allow.clone())));
    resource.wrap(from_fn(
        move |req: ServiceRequest, next: Next<BoxBody>| async move {
            req.extensions_mut().insert(RouteTemplate(path));
            match access {
                Access::Open => next.call(req).await,
                Access::Key => require_key(req, next).await,
                Access::KeyOrAmazonHeader => require_key_or_amazon_header(req, next).await,
            }
        },
    ))
}

/// `Allow`'s value: the methods, comma-separated, in the order given.
fn allow_header<'a>(methods: impl Iterator<Item = &'a Method>) -> HeaderValue {
    let names: Vec<&str> = methods.map(Method::as_str).collect();
    HeaderValue::from_str(&names.join(", ")).expect("method names are valid header text")
}

/// Mounts every route of the API on `cfg`, the busiest first (routes are tried in order).
pub fn configure(cfg: &mut web::ServiceConfig) {
    use Access::{Key, KeyOrAmazonHeader, Open};
    use Method as M;
    cfg.service(resource(
        "/v1/sellers/{seller_id}/access-token",
        Key,
        [(M::POST, web::to(access_tokens::seller_access_token))],
    ))
    // The methods of SP-API's operations, each the operation's own.
    .service(resource_any_of(
        "/v1/sellers/{seller_id}/sp-api/{operation_path:.*}",
        KeyOrAmazonHeader,
        SP_API_METHODS,
        web::to(sp_api_proxy::seller_call),
    ))
    .service(resource_any_of(
        "/v1/applications/{application_id}/sp-api/{operation_path:.*}",
        KeyOrAmazonHeader,
        SP_API_METHODS,
        web::to(sp_api_proxy::application_call),
    ))
    .service(resource(
        "/v1/sellers/{seller_id}/restricted-data-token",
        Key,
        [(
            M::POST,
            web::to(restricted_data_tokens::restricted_data_token),
        )],
    ))
    .service(resource(
        "/auth/o2/token",
        Open,
        [(M::POST, web::to(lwa_compat::token))],
    ))
    .service(resource(
        "/v1/applications/{application_id}/grantless-token",
        Key,
        [(M::POST, web::to(access_tokens::grantless_token))],
    ))
    .service(resource(
        "/healthz",
        Open,
        [(M::GET, web::to(health::healthz))],
    ))
    .service(resource(
        "/readyz",
        Open,
        [(M::GET, web::to(health::readyz))],
    ))
    .service(resource(
        "/openapi.json",
        Open,
        [(M::GET, web::to(docs::openapi_json))],
    ))
    .service(resource(
        "/docs",
        Open,
        [
            (M::GET, web::to(docs::docs_redirect)),
            (M::HEAD, web::to(docs::docs_redirect)),
        ],
    ))
    .service(resource(
        "/metrics",
        Open,
        [(M::GET, web::to(health::metrics))],
    ))
    .service(resource(
        "/v1/whoami",
        Key,
        [(M::GET, web::to(whoami::whoami))],
    ))
    .service(resource(
        "/v1/tenants",
        Key,
        [
            (M::POST, web::to(tenants::create)),
            (M::GET, web::to(tenants::list)),
        ],
    ))
    .service(resource(
        "/v1/tenants/{tenant_id}",
        Key,
        [
            (M::GET, web::to(tenants::get)),
            (M::PATCH, web::to(tenants::update)),
            (M::DELETE, web::to(tenants::delete)),
        ],
    ))
    .service(resource(
        "/v1/api-keys",
        Key,
        [
            (M::POST, web::to(api_keys::create)),
            (M::GET, web::to(api_keys::list)),
        ],
    ))
    .service(resource(
        "/v1/api-keys/{key_id}",
        Key,
        [(M::DELETE, web::to(api_keys::revoke))],
    ))
    .service(resource(
        "/v1/applications",
        Key,
        [
            (M::POST, web::to(applications::create)),
            (M::GET, web::to(applications::list)),
        ],
    ))
    .service(resource(
        "/v1/applications/{application_id}",
        Key,
        [
            (M::GET, web::to(applications::get)),
            (M::PATCH, web::to(applications::update)),
            (M::DELETE, web::to(applications::delete)),
        ],
    ))
    .service(resource(
        "/v1/applications/{application_id}/client-secret",
        Key,
        [(M::PUT, web::to(applications::replace_client_secret))],
    ))
    .service(resource(
        "/v1/applications/{application_id}/authorization-links",
        Key,
        [(M::POST, web::to(authorization_links::create))],
    ))
    .service(resource(
        "/v1/authorization-links",
        Key,
        [(M::GET, web::to(authorization_links::list))],
    ))
    .service(resource(
        "/v1/authorization-links/{link_id}",
        Key,
        [(M::GET, web::to(authorization_links::get))],
    ))
    // Authenticated by the single-use state it carries, not by a key.
    .service(resource(
        "/oauth/callback",
        Open,
        [(M::GET, web::to(oauth_callback::callback))],
    ))
    .service(resource(
        "/v1/applications/{application_id}/client-secret/rotate",
        Key,
        [(M::POST, web::to(applications::rotate_client_secret))],
    ))
    .service(resource(
        "/v1/amazon-notifications",
        Key,
        [(M::POST, web::to(amazon_notifications::receive))],
    ))
    .service(resource(
        "/v1/sellers",
        Key,
        [
            (M::POST, web::to(sellers::create)),
            (M::GET, web::to(sellers::list)),
        ],
    ))
    .service(resource(
        "/v1/sellers/{seller_id}",
        Key,
        [
            (M::GET, web::to(sellers::get)),
            (M::PATCH, web::to(sellers::update)),
            (M::DELETE, web::to(sellers::delete)),
        ],
    ))
    .service(resource(
        "/v1/sellers/{seller_id}/refresh-token",
        Key,
        [(M::PUT, web::to(sellers::replace_refresh_token))],
    ))
    .service(resource(
        "/v1/token-issues",
        Key,
        [(M::GET, web::to(token_trail::list_issues))],
    ))
    .service(resource(
        "/v1/token-issues/lookup",
        Key,
        [(M::POST, web::to(token_trail::lookup))],
    ))
    .service(resource(
        "/v1/token-deliveries",
        Key,
        [(M::GET, web::to(token_trail::list_deliveries))],
    ))
    .service(resource(
        "/v1/audit-events",
        Key,
        [(M::GET, web::to(audit_events::list))],
    ));
}

/// Unknown routes.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such route".into()))
}

/// `405` with `Allow`: the methods the resource does answer.
async fn method_not_allowed(allow: HeaderValue) -> HttpResponse {
    let mut response = ApiError::MethodNotAllowed.error_response();
    response.headers_mut().insert(header::ALLOW, allow);
    response
}

/// The start of a response that reveals a secret (an access token, a new API key): no cache,
/// shared or private, may keep it.
pub(crate) fn revealing(status: StatusCode) -> HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    response
}

/// `204 No Content`.
pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}
