//! Request parsing shared by the handlers: JSON bodies, list queries and ids in paths, each
//! failing with the contract's error (400 malformed, 413 too large, 422 per field, 404 bad id).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use zeroize::Zeroize;

use crate::domain::{Cursor, Limit};
use crate::error::{ApiError, FieldError};

pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a request body may take to arrive (a client that trickles it in is cut off).
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// Binds each `$var` to the parsed value of its field, or answers `422` listing every field that
/// failed to parse. A parse of several fields at once is named `..` and fails with the
/// `FieldError`s of the fields it names.
macro_rules! parse_fields {
    ($($var:ident = $field:tt => $parse:expr),+ $(,)?) => {
        let mut errors = Vec::new();
        $( let $var = $crate::routes::input::parse_fields!(@one errors, $field, $parse); )+
        if !errors.is_empty() {
            return Err($crate::error::ApiError::Validation(errors));
        }
        $( let Some($var) = $var else { unreachable!("every field parsed") }; )+
    };
    (@one $errors:ident, .., $parse:expr) => {
        match $parse {
            Ok(value) => Some(value),
            Err(field_errors) => {
                $errors.extend(field_errors);
                None
            }
        }
    };
    (@one $errors:ident, $field:expr, $parse:expr) => {
        match $parse {
            Ok(value) => Some(value),
            Err(message) => {
                $errors.push($crate::error::FieldError::new($field, message));
                None
            }
        }
    };
}
pub(crate) use parse_fields;

/// A JSON request body of type `T` (unknown fields refused by `T`'s `deny_unknown_fields`).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(req, payload);
        Box::pin(async move {
            let bytes = body.await?;
            let parsed = parse_json(&bytes);
            wipe(bytes);
            parsed.map(JsonBody)
        })
    }
}

/// Like `JsonBody`, but a request without a body (and without a content type) means
/// `T::default()`.
pub struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = has_json_content_type(req);
        let bytes = read_limited(req, payload);
        Box::pin(async move {
            let bytes = bytes.await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJsonBody(T::default()));
            }
            require_json(is_json)?;
            let parsed = parse_json(&bytes);
            wipe(bytes);
            parsed.map(OptionalJsonBody)
        })
    }
}

/// Wipes a request body once it is parsed (bodies carry client secrets, refresh tokens and API
/// keys), unless something else still shares its buffer.
pub(crate) fn wipe(body: Bytes) {
    if let Ok(mut owned) = body.try_into_mut() {
        owned.as_mut().zeroize();
    }
}

/// Reads at most 64 KiB of a body that claims to be JSON.
fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> Pin<Box<dyn Future<Output = Result<Bytes, ApiError>>>> {
    let is_json = has_json_content_type(req);
    let bytes = read_limited(req, payload);
    Box::pin(async move {
        let bytes = bytes.await?;
        require_json(is_json)?;
        Ok(bytes)
    })
}

fn has_json_content_type(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == mime::APPLICATION
                && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
        })
}

fn require_json(is_json: bool) -> Result<(), ApiError> {
    if is_json {
        Ok(())
    } else {
        Err(ApiError::Malformed(
            "the request body must be JSON, with Content-Type: application/json".into(),
        ))
    }
}

/// Reads the body, refusing more than 64 KiB.
pub(crate) fn read_limited(
    req: &HttpRequest,
    payload: &mut Payload,
) -> Pin<Box<dyn Future<Output = Result<Bytes, ApiError>>>> {
    let bytes = Bytes::from_request(req, payload);
    let timeout = req
        .app_data::<BodyTimeout>()
        .map_or(Duration::from_secs(10), |t| t.0);
    Box::pin(async move {
        let bytes = tokio::time::timeout(timeout, bytes)
            .await
            .map_err(|_| ApiError::RequestTimeout)?
            .map_err(|err| match err.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => ApiError::PayloadTooLarge,
                _ => ApiError::Malformed("the request body could not be read".into()),
            })?;
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        Ok(bytes)
    })
}

