//! Fuzz target: `Payload::decode` must never panic, for any kind and any bytes, and what it
//! accepts must survive re-encoding.
//!
//! The first input byte picks the kind (modulo the number of kinds, in the order of
//! `MessageKind::ALL`, so byte `k` is the kind with wire byte `k + 1`); the rest is decoded.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lotse_protocol::payload::{MessageKind, Payload};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let kind = MessageKind::ALL[usize::from(selector) % MessageKind::ALL.len()];
    if let Ok(payload) = Payload::decode(kind, bytes) {
        assert_eq!(payload.kind(), kind);
        let again = Payload::decode(kind, &payload.encode());
        assert_eq!(
            again,
            Ok(payload),
            "a decoded payload must re-encode losslessly"
        );
    }
});
