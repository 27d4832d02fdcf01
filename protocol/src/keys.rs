//! Keys and identities: who a node is, how to encrypt to it, and who signs the directory.
//!
//! - [`NodeId`] is a node's ed25519 public key. Its text form is 64 lowercase hex digits;
//!   its [`Fingerprint`] is 20 decimal digits in five groups, short enough to read out over
//!   the phone when an agency's admin checks a key with the KI.
//! - [`NodeKey`] is the matching signing key. It signs envelopes and the agency's profile.
//! - [`EncryptionIdentity`] / [`EncryptionRecipient`] are the node's age X25519 keys. They
//!   are separate from the signing key (ed25519-dalek advises against reusing a signing key
//!   for encryption); the recipient is published in the directory inside the profile the
//!   node signs.
//! - [`AuthorityKey`] / [`AuthorityId`] sign the network directory. Only the KI's directory
//!   node holds the secret; every member pins the public half when it joins.
//!
//! Every text form round-trips, and parsing wrong input gives a [`KeyError`] that says what
//! was expected. Secret keys have no `Display`: their text form is only produced on purpose,
//! in a zeroizing buffer, to write the key file.

use std::fmt;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Why a key or key text could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text has the wrong length.
    #[error("{what} must be {expected} characters long, got {got}")]
    Length {
        /// The kind of key.
        what: &'static str,
        /// Expected number of characters.
        expected: usize,
        /// Number of characters given.
        got: usize,
    },
    /// The text has characters outside its alphabet.
    #[error("{what} may only contain the characters 0-9 and a-f")]
    NotHex {
        /// The kind of key.
        what: &'static str,
    },
    /// The text lacks the prefix that marks its kind.
    #[error("{what} must start with {prefix:?}")]
    Prefix {
        /// The kind of key.
        what: &'static str,
        /// The prefix expected.
        prefix: &'static str,
    },
    /// The bytes are not a valid point on the curve.
    #[error("{what} is not a valid ed25519 public key")]
    InvalidPoint {
        /// The kind of key.
        what: &'static str,
    },
    /// The age key text is malformed.
    #[error("not a valid age {what}: {reason}")]
    Age {
        /// "identity" or "recipient".
        what: &'static str,
        /// age's explanation.
        reason: String,
    },
}

/// A signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("signature does not verify for this key")]
pub struct BadSignature;

fn decode_hex32(what: &'static str, text: &str) -> Result<[u8; 32], KeyError> {
    let text = text.trim();
    if text.len() != 64 {
        return Err(KeyError::Length {
            what,
            expected: 64,
            got: text.chars().count(),
        });
    }
    let bytes = data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .map_err(|_| KeyError::NotHex { what })?;
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// How many decompressed public keys [`verifying_key`] remembers.
const KEY_CACHE_ENTRIES: usize = 4096;

/// Decompresses a public key, checking that it is a valid point. Decompression costs about
/// a third of a signature check and a node sees the same few dozen keys (the network's
/// members) in every message and record, so valid keys are remembered: public data, in a
/// bounded map that is emptied when full.
fn verifying_key(what: &'static str, bytes: &[u8; 32]) -> Result<VerifyingKey, KeyError> {
    static CACHE: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<[u8; 32], VerifyingKey>>,
    > = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let lock = || cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(key) = lock().get(bytes) {
        return Ok(*key);
    }
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidPoint { what })?;
    let mut map = lock();
    if map.len() >= KEY_CACHE_ENTRIES {
        map.clear();
    }
    map.insert(*bytes, key);
    Ok(key)
}

/// Signs `msg` under a domain separation tag, so a signature made for one purpose
/// (an envelope, a profile, a directory) can never be replayed as another.
fn domain_message(domain: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(domain.len() + msg.len());
    m.extend_from_slice(domain);
    m.extend_from_slice(msg);
    m
}

