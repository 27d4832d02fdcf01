//! Random 128-bit identifiers for messages and referrals.
//!
//! A [`MessageId`] is what the receiver deduplicates on, so it must never repeat: it is
//! drawn from the operating system's random source. A [`ReferralId`] names one referral on
//! both the sender's and the receiver's node.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The text of an id was not 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be 32 hex digits (0-9, a-f)")]
pub struct IdError {
    what: &'static str,
}

macro_rules! id_type {
    ($name:ident, $what:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 16]);

        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                Self(rand::random())
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let err = IdError { what: $what };
                if s.len() != 32 {
                    return Err(err);
                }
                let bytes = data_encoding::HEXLOWER_PERMISSIVE
                    .decode(s.as_bytes())
                    .map_err(|_| err.clone())?;
                let mut out = [0u8; 16];
                out.copy_from_slice(&bytes);
                Ok(Self(out))
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
                    Ok(Self(<[u8; 16]>::deserialize(d)?))
                }
            }
        }
    };
}

id_type!(
    MessageId,
    "a message id",
    "Identifies one message; the receiver deduplicates on it."
);
id_type!(
    ReferralId,
    "a referral id",
    "Identifies one referral on both nodes."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = ReferralId::random();
        assert_eq!(id.to_string().parse::<ReferralId>().unwrap(), id);
        assert!("xyz".parse::<MessageId>().is_err());
        assert!("g".repeat(32).parse::<MessageId>().is_err());
    }
}
