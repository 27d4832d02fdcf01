//! Passwords: the policy a new password must meet, argon2id hashing, and generated
//! secrets that people read out (generated passwords, one-time codes).
//!
//! The policy follows ASVS L2 (V2.1) and NIST SP 800-63B: at least [`MIN_PASSWORD_CHARS`]
//! characters, any characters allowed (a sentence is a good password), and no password
//! that is common. "Common" means, case-insensitively, one of the entries of the bundled
//! list `common-passwords.txt` (its sources and licence are in its header and in
//! `common-passwords.LICENSE`), or such an entry with digits, signs or spaces before or
//! after it ("Sommer2024!"), or a repetition ("hallohallo12", "abcabcabcabc"), or a run of
//! consecutive characters ("123456789012"), or the account's own username. There are no
//! rules about character classes: they make passwords harder to remember, not to guess.
//!
//! Hashes are argon2id PHC strings (`Argon2::default()`: 19 MiB, 2 passes) with a random
//! salt each, computed on tokio's blocking pool since each takes tens of milliseconds.

use std::collections::HashSet;
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;

/// Shortest acceptable password, in characters (ASVS L2: 12).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest acceptable password, in characters (bounds the hashing work per request).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Characters of generated secrets: no 0/O, 1/l/I, easy to read out on the phone.
const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Random characters in a generated secret (about 116 bits).
pub(crate) const GENERATED_CHARS: usize = 20;
/// The bundled list, one lowercase entry a line.
const COMMON: &str = include_str!("common-passwords.txt");
/// A repeated unit this short makes a password common whatever it is ("abcabc...").
const SHORT_UNIT: usize = 4;

/// Why a password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Shorter than [`MIN_PASSWORD_CHARS`], longer than [`MAX_PASSWORD_CHARS`], or blank.
    Length,
    /// Common (see the module documentation).
    Common,
}

fn common_list() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        COMMON
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Checks a new password against the policy. `username` is the account's own name.
pub fn check(password: &str, username: &str) -> Result<(), Rejected> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) || password.trim().is_empty() {
        return Err(Rejected::Length);
    }
    if is_common(password, username) {
        return Err(Rejected::Common);
    }
    Ok(())
}

/// True if `password` is common: see the module documentation.
pub fn is_common(password: &str, username: &str) -> bool {
    let lower = password.to_lowercase();
    let padding = |c: char| c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_whitespace();
    let stem = lower.trim_matches(padding);
    // The stem without spaces and signs inside: "hallo hallo" repeats "hallo" too.
    let compact: String = stem.chars().filter(|c| c.is_alphanumeric()).collect();
    let list = common_list();
    let username = username.trim().to_lowercase();
    let listed = |s: &str| list.contains(s) || (!username.is_empty() && s == username);
    let common_form = [lower.as_str(), stem, compact.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .any(|s| {
            listed(s)
                || repeated_unit(s)
                    .is_some_and(|unit| unit.chars().count() <= SHORT_UNIT || listed(unit))
                || is_run(s)
        });
    // Only digits, signs and spaces: common if they repeat or run ("111111111111").
    let only_padding = stem.is_empty() && (repeated_unit(&lower).is_some() || is_run(&lower));
    common_form || only_padding
}

/// The shortest unit that `s` is two or more copies of, if any.
fn repeated_unit(s: &str) -> Option<&str> {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let n = chars.len();
    (1..=n / 2)
        .filter(|len| n.is_multiple_of(*len))
        .map(|len| {
            let end = chars.get(len).map(|(i, _)| *i).unwrap_or(s.len());
            &s[..end]
        })
        .find(|unit| s == unit.repeat(s.len() / unit.len()))
}

/// True if `s` (3 characters or more) runs up or down through consecutive characters,
/// digits wrapping from 9 to 0 ("abcdef", "987654", "567890123").
fn is_run(s: &str) -> bool {
    let c: Vec<char> = s.chars().collect();
    if c.len() < 3 {
        return false;
    }
    let step = |a: char, b: char| -> Option<i32> {
        if a.is_ascii_digit() && b.is_ascii_digit() {
            let (a, b) = (a as i32 - '0' as i32, b as i32 - '0' as i32);
            return Some(if (a + 1) % 10 == b {
                1
            } else if (b + 1) % 10 == a {
                -1
            } else {
                0
            });
        }
        Some(b as i32 - a as i32).filter(|d| d.abs() == 1)
    };
    let first = step(c[0], c[1]);
    first.is_some_and(|d| d != 0) && c.windows(2).all(|w| step(w[0], w[1]) == first)
}

/// A random secret of 20 characters from an unambiguous alphabet, in groups of five
/// (generated passwords, one-time codes).
pub fn generate() -> String {
    let mut rng = rand::rngs::OsRng;
    let mut out = String::with_capacity(GENERATED_CHARS + GENERATED_CHARS / 5);
    for i in 0..GENERATED_CHARS {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        let c = ALPHABET[rng.gen_range(0..ALPHABET.len())];
        out.push(char::from(c));
    }
    out
}

/// The argon2id PHC string for `password`, with a fresh salt.
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
}

