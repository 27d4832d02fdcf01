//! A node's status at a glance, for `lotse status`, the admin API and the UI: identity,
//! trust anchor, directory, outbox queue and (on the KI) open invitations. No case content.

use serde::{Deserialize, Serialize};

use crate::config::Role;
use crate::core::Core;
use crate::directory::authority::{self, InvitationRecord};
use crate::outbox;
use crate::store::StoreError;

/// The status report.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeStatus {
    /// Agency name.
    pub name: String,
    /// Agency or directory node.
    pub role: Role,
    /// Node id.
    pub node_id: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// Pinned directory authority, if joined.
    pub authority: Option<String>,
    /// Its fingerprint (compare with the KI by phone).
    pub authority_fingerprint: Option<String>,
    /// Directory serial (0: not joined).
    pub directory_serial: u64,
    /// Active members.
    pub members: usize,
    /// Outgoing messages waiting for delivery.
    pub outbox_queued: usize,
    /// Delivered.
    pub outbox_delivered: usize,
    /// Expired undelivered.
    pub outbox_expired: usize,
    /// Invitations (directory node only), newest first.
    pub invitations: Vec<InvitationRecord>,
}

/// Computes the status.
pub fn status(core: &Core) -> Result<NodeStatus, StoreError> {
    let (queued, delivered, expired) = outbox::counts(core)?;
    let authority = core.directory.authority();
    let invitations = if core.is_directory_node() {
        authority::list_invitations(core).map_err(|e| StoreError::Engine(e.to_string()))?
    } else {
        vec![]
    };
    Ok(NodeStatus {
        name: core.config.name.clone(),
        role: core.config.role,
        node_id: core.id.to_string(),
        fingerprint: core.id.fingerprint().to_string(),
        authority: authority.map(|a| a.to_string()),
        authority_fingerprint: authority.map(|a| a.fingerprint().to_string()),
        directory_serial: core.directory.serial(),
        members: core
            .directory
            .current()
            .map(|d| d.active_members().len())
            .unwrap_or(0),
        outbox_queued: queued,
        outbox_delivered: delivered,
        outbox_expired: expired,
        invitations,
    })
}
