//! What the handlers' annotations cannot say, added to the generated document as data: each
//! input field's rule (from `domain::rules`, the constants the parsers use), the errors and
//! headers each operation can answer with, and links from each create operation to the
//! operations that take the id it returns.
//!
//! A new route is covered by adding its fields to `FIELDS`, its query parameters to `PARAMS` and
//! its created resource to `LINKS`; the unit tests in `openapi` fail on a request field or query
//! parameter that has no rule and is not listed as free.

use serde_json::{json, Map, Value};

use crate::domain::rules::{self, Rule};
use crate::error::PROBLEM_JSON;

/// A request body field: its schema component, its property, its rule (if JSON Schema can say
/// it), and what it cannot (added to the field's description).
pub(super) struct Field {
    pub schema: &'static str,
    pub property: &'static str,
    pub rule: Option<&'static Rule>,
    pub note: Option<&'static str>,
}

const fn field(schema: &'static str, property: &'static str, rule: &'static Rule) -> Field {
    Field {
        schema,
        property,
        rule: Some(rule),
        note: None,
    }
}

const fn noted(
    schema: &'static str,
    property: &'static str,
    rule: Option<&'static Rule>,
    note: &'static str,
) -> Field {
    Field {
        schema,
        property,
        rule,
        note: Some(note),
    }
}

/// Rules of request body fields. Fields typed as an enum, a UUID, a time or a boolean are
/// described by their type and are not listed.
pub(super) const FIELDS: &[Field] = &[
    field("CreateTenant", "name", &rules::TENANT_NAME),
    field("UpdateTenant", "name", &rules::TENANT_NAME),
    field("CreateApiKey", "name", &rules::DISPLAY_NAME),
    field("CreateApiKey", "scopes", &rules::SCOPES),
    noted("CreateApiKey", "expires_at", None, "Must be in the future."),
    field("CreateApplication", "name", &rules::DISPLAY_NAME),
    field("CreateApplication", "client_id", &rules::CLIENT_ID),
    field("CreateApplication", "client_secret", &rules::CLIENT_SECRET),
    field("CreateApplication", "solution_id", &rules::SOLUTION_ID),
    field("CreateApplication", "redirect_uri", &rules::BROWSER_URL),
    field("UpdateApplication", "name", &rules::DISPLAY_NAME),
    field("UpdateApplication", "solution_id", &rules::SOLUTION_ID),
    field("UpdateApplication", "redirect_uri", &rules::BROWSER_URL),
    field(
        "ReplaceClientSecret",
        "client_secret",
        &rules::CLIENT_SECRET,
    ),
    noted(
        "ReplaceClientSecret",
        "keep_previous_until",
        None,
        "Must be in the future.",
    ),
    field(
        "CreateSeller",
        "selling_partner_id",
        &rules::SELLING_PARTNER_ID,
    ),
    field("CreateSeller", "refresh_token", &rules::REFRESH_TOKEN),
    field("CreateSeller", "external_id", &rules::EXTERNAL_ID),
    field("CreateSeller", "marketplace_ids", &rules::MARKETPLACE_IDS),
    field("UpdateSeller", "external_id", &rules::EXTERNAL_ID),
    field("UpdateSeller", "marketplace_ids", &rules::MARKETPLACE_IDS),
    field(
        "ReplaceRefreshToken",
        "refresh_token",
        &rules::REFRESH_TOKEN,
    ),
    field("CreateAuthorizationLink", "region", &rules::REGION),
    noted(
        "CreateAuthorizationLink",
        "marketplace_id",
        Some(&rules::MARKETPLACE_ID),
        "Must be one of Amazon's marketplaces, in `region`.",
    ),
    field("CreateAuthorizationLink", "partner", &rules::PARTNER),
    field(
        "CreateAuthorizationLink",
        "external_id",
        &rules::EXTERNAL_ID,
    ),
    field("CreateAuthorizationLink", "return_url", &rules::BROWSER_URL),
    field(
        "CreateAuthorizationLink",
        "expires_in_seconds",
        &rules::LINK_LIFETIME,
    ),
    noted(
        "CreateAuthorizationLink",
        "amazon_callback_uri",
        Some(&rules::BROWSER_URL),
        "Must be on a Seller or Vendor Central host; given together with `amazon_state`.",
    ),
    noted(
        "CreateAuthorizationLink",
        "amazon_state",
        Some(&rules::AMAZON_STATE),
        "Given together with `amazon_callback_uri`.",
    ),
    field(
        "AccessTokenRequest",
        "min_ttl_seconds",
        &rules::MIN_TTL_SECONDS,
    ),
    field(
        "RestrictedDataTokenRequest",
        "restricted_resources",
        &rules::RESTRICTED_RESOURCES,
    ),
    field(
        "RestrictedDataTokenRequest",
        "target_application",
        &rules::TARGET_APPLICATION,
    ),
    field(
        "RestrictedDataTokenRequest",
        "min_ttl_seconds",
        &rules::MIN_TTL_SECONDS,
    ),
    field("GrantlessTokenRequest", "scope", &rules::GRANTLESS_SCOPE),
    field("LookupRequest", "access_token", &rules::ACCESS_TOKEN),
    field("CompatTokenRequest", "grant_type", &rules::LWA_GRANT_TYPE),
];

