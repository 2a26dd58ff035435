//! SP-API operations as the proxy sees them: the path of a call (parsed so that it can only ever
//! name a path on Amazon's host), and Amazon's lists, kept here as data — which operations need
//! a Restricted Data Token, which are grantless (and with which scope), and the families the
//! proxy's metric counts calls by.
//!
//! The lists follow Amazon's documentation ("Tokens API use case guide", "Grantless operations",
//! "Report type values"). Paths are matched segment by segment; `{}` stands for one segment
//! (an order id, a shipment id, …).

use std::fmt;

/// The longest operation path the proxy forwards (without the query).
pub const MAX_PATH_CHARS: usize = 2048;

/// The header a caller names the PII it needs with, for the Orders operations that take
/// `dataElements` in their RDT (`buyerInfo,shippingAddress`).
pub const DATA_ELEMENTS_HEADER: &str = "x-spvault-data-elements";

/// The header a caller names the report type with when it downloads a report document
/// (`getReportDocument`): the path holds only the document id, and whether the call needs an
/// RDT depends on the report's type. Without it, the access token is used.
pub const REPORT_TYPE_HEADER: &str = "x-spvault-report-type";

/// The path of an SP-API operation, as the caller sent it (percent-encoding kept): it starts
/// with `/`, has at most [`MAX_PATH_CHARS`] characters, only the characters a URI path may hold,
/// no empty segment (`//`), no `.` or `..` segment (also percent-encoded, also hidden behind an
/// encoded slash or backslash), no backslash. Appended to Amazon's base URL it can only name a
/// path on that host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpApiPath(String);

