//! The redo record of one batch: what [`super::SledStore`] writes to its journal tree before
//! it applies the batch's writes one by one, so that a crash in the middle is completed at
//! the next open.
//!
//! Layout (integers big-endian): a version byte (1), the number of writes (u32), then per
//! write the space name (u8 length, bytes), the key (u32 length, bytes) and either `0`
//! (delete) or `1` followed by the value (u32 length, bytes). Space names, not positions,
//! so a journal left by an older build still decodes.

use super::{Space, StoreError};

/// The only record version.
const VERSION: u8 = 1;

/// One write of a batch: the key and its new value (`None`: delete).
pub(super) type WriteOp = (Space, Vec<u8>, Option<Vec<u8>>);

/// Encodes the writes of a batch.
pub(super) fn encode(writes: &[WriteOp]) -> Vec<u8> {
    let size: usize = writes
        .iter()
        .map(|(s, k, v)| 10 + s.name().len() + k.len() + v.as_ref().map_or(0, Vec::len))
        .sum();
    let mut out = Vec::with_capacity(5 + size);
    out.push(VERSION);
    push_len(&mut out, writes.len());
    for (space, key, value) in writes {
        let name = space.name().as_bytes();
        // Space names are short constants.
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        push_len(&mut out, key.len());
        out.extend_from_slice(key);
        match value {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                push_len(&mut out, v.len());
                out.extend_from_slice(v);
            }
        }
    }
    out
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    // Keys and values are bounded far below 4 GiB by the frame and payload limits.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

/// Decodes a record written by [`encode`].
pub(super) fn decode(bytes: &[u8]) -> Result<Vec<WriteOp>, StoreError> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(1)? != [VERSION] {
        return Err(corrupt("unknown record version"));
    }
    let count = r.len()?;
    let mut writes = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        let name_len = r.take(1)?[0] as usize;
        let name = std::str::from_utf8(r.take(name_len)?).map_err(|_| corrupt("space name"))?;
        let space = Space::from_name(name).ok_or_else(|| corrupt("unknown space"))?;
        let key_len = r.len()?;
        let key = r.take(key_len)?.to_vec();
        let value = match r.take(1)?[0] {
            0 => None,
            1 => {
                let len = r.len()?;
                Some(r.take(len)?.to_vec())
            }
            _ => return Err(corrupt("write tag")),
        };
        writes.push((space, key, value));
    }
    if r.at != bytes.len() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(writes)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Engine(format!(
        "the store's journal holds a damaged record ({what}); restore the data directory from a backup"
    ))
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| corrupt("truncated"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn len(&mut self) -> Result<usize, StoreError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<WriteOp> {
        vec![
            (Space::Outbox, b"m1".to_vec(), Some(b"record".to_vec())),
            (Space::OutboxPending, b"m1".to_vec(), Some(Vec::new())),
            (Space::Inbox, vec![0; 40], None),
            (Space::Audit, Vec::new(), Some(vec![7; 70_000])),
        ]
    }

    #[test]
    fn round_trips() {
        let writes = sample();
        assert_eq!(decode(&encode(&writes)).unwrap(), writes);
        assert_eq!(decode(&encode(&[])).unwrap(), Vec::<WriteOp>::new());
    }

    #[test]
    fn every_truncation_and_extension_is_refused() {
        let bytes = encode(&sample()[..3]);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }

    #[test]
    fn damaged_fields_are_refused_with_a_clear_error() {
        let bytes = encode(&sample()[..1]);
        let mut version = bytes.clone();
        version[0] = 2;
        let mut space = bytes.clone();
        space[6] = b'X';
        let mut tag = bytes.clone();
        let tag_at = 5 + 1 + "outbox".len() + 4 + 2;
        tag[tag_at] = 9;
        let mut huge = bytes.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        for bad in [version, space, tag, huge] {
            let err = decode(&bad).unwrap_err().to_string();
            assert!(err.contains("journal holds a damaged record"), "{err}");
        }
    }
}
