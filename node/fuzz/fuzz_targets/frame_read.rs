//! A request frame as a node reads it from a peer: the head (kind and announced length),
//! the limits for a member and for a stranger, and the body buffer fed in arbitrary chunks
//! (`transport::frame::BodyBuffer`, what `read_body` does with each QUIC chunk), then the
//! batch decoder on a complete batch body. Checks, besides "no panic": the buffer never
//! grows beyond the announced length nor much beyond what arrived (twice it, at least
//! 16 KiB), and the complete body is exactly the bytes that came.
//!
//! Input: one byte for the chunk sizes, the 5-byte head, then the stream's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lotse_node::transport::frame::{BodyBuffer, RequestKind, decode_batch};
use lotse_node::transport::limits::MAX_JOIN_REQUEST_BYTES;

fuzz_target!(|data: &[u8]| {
    let Some((&chunking, rest)) = data.split_first() else {
        return;
    };
    let Some((head, stream)) = rest.split_first_chunk::<5>() else {
        return;
    };
    // The batch decoder on anything, as a member's batch body.
    let _ = decode_batch(stream);
    let Some(kind) = RequestKind::from_byte(head[0]) else {
        return;
    };
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    for limit in [kind.max_body(), MAX_JOIN_REQUEST_BYTES] {
        if len > limit {
            continue;
        }
        let mut body = BodyBuffer::new(len);
        let mut offset = 0;
        let mut step = usize::from(chunking).max(1);
        while body.missing() > 0 && offset < stream.len() {
            let end = (offset + step).min(stream.len());
            body.push(&stream[offset..end]);
            let received = len - body.missing();
            assert!(body.capacity() <= len, "beyond the announced length");
            assert!(
                body.capacity() <= (2 * received).max(16 * 1024),
                "ahead of what arrived"
            );
            offset = end;
            step = step * 3 % 4099 + 1;
        }
        if body.missing() == 0 {
            let bytes = body.into_inner();
            assert_eq!(bytes, stream[..len]);
            if kind == RequestKind::DeliverBatch {
                let _ = decode_batch(&bytes);
            }
        }
    }
});