impl SpApiPath {
    pub fn parse(path: &str) -> Result<Self, String> {
        if !path.starts_with('/') || path == "/" {
            return Err("must be an SP-API operation path, such as /orders/v0/orders".into());
        }
        if path.chars().count() > MAX_PATH_CHARS {
            return Err(format!("must be at most {MAX_PATH_CHARS} characters"));
        }
        if let Some(bad) = path.chars().find(|c| !is_path_char(*c)) {
            return Err(format!(
                "must hold only URI path characters (percent-encode the rest); found {:?}",
                bad
            ));
        }
        let body = &path[1..];
        let segments: Vec<&str> = body.split('/').collect();
        for (i, segment) in segments.iter().enumerate() {
            // A trailing slash is the only empty segment allowed.
            if segment.is_empty() && i + 1 != segments.len() {
                return Err("must not hold an empty segment (//)".into());
            }
            let decoded = percent_decode(segment)
                .ok_or_else(|| "holds a malformed percent-encoding".to_owned())?;
            if decoded
                .split(['/', '\\'])
                .any(|part| part == "." || part == "..")
            {
                return Err("must not hold . or .. segments".into());
            }
            if decoded.contains(['\\', '\0', '\r', '\n']) {
                return Err("must not hold a backslash or control characters".into());
            }
        }
        Ok(Self(path.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn segments(&self) -> impl Iterator<Item = &str> {
        self.0[1..].split('/')
    }

    /// The first segment, the API's name in every SP-API path (`orders`, `reports`, …).
    fn first_segment(&self) -> &str {
        self.segments().next().unwrap_or_default()
    }
}

impl fmt::Display for SpApiPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 3986 `pchar` and `/`: unreserved, sub-delims, `:`, `@`, and `%` of percent-encodings.
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/%".contains(c)
}

/// The bytes a percent-encoded segment stands for (lossy as text), or `None` if a `%` is not
/// followed by two hex digits.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// An operation that needs a Restricted Data Token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestrictedOperation {
    /// Amazon's operation name.
    pub name: &'static str,
    pub method: &'static str,
    /// The path, `{}` for one segment.
    pub path: &'static str,
    /// The RDT may carry `dataElements` (Orders getOrders, getOrder, getOrderItems): the PII
    /// the caller asks for with [`DATA_ELEMENTS_HEADER`].
    pub data_elements: bool,
    /// Restricted only for restricted report types ([`REPORT_TYPE_HEADER`]).
    pub by_report_type: bool,
}

const fn op(name: &'static str, method: &'static str, path: &'static str) -> RestrictedOperation {
    RestrictedOperation {
        name,
        method,
        path,
        data_elements: false,
        by_report_type: false,
    }
}

const fn with_data_elements(operation: RestrictedOperation) -> RestrictedOperation {
    RestrictedOperation {
        data_elements: true,
        ..operation
    }
}

/// Amazon's restricted operations: the ones that return personally identifiable information and
/// so take an RDT in `x-amz-access-token` instead of the access token.
pub const RESTRICTED_OPERATIONS: &[RestrictedOperation] = &[
    // Orders API v0
    with_data_elements(op("getOrders", "GET", "/orders/v0/orders")),
    with_data_elements(op("getOrder", "GET", "/orders/v0/orders/{}")),
    with_data_elements(op(
        "getOrderItems",
        "GET",
        "/orders/v0/orders/{}/orderItems",
    )),
    op("getOrderBuyerInfo", "GET", "/orders/v0/orders/{}/buyerInfo"),
    op("getOrderAddress", "GET", "/orders/v0/orders/{}/address"),
    op(
        "getOrderItemsBuyerInfo",
        "GET",
        "/orders/v0/orders/{}/orderItems/buyerInfo",
    ),
    op(
        "getOrderRegulatedInfo",
        "GET",
        "/orders/v0/orders/{}/regulatedInfo",
    ),
    // Merchant Fulfillment API v0
    op("createShipment", "POST", "/mfn/v0/shipments"),
    op("getShipment", "GET", "/mfn/v0/shipments/{}"),
    op("cancelShipment", "DELETE", "/mfn/v0/shipments/{}"),
    op("cancelShipmentOld", "PUT", "/mfn/v0/shipments/{}/cancel"),
    // Direct Fulfillment Orders API v1 and 2021-12-28
    op(
        "getOrders",
        "GET",
        "/vendor/directFulfillment/orders/v1/purchaseOrders",
    ),
    op(
        "getOrder",
        "GET",
        "/vendor/directFulfillment/orders/v1/purchaseOrders/{}",
    ),
    op(
        "getOrders",
        "GET",
        "/vendor/directFulfillment/orders/2021-12-28/purchaseOrders",
    ),
    op(
        "getOrder",
        "GET",
        "/vendor/directFulfillment/orders/2021-12-28/purchaseOrders/{}",
    ),
    // Direct Fulfillment Shipping API v1: labels, customer invoices, packing slips
    op(
        "getShippingLabels",
        "GET",
        "/vendor/directFulfillment/shipping/v1/shippingLabels",
    ),
    op(
        "getShippingLabel",
        "GET",
        "/vendor/directFulfillment/shipping/v1/shippingLabels/{}",
    ),
    op(
        "getCustomerInvoices",
        "GET",
        "/vendor/directFulfillment/shipping/v1/customerInvoices",
    ),
    op(
        "getCustomerInvoice",
        "GET",
        "/vendor/directFulfillment/shipping/v1/customerInvoices/{}",
    ),
    op(
        "getPackingSlips",
        "GET",
        "/vendor/directFulfillment/shipping/v1/packingSlips",
    ),
    op(
        "getPackingSlip",
        "GET",
        "/vendor/directFulfillment/shipping/v1/packingSlips/{}",
    ),
    // Direct Fulfillment Shipping API 2021-12-28
    op(
        "getShippingLabels",
        "GET",
        "/vendor/directFulfillment/shipping/2021-12-28/shippingLabels",
    ),
    op(
        "getShippingLabel",
        "GET",
        "/vendor/directFulfillment/shipping/2021-12-28/shippingLabels/{}",
    ),
    op(
        "createShippingLabels",
        "POST",
        "/vendor/directFulfillment/shipping/2021-12-28/shippingLabels/{}",
    ),
    op(
        "createContainerLabel",
        "POST",
        "/vendor/directFulfillment/shipping/2021-12-28/containerLabel",
    ),
    op(
        "getCustomerInvoices",
        "GET",
        "/vendor/directFulfillment/shipping/2021-12-28/customerInvoices",
    ),
    op(
        "getCustomerInvoice",
        "GET",
        "/vendor/directFulfillment/shipping/2021-12-28/customerInvoices/{}",
    ),
    op(
        "getPackingSlips",
        "GET",
        "/vendor/directFulfillment/shipping/2021-12-28/packingSlips",
    ),
    op(
        "getPackingSlip",
        "GET",
        "/vendor/directFulfillment/shipping/2021-12-28/packingSlips/{}",
    ),
    // Shipment Invoicing API v0
    op(
        "getShipmentDetails",
        "GET",
        "/fba/outbound/brazil/v0/shipments/{}",
    ),
    // Shipping API v1
    op("getShipment", "GET", "/shipping/v1/shipments/{}"),
    // Reports API 2021-06-30: restricted for restricted report types only
    RestrictedOperation {
        by_report_type: true,
        ..op(
            "getReportDocument",
            "GET",
            "/reports/2021-06-30/documents/{}",
        )
    },
];

/// The report types whose documents hold PII, and so are downloaded with an RDT.
pub const RESTRICTED_REPORT_TYPES: &[&str] = &[
    "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL",
    "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_INVOICING",
    "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_TAX",
    "GET_EASYSHIP_DOCUMENTS",
    "GET_FLAT_FILE_ACTIONABLE_ORDER_DATA_SHIPPING",
    "GET_FLAT_FILE_ORDER_REPORT_DATA_INVOICING",
    "GET_FLAT_FILE_ORDER_REPORT_DATA_SHIPPING",
    "GET_FLAT_FILE_ORDER_REPORT_DATA_TAX",
    "GET_FLAT_FILE_ORDERS_RECONCILIATION_DATA_INVOICING",
    "GET_FLAT_FILE_ORDERS_RECONCILIATION_DATA_SHIPPING",
    "GET_FLAT_FILE_ORDERS_RECONCILIATION_DATA_TAX",
    "GET_GST_MTR_B2B_CUSTOM",
    "GET_ORDER_REPORT_DATA_INVOICING",
    "GET_ORDER_REPORT_DATA_SHIPPING",
    "GET_ORDER_REPORT_DATA_TAX",
    "GET_VAT_TRANSACTION_DATA",
    "SC_VAT_TAX_REPORT",
];

/// Whether `path` (`/a/b/c`) matches `pattern`, `{}` standing for one non-empty segment.
fn matches(pattern: &str, path: &SpApiPath) -> bool {
    let mut wanted = pattern[1..].split('/');
    let mut got = path.segments();
    loop {
        match (wanted.next(), got.next()) {
            (None, None) => return true,
            (Some("{}"), Some(segment)) if !segment.is_empty() => {}
            (Some(want), Some(segment)) if want == segment => {}
            _ => return false,
        }
    }
}

/// The restricted operation `method path` is, if it is one. `report_type` is the caller's hint
/// ([`REPORT_TYPE_HEADER`]): getReportDocument is restricted only for a restricted report type.
pub fn restricted_operation(
    method: &str,
    path: &SpApiPath,
    report_type: Option<&str>,
) -> Option<&'static RestrictedOperation> {
    RESTRICTED_OPERATIONS
        .iter()
        .find(|op| op.method == method && matches(op.path, path))
        .filter(|op| {
            !op.by_report_type
                || report_type.is_some_and(|t| RESTRICTED_REPORT_TYPES.contains(&t.trim()))
        })
}