macro_rules! public_key_type {
    ($name:ident, $what:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Builds the id from raw key bytes, checking that they are a valid key.
            pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
                verifying_key($what, &bytes)?;
                Ok(Self(bytes))
            }

            /// The raw 32 key bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// A short, readable fingerprint of this key.
            pub fn fingerprint(&self) -> Fingerprint {
                Fingerprint::of(&self.0)
            }

            /// Verifies `signature` over `msg` under the domain tag `domain`.
            pub fn verify(
                &self,
                domain: &[u8],
                msg: &[u8],
                signature: &[u8; 64],
            ) -> Result<(), BadSignature> {
                let key = verifying_key($what, &self.0).map_err(|_| BadSignature)?;
                let sig = Signature::from_bytes(signature);
                key.verify_strict(&domain_message(domain, msg), &sig)
                    .map_err(|_| BadSignature)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), &self.to_string()[..12])
            }
        }

        impl FromStr for $name {
            type Err = KeyError;
            fn from_str(s: &str) -> Result<Self, KeyError> {
                Self::from_bytes(decode_hex32($what, s)?)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&self.to_string())
                } else {
                    self.0.serialize(s)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let s = String::deserialize(d)?;
                    s.parse().map_err(serde::de::Error::custom)
                } else {
                    let bytes = <[u8; 32]>::deserialize(d)?;
                    Self::from_bytes(bytes).map_err(serde::de::Error::custom)
                }
            }
        }
    };
}

public_key_type!(
    NodeId,
    "node id",
    "A node's identity: its ed25519 public key. Text form: 64 lowercase hex digits."
);
public_key_type!(
    AuthorityId,
    "directory authority key",
    "The public directory authority key that every member pins. Text form: 64 hex digits."
);

macro_rules! secret_key_type {
    ($name:ident, $public:ident, $prefix:literal, $what:literal, $doc:literal) => {
        #[doc = $doc]
        pub struct $name(SigningKey);

        impl $name {
            /// Generates a fresh key from the operating system's random source.
            pub fn generate() -> Self {
                Self(SigningKey::generate(&mut rand::rngs::OsRng))
            }

            /// Builds the key from its 32 secret bytes (for tests and test vectors).
            pub fn from_secret_bytes(bytes: [u8; 32]) -> Self {
                Self(SigningKey::from_bytes(&bytes))
            }

            /// The public half.
            pub fn public(&self) -> $public {
                $public(self.0.verifying_key().to_bytes())
            }

            /// Signs `msg` under the domain tag `domain`.
            pub fn sign(&self, domain: &[u8], msg: &[u8]) -> [u8; 64] {
                self.0.sign(&domain_message(domain, msg)).to_bytes()
            }

            /// The text form for the key file: the prefix followed by 64 hex digits.
            pub fn to_secret_text(&self) -> Zeroizing<String> {
                let hex = Zeroizing::new(data_encoding::HEXLOWER.encode(self.0.as_bytes()));
                Zeroizing::new(format!("{}{}", $prefix, hex.as_str()))
            }

            /// Parses the text form written by [`Self::to_secret_text`].
            pub fn from_secret_text(text: &str) -> Result<Self, KeyError> {
                let rest = text.trim().strip_prefix($prefix).ok_or(KeyError::Prefix {
                    what: $what,
                    prefix: $prefix,
                })?;
                let bytes = Zeroizing::new(decode_hex32($what, rest)?);
                Ok(Self(SigningKey::from_bytes(&bytes)))
            }

            /// The underlying ed25519 key, for the TLS layer.
            pub fn signing_key(&self) -> &SigningKey {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(public {:?})", stringify!($name), self.public())
            }
        }
    };
}

secret_key_type!(
    NodeKey,
    NodeId,
    "LOTSE-NODE-KEY-",
    "node key",
    "A node's ed25519 signing key. It never leaves the node's data directory."
);
secret_key_type!(
    AuthorityKey,
    AuthorityId,
    "LOTSE-AUTHORITY-KEY-",
    "authority key",
    "The directory authority's signing key, held only by the KI's directory node."
);

/// A short, readable form of a public key: 20 decimal digits in groups of four.
///
/// The digits are the first 64 bits of `SHA-256("lotse fingerprint v1" || key)`. Two people
/// compare it aloud to check that a key is the one they expect.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(u64);

impl Fingerprint {
    fn of(key: &[u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(b"lotse fingerprint v1");
        h.update(key);
        let digest = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Fingerprint(u64::from_be_bytes(first))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = format!("{:020}", self.0);
        let groups: Vec<&str> = (0..5).map(|i| &digits[i * 4..i * 4 + 4]).collect();
        f.write_str(&groups.join(" "))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// A node's age X25519 identity: decrypts what other nodes encrypt to it.
pub struct EncryptionIdentity(age::x25519::Identity);

impl EncryptionIdentity {
    /// Generates a fresh identity.
    pub fn generate() -> Self {
        Self(age::x25519::Identity::generate())
    }

    /// The public recipient to publish in the directory.
    pub fn recipient(&self) -> EncryptionRecipient {
        EncryptionRecipient(self.0.to_public())
    }

    /// The age text form (`AGE-SECRET-KEY-1...`) for the key file.
    pub fn to_secret_text(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.to_string().expose_secret().to_string())
    }

    /// Parses the age text form.
    pub fn from_secret_text(text: &str) -> Result<Self, KeyError> {
        age::x25519::Identity::from_str(text.trim())
            .map(Self)
            .map_err(|reason| KeyError::Age {
                what: "identity",
                reason: reason.to_string(),
            })
    }

    pub(crate) fn inner(&self) -> &age::x25519::Identity {
        &self.0
    }
}

impl fmt::Debug for EncryptionIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionIdentity(public {})", self.recipient())
    }
}

