//! `lotse-protocol`: the Lotse wire format, its cryptography and the referral state machine.
//!
//! This crate is "sans-io" in the way `quinn-proto` is: pure functions over bytes and data,
//! with the current time passed in by the caller. It has no runtime, no sockets and no
//! storage, so every decoder can be fuzzed and every rule tested without a network.
//!
//! The pieces:
//! - [`keys`]: node identity (ed25519), end-to-end encryption keys (age X25519) and the
//!   directory authority key, with their text forms and fingerprints.
//! - [`envelope`]: the signed and encrypted envelope every message travels in.
//! - [`payload`]: the message kinds and their contents.
//! - [`referral`]: the referral lifecycle as one pure state machine.
//! - [`client`] and [`consent`]: the client data a referral may carry and the consent that
//!   governs it.
//! - [`directory`]: the KI's signed network directory and the agencies' signed profiles.
//! - [`invitation`]: the one-time token that lets an agency join.
//! - [`statistics`]: the aggregate figures an agency reports to the KI, small counts
//!   suppressed.
//! - [`codec`]: the compact, versioned binary encoding under all of the above.

pub mod client;
pub mod codec;
pub mod consent;
pub mod directory;
pub mod envelope;
pub mod ids;
pub mod invitation;
pub mod keys;
pub mod limits;
#[cfg(feature = "openapi")]
mod openapi;
pub mod payload;
pub mod receipt;
pub mod referral;
pub mod statistics;
pub mod time;

pub use ids::{MessageId, ReferralId};
pub use keys::{
    AuthorityId, AuthorityKey, EncryptionIdentity, EncryptionRecipient, Fingerprint, NodeId,
    NodeKey,
};
pub use time::Timestamp;