/// Parses JSON: syntax errors and unknown fields are `400`, wrong or missing values `422`. Every
/// body is a JSON object (serde would otherwise read a struct from an array, by position).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        serde::de::IgnoredAny::deserialize(&mut deserializer)
            .and_then(|_| deserializer.end())
            .map_err(|err| {
                ApiError::Malformed(format!(
                    "the request body is not valid JSON: {}",
                    strip_position(&err.to_string())
                ))
            })?;
        return Err(ApiError::validation("body", "must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(json_error)?;
    deserializer
        .end()
        .map_err(|err| ApiError::Malformed(format!("the request body is not valid JSON: {err}")))?;
    Ok(value)
}

fn json_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    if !inner.is_data() {
        return ApiError::Malformed(format!("the request body is not valid JSON: {inner}"));
    }
    let message = without_values(&strip_position(&inner.to_string()));
    if message.starts_with("unknown field") {
        return ApiError::Malformed(format!("the request body has an {message}"));
    }
    let parent = if path == "." { None } else { Some(path) };
    let field = match missing_field(&message) {
        Some(name) => parent.map_or_else(|| name.to_owned(), |p| format!("{p}.{name}")),
        None => parent.unwrap_or_else(|| "body".to_owned()),
    };
    ApiError::Validation(vec![FieldError::new(field, message)])
}

fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

/// serde's messages quote the offending value (`invalid type: string "…", expected …`), and a
/// value sent in the wrong field may be a secret: errors name its kind only.
fn without_values(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            // (The last ", expected ": the value itself may contain the words.)
            let (unexpected, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, ""));
            let kind = unexpected
                .split(['"', '`'])
                .next()
                .unwrap_or_default()
                .trim();
            return match expected {
                "" => format!("{prefix}{kind}"),
                expected => format!("{prefix}{kind}, expected {expected}"),
            };
        }
    }
    if message.starts_with("unknown variant ") {
        return match message.rsplit_once(", expected ") {
            Some((_, expected)) => format!("unknown value, expected {expected}"),
            None => "unknown value".to_owned(),
        };
    }
    if message.contains("UUID parsing failed") {
        return "must be a UUID".to_owned();
    }
    if message.starts_with("missing field ") || message.starts_with("unknown field ") {
        return message.to_owned();
    }
    // Any other type's own message: keep its words, not what it quotes.
    let mut redacted = String::with_capacity(message.len());
    let mut quote = None;
    for c in message.chars() {
        match quote {
            Some(open) if c == open => {
                redacted.push('…');
                quote = None;
            }
            Some(_) => {}
            None if c == '"' || c == '`' => quote = Some(c),
            None => redacted.push(c),
        }
    }
    redacted
}

/// serde_json appends " at line L column C"; people do not need it for a field error.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// For `Option<Option<T>>` fields of a PATCH body: absent is `None`, `null` is `Some(None)`.
/// (Use with `#[serde(default, deserialize_with = "present")]`.)
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// For `Option<i64>` fields: a whole number, also when written with a fraction of zero (`30.0`,
/// which JSON Schema's `integer` admits). Use with `#[serde(default, deserialize_with =
/// "whole_number")]`.
pub fn whole_number<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(n) = number.as_i64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        // (Beyond i64 it saturates: every field that takes one has far smaller bounds.)
        Some(f) if f.is_finite() && f.fract() == 0.0 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom("must be a whole number")),
    }
}

/// `?limit=&cursor=` of every list.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<Limit, String> {
        Limit::parse(self.limit.as_deref())
    }

    pub fn cursor(&self) -> Result<Option<Cursor>, String> {
        self.cursor.as_deref().map(Cursor::parse).transpose()
    }
}

/// A UUID from a query parameter.
pub fn parse_uuid(value: Option<&str>) -> Result<Option<uuid::Uuid>, String> {
    value
        .map(|v| uuid::Uuid::try_parse(v).map_err(|_| "must be a UUID".to_owned()))
        .transpose()
}

