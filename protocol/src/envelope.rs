//! The envelope: a signed header, the age ciphertext of the payload, and an ed25519
//! signature over the exact bytes.
//!
//! Layout (all integers big-endian):
//!
//! ```text
//! offset  size  field
//!      0     4  magic "LTSE"
//!      4     1  protocol version (1)
//!      5     1  message kind
//!      6    16  message id
//!     22    32  sender node id (ed25519 public key)
//!     54    32  recipient node id
//!     86     8  created_at, milliseconds since the Unix epoch
//!     94    16  referral id (all zero: not about a referral)
//!    110     8  sequence number within the referral
//!    118     4  ciphertext length n
//!    122     n  age ciphertext (binary age v1 format) of the encoded payload
//!  122+n    64  ed25519 signature over "lotse/envelope/v1\0" || bytes[0 .. 122+n]
//! ```
//!
//! The signature covers the header, so an envelope cannot be re-addressed, re-kinded or
//! re-sequenced; the receiver verifies the bytes it received and never re-serialises.
//! [`open`] checks, in order: size bounds, magic, version, kind, lengths, that the recipient
//! is this node, that the sender is known, the signature, decryption, and that the payload
//! decodes as the kind the header names. Each failure is its own [`OpenError`].

use std::io::{Read, Write};

use crate::keys::{EncryptionIdentity, EncryptionRecipient, NodeId, NodeKey};
use crate::limits;
use crate::payload::{MessageKind, Payload, PayloadError};
use crate::{MessageId, ReferralId, Timestamp};

/// The magic bytes every envelope starts with.
pub const MAGIC: [u8; 4] = *b"LTSE";
/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u8 = 1;
/// Length of the fixed header, up to and including the ciphertext length.
pub const HEADER_LEN: usize = 122;
/// Length of the trailing signature.
pub const SIGNATURE_LEN: usize = 64;
/// Domain separation tag for envelope signatures.
pub const SIGNATURE_DOMAIN: &[u8] = b"lotse/envelope/v1\0";

/// The signed header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Protocol version.
    pub version: u8,
    /// Message kind.
    pub kind: MessageKind,
    /// Unique message id; the receiver deduplicates on it.
    pub message_id: MessageId,
    /// Who signed and sent it.
    pub sender: NodeId,
    /// Who it is for.
    pub recipient: NodeId,
    /// When the sender created it.
    pub created_at: Timestamp,
    /// The referral it belongs to, if any.
    pub referral_id: Option<ReferralId>,
    /// The per-referral sequence number (0 when not about a referral).
    pub sequence: u64,
}

/// What the caller chooses when sealing; the sender comes from the signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// Unique message id.
    pub message_id: MessageId,
    /// Recipient node.
    pub recipient: NodeId,
    /// Creation time.
    pub created_at: Timestamp,
    /// The referral it belongs to.
    pub referral_id: Option<ReferralId>,
    /// Sequence number within the referral.
    pub sequence: u64,
}

/// Sealing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The payload breaks a content rule.
    #[error("the message content is not valid: {0}")]
    Payload(#[from] PayloadError),
    /// The payload is too large.
    #[error("the message is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// age failed to encrypt.
    #[error("encryption failed: {0}")]
    Encrypt(String),
    /// Referral messages need a referral id; other messages must not have one.
    #[error("message kind {kind:?} and referral id do not fit together")]
    ReferralIdMismatch {
        /// The kind.
        kind: MessageKind,
    },
}

