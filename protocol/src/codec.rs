//! The compact, versioned binary encoding under every payload, profile and snapshot.
//!
//! An encoded value is one format byte ([`FORMAT_VERSION`]) followed by the value in
//! postcard, a stable, varint-based serde format. The format byte lets a future version of
//! Lotse change the encoding and lets today's version say clearly that it cannot read it.
//! Decoding checks the size bound first, rejects trailing bytes, and never panics.

use serde::{Serialize, de::DeserializeOwned};

/// The encoding version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is empty.
    #[error("{what}: no data")]
    Empty {
        /// What was being decoded.
        what: &'static str,
    },
    /// The format byte names a version this build cannot read.
    #[error(
        "{what}: encoding version {found} is not supported (this node reads version {FORMAT_VERSION}); update Lotse"
    )]
    UnsupportedVersion {
        /// What was being decoded.
        what: &'static str,
        /// The version found.
        found: u8,
    },
    /// The input is larger than allowed.
    #[error("{what}: {size} bytes is more than the limit of {limit} bytes")]
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// Actual size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes do not form a valid value.
    #[error("{what}: malformed data ({reason})")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
    /// Valid value followed by extra bytes.
    #[error("{what}: {count} unexpected bytes after the end of the data")]
    TrailingBytes {
        /// What was being decoded.
        what: &'static str,
        /// How many bytes were left.
        count: usize,
    },
}

/// Encodes `value` with the format byte in front.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let out = vec![FORMAT_VERSION];
    // Serialising our own types into a Vec cannot fail: they have no maps with
    // non-string keys, no unsized sequences and no custom errors.
    match postcard::to_extend(value, out) {
        Ok(v) => v,
        Err(e) => unreachable!("encoding a Lotse value failed: {e}"),
    }
}

/// Decodes a value written by [`encode`], at most `limit` bytes long.
pub fn decode<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
    limit: usize,
) -> Result<T, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            what,
            size: bytes.len(),
            limit,
        });
    }
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty { what })?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            what,
            found: version,
        });
    }
    let (value, rest) =
        postcard::take_from_bytes::<T>(body).map_err(|e| DecodeError::Malformed {
            what,
            reason: e.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes {
            what,
            count: rest.len(),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let v = (7u32, String::from("x"));
        let bytes = encode(&v);
        assert_eq!(decode::<(u32, String)>("t", &bytes, 100).unwrap(), v);
        assert!(matches!(
            decode::<(u32, String)>("t", &[], 100),
            Err(DecodeError::Empty { .. })
        ));
        let mut wrong = bytes.clone();
        wrong[0] = 9;
        assert!(matches!(
            decode::<(u32, String)>("t", &wrong, 100),
            Err(DecodeError::UnsupportedVersion { found: 9, .. })
        ));
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            decode::<(u32, String)>("t", &long, 100),
            Err(DecodeError::TrailingBytes { count: 1, .. })
        ));
        assert!(matches!(
            decode::<(u32, String)>("t", &bytes, 2),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
