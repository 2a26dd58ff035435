//! The OpenAPI 3.1 document, generated from the handlers' annotations and refined (`refine`)
//! with each input's rule from `domain::rules`, every error and header an operation can answer
//! with, and links between operations.

mod refine;

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
    modifiers(&BearerKeys),
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

/// The document, as served at `/openapi.json` (see `routes::docs`).
pub fn document() -> ApiDocument {
    ApiDocument(serde_json::to_string(&document_value()).expect("the OpenAPI document serializes"))
}

/// The document as JSON.
pub fn document_value() -> serde_json::Value {
    let mut document =
        serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
    refine::refine(&mut document);
    document
}

/// `GET /docs/`: Swagger UI (assets compiled in; no CDN) reading `/openapi.json`.
pub fn docs() -> utoipa_swagger_ui::SwaggerUi {
    utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
        .config(utoipa_swagger_ui::Config::from("/openapi.json"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::refine::{self, FIELDS, FREE_FIELDS, LINKS, METHODS, PARAMS, PROTOCOL_BODIES};
    use super::*;
    use crate::domain::rules::{self as rule, Rule};
    use crate::domain::Limit;

    fn operations(doc: &Value) -> Vec<(String, &'static str, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (key, value) in item.as_object().unwrap() {
                assert!(!value.is_null(), "{path} has a null {key}");
            }
            for method in METHODS {
                if item[method].is_object() {
                    out.push((path.clone(), method, &item[method]));
                }
            }
        }
        out
    }

    /// The component names of the request bodies.
    fn request_bodies(doc: &Value) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for (_, _, op) in operations(doc) {
            for content in op["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                let schema = &content.1["schema"];
                let reference = schema["$ref"]
                    .as_str()
                    .or_else(|| schema["oneOf"][0]["$ref"].as_str())
                    .or_else(|| schema["anyOf"][0]["$ref"].as_str());
                if let Some(reference) = reference {
                    names.insert(reference.rsplit('/').next().unwrap().to_owned());
                }
            }
        }
        names
    }

    #[test]
    fn every_request_field_has_its_rule_or_is_declared_free() {
        let doc = document_value();
        let bodies = request_bodies(&doc);
        assert!(bodies.contains("CreateSeller"), "{bodies:?}");
        for body in &bodies {
            if PROTOCOL_BODIES.contains(&body.as_str()) {
                continue;
            }
            let schema = &doc["components"]["schemas"][body];
            assert_eq!(
                schema["additionalProperties"],
                Value::Bool(false),
                "{body}: the handler refuses unknown fields, the document must say so"
            );
            for property in schema["properties"].as_object().unwrap().keys() {
                let ruled = FIELDS
                    .iter()
                    .any(|f| f.schema == body && f.property == property && f.rule.is_some());
                let free = FREE_FIELDS.contains(&(body.as_str(), property.as_str()));
                assert!(
                    ruled || free,
                    "{body}.{property} has no rule in openapi::refine::FIELDS and is not in FREE_FIELDS"
                );
            }
        }
    }

    #[test]
    fn every_query_parameter_has_its_rule_or_a_format() {
        let doc = document_value();
        for (path, method, op) in operations(&doc) {
            for parameter in op["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] != "query" {
                    continue;
                }
                let name = parameter["name"].as_str().unwrap();
                let ruled = PARAMS
                    .iter()
                    .any(|p| p.name == name && p.path.is_none_or(|only| only == path));
                assert!(
                    ruled || refine::free_param(&path, &parameter["schema"]),
                    "{method} {path}: query parameter {name} has no rule"
                );
                assert!(
                    !parameter["schema"]["type"].is_array(),
                    "{method} {path}: {name} cannot be null in a query string"
                );
            }
        }
    }

    #[test]
    fn the_document_declares_the_parsers_own_bounds() {
        let doc = document_value();
        let schemas = &doc["components"]["schemas"];
        let name = &schemas["CreateTenant"]["properties"]["name"];
        assert_eq!(name["maxLength"], rule::TENANT_NAME_MAX_CHARS);
        assert_eq!(
            schemas["CreateApiKey"]["properties"]["name"]["maxLength"],
            rule::DISPLAY_NAME_MAX_CHARS
        );
        assert_eq!(
            schemas["CreateSeller"]["properties"]["marketplace_ids"]["maxItems"],
            rule::MAX_MARKETPLACE_IDS
        );
        assert_eq!(
            schemas["CreateApiKey"]["properties"]["scopes"]["items"]["enum"],
            serde_json::json!(["admin", "tokens", "audit"])
        );
        let limit = doc["paths"]["/v1/sellers"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(limit["schema"]["maximum"], Limit::MAX);
        assert_eq!(limit["schema"]["minimum"], 1);
        // Every listed field carries exactly its rule's keywords.
        for field in FIELDS {
            let declared = &schemas[field.schema]["properties"][field.property];
            match field.rule {
                Some(Rule::Text {
                    min_chars,
                    max_chars,
                    pattern,
                }) => {
                    assert_eq!(declared["minLength"], *min_chars, "{}", field.property);
                    assert_eq!(declared["maxLength"], *max_chars, "{}", field.property);
                    assert_eq!(declared["pattern"].as_str(), *pattern, "{}", field.property);
                }
                Some(Rule::Integer { min, max }) => {
                    assert_eq!(declared["minimum"], *min, "{}", field.property);
                    assert_eq!(declared["maximum"], *max, "{}", field.property);
                }
                Some(Rule::OneOf(values)) => {
                    for value in *values {
                        assert!(
                            declared["enum"]
                                .as_array()
                                .unwrap()
                                .contains(&(*value).into()),
                            "{}",
                            field.property
                        );
                    }
                }
                Some(Rule::List { max_items, .. }) => {
                    assert_eq!(declared["maxItems"], *max_items, "{}", field.property);
                }
                Some(Rule::Objects {
                    min_items,
                    max_items,
                }) => {
                    assert_eq!(declared["minItems"], *min_items, "{}", field.property);
                    assert_eq!(declared["maxItems"], *max_items, "{}", field.property);
                    assert!(declared["items"]["$ref"].is_string(), "{}", field.property);
                }
                None => {}
            }
            if let Some(note) = field.note {
                let description = declared["description"].as_str().unwrap().to_lowercase();
                assert!(
                    description.contains(&note.to_lowercase()),
                    "{}",
                    field.property
                );
            }
        }
    }

    #[test]
    fn every_operation_declares_its_errors_and_their_headers() {
        let doc = document_value();
        for (path, method, op) in operations(&doc) {
            let responses = &op["responses"];
            let not_allowed = &responses["405"];
            assert_eq!(
                not_allowed["headers"]["Allow"]["required"], true,
                "{method} {path}"
            );
            for (status, response) in responses.as_object().unwrap() {
                assert!(
                    response["headers"]["x-request-id"].is_object(),
                    "{method} {path} {status}"
                );
            }
            if path.starts_with("/auth/") || path == "/oauth/callback" {
                continue;
            }
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                for status in ["401", "403", "429", "503"] {
                    assert_eq!(
                        responses[status]["content"]["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{method} {path} {status}"
                    );
                }
                assert_eq!(responses["429"]["headers"]["Retry-After"]["required"], true);
                assert_eq!(responses["503"]["headers"]["Retry-After"]["required"], true);
            }
            if op["requestBody"].is_object() {
                for status in ["400", "413", "422"] {
                    assert!(responses[status].is_object(), "{method} {path} {status}");
                }
            }
        }
    }

    #[test]
    fn operation_ids_are_unique_and_each_create_links_to_what_takes_its_id() {
        let doc = document_value();
        let mut ids = BTreeSet::new();
        for (path, method, op) in operations(&doc) {
            let id = op["operationId"].as_str().unwrap().to_owned();
            assert!(
                ids.insert(id.clone()),
                "{method} {path}: {id} is not unique"
            );
        }
        let by_id = |id: &str| {
            operations(&doc)
                .into_iter()
                .find(|(_, _, op)| op["operationId"] == id)
                .unwrap_or_else(|| panic!("no operation {id}"))
        };
        for created in LINKS {
            let (_, _, op) = by_id(created.operation);
            let links = op["responses"]["201"]["links"]
                .as_object()
                .unwrap_or_else(|| panic!("{}: no links on its 201", created.operation));
            for target in created.targets {
                let (path, _, _) = by_id(target);
                assert!(
                    path.contains(&format!("{{{}}}", created.parameter)),
                    "{target}"
                );
                assert_eq!(links[*target]["parameters"][created.parameter], created.id);
            }
        }
        // Every operation that takes an id of something the API creates is reached by a link.
        for (path, method, op) in operations(&doc) {
            let id = op["operationId"].as_str().unwrap();
            for created in LINKS {
                if path.contains(&format!("{{{}}}", created.parameter)) {
                    assert!(
                        created.targets.contains(&id),
                        "{method} {path} takes {} but no link leads to it",
                        created.parameter
                    );
                }
            }
        }
    }
}