/// Why an envelope was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Shorter than header plus signature.
    #[error("envelope too short: {len} bytes, at least {min} needed")]
    TooShort {
        /// Actual length.
        len: usize,
        /// Minimum.
        min: usize,
    },
    /// Longer than the bound.
    #[error("envelope too large: {len} bytes, the limit is {limit}")]
    TooLarge {
        /// Actual length.
        len: usize,
        /// Limit.
        limit: usize,
    },
    /// Not a Lotse envelope.
    #[error("not a Lotse envelope (wrong magic bytes)")]
    BadMagic,
    /// Another protocol version.
    #[error(
        "protocol version {found} is not supported (this node speaks version {PROTOCOL_VERSION}); one of the nodes needs an update"
    )]
    UnsupportedVersion {
        /// The version found.
        found: u8,
    },
    /// Unknown kind byte.
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    /// The declared length does not match.
    #[error(
        "envelope length does not match its header ({declared} bytes of ciphertext declared, {actual} present)"
    )]
    LengthMismatch {
        /// Declared ciphertext length.
        declared: usize,
        /// Actual bytes available for it.
        actual: usize,
    },
    /// Addressed to another node.
    #[error("envelope is addressed to {recipient:?}, not to this node")]
    WrongRecipient {
        /// The recipient in the header.
        recipient: NodeId,
    },
    /// The sender is not an active member.
    #[error("sender {sender:?} is not an active member of the network")]
    UnknownSender {
        /// The sender in the header.
        sender: NodeId,
    },
    /// The sender key in the header is not a valid key.
    #[error("sender key in the header is not a valid ed25519 key")]
    InvalidSenderKey,
    /// The recipient key in the header is not a valid key.
    #[error("recipient key in the header is not a valid ed25519 key")]
    InvalidRecipientKey,
    /// The signature does not verify.
    #[error("signature does not verify: the envelope was changed or not signed by its sender")]
    BadSignature,
    /// The ciphertext does not decrypt with this node's key.
    #[error("cannot decrypt the payload: {0}")]
    Decrypt(String),
    /// The payload is malformed.
    #[error("payload rejected: {0}")]
    Payload(#[from] PayloadError),
    /// A referral message without a referral id, or a non-referral message with one.
    #[error("message kind {kind:?} and referral id do not fit together")]
    ReferralIdMismatch {
        /// The kind.
        kind: MessageKind,
    },
}

/// An envelope whose framing and signature are checked, not yet decrypted.
#[derive(Debug, Clone)]
pub struct Verified<'a> {
    /// The header.
    pub header: Header,
    ciphertext: &'a [u8],
}

/// A fully opened envelope.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The header.
    pub header: Header,
    /// The decrypted, decoded payload.
    pub payload: Payload,
}

/// Seals `payload` for `to` (whose age recipient is `to_key`), signed by `key`.
pub fn seal(
    key: &NodeKey,
    address: Address,
    to_key: &EncryptionRecipient,
    payload: &Payload,
) -> Result<Vec<u8>, SealError> {
    payload.validate()?;
    let kind = payload.kind();
    if kind.is_referral_message() != address.referral_id.is_some() {
        return Err(SealError::ReferralIdMismatch { kind });
    }
    let plain = payload.encode();
    if plain.len() > limits::MAX_PAYLOAD_BYTES {
        return Err(SealError::TooLarge {
            size: plain.len(),
            limit: limits::MAX_PAYLOAD_BYTES,
        });
    }
    let ciphertext = encrypt(to_key, &plain)?;
    let header = Header {
        version: PROTOCOL_VERSION,
        kind,
        message_id: address.message_id,
        sender: key.public(),
        recipient: address.recipient,
        created_at: address.created_at,
        referral_id: address.referral_id,
        sequence: address.sequence,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len() + SIGNATURE_LEN);
    write_header(&header, ciphertext.len(), &mut out);
    out.extend_from_slice(&ciphertext);
    let sig = key.sign(SIGNATURE_DOMAIN, &out);
    out.extend_from_slice(&sig);
    Ok(out)
}

fn encrypt(to: &EncryptionRecipient, plain: &[u8]) -> Result<Vec<u8>, SealError> {
    let err = |e: &dyn std::fmt::Display| SealError::Encrypt(e.to_string());
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(to.inner() as &dyn age::Recipient))
            .map_err(|e| err(&e))?;
    let mut ciphertext = Vec::with_capacity(plain.len() + 256);
    let mut writer = encryptor
        .wrap_output(&mut ciphertext)
        .map_err(|e| err(&e))?;
    writer.write_all(plain).map_err(|e| err(&e))?;
    writer.finish().map_err(|e| err(&e))?;
    Ok(ciphertext)
}