/// The public half of an [`EncryptionIdentity`]. Text form: age's `age1...`.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionRecipient(age::x25519::Recipient);

impl EncryptionRecipient {
    pub(crate) fn inner(&self) -> &age::x25519::Recipient {
        &self.0
    }
}

impl fmt::Display for EncryptionRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for EncryptionRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionRecipient({})", self.0)
    }
}

impl FromStr for EncryptionRecipient {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        age::x25519::Recipient::from_str(s.trim())
            .map(Self)
            .map_err(|reason| KeyError::Age {
                what: "recipient",
                reason: reason.to_string(),
            })
    }
}

impl Serialize for EncryptionRecipient {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for EncryptionRecipient {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_text_round_trips() {
        let key = NodeKey::generate();
        let id = key.public();
        let text = id.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<NodeId>().unwrap(), id);
    }

    #[test]
    fn wrong_node_id_text_is_a_typed_error() {
        assert!(matches!(
            "abc".parse::<NodeId>(),
            Err(KeyError::Length {
                expected: 64,
                got: 3,
                ..
            })
        ));
        let bad = "zz".repeat(32);
        assert!(matches!(
            bad.parse::<NodeId>(),
            Err(KeyError::NotHex { .. })
        ));
    }

    #[test]
    fn secret_key_text_round_trips_and_checks_prefix() {
        let key = NodeKey::generate();
        let text = key.to_secret_text();
        let back = NodeKey::from_secret_text(&text).unwrap();
        assert_eq!(back.public(), key.public());
        assert!(matches!(
            AuthorityKey::from_secret_text(&text),
            Err(KeyError::Prefix { .. })
        ));
    }

    #[test]
    fn age_keys_round_trip() {
        let id = EncryptionIdentity::generate();
        let back = EncryptionIdentity::from_secret_text(&id.to_secret_text()).unwrap();
        assert_eq!(back.recipient(), id.recipient());
        let r: EncryptionRecipient = id.recipient().to_string().parse().unwrap();
        assert_eq!(r, id.recipient());
        assert!(matches!(
            "age1nonsense".parse::<EncryptionRecipient>(),
            Err(KeyError::Age { .. })
        ));
    }

    #[test]
    fn fingerprint_is_five_groups_of_four_digits() {
        let fp = NodeKey::from_secret_bytes([7; 32])
            .public()
            .fingerprint()
            .to_string();
        let groups: Vec<&str> = fp.split(' ').collect();
        assert_eq!(groups.len(), 5);
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 4 && g.chars().all(|c| c.is_ascii_digit()))
        );
    }

    #[test]
    fn signatures_are_domain_separated() {
        let key = NodeKey::generate();
        let sig = key.sign(b"a", b"msg");
        assert!(key.public().verify(b"a", b"msg", &sig).is_ok());
        assert!(key.public().verify(b"b", b"msg", &sig).is_err());
    }
}

/// A 64-byte ed25519 signature, as stored inside signed structures.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignatureBytes(pub [u8; 64]);

impl fmt::Debug for SignatureBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signature({}…)",
            data_encoding::HEXLOWER.encode(&self.0[..6])
        )
    }
}

impl Serialize for SignatureBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&data_encoding::HEXLOWER.encode(&self.0))
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for SignatureBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes: Vec<u8> = if d.is_human_readable() {
            let s = String::deserialize(d)?;
            data_encoding::HEXLOWER_PERMISSIVE
                .decode(s.as_bytes())
                .map_err(serde::de::Error::custom)?
        } else {
            crate::client::serde_bytes_compat::deserialize(d)?
        };
        let arr: [u8; 64] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("a signature must be 64 bytes"))?;
        Ok(SignatureBytes(arr))
    }
}
