//! The one-time invitation token that lets a new agency join the network.
//!
//! The KI's directory node creates it (`lotse invite`); the agency's admin passes it to
//! `lotse init --join`. It carries everything the new node needs to reach and trust the KI
//! (addresses, the KI node's keys, the authority key to pin) and a random secret that the KI
//! accepts once, before the expiry time. The KI stores only a hash of the secret.
//!
//! Text form: `lotse-invite-1.` followed by the URL-safe base64 of the encoded token.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codec::{self, DecodeError};
use crate::directory::AgencyKind;
use crate::keys::{AuthorityId, EncryptionRecipient, NodeId};
use crate::{Timestamp, limits};

const PREFIX: &str = "lotse-invite-1.";

/// An invitation to join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// The agency's name as the KI will list it.
    pub agency_name: String,
    /// The agency's kind.
    pub agency_kind: AgencyKind,
    /// Where the KI's node listens (`host:port`).
    pub ki_addresses: Vec<String>,
    /// The KI node's id.
    pub ki_node: NodeId,
    /// The KI node's encryption recipient.
    pub ki_encryption: EncryptionRecipient,
    /// The directory authority to pin.
    pub authority: AuthorityId,
    /// The one-time secret.
    pub secret: [u8; 32],
    /// After this time the KI refuses the token.
    pub expires_at: Timestamp,
}

/// The token text is not a valid invitation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvitationError {
    /// Wrong prefix.
    #[error(
        "this is not a Lotse invitation (it should start with {PREFIX:?}); copy the whole token"
    )]
    Prefix,
    /// Too long.
    #[error(
        "the invitation token is too long ({0} characters); copy exactly the token `lotse invite` printed"
    )]
    TooLong(usize),
    /// Not base64.
    #[error("the invitation token is damaged (not valid base64); copy it again")]
    Base64,
    /// Does not decode.
    #[error("the invitation token is damaged: {0}")]
    Decode(#[from] DecodeError),
    /// No addresses.
    #[error("the invitation names no address for the KI node")]
    NoAddress,
}

impl Invitation {
    /// The text form to hand to the agency.
    pub fn to_token(&self) -> String {
        let bytes = codec::encode(self);
        format!("{PREFIX}{}", data_encoding::BASE64URL_NOPAD.encode(&bytes))
    }

    /// Parses the text form.
    pub fn from_token(text: &str) -> Result<Invitation, InvitationError> {
        let text = text.trim();
        if text.len() > limits::MAX_TOKEN_CHARS {
            return Err(InvitationError::TooLong(text.len()));
        }
        let body = text.strip_prefix(PREFIX).ok_or(InvitationError::Prefix)?;
        let bytes = data_encoding::BASE64URL_NOPAD
            .decode(body.as_bytes())
            .map_err(|_| InvitationError::Base64)?;
        let inv: Invitation = codec::decode("invitation", &bytes, limits::MAX_TOKEN_CHARS)?;
        if inv.ki_addresses.is_empty() {
            return Err(InvitationError::NoAddress);
        }
        Ok(inv)
    }

    /// True once the token may no longer be used.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }
}

/// The hash under which the KI stores a secret, so a leaked store cannot be used to join.
pub fn secret_hash(secret: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"lotse invitation v1");
    h.update(secret);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuthorityKey, EncryptionIdentity, NodeKey};

    fn invitation() -> Invitation {
        Invitation {
            agency_name: "JMD Musterstadt".into(),
            agency_kind: AgencyKind::Jmd,
            ki_addresses: vec!["127.0.0.1:7000".into()],
            ki_node: NodeKey::generate().public(),
            ki_encryption: EncryptionIdentity::generate().recipient(),
            authority: AuthorityKey::generate().public(),
            secret: [9; 32],
            expires_at: Timestamp(1000),
        }
    }

    #[test]
    fn token_round_trips() {
        let inv = invitation();
        let token = inv.to_token();
        assert!(token.starts_with("lotse-invite-1."));
        assert_eq!(Invitation::from_token(&token).unwrap(), inv);
        assert!(inv.is_expired(Timestamp(1000)));
        assert!(!inv.is_expired(Timestamp(999)));
    }

    #[test]
    fn damaged_tokens_are_named() {
        assert_eq!(
            Invitation::from_token("hello"),
            Err(InvitationError::Prefix)
        );
        assert_eq!(
            Invitation::from_token("lotse-invite-1.!!!"),
            Err(InvitationError::Base64)
        );
        let token = invitation().to_token();
        assert!(matches!(
            Invitation::from_token(&token[..token.len() - 8]),
            Err(InvitationError::Decode(_) | InvitationError::Base64)
        ));
    }
}