fn write_header(h: &Header, ciphertext_len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC);
    out.push(h.version);
    out.push(h.kind as u8);
    out.extend_from_slice(h.message_id.as_bytes());
    out.extend_from_slice(h.sender.as_bytes());
    out.extend_from_slice(h.recipient.as_bytes());
    out.extend_from_slice(&h.created_at.millis().to_be_bytes());
    out.extend_from_slice(&h.referral_id.map(|r| r.0).unwrap_or([0; 16]));
    out.extend_from_slice(&h.sequence.to_be_bytes());
    // Bounded by MAX_CIPHERTEXT_BYTES, far below u32::MAX.
    out.extend_from_slice(
        &u32::try_from(ciphertext_len)
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&bytes[at..at + N]);
    a
}

/// Parses the framing and header without checking the signature. For routing decisions
/// only; nothing from an unverified header may be trusted or stored.
pub fn parse_header(bytes: &[u8]) -> Result<Header, OpenError> {
    parse(bytes).map(|(h, _)| h)
}

fn parse(bytes: &[u8]) -> Result<(Header, &[u8]), OpenError> {
    let min = HEADER_LEN + SIGNATURE_LEN;
    if bytes.len() < min {
        return Err(OpenError::TooShort {
            len: bytes.len(),
            min,
        });
    }
    if bytes.len() > limits::MAX_ENVELOPE_BYTES {
        return Err(OpenError::TooLarge {
            len: bytes.len(),
            limit: limits::MAX_ENVELOPE_BYTES,
        });
    }
    if bytes[0..4] != MAGIC {
        return Err(OpenError::BadMagic);
    }
    if bytes[4] != PROTOCOL_VERSION {
        return Err(OpenError::UnsupportedVersion { found: bytes[4] });
    }
    let kind = MessageKind::from_byte(bytes[5]).ok_or(OpenError::UnknownKind(bytes[5]))?;
    let declared = u32::from_be_bytes(array(bytes, 118)) as usize;
    let actual = bytes.len() - HEADER_LEN - SIGNATURE_LEN;
    if declared != actual {
        return Err(OpenError::LengthMismatch { declared, actual });
    }
    let sender = NodeId::from_bytes(array(bytes, 22)).map_err(|_| OpenError::InvalidSenderKey)?;
    let recipient_bytes: [u8; 32] = array(bytes, 54);
    let recipient =
        NodeId::from_bytes(recipient_bytes).map_err(|_| OpenError::InvalidRecipientKey)?;
    let referral_bytes: [u8; 16] = array(bytes, 94);
    let referral_id = (referral_bytes != [0; 16]).then_some(ReferralId(referral_bytes));
    if kind.is_referral_message() != referral_id.is_some() {
        return Err(OpenError::ReferralIdMismatch { kind });
    }
    let header = Header {
        version: bytes[4],
        kind,
        message_id: MessageId(array(bytes, 6)),
        sender,
        recipient,
        created_at: Timestamp(u64::from_be_bytes(array(bytes, 86))),
        referral_id,
        sequence: u64::from_be_bytes(array(bytes, 110)),
    };
    Ok((header, &bytes[HEADER_LEN..HEADER_LEN + actual]))
}

/// Checks framing, addressing, membership and signature; does not decrypt.
///
/// `is_known` decides whether a sender may send this kind (normally: an active member;
/// for the KI's join handling: anyone with a join request).
pub fn verify<'a>(
    bytes: &'a [u8],
    me: &NodeId,
    is_known: &dyn Fn(&NodeId, MessageKind) -> bool,
) -> Result<Verified<'a>, OpenError> {
    let (header, ciphertext) = parse_addressed(bytes, me)?;
    if !is_known(&header.sender, header.kind) {
        return Err(OpenError::UnknownSender {
            sender: header.sender,
        });
    }
    let signed_len = bytes.len() - SIGNATURE_LEN;
    let signature: [u8; 64] = array(bytes, signed_len);
    header
        .sender
        .verify(SIGNATURE_DOMAIN, &bytes[..signed_len], &signature)
        .map_err(|_| OpenError::BadSignature)?;
    Ok(Verified { header, ciphertext })
}