/// True if `password` matches the PHC string `hash`.
pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash nobody knows the password of, made once per process: for unknown users (so
/// the answer time does not tell whether a username exists) and for accounts whose
/// password is not set yet.
pub(crate) fn unknowable_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash(&generate()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_counts_characters() {
        assert_eq!(check("kurz-kurz-1", ""), Err(Rejected::Length));
        assert_eq!(check("            ", ""), Err(Rejected::Length));
        assert_eq!(check("Zwölf Zeich", ""), Err(Rejected::Length));
        assert_eq!(check("äöü-Baum-Haus", ""), Ok(()), "characters, not bytes");
        assert_eq!(
            check(&"x1-".repeat(100), ""),
            Err(Rejected::Length),
            "too long"
        );
        let g = generate();
        assert_eq!(g.chars().filter(|c| *c != '-').count(), GENERATED_CHARS);
        assert_eq!(check(&g, ""), Ok(()));
        assert!(!g.contains(['0', 'O', '1', 'l', 'I']));
        assert_ne!(g, generate());
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        for common in [
            // From the list itself, in any case.
            "1q2w3e4r5t6y",
            "QWERTY123456",
            "qazwsxedcrfv",
            // A listed word with digits or signs around it.
            "Passwort1234",
            "Sommer2024!!",
            "!!Fussball2024",
            "Schalke04-1904",
            "Caritas2024!",
            "hallo hallo 12",
            // Repetitions and runs.
            "hallohallo12",
            "abcabcabcabc",
            "111111111111",
            "121212121212",
            "123456789012",
            "abcdefghijklm",
            "987654321098",
            "!!!!!!!!!!!!",
            // German keyboard rows.
            "qwertzuiopü1",
            "Qwertz123456",
            // The username itself.
            "berger.anna-2024",
        ] {
            assert_eq!(
                check(common, "berger.anna"),
                Err(Rejected::Common),
                "{common:?}"
            );
        }
        for fine in [
            "demo-passwort-1",
            "Ein Satz, den ich mir merke",
            "richtig-lang-1",
            "Kaffee mit Hafermilch 7",
            "berger-Passwort-123",
            "tulpe-regal-wolke",
            "a7Kp-2mQx-9vRt",
        ] {
            assert_eq!(check(fine, "berger"), Ok(()), "{fine:?}");
        }
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let h = hash("geheim-genug").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert_ne!(h, hash("geheim-genug").unwrap(), "fresh salt");
        assert!(verify("geheim-genug", &h));
        assert!(!verify("geheim-genuG", &h));
        assert!(!verify("geheim-genug", "not a hash"));
        assert!(!verify("", unknowable_hash()));
    }
}
