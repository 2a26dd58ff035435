//! Envelope encryption with AES-256-GCM.
//!
//! - A tenant's **data key** (32 random bytes) is stored only wrapped by a master key, with
//!   associated data naming the tenant, so a wrapped key moved to another tenant does not unwrap.
//! - A **secret** is sealed with a fresh random nonce and associated data naming its tenant,
//!   table, column and row, so a ciphertext copied anywhere else does not open. It is sealed not
//!   under the data key itself but under a **subkey** derived from it (HKDF-SHA-256) for its
//!   purpose and period: one for long-lived credentials, one per day for cached access tokens,
//!   and (in `DataKey::token_fingerprint`) one for fingerprints. So no key is used for two jobs.
//!
//! **Nonce budget.** Random 96-bit nonces keep AES-GCM's collision risk below 2^-32 for up to
//! 2^32 messages under one key. Credentials are sealed once per change; cached tokens once per
//! exchange, which a large tenant does millions of times a day — hence a new subkey each day:
//! even a tenant with 100 000 000 sellers refreshing every hour seals 2.4 × 10^9 < 2^32 a day.
//!
//! Stored form (version 2): `2 ‖ period (4 bytes, big-endian) ‖ nonce (12 bytes) ‖ ciphertext ‖
//! tag (16 bytes)`; the version and period are in the associated data too, so neither can be
//! changed without detection. Version 1 (`1 ‖ nonce ‖ ciphertext ‖ tag`, sealed under the data
//! key itself) still opens, so nothing stored before has to be rewritten.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::keyring::{MasterKey, MasterKeyId};

/// Master-key wraps and checks.
const VERSION: u8 = 1;
/// Secrets sealed under purpose subkeys.
const SUBKEY_VERSION: u8 = 2;
const PERIOD_LEN: usize = 4;
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

    /// The data key itself as an AES key: only for opening version 1 ciphertexts.
    fn legacy_cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.0.expose_secret()))
    }

    /// The AES key for `purpose` in `period`, derived with HKDF-SHA-256.
    fn subkey_cipher(&self, purpose: Purpose, period: u32) -> Aes256Gcm {
        let info = format!(
            "spvault:v{SUBKEY_VERSION}:subkey:{}:{period}",
            purpose.label()
        );
        let mut subkey = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(None, self.0.expose_secret())
            .expand(info.as_bytes(), subkey.as_mut_slice())
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*subkey))
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

/// What a sealed value is, which decides the subkey it is sealed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A long-lived credential (client secret, refresh token): one subkey.
    Credential,
    /// A cached access token: a subkey per day (see the nonce budget above).
    CachedToken,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Self::Credential => "credential",
            Self::CachedToken => "cached-token",
        }
    }

    /// The period a value sealed now belongs to.
    fn current_period(self) -> u32 {
        match self {
            Self::Credential => 0,
            Self::CachedToken => {
                let days = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |since| since.as_secs() / 86_400);
                u32::try_from(days).unwrap_or(u32::MAX)
            }
        }
    }
}

/// Where a sealed secret lives; it opens only there.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    pub tenant_id: Uuid,
    pub table: &'static str,
    pub column: &'static str,
    pub row_id: Uuid,
    pub purpose: Purpose,
}

impl Place {
    /// Associated data of a version 2 ciphertext sealed in `period`.
    fn subkey_associated_data(&self, period: u32) -> String {
        format!(
            "spvault:v{SUBKEY_VERSION}:secret:{}:{}.{}:{}:{period}",
            self.tenant_id, self.table, self.column, self.row_id
        )
    }

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
            &Nonce::from(nonce_bytes),
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
            &nonce_of(nonce)?,
            Payload {
                msg: ciphertext,
                aad: aad.as_bytes(),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::DoesNotOpen)
}

/// A nonce read back from a ciphertext (its length was checked before).
fn nonce_of(bytes: &[u8]) -> Result<Nonce<aes_gcm::aead::consts::U12>, CryptoError> {
    Nonce::try_from(bytes).map_err(|_| CryptoError::DoesNotOpen)
}

fn master_cipher(master: &MasterKey) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*master.bytes()))
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

