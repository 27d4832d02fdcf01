//! Size bounds for everything that crosses the wire or is read from a file.
//!
//! Every decoder in this crate checks its input against one of these before it allocates,
//! so a peer cannot make a node hold more than these amounts per message.

/// Largest attachment (scanned consent form, document) in bytes: 2 MiB.
pub const MAX_ATTACHMENT_BYTES: usize = 2 * 1024 * 1024;

/// Most attachments on one referral.
pub const MAX_ATTACHMENTS: usize = 4;

/// Largest encoded payload (plaintext before encryption): 10 MiB, room for the
/// attachments plus the structured data.
pub const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

/// Largest age ciphertext in an envelope: the payload plus age's framing overhead
/// (a header, and 16 bytes of tag per 64 KiB chunk).
pub const MAX_CIPHERTEXT_BYTES: usize = MAX_PAYLOAD_BYTES + MAX_PAYLOAD_BYTES / 4096 + 4096;

/// Largest complete envelope on the wire.
pub const MAX_ENVELOPE_BYTES: usize =
    crate::envelope::HEADER_LEN + MAX_CIPHERTEXT_BYTES + crate::envelope::SIGNATURE_LEN;

/// Most envelopes in one batch delivery (one request, one receipt).
pub const MAX_BATCH_MESSAGES: usize = 256;

/// Largest body of a batch delivery: room for one envelope of the largest size, or many
/// small ones.
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// Largest signed answer to a batch delivery.
pub const MAX_RECEIPT_BYTES: usize = 256 * 1024;

/// Largest free-text field (notes, summaries, descriptions) in bytes.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// Largest short text field (names, contact lines, purposes) in bytes.
pub const MAX_SHORT_TEXT_BYTES: usize = 512;

/// Largest signed directory snapshot: 4 MiB is room for thousands of agencies.
pub const MAX_DIRECTORY_BYTES: usize = 4 * 1024 * 1024;

/// Largest invitation token in its text form.
pub const MAX_TOKEN_CHARS: usize = 4096;
