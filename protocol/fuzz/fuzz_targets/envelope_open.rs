//! Fuzz target: `envelope::open` must never panic, whatever bytes arrive.
//!
//! Each input is tried twice, as a node with fixed keys (those of the test vectors) that
//! accepts every sender:
//! 1. as it came, which the framing checks and the signature stop almost always;
//! 2. wrapped into a well-formed envelope to this node, correctly signed by a member: the
//!    first input byte is the kind, the rest the ciphertext. A member gone rogue can send
//!    exactly this, and it reaches age decryption and payload decoding.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use lotse_protocol::envelope::{self, HEADER_LEN, MAGIC, PROTOCOL_VERSION, SIGNATURE_DOMAIN};
use lotse_protocol::payload::MessageKind;
use lotse_protocol::{EncryptionIdentity, NodeId, NodeKey};

/// The receiving node's age identity in the test vectors (X25519 secret `[4; 32]`).
const RECIPIENT_AGE: &str =
    "AGE-SECRET-KEY-1QSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQMDXKL7";

struct Keys {
    me: NodeKey,
    identity: EncryptionIdentity,
    sender: NodeKey,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| Keys {
    me: NodeKey::from_secret_bytes([2; 32]),
    identity: EncryptionIdentity::from_secret_text(RECIPIENT_AGE)
        .expect("the fixed age identity parses"),
    sender: NodeKey::from_secret_bytes([1; 32]),
});

fn anyone(_: &NodeId, _: MessageKind) -> bool {
    true
}

/// A signed envelope from the fixed sender to this node with `ciphertext` inside.
fn wrap(kind: u8, ciphertext: &[u8]) -> Vec<u8> {
    let k = &*KEYS;
    let referral = MessageKind::from_byte(kind).is_some_and(|k| k.is_referral_message());
    let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len() + 64);
    out.extend_from_slice(&MAGIC);
    out.push(PROTOCOL_VERSION);
    out.push(kind);
    out.extend_from_slice(&[0x4d; 16]);
    out.extend_from_slice(k.sender.public().as_bytes());
    out.extend_from_slice(k.me.public().as_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&[u8::from(referral) * 0x52; 16]);
    out.extend_from_slice(&0u64.to_be_bytes());
    let len = u32::try_from(ciphertext.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(ciphertext);
    let signature = k.sender.sign(SIGNATURE_DOMAIN, &out);
    out.extend_from_slice(&signature);
    out
}

fuzz_target!(|data: &[u8]| {
    let k = &*KEYS;
    let me = k.me.public();
    if let Ok(opened) = envelope::open(data, &me, &k.identity, &anyone) {
        assert_eq!(opened.header.recipient, me);
    }
    if let Some((&kind, ciphertext)) = data.split_first() {
        let wrapped = wrap(kind, ciphertext);
        if let Ok(opened) = envelope::open(&wrapped, &me, &k.identity, &anyone) {
            assert_eq!(opened.header.kind as u8, kind);
            assert_eq!(opened.payload.kind(), opened.header.kind);
        }
    }
});
