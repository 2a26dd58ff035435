//! The restricted resources a Restricted Data Token is asked for, parsed and canonical.
//!
//! Two requests for the same resources — in another order, with methods in another case, with
//! data elements repeated or reordered — are the same [`ResourceSet`]: one Tokens API call, one
//! cached token. The canonical form is also exactly the body the vault sends to the Tokens API,
//! so the cache key and fingerprint name what Amazon was asked.

use serde_json::{json, Value};
use uuid::Uuid;

pub use super::rules::{MAX_RESTRICTED_RESOURCES, MAX_TARGET_APPLICATION_CHARS};

/// The longest resource path accepted.
pub const MAX_RESTRICTED_PATH_CHARS: usize = 512;
/// The data elements the Orders API can return with a Restricted Data Token.
pub const DATA_ELEMENTS: [&str; 3] = ["buyerInfo", "buyerTaxInformation", "shippingAddress"];
/// The HTTP methods of restricted operations.
pub const RESTRICTED_METHODS: [&str; 4] = ["DELETE", "GET", "POST", "PUT"];
/// Data elements are asked for on the Orders API only.
const ORDERS_PREFIX: &str = "/orders/";

/// One resource as the caller wrote it.
#[derive(Debug, Clone, Copy)]
pub struct ResourceInput<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub data_elements: Option<&'a [String]>,
}

/// One restricted operation: its method (upper case), its path and the data elements asked
/// for (sorted, without repeats).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RestrictedResource {
    method: &'static str,
    path: String,
    data_elements: Vec<&'static str>,
}

impl RestrictedResource {
    pub fn method(&self) -> &'static str {
        self.method
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn data_elements(&self) -> &[&'static str] {
        &self.data_elements
    }
}

/// A canonical set of restricted resources and the application the token is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceSet {
    resources: Vec<RestrictedResource>,
    target_application: Option<String>,
}

/// A field that did not parse: its JSON path (`restricted_resources[2].path`) and why.
pub type FieldProblem = (String, String);

impl ResourceSet {
    /// Parses a request's resources (1–50; each path starting with `/`, at most 512 characters,
    /// no query or fragment; data elements only on Orders paths) and target application. Every
    /// problem is reported, each with its field.
    pub fn parse(
        resources: &[ResourceInput<'_>],
        target_application: Option<&str>,
    ) -> Result<Self, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        if resources.is_empty() || resources.len() > MAX_RESTRICTED_RESOURCES {
            problems.push((
                "restricted_resources".to_owned(),
                format!("must hold 1 to {MAX_RESTRICTED_RESOURCES} resources"),
            ));
        }
        let mut parsed = Vec::with_capacity(resources.len());
        for (index, input) in resources.iter().enumerate() {
            let field = |name: &str| format!("restricted_resources[{index}].{name}");
            let method =
                parse_method(input.method).map_err(|m| problems.push((field("method"), m)));
            let path = parse_path(input.path).map_err(|m| problems.push((field("path"), m)));
            let elements = parse_data_elements(input.path, input.data_elements)
                .map_err(|m| problems.push((field("data_elements"), m)));
            if let (Ok(method), Ok(path), Ok(data_elements)) = (method, path, elements) {
                parsed.push(RestrictedResource {
                    method,
                    path,
                    data_elements,
                });
            }
        }
        let target_application = match target_application {
            None => None,
            Some(target) => match parse_target_application(target) {
                Ok(target) => Some(target),
                Err(message) => {
                    problems.push(("target_application".to_owned(), message));
                    None
                }
            },
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        parsed.sort();
        parsed.dedup();
        Ok(Self {
            resources: parsed,
            target_application,
        })
    }

    pub fn resources(&self) -> &[RestrictedResource] {
        &self.resources
    }

    pub fn target_application(&self) -> Option<&str> {
        self.target_application.as_deref()
    }

    /// Whether the set covers `method path` (exactly; paths are compared as written).
    pub fn covers(&self, method: &str, path: &str) -> bool {
        self.resources
            .iter()
            .any(|r| r.method.eq_ignore_ascii_case(method) && r.path == path)
    }

    /// The Tokens API's request body for this set, canonical: resources sorted, methods upper
    /// case, data elements sorted and deduplicated, keys in a fixed order.
    pub fn tokens_api_body(&self) -> Value {
        let resources: Vec<Value> = self
            .resources
            .iter()
            .map(|r| {
                if r.data_elements.is_empty() {
                    json!({"method": r.method, "path": r.path})
                } else {
                    json!({"method": r.method, "path": r.path, "dataElements": r.data_elements})
                }
            })
            .collect();
        match &self.target_application {
            Some(target) => json!({"restrictedResources": resources, "targetApplication": target}),
            None => json!({"restrictedResources": resources}),
        }
    }

    /// The canonical text of the set (the Tokens API body as compact JSON; its keys are always
    /// written in the same order).
    pub fn canonical(&self) -> String {
        self.tokens_api_body().to_string()
    }

    /// Where the seller's token for this set is cached: a name-based UUID of the seller and the
    /// canonical set.
    pub fn cache_key(&self, seller_id: Uuid) -> Uuid {
        Uuid::new_v5(&seller_id, self.canonical().as_bytes())
    }
}

fn parse_method(method: &str) -> Result<&'static str, String> {
    RESTRICTED_METHODS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(method))
        .copied()
        .ok_or_else(|| format!("must be one of {}", RESTRICTED_METHODS.join(", ")))
}

