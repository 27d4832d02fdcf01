//! Fuzz target: checking a batch receipt must never panic.
//!
//! Each input is tried twice: as a whole receipt from the wire, and as receipt content
//! correctly signed by the expected recipient, so that the content decoder and the bounds
//! checks run on arbitrary bytes (a misbehaving member could send this).

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use lotse_protocol::NodeKey;
use lotse_protocol::limits::{MAX_BATCH_MESSAGES, MAX_SHORT_TEXT_BYTES};
use lotse_protocol::receipt::{self, RECEIPT_DOMAIN};

static SIGNER: LazyLock<NodeKey> = LazyLock::new(|| NodeKey::from_secret_bytes([6; 32]));
static ME: LazyLock<NodeKey> = LazyLock::new(|| NodeKey::from_secret_bytes([7; 32]));

fuzz_target!(|data: &[u8]| {
    let (signer, me) = (SIGNER.public(), ME.public());
    let _ = receipt::verify(data, &signer, &me);

    let mut signed = data.to_vec();
    signed.extend_from_slice(&SIGNER.sign(RECEIPT_DOMAIN, data));
    if let Ok(r) = receipt::verify(&signed, &signer, &me) {
        assert!(r.stored.len() + r.refused.len() <= MAX_BATCH_MESSAGES);
        assert!(r.refused.iter().all(|x| x.reason.len() <= MAX_SHORT_TEXT_BYTES));
    }
});
