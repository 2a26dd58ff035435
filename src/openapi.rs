//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;
use crate::routes::docs::ApiDocument;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "spvault",
        description = "A multi-tenant credential vault for the Amazon Selling Partner API. \
            Errors are `application/problem+json` with a stable `code`."
    ),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::tenants::create,
        routes::tenants::list,
        routes::tenants::get,
        routes::tenants::update,
        routes::tenants::delete,
        routes::api_keys::create,
        routes::api_keys::list,
        routes::api_keys::revoke,
        routes::applications::create,
        routes::applications::list,
        routes::applications::get,
        routes::applications::update,
        routes::applications::replace_client_secret,
        routes::applications::rotate_client_secret,
        routes::amazon_notifications::receive,
        routes::applications::delete,
        routes::authorization_links::create,
        routes::authorization_links::get,
        routes::authorization_links::list,
        routes::oauth_callback::callback,
        routes::sellers::create,
        routes::sellers::list,
        routes::sellers::get,
        routes::sellers::update,
        routes::sellers::replace_refresh_token,
        routes::sellers::delete,
        routes::access_tokens::seller_access_token,
        routes::access_tokens::grantless_token,
        routes::sp_api_proxy::seller_call,
        routes::sp_api_proxy::application_call,
        routes::restricted_data_tokens::restricted_data_token,
        routes::token_trail::list_issues,
        routes::token_trail::list_deliveries,
        routes::token_trail::lookup,
        routes::audit_events::list,
        routes::lwa_compat::token,
        routes::whoami::whoami,
    ),
    components(schemas(crate::error::Problem, crate::error::FieldError,
        crate::error::ProblemErrors, crate::amazon::sp_api::SpApiError)),
    modifiers(&BearerKeys, &ProblemResponses),
    tags(
        (name = "tenants", description = "Tenants (operator keys)"),
        (name = "api-keys", description = "A tenant's API keys (scope `admin`)"),
        (name = "applications", description = "SP-API applications and their client secrets (scope `admin`)"),
        (name = "onboarding", description = "Seller onboarding: consent links (scope `admin`) and Amazon's callback"),
        (name = "sellers", description = "Sellers and their refresh tokens (scope `admin`)"),
        (name = "tokens", description = "Access tokens and Restricted Data Tokens (scope `tokens`)"),
        (name = "sp-api proxy", description = "Any SP-API operation called through the vault, \
            which attaches the token (scope `tokens`); the key may come in `x-amz-access-token`"),
        (name = "audit", description = "The audit trail (scope `audit`)"),
        (name = "lwa-compatible", description = "Login with Amazon's token endpoint, for unmodified SP-API SDKs"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, description) in [
            (
                "operator_key",
                "An operator key, made with `spvault operator-key create`",
            ),
            (
                "tenant_key",
                "A tenant API key; its scopes limit what it may do",
            ),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("spv_<key id>_<secret>")
                        .description(Some(description))
                        .build(),
                ),
            );
        }
    }
}

/// Every operation can answer with the API's errors (see `error`); each is documented as
/// `application/problem+json` with the `Problem` schema, unless the operation says otherwise.
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    crate::error::PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        let common = [
            ("400", "malformed_request: the body is not valid JSON, has an unknown field, or is not JSON"),
            ("401", "unauthenticated: no, malformed, unknown, revoked or expired key"),
            ("403", "forbidden or tenant_disabled"),
            ("404", "not_found"),
            ("405", "method_not_allowed"),
            ("408", "request_timeout: the request did not arrive in time"),
            ("413", "payload_too_large: the body is over 64 KiB"),
            ("422", "validation_failed, with one entry per invalid field in errors"),
            ("429", "rate_limited, with Retry-After"),
            ("500", "internal: a bug"),
            ("503", "unavailable or upstream_unavailable, with Retry-After"),
        ];
        for (path, item) in openapi.paths.paths.iter_mut() {
            // The LWA-compatible endpoint answers in LWA's shape, documented on the operation.
            if path.starts_with("/auth/") {
                continue;
            }
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, description) in common {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem(description).into());
                }
            }
        }
    }
}

/// The document, as served at `/openapi.json` (see `routes::docs`).
pub fn document() -> ApiDocument {
    ApiDocument(
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serializes"),
    )
}

/// `GET /docs/`: Swagger UI (assets compiled in; no CDN) reading `/openapi.json`.
pub fn docs() -> utoipa_swagger_ui::SwaggerUi {
    utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
        .config(utoipa_swagger_ui::Config::from("/openapi.json"))
}
