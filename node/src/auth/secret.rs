//! Random secrets and how they are stored and compared: session ids, API tokens, CSRF
//! tokens and one-time codes carry 256 (or, for codes read out by a person, about 116)
//! random bits, so a fast hash keeps a copy of the store from being usable; only
//! passwords, which people choose, need argon2 ([`super::password`]).

use sha2::{Digest, Sha256};

/// A fresh random secret: 32 bytes from the OS, as 64 hex digits.
pub(crate) fn random_secret() -> String {
    data_encoding::HEXLOWER.encode(&rand::random::<[u8; 32]>())
}

/// The stored form of a secret (session id, API token, one-time code): its SHA-256, hex.
pub(crate) fn secret_hash(secret: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(secret.as_bytes()))
}

/// Compares secrets without leaking where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A salted hash of `text` for log lines, in place of what a user typed: the same text
/// gives the same 12 hex digits within one process (to see repeats), and nothing that can
/// be looked up or guessed offline from the log, since the salt is random per process and
/// never written anywhere.
pub(crate) fn log_hash(text: &str) -> String {
    static SALT: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let salt = SALT.get_or_init(rand::random);
    let digest = Sha256::new()
        .chain_update(salt)
        .chain_update(text.as_bytes())
        .finalize();
    data_encoding::HEXLOWER.encode(&digest[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hashed() {
        let a = random_secret();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_secret());
        assert_ne!(secret_hash(&a), a);
        assert_eq!(secret_hash(&a), secret_hash(&a));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn log_hashes_repeat_but_hide_the_text() {
        let h = log_hash("mein-passwort");
        assert_eq!(h, log_hash("mein-passwort"));
        assert_ne!(h, log_hash("mein-passwort2"));
        assert_eq!(h.len(), 12);
        assert!(!h.contains("mein"));
    }
}
