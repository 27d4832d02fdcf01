//! Directory synchronisation: ask the KI and a few members for a newer snapshot, now and
//! then, and take it if it verifies. Because members pass snapshots on, a revocation
//! reaches everyone even if the KI node is down for a while after publishing it.

use std::sync::Arc;
use std::time::Duration;

use lotse_protocol::codec;
use lotse_protocol::directory::SignedDirectory;
use lotse_protocol::{NodeId, limits};
use rand::seq::SliceRandom;
use tokio::sync::watch;

use crate::core::Core;
use crate::transport::Transport;
use crate::transport::frame::{RequestKind, Status};

/// How many random members to ask besides the KI on each round.
const PEERS_PER_ROUND: usize = 2;

/// Asks `peer` for a newer directory and accepts it. True if the directory changed.
pub async fn fetch_from(
    core: &Core,
    transport: &Transport,
    peer: NodeId,
    addresses: &[String],
) -> bool {
    let serial = core.directory.serial();
    let response = match transport
        .request(
            peer,
            addresses,
            RequestKind::FetchDirectory,
            &serial.to_be_bytes(),
        )
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(peer = %peer.fingerprint(), error = %e, "directory fetch failed");
            return false;
        }
    };
    if response.status == Status::Rejected && response.reason().contains("not an active member") {
        // The KI lets any key finish the handshake, so this is how a revoked node learns it.
        tracing::error!(
            peer = %peer.fingerprint(),
            "this node is not a member of the network any more (revoked?); other nodes refuse its messages; contact the KI"
        );
        return false;
    }
    if response.status != Status::Ok {
        return false;
    }
    let signed: SignedDirectory = match codec::decode(
        "directory",
        &response.body,
        limits::MAX_DIRECTORY_BYTES + 1024,
    ) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(peer = %peer.fingerprint(), error = %e, "peer sent a malformed directory");
            return false;
        }
    };
    match core.directory.accept(core.store.as_ref(), &signed).await {
        Ok(dropped) => {
            for node in dropped {
                transport.disconnect(&node);
            }
            true
        }
        Err(e) => {
            tracing::warn!(peer = %peer.fingerprint(), error = %e, "ignored a directory snapshot");
            false
        }
    }
}

/// One round: the KI first, then a few random members.
pub async fn sync_once(core: &Core, transport: &Transport) -> bool {
    let mut changed = false;
    let mut candidates: Vec<(NodeId, Vec<String>)> = Vec::new();
    if let Some(dir) = core.directory.current() {
        for m in dir.active_members() {
            if m.member.node_id != core.id {
                candidates.push((m.member.node_id, m.profile.addresses.clone()));
            }
        }
    }
    let ki = core.directory.current().and_then(|d| {
        d.active_members()
            .into_iter()
            .find(|m| m.member.kind == lotse_protocol::directory::AgencyKind::IntegrationCentre)
            .map(|m| m.member.node_id)
    });
    candidates.shuffle(&mut rand::thread_rng());
    candidates.sort_by_key(|(n, _)| Some(*n) != ki);
    for (peer, addresses) in candidates.into_iter().take(1 + PEERS_PER_ROUND) {
        changed |= fetch_from(core, transport, peer, &addresses).await;
    }
    changed
}

/// Runs rounds every `directory_sync_ms` until shutdown.
pub async fn run(core: Arc<Core>, transport: Arc<Transport>, mut shutdown: watch::Receiver<bool>) {
    let period = Duration::from_millis(core.config.delivery.directory_sync_ms);
    loop {
        if !core.is_directory_node() {
            // A round can wait seconds on a peer that is down; shutdown must not.
            tokio::select! {
                _ = sync_once(&core, &transport) => {}
                _ = shutdown.changed() => return,
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.changed() => return,
        }
    }
}
