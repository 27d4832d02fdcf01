//! What the store crash test's writer (`src/bin/store-writer.rs`) writes, shared with the
//! test that checks it (`tests/store_crash.rs`).

/// The writer flushes after every this many batches.
pub const FLUSH_EVERY: u64 = 64;

/// The meta key that holds the number of the last batch.
pub const LAST: &[u8] = b"last";

/// The key of batch `n`.
pub fn key(n: u64) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

/// The value batch `n` writes: its number repeated, 150 KiB for every tenth batch (sled
/// keeps values that large outside its log buffers) and 1.5 KiB otherwise.
pub fn value(n: u64) -> Vec<u8> {
    let len = if n.is_multiple_of(10) {
        150 * 1024
    } else {
        1536
    };
    n.to_be_bytes().iter().copied().cycle().take(len).collect()
}
