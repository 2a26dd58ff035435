//! Every cryptographic primitive of the vault lives under this module; nothing else imports the
//! crypto crates. Small, auditable pieces:
//!
//! - `keyring`   — master keys from configuration (`ID:BASE64`), the highest id encrypts.
//! - `passwords` — argon2id hashes of API keys.
//! - `keyed`     — keyed fingerprints (HMAC-SHA-256) for lookups that must not reveal their input.
//! - `envelope`  — AES-256-GCM: tenant data keys wrapped by master keys, secrets sealed in place
//!   under per-purpose subkeys (HKDF).

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