/// Request body fields free of rules beyond their type (any value of it is accepted).
#[cfg(test)]
pub(super) const FREE_FIELDS: &[(&str, &str)] = &[
    ("UpdateTenant", "disabled"),
    ("CreateApiKey", "expires_at"),
    ("CreateApplication", "client_secret_expires_at"),
    ("CreateApplication", "draft"),
    ("CreateApplication", "auto_rotate"),
    ("UpdateApplication", "draft"),
    ("UpdateApplication", "auto_rotate"),
    ("ReplaceClientSecret", "client_secret_expires_at"),
    ("ReplaceClientSecret", "keep_previous_until"),
    ("CreateSeller", "application_id"),
    ("CreateSeller", "region"),
    ("AccessTokenRequest", "force_refresh"),
    ("CreateApplication", "sandbox"),
    ("UpdateApplication", "sandbox"),
    ("RestrictedDataTokenRequest", "force_refresh"),
];

/// Request bodies that are documentation of a protocol the handler parses by itself: the
/// LWA-compatible token request (LWA's own rules and answers) and Amazon's notifications
/// (whose payload depends on their type; see their operation).
#[cfg(test)]
pub(super) const PROTOCOL_BODIES: &[&str] = &["CompatTokenRequest", "AmazonNotification"];

/// A query parameter's rule: on every operation (`path: None`) or on one path.
pub(super) struct Param {
    pub path: Option<&'static str>,
    pub name: &'static str,
    pub rule: &'static Rule,
}

const fn param(name: &'static str, rule: &'static Rule) -> Param {
    Param {
        path: None,
        name,
        rule,
    }
}

pub(super) const PARAMS: &[Param] = &[
    param("limit", &rules::LIMIT),
    param("cursor", &rules::CURSOR),
    param("external_id", &rules::EXTERNAL_ID),
    param(
        "client_secret_expires_within_days",
        &rules::EXPIRES_WITHIN_DAYS,
    ),
    Param {
        path: Some("/v1/sellers"),
        name: "status",
        rule: &rules::SELLER_STATUS,
    },
    Param {
        path: Some("/v1/authorization-links"),
        name: "status",
        rule: &rules::LINK_STATUS,
    },
];

/// Query parameters described by their type alone (`uuid`, `date-time`), and the callback's,
/// which Amazon sends and which the vault answers in HTML whatever they are.
#[cfg(test)]
pub(super) fn free_param(path: &str, schema: &Value) -> bool {
    path == "/oauth/callback" || schema.get("format").is_some()
}

/// A created resource: the operation that makes it, where its id is in the answer, and the
/// operations (by `operationId`) that take that id as a path parameter.
pub(super) struct Created {
    pub operation: &'static str,
    pub id: &'static str,
    pub parameter: &'static str,
    pub targets: &'static [&'static str],
}

/// A created resource whose id another operation takes in its body (merged into the body a
/// client or fuzzer makes): (create operation, its id, target operation, body field).
pub(super) const BODY_LINKS: &[(&str, &str, &str, &str)] = &[(
    "create_application",
    "$response.body#/id",
    "create_seller",
    "application_id",
)];

