//! The answer to a batch delivery: which envelopes the recipient stored and which it
//! refused (and why), signed by the recipient.
//!
//! ```text
//! receipt: codec(ReceiptContent) | ed25519 signature (64 bytes)
//!          signed: "lotse/receipts/v1\0" || codec(ReceiptContent)
//! ```
//!
//! A receipt is signed, not encrypted: it holds message ids, a time and reasons, no case
//! content, and it travels inside the TLS connection whose request it answers. The
//! signature makes it the recipient's word, and the content names both ends, so a receipt
//! cannot be passed off as another node's or as the answer to another node's batch. The
//! signature is checked before the content is decoded.

use serde::{Deserialize, Serialize};

use crate::codec::{self, DecodeError};
use crate::keys::{NodeId, NodeKey};
use crate::{MessageId, Timestamp, limits};

/// Domain separation tag of receipt signatures.
pub const RECEIPT_DOMAIN: &[u8] = b"lotse/receipts/v1\0";

/// Length of the signature at the end of a receipt.
const SIGNATURE_LEN: usize = 64;

/// What a batch's recipient says about it: every envelope of the batch is either stored
/// (listed by message id, also when it was stored before) or refused (by its position in
/// the batch, with the reason: sending the same bytes again will not help).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReceipts {
    /// The messages stored durably.
    pub stored: Vec<MessageId>,
    /// When the batch was stored.
    pub received_at: Timestamp,
    /// The envelopes refused.
    pub refused: Vec<Refused>,
}

/// One envelope of a batch that the recipient refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// Its position in the batch (0-based).
    pub index: u32,
    /// Why.
    pub reason: String,
}

/// The signed content: who answers whom, and the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ReceiptContent {
    /// The recipient of the batch, who signs.
    signer: NodeId,
    /// The node that sent the batch.
    sender: NodeId,
    receipts: DeliveryReceipts,
}

/// A receipt that cannot be accepted.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// Too short to hold a signature, or too long to be a receipt.
    #[error("a receipt of {len} bytes: between 66 and {max} bytes are expected")]
    Size {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The signature is not the expected signer's.
    #[error("the receipt's signature does not verify with the recipient's key")]
    Signature,
    /// The content does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Signed content that names other nodes.
    #[error("the receipt answers another node's batch")]
    WrongNodes,
    /// Signed content out of bounds.
    #[error("the receipt is out of bounds: {0}")]
    Bounds(&'static str),
}

/// Signs `receipts` as the answer of `key`'s node to a batch from `sender`.
pub fn sign(key: &NodeKey, sender: NodeId, receipts: DeliveryReceipts) -> Vec<u8> {
    let content = codec::encode(&ReceiptContent {
        signer: key.public(),
        sender,
        receipts,
    });
    let signature = key.sign(RECEIPT_DOMAIN, &content);
    let mut out = content;
    out.extend_from_slice(&signature);
    out
}

/// Checks a receipt that `signer` returned to `me`, and returns what it says.
pub fn verify(
    bytes: &[u8],
    signer: &NodeId,
    me: &NodeId,
) -> Result<DeliveryReceipts, ReceiptError> {
    let max = limits::MAX_RECEIPT_BYTES;
    if bytes.len() < SIGNATURE_LEN + 2 || bytes.len() > max {
        return Err(ReceiptError::Size {
            len: bytes.len(),
            max,
        });
    }
    let (content, signature) = bytes.split_at(bytes.len() - SIGNATURE_LEN);
    let signature: &[u8; SIGNATURE_LEN] =
        signature.try_into().map_err(|_| ReceiptError::Signature)?;
    signer
        .verify(RECEIPT_DOMAIN, content, signature)
        .map_err(|_| ReceiptError::Signature)?;
    let content: ReceiptContent = codec::decode("receipt", content, max)?;
    if content.signer != *signer || content.sender != *me {
        return Err(ReceiptError::WrongNodes);
    }
    let r = content.receipts;
    if r.stored.len() + r.refused.len() > limits::MAX_BATCH_MESSAGES {
        return Err(ReceiptError::Bounds(
            "it answers more messages than a batch holds",
        ));
    }
    if r.refused
        .iter()
        .any(|x| x.reason.len() > limits::MAX_SHORT_TEXT_BYTES)
    {
        return Err(ReceiptError::Bounds("a reason is longer than 512 bytes"));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DeliveryReceipts {
        DeliveryReceipts {
            stored: vec![MessageId([1; 16]), MessageId([2; 16])],
            received_at: Timestamp(1_700_000_000_000),
            refused: vec![Refused {
                index: 2,
                reason: "bad signature".into(),
            }],
        }
    }

    #[test]
    fn only_the_signer_for_the_sender_and_unchanged() {
        let (recipient, sender, other) = (
            NodeKey::generate(),
            NodeKey::generate(),
            NodeKey::generate(),
        );
        let bytes = sign(&recipient, sender.public(), sample());
        assert_eq!(
            verify(&bytes, &recipient.public(), &sender.public()).unwrap(),
            sample()
        );
        // Another signer, or another addressee.
        assert!(matches!(
            verify(&bytes, &other.public(), &sender.public()),
            Err(ReceiptError::Signature)
        ));
        assert!(matches!(
            verify(&bytes, &recipient.public(), &other.public()),
            Err(ReceiptError::WrongNodes)
        ));
        // Any changed byte.
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] ^= 0x01;
            assert!(verify(&changed, &recipient.public(), &sender.public()).is_err());
        }
        // Sizes.
        for len in [0, 1, 65] {
            assert!(matches!(
                verify(&vec![0; len], &recipient.public(), &sender.public()),
                Err(ReceiptError::Size { .. })
            ));
        }
        // Signed, but out of bounds.
        let mut long = sample();
        long.stored = vec![MessageId([3; 16]); limits::MAX_BATCH_MESSAGES];
        let bytes = sign(&recipient, sender.public(), long);
        let e = verify(&bytes, &recipient.public(), &sender.public()).unwrap_err();
        assert!(e.to_string().contains("more messages"), "{e}");
    }
}