use super::restricted::DATA_ELEMENTS;

/// The `dataElements` named in [`DATA_ELEMENTS_HEADER`] (comma-separated): sorted, each once.
pub fn parse_data_elements(header: &str) -> Result<Vec<&'static str>, String> {
    let mut elements = Vec::new();
    for name in header.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let known = DATA_ELEMENTS.iter().find(|e| **e == name).ok_or_else(|| {
            format!(
                "unknown data element {name:?}; expected {}",
                DATA_ELEMENTS.join(", ")
            )
        })?;
        if !elements.contains(known) {
            elements.push(*known);
        }
    }
    elements.sort_unstable();
    Ok(elements)
}

/// The grantless operations (called with an application's `client_credentials` token) and the
/// scope of each: `(method or "*", path, scope)`.
pub const GRANTLESS_OPERATIONS: &[(&str, &str, &str)] = &[
    // Notifications API v1: destinations (get, create, get one, delete one)
    (
        "*",
        "/notifications/v1/destinations",
        "sellingpartnerapi::notifications",
    ),
    (
        "*",
        "/notifications/v1/destinations/{}",
        "sellingpartnerapi::notifications",
    ),
    // deleteSubscriptionById
    (
        "DELETE",
        "/notifications/v1/subscriptions/{}/{}",
        "sellingpartnerapi::notifications",
    ),
    // Application Management API: rotateApplicationClientSecret
    (
        "POST",
        "/applications/2023-11-30/clientSecret",
        "sellingpartnerapi::client_credential:rotation",
    ),
];

