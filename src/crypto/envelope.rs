//! Envelope encryption with AES-256-GCM.
//!
//! - A tenant's **data key** (32 random bytes) is stored only wrapped by a master key, with
//!   associated data naming the tenant, so a wrapped key moved to another tenant does not unwrap.
//! - A **secret** is sealed under its tenant's data key with a fresh random nonce and associated
//!   data naming its tenant, table, column and row, so a ciphertext copied anywhere else does not
//!   open.
//!
//! Stored form: `version (1 byte) ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`. The version
//! is part of the associated data too, so it cannot be changed without detection.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use secrecy::{ExposeSecret, SecretBox};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::keyring::{MasterKey, MasterKeyId};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Wrong key, wrong place, or tampered with: AES-GCM does not say which, and neither do we.
    #[error("the ciphertext does not open with this key in this place")]
    DoesNotOpen,
    #[error("the ciphertext has an unknown format version")]
    UnknownVersion,
}

/// A tenant's data key in the clear. Wiped on drop; no `Debug` of its bytes.
pub struct DataKey(SecretBox<[u8; 32]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    pub fn generate() -> Self {
        Self(SecretBox::new(Box::new(super::random_bytes())))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.0.expose_secret()))
    }

    /// The keyed fingerprint of an access token: HMAC-SHA-256 under a subkey of this data key,
    /// hex, 32 characters. Finds the exchange that minted a token without storing the token.
    pub fn token_fingerprint(&self, token: &str) -> String {
        let subkey = super::KeyedHasher::new(self.derive(b"spvault:v1:token-fingerprint"));
        let digest = subkey.fingerprint(token.as_bytes());
        hex::encode(&digest[..16])
    }

    fn derive(&self, label: &[u8]) -> [u8; 32] {
        super::KeyedHasher::new(*self.0.expose_secret()).fingerprint(label)
    }
}

/// Where a sealed secret lives; it opens only there.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    pub tenant_id: Uuid,
    pub table: &'static str,
    pub column: &'static str,
    pub row_id: Uuid,
}

impl Place {
    fn associated_data(&self) -> String {
        format!(
            "spvault:v{VERSION}:secret:{}:{}.{}:{}",
            self.tenant_id, self.table, self.column, self.row_id
        )
    }
}

fn wrap_aad(tenant_id: Uuid, master_key_id: MasterKeyId) -> String {
    format!("spvault:v{VERSION}:data-key:{tenant_id}:master-{master_key_id}")
}

fn check_aad(master_key_id: MasterKeyId) -> String {
    format!("spvault:v{VERSION}:master-key-check:{master_key_id}")
}

fn seal_with(cipher: &Aes256Gcm, aad: &str, plaintext: &[u8]) -> Vec<u8> {
    let nonce_bytes = super::random_bytes::<NONCE_LEN>();
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce_bytes),
            Payload {
                msg: plaintext,
                aad: aad.as_bytes(),
            },
        )
        .expect("AES-GCM encryption of a bounded message cannot fail");
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&ciphertext);
    out
}

fn open_with(
    cipher: &Aes256Gcm,
    aad: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (&version, rest) = sealed.split_first().ok_or(CryptoError::DoesNotOpen)?;
    if version != VERSION {
        return Err(CryptoError::UnknownVersion);
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::DoesNotOpen);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: aad.as_bytes(),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::DoesNotOpen)
}

fn master_cipher(master: &MasterKey) -> Aes256Gcm {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(master.bytes()))
}

/// Wraps `data_key` for `tenant_id` under master key `master_key_id`.
pub fn wrap_data_key(
    master: &MasterKey,
    master_key_id: MasterKeyId,
    tenant_id: Uuid,
    data_key: &DataKey,
) -> Vec<u8> {
    seal_with(
        &master_cipher(master),
        &wrap_aad(tenant_id, master_key_id),
        data_key.0.expose_secret(),
    )
}

pub fn unwrap_data_key(
    master: &MasterKey,
    master_key_id: MasterKeyId,
    tenant_id: Uuid,
    wrapped: &[u8],
) -> Result<DataKey, CryptoError> {
    let bytes = open_with(
        &master_cipher(master),
        &wrap_aad(tenant_id, master_key_id),
        wrapped,
    )?;
    let key: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::DoesNotOpen)?;
    Ok(DataKey(SecretBox::new(Box::new(key))))
}

/// Seals a secret for its place under its tenant's data key.
pub fn seal(data_key: &DataKey, place: &Place, plaintext: &[u8]) -> Vec<u8> {
    seal_with(&data_key.cipher(), &place.associated_data(), plaintext)
}

