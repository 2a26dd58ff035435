//! Keyed fingerprints: HMAC-SHA-256 under a key the caller provides.
//!
//! Used where the vault must recognise a value without keeping it: the in-memory cache of verified
//! API keys is indexed by a fingerprint under a per-process random key, so a memory dump of the
//! cache does not reveal (or let anyone test guesses of) the keys.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub struct KeyedHasher {
    key: SecretBox<[u8; 32]>,
}

impl std::fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHasher(..)")
    }
}

impl KeyedHasher {
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            key: SecretBox::new(Box::new(key)),
        }
    }

    /// A hasher under a fresh random key that lives as long as this process.
    pub fn ephemeral() -> Self {
        Self::new(super::random_bytes())
    }

    pub fn fingerprint(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(self.key.expose_secret())
            .expect("HMAC takes a key of any length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_depend_on_the_key() {
        let a = KeyedHasher::new([1; 32]);
        let b = KeyedHasher::new([2; 32]);
        assert_eq!(a.fingerprint(b"x"), a.fingerprint(b"x"));
        assert_ne!(a.fingerprint(b"x"), b.fingerprint(b"x"));
        assert_ne!(a.fingerprint(b"x"), a.fingerprint(b"y"));
    }
}
