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

/// Largest signed directory snapshot (the content the authority signs).
pub const MAX_DIRECTORY_BYTES: usize = 4 * 1024 * 1024;

// The directory's bounds add up: [`MAX_MEMBERS`] members, each with a profile of at most
// [`MAX_PROFILE_BYTES`] and a name of at most [`MAX_AGENCY_NAME_BYTES`], and
// [`MAX_REVOKED`] revoked ids fit in [`MAX_DIRECTORY_BYTES`] with room to spare (the unit
// test `directory::tests::the_largest_possible_directory_fits` builds that directory). So
// no member can crowd out another by the size of its profile: the KI refuses a profile
// over its own bound, and a join beyond [`MAX_MEMBERS`].

/// Largest encoded agency profile (addresses and services), signed by the agency: 12 KiB,
/// room for a dozen services described in a few paragraphs each.
pub const MAX_PROFILE_BYTES: usize = 12 * 1024;

/// Most members a directory lists (the KI included): the format holds 300 agencies at
/// the largest profile size.
pub const MAX_MEMBERS: usize = 300;

/// Most revoked node ids a directory keeps (the oldest are dropped beyond: a revoked node
/// is no longer listed either, so it stays out).
pub const MAX_REVOKED: usize = 4096;

/// Longest agency name as the KI lists it, in bytes.
pub const MAX_AGENCY_NAME_BYTES: usize = 200;

/// Most QUIC addresses in a profile.
pub const MAX_ADDRESSES: usize = 8;

/// Longest address (`host:port`) in bytes: a DNS name and a port.
pub const MAX_ADDRESS_BYTES: usize = 255;

/// Most services in a profile.
pub const MAX_SERVICES: usize = 64;

/// Longest service description in bytes.
pub const MAX_SERVICE_DESCRIPTION_BYTES: usize = 4 * 1024;

/// Longest target group text of a service in bytes.
pub const MAX_TARGET_GROUP_BYTES: usize = 1024;

/// Most languages a service lists.
pub const MAX_SERVICE_LANGUAGES: usize = 32;

/// Longest language name in bytes.
pub const MAX_LANGUAGE_BYTES: usize = 64;

/// Largest invitation token in its text form.
pub const MAX_TOKEN_CHARS: usize = 4096;