/// Seals a secret for its place under its purpose's current subkey of the tenant's data key.
pub fn seal(data_key: &DataKey, place: &Place, plaintext: &[u8]) -> Vec<u8> {
    let period = place.purpose.current_period();
    let cipher = data_key.subkey_cipher(place.purpose, period);
    let nonce_bytes = super::random_bytes::<NONCE_LEN>();
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce_bytes),
            Payload {
                msg: plaintext,
                aad: place.subkey_associated_data(period).as_bytes(),
            },
        )
        .expect("AES-GCM encryption of a bounded message cannot fail");
    let mut out = Vec::with_capacity(1 + PERIOD_LEN + NONCE_LEN + ciphertext.len());
    out.push(SUBKEY_VERSION);
    out.extend_from_slice(&period.to_be_bytes());
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&ciphertext);
    out
}

pub fn open(
    data_key: &DataKey,
    place: &Place,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    match sealed.first() {
        Some(&VERSION) => open_with(&data_key.legacy_cipher(), &place.associated_data(), sealed),
        Some(&SUBKEY_VERSION) => {
            let rest = &sealed[1..];
            if rest.len() < PERIOD_LEN + NONCE_LEN + TAG_LEN {
                return Err(CryptoError::DoesNotOpen);
            }
            let (period, rest) = rest.split_at(PERIOD_LEN);
            let period = u32::from_be_bytes(period.try_into().expect("four bytes"));
            let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
            data_key
                .subkey_cipher(place.purpose, period)
                .decrypt(
                    &nonce_of(nonce)?,
                    Payload {
                        msg: ciphertext,
                        aad: place.subkey_associated_data(period).as_bytes(),
                    },
                )
                .map(Zeroizing::new)
                .map_err(|_| CryptoError::DoesNotOpen)
        }
        Some(_) => Err(CryptoError::UnknownVersion),
        None => Err(CryptoError::DoesNotOpen),
    }
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
            purpose: Purpose::Credential,
        }
    }

    /// What version 1 (the data key itself as the AES key) sealed.
    fn legacy_seal(key: &DataKey, place: &Place, plaintext: &[u8]) -> Vec<u8> {
        seal_with(&key.legacy_cipher(), &place.associated_data(), plaintext)
    }

    #[test]
    fn secrets_are_sealed_under_a_subkey_never_the_data_key_itself() {
        let key = DataKey::generate();
        let here = place(Uuid::from_u128(10));
        let sealed = seal(&key, &here, b"Atzr|secret");
        assert_eq!(sealed[0], SUBKEY_VERSION);
        // Read as if the data key itself had sealed it, it does not open.
        let mut as_legacy = vec![VERSION];
        as_legacy.extend_from_slice(&sealed[1 + PERIOD_LEN..]);
        assert!(open_with(&key.legacy_cipher(), &here.associated_data(), &as_legacy).is_err());
    }

    #[test]
    fn what_version_1_sealed_still_opens() {
        let key = DataKey::generate();
        let here = place(Uuid::from_u128(10));
        let sealed = legacy_seal(&key, &here, b"Atzr|old");
        assert_eq!(open(&key, &here, &sealed).unwrap().as_slice(), b"Atzr|old");
    }

    #[test]
    fn cached_tokens_are_sealed_under_a_key_of_their_day() {
        let key = DataKey::generate();
        let token = Place {
            table: "cached_token",
            column: "sealed_token",
            purpose: Purpose::CachedToken,
            ..place(Uuid::from_u128(10))
        };
        let sealed = seal(&key, &token, b"Atza|token");
        let period = u32::from_be_bytes(sealed[1..5].try_into().unwrap());
        assert_eq!(period, Purpose::CachedToken.current_period());
        assert!(period > 20_000, "days since 1970");
        // Opens on a later day too (the period travels with it)...
        assert_eq!(
            open(&key, &token, &sealed).unwrap().as_slice(),
            b"Atza|token"
        );
        // ...but claiming another day, or another purpose, does not.
        let mut other_day = sealed.clone();
        other_day[1..5].copy_from_slice(&(period - 1).to_be_bytes());
        assert!(open(&key, &token, &other_day).is_err());
        let as_credential = Place {
            purpose: Purpose::Credential,
            ..token
        };
        assert!(open(&key, &as_credential, &sealed).is_err());
        // The subkeys of two days differ.
        let nonce = &Nonce::from([0u8; NONCE_LEN]);
        let one = key
            .subkey_cipher(Purpose::CachedToken, period)
            .encrypt(nonce, b"x".as_slice())
            .unwrap();
        let two = key
            .subkey_cipher(Purpose::CachedToken, period + 1)
            .encrypt(nonce, b"x".as_slice())
            .unwrap();
        assert_ne!(one, two);
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
        assert!(open(&key, &here, &[SUBKEY_VERSION, 0, 0]).is_err());
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