/// The scope of the grantless operation `method path`, or `None` if it is not one.
pub fn grantless_operation_scope(method: &str, path: &SpApiPath) -> Option<&'static str> {
    GRANTLESS_OPERATIONS
        .iter()
        .find(|(m, pattern, _)| (*m == "*" || *m == method) && matches(pattern, path))
        .map(|(_, _, scope)| *scope)
}

/// The SP-API families (the first segment of their paths) the proxy's metric names; any other
/// path is counted as `other`, so that callers cannot make new series.
const FAMILIES: &[&str] = &[
    "aplus",
    "applications",
    "appIntegrations",
    "authorization",
    "awd",
    "batches",
    "catalog",
    "customerFeedback",
    "dataKiosk",
    "datakiosk",
    "definitions",
    "easyShip",
    "externalFulfillment",
    "fba",
    "feeds",
    "finances",
    "inbound",
    "invoices",
    "listings",
    "messaging",
    "mfn",
    "notifications",
    "orders",
    "pricing",
    "products",
    "replenishment",
    "reports",
    "sales",
    "sellers",
    "services",
    "shipping",
    "solicitations",
    "supplySources",
    "tokens",
    "uploads",
    "vendor",
];

/// The operation family of `path` for metrics: its first segment if it is a known SP-API one.
pub fn operation_family(path: &SpApiPath) -> &'static str {
    let first = path.first_segment();
    FAMILIES
        .iter()
        .find(|f| **f == first)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> SpApiPath {
        SpApiPath::parse(p).unwrap()
    }

    #[test]
    fn operation_paths_are_accepted_as_sent() {
        for p in [
            "/orders/v0/orders",
            "/orders/v0/orders/902-3159896-1390916/orderItems",
            "/listings/2021-08-01/items/A1B2C3/SKU%2F12%20blue",
            "/sellers/v1/marketplaceParticipations",
            "/notifications/v1/destinations/",
        ] {
            assert_eq!(path(p).as_str(), p);
        }
    }

    #[test]
    fn paths_that_could_leave_the_operation_are_refused() {
        for p in [
            "",
            "/",
            "orders/v0/orders",
            "//evil.example.com/x",
            "/orders//v0",
            "/orders/../tokens",
            "/orders/./v0",
            "/orders/%2e%2e/tokens",
            "/orders/%2E./tokens",
            "/orders/a%2f..%2fb",
            "/orders/a%5c..%5cb",
            "/orders\\..\\tokens",
            "/orders/%zz",
            "/orders/%0d%0aHost:%20evil",
            "/orders/v0?x=1",
            "/orders/v0#frag",
            "/orders/v0 HTTP/1.1",
            "/orders/\u{e9}",
            "http://evil.example.com/orders",
        ] {
            assert!(SpApiPath::parse(p).is_err(), "{p:?} was accepted");
        }
        let long = format!("/orders/{}", "a".repeat(MAX_PATH_CHARS));
        assert!(SpApiPath::parse(&long).is_err());
    }

    #[test]
    fn every_restricted_orders_operation_is_recognised() {
        let id = "902-3159896-1390916";
        for (method, p, name, pii) in [
            ("GET", "/orders/v0/orders".to_owned(), "getOrders", true),
            ("GET", format!("/orders/v0/orders/{id}"), "getOrder", true),
            (
                "GET",
                format!("/orders/v0/orders/{id}/orderItems"),
                "getOrderItems",
                true,
            ),
            (
                "GET",
                format!("/orders/v0/orders/{id}/buyerInfo"),
                "getOrderBuyerInfo",
                false,
            ),
            (
                "GET",
                format!("/orders/v0/orders/{id}/address"),
                "getOrderAddress",
                false,
            ),
            (
                "GET",
                format!("/orders/v0/orders/{id}/orderItems/buyerInfo"),
                "getOrderItemsBuyerInfo",
                false,
            ),
            (
                "GET",
                format!("/orders/v0/orders/{id}/regulatedInfo"),
                "getOrderRegulatedInfo",
                false,
            ),
        ] {
            let op = restricted_operation(method, &path(&p), None).expect(&p);
            assert_eq!((op.name, op.data_elements), (name, pii), "{p}");
        }
    }

    #[test]
    fn the_other_restricted_families_are_recognised() {
        for (method, p) in [
            ("POST", "/mfn/v0/shipments"),
            ("GET", "/mfn/v0/shipments/abc"),
            ("DELETE", "/mfn/v0/shipments/abc"),
            (
                "GET",
                "/vendor/directFulfillment/orders/2021-12-28/purchaseOrders/PO1",
            ),
            (
                "GET",
                "/vendor/directFulfillment/shipping/v1/shippingLabels",
            ),
            (
                "GET",
                "/vendor/directFulfillment/shipping/2021-12-28/packingSlips/PO1",
            ),
            (
                "GET",
                "/vendor/directFulfillment/shipping/v1/customerInvoices/PO1",
            ),
            ("GET", "/fba/outbound/brazil/v0/shipments/S1"),
            ("GET", "/shipping/v1/shipments/S1"),
        ] {
            assert!(
                restricted_operation(method, &path(p), None).is_some(),
                "{method} {p}"
            );
        }
    }

    #[test]
    fn ordinary_operations_are_not_restricted() {
        for (method, p) in [
            ("GET", "/sellers/v1/marketplaceParticipations"),
            ("POST", "/orders/v0/orders"),
            ("GET", "/orders/v0/orders/1/orderItems/2"),
            ("GET", "/orders/v0/orders/"),
            ("POST", "/orders/v0/orders/1/shipmentConfirmation"),
            ("GET", "/reports/2021-06-30/reports/R1"),
        ] {
            assert!(
                restricted_operation(method, &path(p), None).is_none(),
                "{method} {p}"
            );
        }
    }

    #[test]
    fn a_report_document_is_restricted_only_for_a_restricted_report_type() {
        let document = path("/reports/2021-06-30/documents/amzn1.spdoc.1");
        assert!(restricted_operation("GET", &document, None).is_none());
        assert!(
            restricted_operation("GET", &document, Some("GET_MERCHANT_LISTINGS_ALL_DATA"))
                .is_none()
        );
        let op = restricted_operation(
            "GET",
            &document,
            Some("GET_FLAT_FILE_ORDER_REPORT_DATA_SHIPPING"),
        )
        .unwrap();
        assert_eq!(op.name, "getReportDocument");
    }

    #[test]
    fn data_elements_are_sorted_and_deduplicated() {
        assert_eq!(
            parse_data_elements("shippingAddress, buyerInfo,shippingAddress").unwrap(),
            ["buyerInfo", "shippingAddress"]
        );
        assert!(parse_data_elements("").unwrap().is_empty());
        assert!(parse_data_elements("buyerInfo,creditCard").is_err());
    }

    #[test]
    fn grantless_operations_carry_their_scope() {
        assert_eq!(
            grantless_operation_scope("GET", &path("/notifications/v1/destinations")),
            Some("sellingpartnerapi::notifications")
        );
        assert_eq!(
            grantless_operation_scope("DELETE", &path("/notifications/v1/destinations/d1")),
            Some("sellingpartnerapi::notifications")
        );
        assert_eq!(
            grantless_operation_scope(
                "DELETE",
                &path("/notifications/v1/subscriptions/ANY_OFFER_CHANGED/s1")
            ),
            Some("sellingpartnerapi::notifications")
        );
        assert_eq!(
            grantless_operation_scope("POST", &path("/applications/2023-11-30/clientSecret")),
            Some("sellingpartnerapi::client_credential:rotation")
        );
        // getSubscription needs the seller's authorization.
        assert_eq!(
            grantless_operation_scope(
                "GET",
                &path("/notifications/v1/subscriptions/ANY_OFFER_CHANGED")
            ),
            None
        );
        assert_eq!(
            grantless_operation_scope("GET", &path("/orders/v0/orders")),
            None
        );
    }

    #[test]
    fn families_are_a_closed_set() {
        assert_eq!(operation_family(&path("/orders/v0/orders")), "orders");
        assert_eq!(
            operation_family(&path("/vendor/directFulfillment/orders/v1/purchaseOrders")),
            "vendor"
        );
        assert_eq!(operation_family(&path("/made-up-by-a-caller/1")), "other");
    }
}
