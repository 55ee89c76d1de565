//! The desk's password: an argon2 hash in the config (a PHC string such as
//! `$argon2id$v=19$m=19456,t=2,p=1$…$…`), checked for its format by `check`, verified at
//! login, and made by `feed2threads desk-password`.
//!
//! Must not log or return the password or the hash.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use secrecy::{ExposeSecret, SecretString};

/// Why a configured hash is unusable (never quoting it).
pub fn check_hash_format(hash: &SecretString) -> Result<(), String> {
    let hint = "make one with `feed2threads desk-password`";
    let parsed = PasswordHash::new(hash.expose_secret()).map_err(|e| {
        format!(
            "is not an argon2 hash in PHC form ($argon2id$v=19$m=…,t=…,p=…$salt$hash): {e}; {hint}"
        )
    })?;
    let algorithm = parsed.algorithm.as_str();
    if !matches!(algorithm, "argon2id" | "argon2i" | "argon2d") {
        return Err(format!(
            "is a {algorithm:?} hash; the desk takes argon2 (argon2id) hashes: {hint}"
        ));
    }
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err(format!("has no salt or no hash part; {hint}"));
    }
    Ok(())
}

/// Whether `password` is the one behind `hash`. CPU-heavy by design (tens of ms): run it
/// off the async threads.
pub fn verify(hash: &SecretString, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash.expose_secret()) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A new argon2id hash of `password` with a random salt, in PHC form.
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = SecretString::from(hash("correct horse").unwrap());
        assert!(h.expose_secret().starts_with("$argon2id$"));
        assert!(check_hash_format(&h).is_ok());
        assert!(verify(&h, "correct horse"));
        assert!(!verify(&h, "correct horse "));
        assert!(!verify(&SecretString::from("nonsense"), "x"));
    }

    #[test]
    fn bad_hashes_are_named_without_quoting_them() {
        for bad in [
            "hunter2",
            "$2b$12$abcdefghijklmnopqrstuv",
            "$argon2id$v=19$m=19456,t=2,p=1",
        ] {
            let err = check_hash_format(&SecretString::from(bad)).unwrap_err();
            assert!(!err.contains(bad), "{err}");
            assert!(err.contains("desk-password"), "{err}");
        }
    }
}
