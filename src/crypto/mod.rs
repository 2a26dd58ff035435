//! Every cryptographic primitive of the vault lives under this module; nothing else imports the
//! crypto crates. Small, auditable pieces:
//!
//! - `keyring`   — master keys from configuration (`ID:BASE64`), the highest id encrypts.
//! - `passwords` — argon2id hashes of API keys.
//! - `keyed`     — keyed fingerprints (HMAC-SHA-256) for lookups that must not reveal their input.
//! - `envelope`  — AES-256-GCM: tenant data keys wrapped by master keys, secrets sealed in place
//!   under per-purpose subkeys (HKDF).
//! - one-time states (below): the OAuth `state` of a consent link and the digest kept of it.
//! - public digests (below): names of public data, such as a resource set's fingerprint.

mod envelope;
mod keyed;
mod keyring;
mod passwords;

pub use envelope::{
    master_key_check, open, seal, unwrap_data_key, verify_master_key_check, wrap_data_key,
    CryptoError, DataKey, Place, Purpose,
};
pub use keyed::KeyedHasher;
pub use keyring::{Keyring, MasterKey, MasterKeyId};
pub use passwords::{hash_secret, verify_secret};

use rand::TryRng;

// ---- randomness -----------------------------------------------------------------------------

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random number generator works");
    bytes
}

/// A uniformly random value in `0..bound` (for jitter and the like; not for keys).
pub fn random_below(bound: u64) -> u64 {
    if bound == 0 {
        return 0;
    }
    rand::rngs::SysRng
        .try_next_u64()
        .expect("the operating system's random number generator works")
        % bound
}

// ---- one-time states ------------------------------------------------------------------------

/// The key of [`state_digest`]: fixed, so that every replica finds a state by its digest. What
/// makes a state unguessable is its own 256 random bits; the key only keeps these digests apart
/// from any other use of HMAC-SHA-256.
const STATE_DIGEST_KEY: [u8; 32] = *b"spvault/authorization-state/v1\0\0";

/// A fresh OAuth `state`: 32 random bytes, base64url without padding.
pub fn new_state() -> secrecy::SecretString {
    use base64::Engine;
    let bytes = zeroize::Zeroizing::new(random_bytes::<32>());
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(*bytes)
        .into()
}

/// What the vault keeps of a state: its keyed hash (HMAC-SHA-256), never the state itself.
pub fn state_digest(state: &str) -> [u8; 32] {
    KeyedHasher::new(STATE_DIGEST_KEY).fingerprint(state.as_bytes())
}

// ---- public digests ---------------------------------------------------------------------------

/// The SHA-256 of public data (a Restricted Data Token's resource set), hex, its first 32
/// characters: a name anyone can compute from the same data, for records and logs.
pub fn public_digest(data: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data);
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn states_are_long_random_and_hashed() {
        let (a, b) = (new_state(), new_state());
        assert_eq!(a.expose_secret().len(), 43);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(
            state_digest(a.expose_secret()),
            state_digest(a.expose_secret())
        );
        assert_ne!(
            state_digest(a.expose_secret()),
            state_digest(b.expose_secret())
        );
    }
}
