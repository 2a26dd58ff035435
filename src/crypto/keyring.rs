//! Master keys: configuration only, never the database.
//!
//! `SPVAULT_MASTER_KEYS` holds `ID:BASE64` entries separated by commas (or newlines, in a file).
//! Each is 32 random bytes. The entry with the highest id wraps new data keys; every entry can
//! unwrap, so an operator rotates by adding a key, running `spvault rotate-master-key`, then
//! removing the old one.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use secrecy::{ExposeSecret, SecretBox};

pub type MasterKeyId = i32;

pub struct MasterKey {
    bytes: SecretBox<[u8; 32]>,
}

impl MasterKey {
    pub(super) fn bytes(&self) -> &[u8; 32] {
        self.bytes.expose_secret()
    }
}

/// The configured master keys. `Debug` shows the ids only.
pub struct Keyring {
    keys: BTreeMap<MasterKeyId, MasterKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// Parses `ID:BASE64[,ID:BASE64…]`. Errors never quote key material.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = BTreeMap::new();
        let entries = text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty());
        for (position, entry) in entries.enumerate() {
            let n = position + 1;
            let (id, encoded) = entry
                .split_once(':')
                .ok_or_else(|| format!("master key entry {n} is not of the form ID:BASE64"))?;
            let id: MasterKeyId = id.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
                format!("master key entry {n} has an id that is not a positive integer")
            })?;
            let decoded = decode_any(encoded)
                .ok_or_else(|| format!("master key {id} is not valid base64"))?;
            let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
                format!(
                    "master key {id} is {} bytes long; it must be 32",
                    decoded.len()
                )
            })?;
            let key = MasterKey {
                bytes: SecretBox::new(Box::new(bytes)),
            };
            if keys.insert(id, key).is_some() {
                return Err(format!("master key id {id} appears twice"));
            }
        }
        if keys.is_empty() {
            return Err("no master key entry was found".into());
        }
        Ok(Self { keys })
    }

    /// A fresh `ID:BASE64` entry, as `spvault keygen` prints it.
    pub fn generate_entry(id: MasterKeyId) -> String {
        let bytes = zeroize::Zeroizing::new(super::random_bytes::<32>());
        format!("{id}:{}", STANDARD.encode(bytes.as_slice()))
    }

    /// The id of the key that encrypts (the highest).
    pub fn current_id(&self) -> MasterKeyId {
        *self
            .keys
            .keys()
            .next_back()
            .expect("a keyring always holds at least one key")
    }

    pub fn current(&self) -> (MasterKeyId, &MasterKey) {
        let id = self.current_id();
        (id, &self.keys[&id])
    }

    pub fn get(&self, id: MasterKeyId) -> Option<&MasterKey> {
        self.keys.get(&id)
    }

    pub fn ids(&self) -> impl Iterator<Item = MasterKeyId> + '_ {
        self.keys.keys().copied()
    }
}

fn decode_any(encoded: &str) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(encoded).ok())
        .map(zeroize::Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_id_encrypts() {
        let text = format!(
            "{},{}",
            Keyring::generate_entry(2),
            Keyring::generate_entry(10)
        );
        let keyring = Keyring::parse(&text).unwrap();
        assert_eq!(keyring.current_id(), 10);
        assert_eq!(keyring.ids().collect::<Vec<_>>(), vec![2, 10]);
    }

    #[test]
    fn entries_may_be_separated_by_newlines() {
        let text = format!(
            "{}\n{}\n",
            Keyring::generate_entry(1),
            Keyring::generate_entry(2)
        );
        assert_eq!(Keyring::parse(&text).unwrap().current_id(), 2);
    }

    #[test]
    fn malformed_entries_are_refused_without_quoting_them() {
        for bad in ["", "abc", "x:AAAA", "0:AAAA", "1:!!!!", "1:c2hvcnQ="] {
            let err = Keyring::parse(bad).unwrap_err();
            assert!(!err.contains("c2hvcnQ"), "{err}");
        }
        let dup = format!(
            "{},{}",
            Keyring::generate_entry(1),
            Keyring::generate_entry(1)
        );
        assert!(Keyring::parse(&dup).unwrap_err().contains("twice"));
    }

    #[test]
    fn debug_shows_ids_only() {
        let entry = Keyring::generate_entry(7);
        let keyring = Keyring::parse(&entry).unwrap();
        let debug = format!("{keyring:?}");
        assert_eq!(debug, "Keyring { ids: [7] }");
    }
}
