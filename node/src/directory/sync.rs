//! Directory synchronisation: the KI pushes the snapshots it publishes to all members
//! (revoked ones included, so they learn it at once), at most once per
//! `directory.push_interval_ms` (changes made meanwhile go out together in the next push,
//! so a burst of updates costs one push), and every member asks the KI and a
//! few members for a newer snapshot now and then, and takes it if it verifies. Polling
//! catches what a push missed (a member that was down), and because members pass snapshots
//! on, a revocation reaches everyone even if the KI node is down for a while after
//! publishing it.

use std::sync::Arc;
use std::time::Duration;

use lotse_protocol::codec;
use lotse_protocol::directory::SignedDirectory;
use lotse_protocol::{NodeId, limits};
use rand::seq::SliceRandom;
use tokio::sync::watch;

use crate::core::Core;
use crate::directory::AcceptError;
use crate::transport::Transport;
use crate::transport::frame::{RequestKind, Response, Status};

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
    match take(core, &signed).await {
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

/// Accepts a newer snapshot; says so loudly if it revokes this node.
async fn take(core: &Core, signed: &SignedDirectory) -> Result<Vec<NodeId>, AcceptError> {
    let dropped = core.directory.accept(core.store.as_ref(), signed).await?;
    if dropped.contains(&core.id) {
        tracing::error!(
            "the KI revoked this node's membership: other nodes refuse its messages; contact the KI"
        );
    }
    Ok(dropped)
}

/// Handles an `OfferDirectory` request: a snapshot pushed by `peer` (normally the KI).
/// Only a snapshot signed by the authority and newer than ours is taken.
pub async fn take_offer(core: &Core, peer: NodeId, body: &[u8]) -> Response {
    let signed: SignedDirectory =
        match codec::decode("directory", body, limits::MAX_DIRECTORY_BYTES + 1024) {
            Ok(s) => s,
            Err(e) => return Response::rejected(e),
        };
    match take(core, &signed).await {
        Ok(_) => Response::ok(Vec::new()),
        Err(AcceptError::NotNewer { .. }) => Response {
            status: Status::NotNewer,
            body: Vec::new(),
        },
        Err(e) => {
            tracing::warn!(peer = %peer.fingerprint(), error = %e, "refused an offered directory");
            Response::rejected(e)
        }
    }
}

/// Every other member of the current snapshot, with its addresses.
fn members(core: &Core) -> Vec<(NodeId, Vec<String>)> {
    core.directory
        .current()
        .map(|dir| {
            dir.members
                .iter()
                .filter(|(node, _)| **node != core.id)
                .map(|(node, m)| (*node, m.profile.addresses.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// The KI: offers the current snapshot to `targets`.
async fn push(core: &Core, transport: &Arc<Transport>, targets: Vec<(NodeId, Vec<String>)>) {
    let Some(dir) = core.directory.current() else {
        return;
    };
    let body = Arc::new(codec::encode(&dir.signed));
    let mut offers = tokio::task::JoinSet::new();
    for (node, addresses) in targets {
        let (transport, body) = (transport.clone(), body.clone());
        offers.spawn(async move {
            let result = transport
                .request(node, &addresses, RequestKind::OfferDirectory, &body)
                .await;
            if let Err(e) = result {
                // It asks for the snapshot itself when it is back.
                tracing::debug!(peer = %node.fingerprint(), error = %e, "directory push failed");
            }
        });
    }
    while offers.join_next().await.is_some() {}
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
    let ki = core.directory.ki().map(|m| m.member.node_id);
    candidates.shuffle(&mut rand::thread_rng());
    candidates.sort_by_key(|(n, _)| Some(*n) != ki);
    for (peer, addresses) in candidates.into_iter().take(1 + PEERS_PER_ROUND) {
        changed |= fetch_from(core, transport, peer, &addresses).await;
    }
    changed
}

/// Runs rounds every `directory_sync_ms` until shutdown; on the KI, pushes each snapshot
/// it publishes.
pub async fn run(core: Arc<Core>, transport: Arc<Transport>, mut shutdown: watch::Receiver<bool>) {
    let period = Duration::from_millis(core.config.delivery.directory_sync_ms);
    if core.is_directory_node() {
        let interval = Duration::from_millis(core.config.directory.push_interval_ms);
        // Members of the last snapshot pushed: a node revoked since is not in the new one,
        // and is told too.
        let mut known = members(&core);
        let mut last_push: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = core.directory_published.notified() => {}
                _ = shutdown.changed() => return,
            }
            // At most one push per interval: what is published meanwhile waits (one stored
            // notification) and goes out with the next push, as the newest snapshot.
            if let Some(last) = last_push {
                tokio::select! {
                    _ = tokio::time::sleep_until(last + interval) => {}
                    _ = shutdown.changed() => return,
                }
            }
            last_push = Some(tokio::time::Instant::now());
            core.directory.count_push();
            let now = members(&core);
            let mut targets = now.clone();
            targets.extend(
                known
                    .into_iter()
                    .filter(|(n, _)| !now.iter().any(|(m, _)| m == n)),
            );
            known = now;
            tokio::select! {
                _ = push(&core, &transport, targets) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
    loop {
        // A round can wait seconds on a peer that is down; shutdown must not.
        tokio::select! {
            _ = sync_once(&core, &transport) => {}
            _ = shutdown.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.changed() => return,
        }
    }
}
