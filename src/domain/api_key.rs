//! API keys: `spv_<key id>_<secret>`.
//!
//! The key id is the key's UUID in simple (32 hex digits) form: public, and the primary key of its
//! row. The secret is 32 random bytes, base64url without padding. Only an argon2id hash of the
//! whole key is stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::crypto;

const PREFIX: &str = "spv_";

/// A key as a caller presented it, well-formed but not yet verified.
pub struct PresentedKey {
    pub id: Uuid,
    pub key: SecretString,
}

impl PresentedKey {
    /// Parses the full key; `None` when it cannot be one of ours.
    pub fn parse(key: &str) -> Option<Self> {
        let (id, secret) = key.strip_prefix(PREFIX)?.split_once('_')?;
        if id.len() != 32
            || !id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        let well_formed_secret = (43..=128).contains(&secret.len())
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed_secret {
            return None;
        }
        Some(Self {
            id: Uuid::try_parse(id).ok()?,
            key: SecretString::from(key),
        })
    }
}

/// A newly made key: shown to its owner once, then only its hash remains.
pub struct IssuedKey {
    pub id: Uuid,
    pub key: SecretString,
    pub hash: String,
}

/// Makes a new key and hashes it (slow: call off the async runtime).
pub fn issue() -> IssuedKey {
    let id = Uuid::now_v7();
    let secret = zeroize::Zeroizing::new(crypto::random_bytes::<32>());
    let key = SecretString::from(format!(
        "{PREFIX}{}_{}",
        id.simple(),
        URL_SAFE_NO_PAD.encode(secret.as_slice())
    ));
    let hash = crypto::hash_secret(&key);
    IssuedKey { id, key, hash }
}

/// `issue` on the blocking pool.
pub async fn issue_off_runtime() -> anyhow::Result<IssuedKey> {
    Ok(tokio::task::spawn_blocking(issue).await?)
}

impl std::fmt::Debug for PresentedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PresentedKey({})", self.id)
    }
}

/// The secret part never leaves through `Debug`; this is for tests of that property.
pub fn expose_for_response(key: &SecretString) -> String {
    key.expose_secret().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_keys_parse_back_and_verify() {
        let issued = issue();
        let text = issued.key.expose_secret();
        assert!(text.starts_with("spv_"));
        let presented = PresentedKey::parse(text).unwrap();
        assert_eq!(presented.id, issued.id);
        assert!(crypto::verify_secret(Some(&issued.hash), &presented.key));
        assert!(!format!("{presented:?}").contains(&text[40..]));
    }

    #[test]
    fn garbage_is_not_a_key() {
        let good_secret = "A".repeat(43);
        let id = Uuid::now_v7().simple().to_string();
        assert!(PresentedKey::parse(&format!("spv_{id}_{good_secret}")).is_some());
        for bad in [
            String::new(),
            "spv_".into(),
            format!("spx_{id}_{good_secret}"),
            format!("spv_{}_{good_secret}", id.to_uppercase()),
            format!("spv_{}_{good_secret}", &id[1..]),
            format!("spv_{id}_{}", "A".repeat(42)),
            format!("spv_{id}_{}+", "A".repeat(43)),
        ] {
            assert!(PresentedKey::parse(&bad).is_none(), "{bad}");
        }
    }
}
