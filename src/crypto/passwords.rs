//! Slow hashes of API key secrets (argon2id, OWASP's recommended parameters).
//!
//! These functions are CPU-bound for tens of milliseconds: call them off the async runtime.

use std::sync::LazyLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of `secret` with a fresh salt.
pub fn hash_secret(secret: &SecretString) -> String {
    let salt = super::random_bytes::<16>();
    argon2()
        .hash_password_with_salt(secret.expose_secret().as_bytes(), &salt)
        .expect("hashing with valid parameters cannot fail")
        .to_string()
}

/// A hash of nothing anybody knows, so that an unknown key costs the same as a wrong one.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_secret(&SecretString::from(
        hex::encode(super::random_bytes::<32>()),
    ))
});

/// Whether `secret` matches `phc`. With `phc == None` the same work is done and `false` returned.
pub fn verify_secret(phc: Option<&str>, secret: &SecretString) -> bool {
    let known = phc.is_some();
    let phc = phc.unwrap_or(DUMMY_HASH.as_str());
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let matches = argon2()
        .verify_password(secret.expose_secret().as_bytes(), &parsed)
        .is_ok();
    known && matches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_secret_only() {
        let secret = SecretString::from("correct horse");
        let phc = hash_secret(&secret);
        assert!(phc.starts_with("$argon2id$"));
        assert!(!phc.contains("correct horse"));
        assert!(verify_secret(Some(&phc), &secret));
        assert!(!verify_secret(Some(&phc), &SecretString::from("wrong")));
    }

    #[test]
    fn an_unknown_key_never_verifies() {
        assert!(!verify_secret(None, &SecretString::from("anything")));
    }
}