pub fn open(
    data_key: &DataKey,
    place: &Place,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    open_with(&data_key.cipher(), &place.associated_data(), sealed)
}

/// A value that proves a master key is the one the database was set up with.
pub fn master_key_check(master: &MasterKey, master_key_id: MasterKeyId) -> Vec<u8> {
    seal_with(
        &master_cipher(master),
        &check_aad(master_key_id),
        b"spvault",
    )
}

pub fn verify_master_key_check(
    master: &MasterKey,
    master_key_id: MasterKeyId,
    check: &[u8],
) -> bool {
    open_with(&master_cipher(master), &check_aad(master_key_id), check)
        .is_ok_and(|plain| plain.as_slice() == b"spvault")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keyring;

    fn place(row_id: Uuid) -> Place {
        Place {
            tenant_id: Uuid::from_u128(1),
            table: "seller",
            column: "refresh_token",
            row_id,
        }
    }

    #[test]
    fn a_secret_opens_in_its_place_only() {
        let key = DataKey::generate();
        let here = place(Uuid::from_u128(10));
        let sealed = seal(&key, &here, b"Atzr|secret");
        assert_eq!(
            open(&key, &here, &sealed).unwrap().as_slice(),
            b"Atzr|secret"
        );

        let other_row = place(Uuid::from_u128(11));
        assert_eq!(
            open(&key, &other_row, &sealed).unwrap_err(),
            CryptoError::DoesNotOpen
        );
        let other_column = Place {
            column: "client_secret",
            ..here
        };
        assert!(open(&key, &other_column, &sealed).is_err());
        let other_tenant = Place {
            tenant_id: Uuid::from_u128(2),
            ..here
        };
        assert!(open(&key, &other_tenant, &sealed).is_err());
        assert!(open(&DataKey::generate(), &here, &sealed).is_err());
    }

    #[test]
    fn token_fingerprints_are_keyed_and_stable() {
        let key = DataKey::generate();
        let a = key.token_fingerprint("Atza|abc");
        assert_eq!(a.len(), 32);
        assert_eq!(a, key.token_fingerprint("Atza|abc"));
        assert_ne!(a, key.token_fingerprint("Atza|abd"));
        assert_ne!(a, DataKey::generate().token_fingerprint("Atza|abc"));
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let key = DataKey::generate();
        let here = place(Uuid::from_u128(10));
        assert_ne!(seal(&key, &here, b"x"), seal(&key, &here, b"x"));
    }

    #[test]
    fn tampering_and_garbage_are_refused() {
        let key = DataKey::generate();
        let here = place(Uuid::from_u128(10));
        let mut sealed = seal(&key, &here, b"secret");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(open(&key, &here, &sealed).is_err());
        assert!(open(&key, &here, &[]).is_err());
        assert!(open(&key, &here, &[1, 2, 3]).is_err());
        let mut versioned = seal(&key, &here, b"secret");
        versioned[0] = 9;
        assert_eq!(
            open(&key, &here, &versioned).unwrap_err(),
            CryptoError::UnknownVersion
        );
    }

    #[test]
    fn a_data_key_unwraps_for_its_tenant_and_master_key_only() {
        let keyring = Keyring::parse(&format!(
            "{},{}",
            Keyring::generate_entry(1),
            Keyring::generate_entry(2)
        ))
        .unwrap();
        let (one, two) = (keyring.get(1).unwrap(), keyring.get(2).unwrap());
        let tenant = Uuid::from_u128(7);
        let data_key = DataKey::generate();
        let wrapped = wrap_data_key(one, 1, tenant, &data_key);
        let unwrapped = unwrap_data_key(one, 1, tenant, &wrapped).unwrap();
        let here = place(Uuid::from_u128(3));
        assert_eq!(
            open(&unwrapped, &here, &seal(&data_key, &here, b"s"))
                .unwrap()
                .as_slice(),
            b"s"
        );
        assert!(unwrap_data_key(two, 2, tenant, &wrapped).is_err());
        assert!(unwrap_data_key(one, 1, Uuid::from_u128(8), &wrapped).is_err());
    }

    #[test]
    fn the_master_key_check_detects_a_different_key() {
        let a = Keyring::parse(&Keyring::generate_entry(1)).unwrap();
        let b = Keyring::parse(&Keyring::generate_entry(1)).unwrap();
        let check = master_key_check(a.get(1).unwrap(), 1);
        assert!(verify_master_key_check(a.get(1).unwrap(), 1, &check));
        assert!(!verify_master_key_check(b.get(1).unwrap(), 1, &check));
    }
}
