//! Login with Amazon's token protocol, as both sides speak it: the broker's client, the emulator
//! and the vault's own LWA-compatible endpoint. Bodies come as forms (sometimes, from Amazon's
//! JavaScript helper, without URL-encoding) or as JSON.

use std::collections::HashMap;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// `POST /auth/o2/token` as received.
#[derive(Debug, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub refresh_token: Option<SecretString>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub scope: Option<String>,
    /// The `authorization_code` grant's code and redirect URI.
    pub code: Option<SecretString>,
    pub redirect_uri: Option<String>,
}

/// LWA's success body.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub refresh_token: Option<String>,
    pub token_type: String,
    pub expires_in: u64,
}

/// LWA's error body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default)]
    pub error_description: String,
}

impl ErrorBody {
    pub fn new(error: &str, description: impl Into<String>) -> Self {
        Self {
            error: error.to_owned(),
            error_description: description.into(),
        }
    }
}

#[derive(Deserialize)]
struct JsonTokenRequest {
    grant_type: Option<String>,
    refresh_token: Option<SecretString>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    scope: Option<String>,
    code: Option<SecretString>,
    redirect_uri: Option<String>,
}

/// Parses a token request body. JSON when the content type says so (or the body starts with
/// `{`), else a form.
pub fn parse_token_request(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<TokenRequest, ErrorBody> {
    let is_json = content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("json"))
        || body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if is_json {
        let parsed: JsonTokenRequest = serde_json::from_slice(body).map_err(|_| {
            ErrorBody::new(
                "invalid_request",
                "The request body is not a valid JSON object.",
            )
        })?;
        return Ok(TokenRequest {
            grant_type: parsed.grant_type,
            refresh_token: parsed.refresh_token,
            client_id: parsed.client_id,
            client_secret: parsed.client_secret,
            scope: parsed.scope,
            code: parsed.code,
            redirect_uri: parsed.redirect_uri,
        });
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ErrorBody::new("invalid_request", "The request body is not valid UTF-8."))?;
    let mut fields = parse_lenient_form(text);
    Ok(TokenRequest {
        grant_type: fields.remove("grant_type"),
        refresh_token: fields.remove("refresh_token").map(SecretString::from),
        client_id: fields.remove("client_id"),
        client_secret: fields.remove("client_secret").map(SecretString::from),
        scope: fields.remove("scope").map(|s| s.replace('+', " ")),
        code: fields.remove("code").map(SecretString::from),
        redirect_uri: fields.remove("redirect_uri"),
    })
}

/// A form body, decoded leniently: `%XX` escapes are decoded, anything else (such as a raw `|`)
/// is taken as it is, and `+` stays `+` (tokens may contain it; the one field with spaces,
/// `scope`, is handled by the caller). The first occurrence of a name wins.
pub fn parse_lenient_form(body: &str) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for pair in body.trim().split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        fields
            .entry(percent_decode(name))
            .or_insert_with(|| percent_decode(value));
    }
    fields
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            if let (Some(high), Some(low)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                out.push(high << 4 | low);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// Encodes a form body properly (what the broker sends to LWA).
pub fn encode_form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn forms_are_parsed_encoded_or_not() {
        let encoded = encode_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "Atzr|a+b/c="),
            ("client_id", "amzn1.application-oa2-client.abc"),
        ]);
        let parsed = parse_token_request(None, encoded.as_bytes()).unwrap();
        assert_eq!(parsed.refresh_token.unwrap().expose_secret(), "Atzr|a+b/c=");

        let raw = "grant_type=refresh_token&refresh_token=Atzr|IwE+x&client_id=x&client_secret=s";
        let parsed =
            parse_token_request(Some("application/x-www-form-urlencoded"), raw.as_bytes()).unwrap();
        assert_eq!(parsed.refresh_token.unwrap().expose_secret(), "Atzr|IwE+x");
        assert_eq!(parsed.grant_type.as_deref(), Some("refresh_token"));
    }

    #[test]
    fn scopes_keep_their_spaces() {
        let parsed = parse_token_request(
            None,
            b"grant_type=client_credentials&scope=sellingpartnerapi%3A%3Anotifications+sellingpartnerapi::client_credential:rotation",
        )
        .unwrap();
        assert_eq!(
            parsed.scope.as_deref(),
            Some("sellingpartnerapi::notifications sellingpartnerapi::client_credential:rotation")
        );
    }

    #[test]
    fn json_bodies_are_parsed() {
        let parsed = parse_token_request(
            Some("application/json"),
            br#"{"grant_type":"client_credentials","scope":"sellingpartnerapi::notifications","client_id":"c","client_secret":"s"}"#,
        )
        .unwrap();
        assert_eq!(parsed.grant_type.as_deref(), Some("client_credentials"));
        assert!(parse_token_request(Some("application/json"), b"{nope").is_err());
    }

    #[test]
    fn malformed_escapes_are_kept_as_they_are() {
        let fields = parse_lenient_form("a=%zz&b=%4&c=%41&d=%é");
        assert_eq!(fields["d"], "%é");
        assert_eq!(fields["a"], "%zz");
        assert_eq!(fields["b"], "%4");
        assert_eq!(fields["c"], "A");
    }
}