/// A time from a body, to be stored: years 1 to 9999, like every RFC 3339 time (JSON may carry
/// others, such as `-0001-…` or `+10000-…`, which the database cannot all hold).
pub fn plausible_time(at: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>, String> {
    use chrono::Datelike;
    match at {
        Some(t) if !(1..=9999).contains(&t.year()) => {
            Err("must be a time between the years 1 and 9999".into())
        }
        at => Ok(at),
    }
}

/// An RFC 3339 time from a query parameter.
pub fn parse_time(value: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| "must be an RFC 3339 time such as 2026-01-31T12:00:00Z".to_owned())
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u8,
    }

    fn code_and_field(bytes: &[u8]) -> (&'static str, Option<String>) {
        match parse_json::<Body>(bytes) {
            Ok(_) => ("ok", None),
            Err(ApiError::Validation(errors)) => {
                ("validation_failed", Some(errors[0].field.clone()))
            }
            Err(err) => (err.code(), None),
        }
    }

    #[test]
    fn json_errors_are_classified() {
        assert_eq!(code_and_field(br#"{"name":"x"}"#).0, "ok");
        assert_eq!(code_and_field(b"{").0, "malformed_request");
        assert_eq!(code_and_field(b"").0, "malformed_request");
        assert_eq!(
            code_and_field(br#"{"name":"x"} trailing"#).0,
            "malformed_request"
        );
        assert_eq!(
            code_and_field(br#"{"name":"x","extra":1}"#).0,
            "malformed_request"
        );
        assert_eq!(
            code_and_field(br#"{}"#),
            ("validation_failed", Some("name".into()))
        );
        assert_eq!(
            code_and_field(br#"{"name":5}"#),
            ("validation_failed", Some("name".into()))
        );
        assert_eq!(
            code_and_field(br#"{"name":"x","inner":{"n":300}}"#),
            ("validation_failed", Some("inner.n".into()))
        );
        assert_eq!(
            code_and_field(br#"{"name":"x","inner":{}}"#),
            ("validation_failed", Some("inner.n".into()))
        );
        assert_eq!(
            code_and_field(b"[1]"),
            ("validation_failed", Some("body".into()))
        );
        // A struct is not read from an array by position.
        assert_eq!(
            code_and_field(br#"["x", null]"#),
            ("validation_failed", Some("body".into()))
        );
        assert_eq!(code_and_field(b"[1").0, "malformed_request");
        assert_eq!(code_and_field(b" null").0, "validation_failed");
    }

    fn messages(bytes: &[u8]) -> String {
        match parse_json::<Body>(bytes) {
            Err(ApiError::Validation(errors)) => errors[0].message.clone(),
            other => panic!(
                "expected a validation error, got {other:?}",
                other = other.err()
            ),
        }
    }

    #[test]
    fn field_errors_do_not_echo_the_value() {
        let message = messages(br#"{"name":["Atzr|secret-value"]}"#);
        assert_eq!(message, "invalid type: sequence, expected a string");
        let message = messages(br#"{"name":"x","inner":{"n":"Atzr|secret-value"}}"#);
        assert_eq!(message, "invalid type: string, expected u8");
        assert!(!messages(br#"{"name":"x","inner":{"n":4000}}"#).contains("4000"));
        assert_eq!(
            without_values("unknown variant `Atzr|x`, expected `a` or `b`"),
            "unknown value, expected `a` or `b`"
        );
        assert_eq!(
            without_values("UUID parsing failed: invalid character: found `Q` at 1"),
            "must be a UUID"
        );
        assert_eq!(without_values("bad \"Atzr|x\" here"), "bad … here");
        assert_eq!(
            without_values("invalid type: string \"Atzr|a, expected b\", expected u8"),
            "invalid type: string, expected u8"
        );
        assert_eq!(
            without_values("missing field `name`"),
            "missing field `name`"
        );
    }

    #[derive(Debug, Deserialize)]
    struct Seconds {
        #[serde(default, deserialize_with = "whole_number")]
        n: Option<i64>,
    }

    #[test]
    fn whole_numbers_may_carry_a_zero_fraction() {
        let n = |json: &str| parse_json::<Seconds>(json.as_bytes()).map(|s| s.n);
        assert_eq!(n(r#"{"n": 30}"#).unwrap(), Some(30));
        assert_eq!(n(r#"{"n": 30.0}"#).unwrap(), Some(30));
        assert_eq!(n(r#"{"n": -2e3}"#).unwrap(), Some(-2000));
        assert_eq!(n(r#"{"n": null}"#).unwrap(), None);
        assert_eq!(n(r#"{}"#).unwrap(), None);
        assert_eq!(n(r#"{"n": 30.5}"#).unwrap_err().code(), "validation_failed");
        assert_eq!(n(r#"{"n": "30"}"#).unwrap_err().code(), "validation_failed");
    }

    #[test]
    fn deep_json_is_refused_not_overflowed() {
        let deep = "[".repeat(100_000);
        let err = parse_json::<serde_json::Value>(deep.as_bytes()).unwrap_err();
        assert_eq!(err.code(), "malformed_request");
    }
}