impl Verified<'_> {
    /// Decrypts and decodes the payload.
    pub fn decrypt(self, identity: &EncryptionIdentity) -> Result<Opened, OpenError> {
        let err = |e: &dyn std::fmt::Display| OpenError::Decrypt(e.to_string());
        let decryptor = age::Decryptor::new_buffered(self.ciphertext).map_err(|e| err(&e))?;
        let mut reader = decryptor
            .decrypt(std::iter::once(identity.inner() as &dyn age::Identity))
            .map_err(|e| err(&e))?;
        let mut plain = Vec::with_capacity(self.ciphertext.len());
        reader
            .by_ref()
            .take(limits::MAX_PAYLOAD_BYTES as u64 + 1)
            .read_to_end(&mut plain)
            .map_err(|e| err(&e))?;
        let payload = Payload::decode(self.header.kind, &plain)?;
        Ok(Opened {
            header: self.header,
            payload,
        })
    }
}

/// Verifies and decrypts an envelope addressed to this node.
pub fn open(
    bytes: &[u8],
    me: &NodeId,
    identity: &EncryptionIdentity,
    is_known: &dyn Fn(&NodeId, MessageKind) -> bool,
) -> Result<Opened, OpenError> {
    verify(bytes, me, is_known)?.decrypt(identity)
}

/// Opens an envelope that this node verified with [`verify`] when it arrived and has kept
/// in its own store since: checks the framing and that it is addressed to this node, then
/// decrypts. The signature is not checked a second time; a changed ciphertext still fails
/// age's authentication, and the caller compares the header with where it kept the bytes.
pub fn open_kept(
    bytes: &[u8],
    me: &NodeId,
    identity: &EncryptionIdentity,
) -> Result<Opened, OpenError> {
    let (header, ciphertext) = parse_addressed(bytes, me)?;
    Verified { header, ciphertext }.decrypt(identity)
}