pub(super) const LINKS: &[Created] = &[
    Created {
        operation: "create_tenant",
        id: "$response.body#/tenant/id",
        parameter: "tenant_id",
        targets: &["get_tenant", "update_tenant", "delete_tenant"],
    },
    Created {
        operation: "create_api_key",
        id: "$response.body#/id",
        parameter: "key_id",
        targets: &["revoke_api_key"],
    },
    Created {
        operation: "create_application",
        id: "$response.body#/id",
        parameter: "application_id",
        targets: &[
            "get_application",
            "update_application",
            "replace_client_secret",
            "rotate_client_secret",
            "create_authorization_link",
            "grantless_token",
            "application_call_get",
            "application_call_post",
            "application_call_put",
            "application_call_patch",
            "application_call_delete",
            "delete_application",
        ],
    },
    Created {
        operation: "create_authorization_link",
        id: "$response.body#/id",
        parameter: "link_id",
        targets: &["get_authorization_link"],
    },
    Created {
        operation: "create_seller",
        id: "$response.body#/id",
        parameter: "seller_id",
        targets: &[
            "get_seller",
            "update_seller",
            "replace_refresh_token",
            "seller_access_token",
            "restricted_data_token",
            "seller_call_get",
            "seller_call_post",
            "seller_call_put",
            "seller_call_patch",
            "seller_call_delete",
            "delete_seller",
        ],
    },
];

pub(super) const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Applies everything above to the generated document.
pub(super) fn refine(doc: &mut Value) {
    one_id_per_operation(doc);
    optional_bodies(doc);
    body_rules(doc);
    query_rules(doc);
    responses(doc);
    links(doc);
}

/// A handler serving several methods (the SP-API proxy) is one operation per method, each with
/// its own id: `{handler}_{method}`.
fn one_id_per_operation(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        let ids: Vec<&str> = METHODS
            .iter()
            .filter_map(|m| item.get(*m)?.get("operationId")?.as_str())
            .collect();
        let shared = ids.len() > 1 && ids.windows(2).all(|w| w[0] == w[1]);
        if !shared {
            continue;
        }
        for method in METHODS {
            if let Some(op) = item.get_mut(method) {
                let id = format!(
                    "{}_{method}",
                    op["operationId"].as_str().unwrap_or_default()
                );
                op["operationId"] = json!(id);
            }
        }
    }
}

/// An optional body is a request without one (`requestBody.required` is false), not a JSON
/// `null`, which the handlers refuse like any other value of the wrong type: utoipa's
/// `oneOf: [null, X]` for `Option<X>` becomes `X`.
fn optional_bodies(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        for method in METHODS {
            let Some(content) = item
                .get_mut(method)
                .and_then(|op| op.get_mut("requestBody"))
                .and_then(|body| body.get_mut("content"))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            for media in content.values_mut() {
                let schema = &mut media["schema"];
                let Some(one_of) = schema["oneOf"].as_array() else {
                    continue;
                };
                let null = json!({"type": "null"});
                let others: Vec<&Value> = one_of.iter().filter(|s| **s != null).collect();
                if let [other] = others.as_slice() {
                    if one_of.len() == 2 {
                        *schema = (*other).clone();
                    }
                }
            }
        }
    }
}

fn body_rules(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    for field in FIELDS {
        let target = schemas
            .get_mut(field.schema)
            .and_then(|schema| schema.get_mut("properties"))
            .and_then(|properties| properties.get_mut(field.property))
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| {
                panic!("{}.{} is not in the document", field.schema, field.property)
            });
        if let Some(rule) = field.rule {
            apply(rule, target);
        }
        if let Some(note) = field.note {
            let description = match target.get("description").and_then(Value::as_str) {
                Some(text) if !text.to_lowercase().contains(&note.to_lowercase()) => {
                    format!("{text} {note}")
                }
                Some(text) => text.to_owned(),
                None => note.to_owned(),
            };
            target.insert("description".into(), description.into());
        }
    }
    // The two Appstore fields come together (a JSON Schema 2020-12 keyword).
    if let Some(link) = schemas["CreateAuthorizationLink"].as_object_mut() {
        link.insert(
            "dependentRequired".into(),
            json!({"amazon_callback_uri": ["amazon_state"], "amazon_state": ["amazon_callback_uri"]}),
        );
    }
}

