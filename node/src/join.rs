//! Joining a network with an invitation token: the agency side.
//!
//! The new node signs its profile, seals a join request to the KI node named in the token,
//! dials the KI pinning the key from the token, and receives the signed directory. It pins
//! the authority key from the token and accepts the directory only if it verifies and lists
//! this node. Afterwards `lotse.toml` records the authority and the KI's addresses. The
//! profile carries no services yet (they follow as a profile update once the node is a
//! member), so the request stays within the few kilobytes the KI reads from a stranger.

use std::sync::Arc;

use lotse_protocol::directory::{AgencyProfile, SignedDirectory};
use lotse_protocol::envelope::{self, Address};
use lotse_protocol::invitation::Invitation;
use lotse_protocol::payload::{JoinRequest, Payload};
use lotse_protocol::{MessageId, NodeId, codec, limits};

use crate::core::Core;
use crate::datadir::DataDirError;
use crate::transport::frame::{RequestKind, Status};
use crate::transport::limits::MAX_JOIN_REQUEST_BYTES;
use crate::transport::tls::PeerPolicy;
use crate::transport::{Transport, TransportError};

/// Joining failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// Already in a network.
    #[error("this node has already joined a network; a node joins once")]
    AlreadyJoined,
    /// The token is expired (checked locally too, for a clear message).
    #[error("the invitation expired on {0}; ask the KI for a new one")]
    Expired(lotse_protocol::Timestamp),
    /// Could not reach the KI.
    #[error("cannot reach the KI's directory node: {0}; check that it is running and reachable")]
    Unreachable(#[from] TransportError),
    /// The KI refused.
    #[error("the KI refused the join: {0}")]
    Refused(String),
    /// The answer was not valid.
    #[error("the KI's answer is not a valid directory for this network: {0}")]
    BadDirectory(String),
    /// Local problem.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The join request would be larger than the KI takes from a node that is not a member
    /// yet (too many or too long addresses).
    #[error(
        "the join request is {size} bytes, more than the {max} bytes the KI takes; publish fewer or shorter addresses",
        max = MAX_JOIN_REQUEST_BYTES
    )]
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// Sealing the request failed.
    #[error("cannot seal the join request: {0}")]
    Seal(#[from] lotse_protocol::envelope::SealError),
}

#[derive(Debug)]
struct OnlyKi(NodeId);

impl PeerPolicy for OnlyKi {
    fn may_connect(&self, peer: &NodeId) -> bool {
        *peer == self.0
    }
}

/// Joins the network of `invitation`. Returns the directory serial received.
pub async fn join(core: &Arc<Core>, invitation: &Invitation) -> Result<u64, JoinError> {
    if core.directory.authority().is_some() {
        return Err(JoinError::AlreadyJoined);
    }
    if invitation.is_expired(core.clock.now()) {
        return Err(JoinError::Expired(invitation.expires_at));
    }
    let profile = AgencyProfile {
        node_id: core.id,
        encryption: core.encryption.recipient(),
        addresses: core.config.network.public_addresses.clone(),
        services: vec![],
        updated_at: core.clock.now(),
    }
    .sign(&core.node_key);
    let sealed = envelope::seal(
        &core.node_key,
        Address {
            message_id: MessageId::random(),
            recipient: invitation.ki_node,
            created_at: core.clock.now(),
            referral_id: None,
            sequence: 0,
        },
        &invitation.ki_encryption,
        &Payload::JoinRequest(JoinRequest {
            secret: invitation.secret,
            profile,
        }),
    )?;
    if sealed.len() > MAX_JOIN_REQUEST_BYTES {
        return Err(JoinError::TooLarge { size: sealed.len() });
    }
    let any: std::net::SocketAddr = ([0, 0, 0, 0], 0).into();
    let transport = Transport::bind(
        any,
        core.node_key.clone(),
        Arc::new(OnlyKi(invitation.ki_node)),
    )?;
    let response = transport
        .request(
            invitation.ki_node,
            &invitation.ki_addresses,
            RequestKind::Join,
            &sealed,
        )
        .await;
    transport.close().await;
    let response = response?;
    if response.status != Status::Ok {
        return Err(JoinError::Refused(response.reason()));
    }
    let signed: SignedDirectory = codec::decode(
        "directory",
        &response.body,
        limits::MAX_DIRECTORY_BYTES + 1024,
    )
    .map_err(|e| JoinError::BadDirectory(e.to_string()))?;
    let dir = signed
        .verify(&invitation.authority)
        .map_err(|e| JoinError::BadDirectory(e.to_string()))?;
    if !dir.is_active(&core.id) {
        return Err(JoinError::BadDirectory("it does not list this node".into()));
    }
    core.directory.set_authority(invitation.authority);
    core.directory
        .accept(core.store.as_ref(), &signed)
        .await
        .map_err(|e| JoinError::BadDirectory(e.to_string()))?;
    let mut config = core.config.clone();
    config.network.authority = Some(invitation.authority);
    config.network.directory_addresses = invitation.ki_addresses.clone();
    core.datadir.save_config(&config)?;
    Ok(dir.serial)
}