/// Framing, header, and that the envelope is addressed to `me`.
fn parse_addressed<'a>(bytes: &'a [u8], me: &NodeId) -> Result<(Header, &'a [u8]), OpenError> {
    let (header, ciphertext) = parse(bytes)?;
    if &header.recipient != me {
        return Err(OpenError::WrongRecipient {
            recipient: header.recipient,
        });
    }
    Ok((header, ciphertext))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::DeliveryReceipt;

    struct Node {
        key: NodeKey,
        enc: EncryptionIdentity,
    }

    fn node() -> Node {
        Node {
            key: NodeKey::generate(),
            enc: EncryptionIdentity::generate(),
        }
    }

    fn note(a: &Node, b: &Node) -> Vec<u8> {
        seal(
            &a.key,
            Address {
                message_id: MessageId::random(),
                recipient: b.key.public(),
                created_at: Timestamp(1_700_000_000_000),
                referral_id: Some(ReferralId::random()),
                sequence: 3,
            },
            &b.enc.recipient(),
            &Payload::Note("Termin steht".into()),
        )
        .unwrap()
    }

    fn anyone(_: &NodeId, _: MessageKind) -> bool {
        true
    }

    #[test]
    fn opens_for_recipient() {
        let (a, b) = (node(), node());
        let bytes = note(&a, &b);
        let opened = open(&bytes, &b.key.public(), &b.enc, &anyone).unwrap();
        assert_eq!(opened.header.sender, a.key.public());
        assert_eq!(opened.header.sequence, 3);
        assert_eq!(opened.payload, Payload::Note("Termin steht".into()));
    }

    #[test]
    fn each_check_has_its_error() {
        let (a, b, c) = (node(), node(), node());
        let bytes = note(&a, &b);
        let me = b.key.public();
        assert!(matches!(
            open(&bytes, &c.key.public(), &c.enc, &anyone),
            Err(OpenError::WrongRecipient { .. })
        ));
        assert!(matches!(
            open(&bytes, &me, &b.enc, &|_, _| false),
            Err(OpenError::UnknownSender { .. })
        ));
        assert!(matches!(
            open(&bytes[..10], &me, &b.enc, &anyone),
            Err(OpenError::TooShort { .. })
        ));
        let mut v = bytes.clone();
        v[4] = 2;
        assert_eq!(
            open(&v, &me, &b.enc, &anyone).unwrap_err(),
            OpenError::UnsupportedVersion { found: 2 }
        );
        let mut m = bytes.clone();
        m[0] = b'X';
        assert_eq!(
            open(&m, &me, &b.enc, &anyone).unwrap_err(),
            OpenError::BadMagic
        );
        let mut k = bytes.clone();
        k[5] = 200;
        assert_eq!(
            open(&k, &me, &b.enc, &anyone).unwrap_err(),
            OpenError::UnknownKind(200)
        );
        let mut t = bytes.clone();
        let last = t.len() - 70;
        t[last] ^= 1;
        assert_eq!(
            open(&t, &me, &b.enc, &anyone).unwrap_err(),
            OpenError::BadSignature
        );
        let mut l = bytes.clone();
        l.push(0);
        assert!(matches!(
            open(&l, &me, &b.enc, &anyone),
            Err(OpenError::LengthMismatch { .. })
        ));
        // Right recipient id but the wrong decryption key.
        let verified = verify(&bytes, &me, &anyone).unwrap();
        assert!(matches!(
            verified.decrypt(&c.enc),
            Err(OpenError::Decrypt(_))
        ));
    }

    #[test]
    fn a_kept_envelope_opens_without_a_second_signature_check_but_not_if_changed() {
        let (a, b, c) = (node(), node(), node());
        let bytes = note(&a, &b);
        let me = b.key.public();
        let opened = open_kept(&bytes, &me, &b.enc).unwrap();
        assert_eq!(opened.payload, Payload::Note("Termin steht".into()));
        assert!(matches!(
            open_kept(&bytes, &c.key.public(), &c.enc),
            Err(OpenError::WrongRecipient { .. })
        ));
        // A changed byte of the ciphertext fails age's authentication.
        let mut t = bytes.clone();
        let last = t.len() - 70;
        t[last] ^= 1;
        assert!(matches!(
            open_kept(&t, &me, &b.enc),
            Err(OpenError::Decrypt(_))
        ));
        assert!(matches!(
            open_kept(&bytes[..100], &me, &b.enc),
            Err(OpenError::TooShort { .. })
        ));
    }

    #[test]
    fn re_addressing_breaks_the_signature() {
        let (a, b, c) = (node(), node(), node());
        let mut bytes = note(&a, &b);
        bytes[54..86].copy_from_slice(c.key.public().as_bytes());
        assert_eq!(
            open(&bytes, &c.key.public(), &c.enc, &anyone).unwrap_err(),
            OpenError::BadSignature
        );
    }

    #[test]
    fn referral_id_must_fit_kind() {
        let (a, b) = (node(), node());
        let receipt = Payload::DeliveryReceipt(DeliveryReceipt {
            message_id: MessageId::random(),
            received_at: Timestamp(2),
        });
        let address = Address {
            message_id: MessageId::random(),
            recipient: b.key.public(),
            created_at: Timestamp(1),
            referral_id: Some(ReferralId::random()),
            sequence: 0,
        };
        assert!(matches!(
            seal(&a.key, address, &b.enc.recipient(), &receipt),
            Err(SealError::ReferralIdMismatch { .. })
        ));
        // A note with its referral id zeroed is refused before the signature is checked.
        let mut bytes = note(&a, &b);
        bytes[94..110].fill(0);
        assert!(matches!(
            open(&bytes, &b.key.public(), &b.enc, &anyone),
            Err(OpenError::ReferralIdMismatch { .. })
        ));
    }
}
