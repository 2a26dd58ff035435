//! Login with Amazon's token protocol, as both sides speak it: the broker's client, the emulator
//! and the vault's own LWA-compatible endpoint. Bodies come as forms (sometimes, from Amazon's
//! JavaScript helper, without URL-encoding) or as JSON.

use std::collections::HashMap;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use zeroize::{Zeroize, Zeroizing};

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

/// LWA's success body. The tokens are secrets: `Debug` shows neither, and they are wiped on
/// drop; serializing (the emulator's answer) is the one way out.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    #[serde(serialize_with = "reveal")]
    pub access_token: SecretString,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "reveal_some",
        default
    )]
    pub refresh_token: Option<SecretString>,
    pub token_type: String,
    pub expires_in: u64,
}

fn reveal<S: Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

fn reveal_some<S: Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => serializer.serialize_some(secret.expose_secret()),
        None => serializer.serialize_none(),
    }
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
    let request = TokenRequest {
        grant_type: fields.remove("grant_type"),
        refresh_token: fields.remove("refresh_token").map(secret),
        client_id: fields.remove("client_id"),
        client_secret: fields.remove("client_secret").map(secret),
        scope: fields.remove("scope").map(|s| s.replace('+', " ")),
        code: fields.remove("code").map(secret),
        redirect_uri: fields.remove("redirect_uri"),
    };
    // Whatever else was sent (a secret under a misspelt name, say) is wiped too.
    fields.values_mut().for_each(Zeroize::zeroize);
    Ok(request)
}

/// A decoded field as a secret: copied once into a buffer of its exact size (turning the
/// `String` itself into one could move it and leave the old bytes behind), then the `String`
/// is wiped.
fn secret(mut decoded: String) -> SecretString {
    let secret = SecretString::from(Box::<str>::from(decoded.as_str()));
    decoded.zeroize();
    secret
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

/// Decodes into one buffer that is never reallocated (it cannot grow past `text`'s length), and
/// becomes the `String` itself unless it is not UTF-8, in which case it is wiped.
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
    match String::from_utf8(out) {
        Ok(decoded) => decoded,
        Err(err) => {
            let raw = Zeroizing::new(err.into_bytes());
            String::from_utf8_lossy(&raw).into_owned()
        }
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// Encodes a form body properly (what the broker sends to LWA). The fields hold secrets, so the
/// body is written into one buffer, allocated once at its greatest possible size (no
/// reallocation leaves a copy behind, no intermediate strings), and wiped when dropped.
pub fn encode_form(fields: &[(&str, &str)]) -> Zeroizing<String> {
    let most = fields
        .iter()
        .map(|(k, v)| 3 * (k.len() + v.len()) + 2)
        .sum();
    let mut out = Zeroizing::new(String::with_capacity(most));
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode_into(&mut out, name);
        out.push('=');
        percent_encode_into(&mut out, value);
    }
    out
}

fn percent_encode_into(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0xf)] as char);
        }
    }
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
    fn a_token_response_does_not_print_its_tokens() {
        let response: TokenResponse = serde_json::from_str(
            r#"{"access_token": "Atza|secret-access", "refresh_token": "Atzr|secret-refresh",
                "token_type": "bearer", "expires_in": 3600}"#,
        )
        .unwrap();
        let debug = format!("{response:?}");
        assert!(
            !debug.contains("secret-access") && !debug.contains("secret-refresh"),
            "{debug}"
        );
        // Serializing (the emulator's answer) is the one way out.
        let json = serde_json::to_string(&response).unwrap();
        assert!(
            json.contains("Atza|secret-access") && json.contains("Atzr|secret-refresh"),
            "{json}"
        );
        let without: TokenResponse = serde_json::from_str(
            r#"{"access_token": "Atza|x", "token_type": "bearer", "expires_in": 1}"#,
        )
        .unwrap();
        assert!(!serde_json::to_string(&without)
            .unwrap()
            .contains("refresh_token"));
    }

    #[test]
    fn form_bodies_are_encoded_in_one_buffer_of_their_greatest_size() {
        let fields = [
            ("a b", "x|y"),
            ("c", "\u{e9}~.-_"),
            ("secret", "Atzr|a+b/c="),
        ];
        let encoded = encode_form(&fields);
        assert_eq!(
            encoded.as_str(),
            "a%20b=x%7Cy&c=%C3%A9~.-_&secret=Atzr%7Ca%2Bb%2Fc%3D"
        );
        let most: usize = fields
            .iter()
            .map(|(k, v)| 3 * (k.len() + v.len()) + 2)
            .sum();
        assert_eq!(encoded.capacity(), most, "allocated once, never grown");
    }

    #[test]
    fn a_form_that_is_not_utf8_after_decoding_is_read_leniently() {
        let fields = parse_lenient_form("a=%FF%41");
        assert_eq!(fields["a"], "\u{fffd}A");
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