/// Writes `rule` into a schema, keeping its `type` (and whether it admits `null`).
fn apply(rule: &Rule, target: &mut Map<String, Value>) {
    let nullable = target
        .get("type")
        .and_then(Value::as_array)
        .is_some_and(|types| types.iter().any(|t| t == "null"));
    let with_null = |kind: &str| {
        if nullable {
            json!([kind, "null"])
        } else {
            json!(kind)
        }
    };
    match *rule {
        Rule::Text {
            min_chars,
            max_chars,
            pattern,
        } => {
            target.insert("type".into(), with_null("string"));
            target.insert("minLength".into(), min_chars.into());
            target.insert("maxLength".into(), max_chars.into());
            if let Some(pattern) = pattern {
                target.insert("pattern".into(), pattern.into());
            }
        }
        Rule::OneOf(values) => {
            let mut values: Vec<Value> = values.iter().map(|v| json!(v)).collect();
            if nullable {
                values.push(Value::Null);
            }
            target.insert("type".into(), with_null("string"));
            target.insert("enum".into(), values.into());
        }
        Rule::Integer { min, max } => {
            target.insert("type".into(), with_null("integer"));
            target.insert("minimum".into(), min.into());
            target.insert("maximum".into(), max.into());
        }
        Rule::List {
            min_items,
            max_items,
            unique,
            item,
        } => {
            target.insert("type".into(), with_null("array"));
            target.insert("minItems".into(), min_items.into());
            target.insert("maxItems".into(), max_items.into());
            target.insert("uniqueItems".into(), unique.into());
            let mut items = Map::new();
            apply(item, &mut items);
            target.insert("items".into(), items.into());
        }
        Rule::Objects {
            min_items,
            max_items,
        } => {
            target.insert("type".into(), with_null("array"));
            target.insert("minItems".into(), min_items.into());
            target.insert("maxItems".into(), max_items.into());
        }
    }
}

/// The schema of a query parameter with `rule` (never `null`: a query string has no null).
pub(super) fn param_schema(rule: &Rule) -> Value {
    let mut schema = Map::new();
    apply(rule, &mut schema);
    schema.into()
}

fn query_rules(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            let Some(parameters) = item
                .get_mut(method)
                .and_then(|op| op.get_mut("parameters"))
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for parameter in parameters.iter_mut().filter(|p| p["in"] == "query") {
                let name = parameter["name"].as_str().unwrap_or_default().to_owned();
                let rule = PARAMS
                    .iter()
                    .filter(|p| p.name == name)
                    .find(|p| p.path.is_none_or(|only| only == path))
                    .map(|p| p.rule);
                let schema = match rule {
                    Some(rule) => param_schema(rule),
                    None => without_null(parameter["schema"].take()),
                };
                parameter["schema"] = schema;
            }
        }
    }
}

/// A query parameter's generated schema, minus the `null` its `Option` type added.
fn without_null(mut schema: Value) -> Value {
    if let Some(types) = schema["type"].as_array() {
        let types: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        schema["type"] = match types.as_slice() {
            [one] => one.clone(),
            _ => types.into(),
        };
    }
    schema
}

/// A header's description and schema.
fn header(description: &str, schema: Value, required: bool) -> Value {
    json!({"description": description, "required": required, "schema": schema})
}

fn seconds() -> Value {
    json!({"type": "string", "pattern": "^[0-9]+$"})
}

/// The errors each operation can answer with, and the headers of every answer.
fn responses(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        // `/auth/o2/token` answers in LWA's shapes (declared on it); the callback answers a
        // browser in HTML; both still answer an unknown method with the API's `405`.
        let lwa = path.starts_with("/auth/");
        let html = path == "/oauth/callback";
        for method in METHODS {
            let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            let secured = operation
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| {
                    s.iter()
                        .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
                });
            let has_body = operation.contains_key("requestBody");
            let parameters = operation
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let has_query = parameters.iter().any(|p| p["in"] == "query");
            let has_path = parameters.iter().any(|p| p["in"] == "path");

            let mut statuses: Vec<(&str, &str)> = vec![
                (
                    "405",
                    "method_not_allowed: `Allow` lists the methods this path answers",
                ),
                ("500", "internal: a bug"),
            ];
            if !lwa && !html {
                if secured {
                    statuses.extend([
                        ("401", "unauthenticated: no, malformed, unknown, revoked or expired key"),
                        ("403", "forbidden (the key lacks the scope, or is of the other kind) or tenant_disabled"),
                        ("429", "rate_limited: too many requests for the tenant, or too many failed authentications from this address; see `Retry-After`"),
                        ("503", "unavailable (the database) or upstream_unavailable (Amazon); see `Retry-After`"),
                    ]);
                }
                if has_body {
                    statuses.extend([
                        ("400", "malformed_request: the body is not JSON, not `application/json`, or has an unknown field"),
                        ("408", "request_timeout: the body did not arrive in time"),
                        ("413", "payload_too_large: the body is over 64 KiB"),
                        ("422", "validation_failed, with one entry per invalid field in `errors`"),
                    ]);
                }
                if has_query {
                    statuses.extend([
                        ("400", "malformed_request: the query string is malformed"),
                        (
                            "422",
                            "validation_failed, with one entry per invalid field in `errors`",
                        ),
                    ]);
                }
                if has_path {
                    statuses.push((
                        "404",
                        "not_found: no such resource in this tenant, or an id that is not a UUID",
                    ));
                }
            }
            let responses = operation
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("responses are an object");
            for (status, description) in statuses {
                responses
                    .entry(status)
                    .or_insert_with(|| problem(description));
            }
            for (status, response) in responses.iter_mut() {
                add_headers(status, response, secured, lwa);
            }
        }
    }
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    })
}