fn parse_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err("must start with /".into());
    }
    if path.chars().count() > MAX_RESTRICTED_PATH_CHARS {
        return Err(format!(
            "must be at most {MAX_RESTRICTED_PATH_CHARS} characters"
        ));
    }
    if path.contains(['?', '#']) {
        return Err("must be a path only, without a query string or fragment".into());
    }
    if !path.chars().all(|c| c.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".into());
    }
    Ok(path.to_owned())
}

fn parse_data_elements(
    path: &str,
    elements: Option<&[String]>,
) -> Result<Vec<&'static str>, String> {
    let Some(elements) = elements.filter(|e| !e.is_empty()) else {
        return Ok(Vec::new());
    };
    if !path.starts_with(ORDERS_PREFIX) {
        return Err("are only for Orders API paths (/orders/…)".into());
    }
    let mut parsed = elements
        .iter()
        .map(|e| {
            DATA_ELEMENTS
                .iter()
                .find(|known| *known == e)
                .copied()
                .ok_or_else(|| format!("each must be one of {}", DATA_ELEMENTS.join(", ")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort_unstable();
    parsed.dedup();
    Ok(parsed)
}

fn parse_target_application(target: &str) -> Result<String, String> {
    let valid = !target.is_empty()
        && target.chars().count() <= MAX_TARGET_APPLICATION_CHARS
        && target.chars().all(|c| c.is_ascii_graphic());
    if valid {
        Ok(target.to_owned())
    } else {
        Err(format!(
            "must be 1 to {MAX_TARGET_APPLICATION_CHARS} printable ASCII characters"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(
        method: &'a str,
        path: &'a str,
        elements: Option<&'a [String]>,
    ) -> ResourceInput<'a> {
        ResourceInput {
            method,
            path,
            data_elements: elements,
        }
    }

    #[test]
    fn order_case_and_repeats_do_not_change_the_set() {
        let a = vec!["shippingAddress".to_owned(), "buyerInfo".to_owned()];
        let b = vec![
            "buyerInfo".to_owned(),
            "shippingAddress".to_owned(),
            "buyerInfo".to_owned(),
        ];
        let one = ResourceSet::parse(
            &[
                input("GET", "/orders/v0/orders/1", Some(&a)),
                input("get", "/orders/v0/orders/2/address", None),
            ],
            None,
        )
        .unwrap();
        let other = ResourceSet::parse(
            &[
                input("Get", "/orders/v0/orders/2/address", Some(&[])),
                input("gEt", "/orders/v0/orders/1", Some(&b)),
            ],
            None,
        )
        .unwrap();
        assert_eq!(one, other);
        let seller = Uuid::now_v7();
        assert_eq!(one.cache_key(seller), other.cache_key(seller));
        assert_ne!(one.cache_key(seller), one.cache_key(Uuid::now_v7()));
    }

    #[test]
    fn the_target_application_is_part_of_the_set() {
        let resources = [input("GET", "/mfn/v0/shipments/1", None)];
        let plain = ResourceSet::parse(&resources, None).unwrap();
        let targeted = ResourceSet::parse(&resources, Some("amzn1.sellerapps.app.target")).unwrap();
        let seller = Uuid::now_v7();
        assert_ne!(plain.cache_key(seller), targeted.cache_key(seller));
        assert_eq!(
            targeted.tokens_api_body()["targetApplication"],
            "amzn1.sellerapps.app.target"
        );
    }

    #[test]
    fn the_body_is_what_the_tokens_api_takes() {
        let elements = vec!["shippingAddress".to_owned(), "buyerInfo".to_owned()];
        let set = ResourceSet::parse(
            &[input("get", "/orders/v0/orders/1", Some(&elements))],
            None,
        )
        .unwrap();
        let canonical: Value = serde_json::from_str(&set.canonical()).unwrap();
        assert_eq!(
            canonical,
            json!({"restrictedResources": [{"method": "GET", "path": "/orders/v0/orders/1",
                "dataElements": ["buyerInfo", "shippingAddress"]}]})
        );
        assert!(set.covers("GET", "/orders/v0/orders/1"));
        assert!(!set.covers("GET", "/orders/v0/orders/2"));
    }

    #[test]
    fn bad_resources_are_each_reported() {
        let elements = vec!["buyerInfo".to_owned()];
        let long = format!("/{}", "a".repeat(MAX_RESTRICTED_PATH_CHARS));
        let problems = ResourceSet::parse(
            &[
                input("PATCH", "/orders/v0/orders", None),
                input("GET", "orders/v0/orders", None),
                input("GET", "/orders/v0/orders?x=1", None),
                input("GET", &long, None),
                input("GET", "/mfn/v0/shipments/1", Some(&elements)),
                input("GET", "/orders/v0/orders", Some(&["creditCard".to_owned()])),
            ],
            Some(""),
        )
        .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "restricted_resources[0].method",
                "restricted_resources[1].path",
                "restricted_resources[2].path",
                "restricted_resources[3].path",
                "restricted_resources[4].data_elements",
                "restricted_resources[5].data_elements",
                "target_application",
            ]
        );
    }

    #[test]
    fn between_one_and_fifty_resources() {
        assert!(ResourceSet::parse(&[], None).is_err());
        let paths: Vec<String> = (0..=MAX_RESTRICTED_RESOURCES)
            .map(|i| format!("/orders/v0/orders/{i}"))
            .collect();
        let many: Vec<ResourceInput<'_>> = paths.iter().map(|p| input("GET", p, None)).collect();
        assert!(ResourceSet::parse(&many, None).is_err());
        assert!(ResourceSet::parse(&many[..MAX_RESTRICTED_RESOURCES], None).is_ok());
    }
}