fn add_headers(status: &str, response: &mut Value, secured: bool, lwa: bool) {
    let headers = response
        .as_object_mut()
        .expect("a response is an object")
        .entry("headers")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("headers are an object");
    headers.insert(
        "x-request-id".into(),
        header(
            "The request's id: the caller's `x-request-id` if it is sane (at most 64 visible characters), else a new one. Logged with everything the request did.",
            json!({"type": "string", "minLength": 1, "maxLength": 64}),
            true,
        ),
    );
    if secured || lwa {
        for (name, description) in [
            (
                "RateLimit-Limit",
                "The tenant's burst: requests it may make at once (on requests of a tenant key).",
            ),
            (
                "RateLimit-Remaining",
                "Requests left in the tenant's burst now.",
            ),
            ("RateLimit-Reset", "Seconds until the burst is whole again."),
        ] {
            headers.insert(name.into(), header(description, seconds(), false));
        }
    }
    match status {
        "405" => {
            headers.insert(
                "Allow".into(),
                header(
                    "The methods this path answers (RFC 9110).",
                    json!({"type": "string", "minLength": 1}),
                    true,
                ),
            );
        }
        "429" | "503" => {
            headers.insert(
                "Retry-After".into(),
                header("Seconds to wait before trying again.", seconds(), !lwa),
            );
        }
        "401" if !lwa => {
            headers.insert(
                "WWW-Authenticate".into(),
                header(
                    "`Bearer`: the key goes in `Authorization: Bearer spv_…`.",
                    json!({"type": "string"}),
                    true,
                ),
            );
        }
        _ => {}
    }
}

/// OpenAPI links from each create operation to the operations that take the id it returns.
fn links(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for created in LINKS {
        let operation = paths
            .values_mut()
            .flat_map(|item| {
                item.as_object_mut()
                    .into_iter()
                    .flat_map(|i| i.values_mut())
            })
            .find(|op| op["operationId"] == created.operation)
            .unwrap_or_else(|| panic!("no operation {}", created.operation));
        let responses = operation["responses"]
            .as_object_mut()
            .expect("responses are an object");
        let (_, success) = responses
            .iter_mut()
            .find(|(status, _)| status.starts_with('2'))
            .unwrap_or_else(|| panic!("{} has no success", created.operation));
        let links: Map<String, Value> = created
            .targets
            .iter()
            .map(|target| {
                (
                    target.to_string(),
                    json!({
                        "operationId": target,
                        "parameters": {created.parameter: created.id},
                        "description": format!("`{}` is the `{}` of what was created", created.parameter, created.id.trim_start_matches("$response.body#")),
                    }),
                )
            })
            .collect();
        success["links"] = links.into();
    }
    for (source, id, target, field) in BODY_LINKS {
        let operation = paths
            .values_mut()
            .flat_map(|item| {
                item.as_object_mut()
                    .into_iter()
                    .flat_map(|i| i.values_mut())
            })
            .find(|op| op["operationId"] == *source)
            .unwrap_or_else(|| panic!("no operation {source}"));
        let success = operation["responses"]
            .as_object_mut()
            .and_then(|r| r.iter_mut().find(|(status, _)| status.starts_with('2')))
            .map(|(_, success)| success)
            .unwrap_or_else(|| panic!("{source} has no success"));
        let links = success
            .as_object_mut()
            .expect("a response is an object")
            .entry("links")
            .or_insert_with(|| json!({}));
        links[*target] = json!({
            "operationId": target,
            "requestBody": {*field: id},
            "description": format!("`{field}` of the body is the id of what was created"),
        });
    }
}
