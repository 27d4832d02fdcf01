//! Receiving: verify, deduplicate, store durably, answer with a signed receipt, then apply
//! a referral's messages strictly in sequence order.
//!
//! Invariant 3 (nothing acknowledged is lost or applied twice) rests on three facts:
//! - the receipt is returned only after the message id and the envelope are flushed;
//! - a message id seen before gets the stored receipt again and is not stored twice
//!   (a guarded batch makes the check and the write one atomic step);
//! - application removes the envelope from the inbox and advances the per-(referral,
//!   sender) sequence counter in the same atomic batch as the application's own writes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lotse_protocol::envelope::{self, Address, Header, Opened};
use lotse_protocol::payload::{DeliveryReceipt, MessageKind, Payload};
use lotse_protocol::{MessageId, NodeId, ReferralId};

use crate::core::Core;
use crate::outbox::{OutboxRecord, decode_u64};
use crate::store::{Batch, Expect, Space, StoreError};
use crate::transport::frame::Response;

/// What received messages do: the application layer (the referral workflow).
pub trait Applier: Send + Sync + 'static {
    /// Applies one referral message, in sequence order, adding its writes to `batch`.
    /// An error is recorded and the message counts as applied (it will not come again).
    fn apply(&self, core: &Core, opened: &Opened, batch: &mut Batch) -> Result<(), String>;

    /// An outgoing message got its receipt.
    fn on_delivered(&self, _core: &Core, _record: &OutboxRecord, _batch: &mut Batch) {}

    /// An outgoing message expired undelivered.
    fn on_expired(&self, _core: &Core, _record: &OutboxRecord, _batch: &mut Batch) {}

    /// Runs after received messages were applied and at start: work that must follow a
    /// commit (destroying keys, sending owed answers).
    fn settle<'a>(&'a self, _core: &'a Core) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async {})
    }
}

fn inbox_key(referral: &ReferralId, sender: &NodeId, sequence: u64) -> Vec<u8> {
    let mut k = referral.0.to_vec();
    k.extend_from_slice(sender.as_bytes());
    k.extend_from_slice(&sequence.to_be_bytes());
    k
}

fn in_sequence_key(referral: &ReferralId, sender: &NodeId) -> Vec<u8> {
    let mut k = b"in/".to_vec();
    k.extend_from_slice(referral.as_bytes());
    k.extend_from_slice(sender.as_bytes());
    k
}

/// Kinds a member may deliver through the `Deliver` request.
fn deliverable(kind: MessageKind) -> bool {
    !matches!(
        kind,
        MessageKind::DeliveryReceipt | MessageKind::JoinRequest | MessageKind::DirectorySnapshot
    )
}

/// Handles a `Deliver` request from the authenticated `peer`.
pub async fn receive(core: &Arc<Core>, peer: NodeId, bytes: &[u8]) -> Response {
    match receive_inner(core, peer, bytes).await {
        Ok(receipt) => Response::ok(receipt),
        Err(Refusal::Permanent(reason)) => {
            tracing::warn!(peer = %peer.fingerprint(), reason = %reason, "refused an envelope");
            Response::rejected(reason)
        }
        Err(Refusal::Temporary(reason)) => {
            tracing::error!(reason = %reason, "could not store an envelope");
            Response::unavailable(reason)
        }
    }
}

enum Refusal {
    Permanent(String),
    Temporary(String),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Temporary(e.to_string())
    }
}

async fn receive_inner(core: &Arc<Core>, peer: NodeId, bytes: &[u8]) -> Result<Vec<u8>, Refusal> {
    let directory = &core.directory;
    let verified = envelope::verify(bytes, &core.id, &|sender, kind| {
        directory.is_active(sender) && deliverable(kind)
    })
    .map_err(|e| Refusal::Permanent(e.to_string()))?;
    let header = verified.header;
    if core.is_directory_node() && header.kind.is_referral_message() {
        // Invariant 1: the KI never holds case content, not even encrypted.
        return Err(Refusal::Permanent(
            "the KI's directory node accepts no referral messages".into(),
        ));
    }
    if header.sender != peer {
        return Err(Refusal::Permanent(
            "the envelope is signed by another node than the connected peer".into(),
        ));
    }
    let id_key = header.message_id.0.to_vec();
    if let Some(receipt) = core.store.get(Space::Seen, &id_key)? {
        // A retry or a replay by the sender itself: same receipt, no second copy.
        core.store.flush().await?;
        return Ok(receipt);
    }
    let opened = verified
        .decrypt(&core.encryption)
        .map_err(|e| Refusal::Permanent(e.to_string()))?;
    // Directory updates take effect before the message counts as received; applying one
    // twice is harmless (an update that is not newer is ignored).
    if let Payload::DirectoryUpdateRequest(profile) = &opened.payload {
        if !core.is_directory_node() {
            return Err(Refusal::Permanent(
                "directory updates go to the KI's directory node".into(),
            ));
        }
        crate::directory::authority::update_profile(core, header.sender, profile)
            .await
            .map_err(|e| Refusal::Permanent(e.to_string()))?;
    }
    let receipt = seal_receipt(core, &header)?;
    let mut batch = Batch::new();
    batch.guard(Space::Seen, id_key.clone(), Expect::Absent);
    batch.put(Space::Seen, id_key.clone(), receipt.clone());
    if let Some(referral) = header.referral_id {
        batch.put(
            Space::Inbox,
            inbox_key(&referral, &header.sender, header.sequence),
            bytes.to_vec(),
        );
    }
    match core.store.commit(batch) {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            // The same message arrived twice at once; the other copy won.
            core.store.flush().await?;
            return core
                .store
                .get(Space::Seen, &id_key)?
                .ok_or_else(|| Refusal::Temporary("receipt vanished".into()));
        }
        Err(e) => return Err(e.into()),
    }
    core.store.flush().await?;
    if let Some(referral) = header.referral_id {
        let core = core.clone();
        tokio::spawn(async move {
            if let Err(e) = apply_ready(&core, referral, header.sender).await {
                tracing::error!(error = %e, "could not apply received messages");
            }
        });
    }
    Ok(receipt)
}

fn seal_receipt(core: &Core, header: &Header) -> Result<Vec<u8>, Refusal> {
    let member = core
        .directory
        .member(&header.sender)
        .ok_or_else(|| Refusal::Permanent("sender is not an active member".into()))?;
    envelope::seal(
        &core.node_key,
        Address {
            message_id: MessageId::random(),
            recipient: header.sender,
            created_at: core.clock.now(),
            referral_id: None,
            sequence: 0,
        },
        &member.profile.encryption,
        &Payload::DeliveryReceipt(DeliveryReceipt {
            message_id: header.message_id,
            received_at: core.clock.now(),
        }),
    )
    .map_err(|e| Refusal::Temporary(e.to_string()))
}

/// Applies the stored messages of (`referral`, `sender`) that are next in sequence.
pub async fn apply_ready(
    core: &Core,
    referral: ReferralId,
    sender: NodeId,
) -> Result<usize, StoreError> {
    let _guard = core.apply_lock.lock().await;
    let seq_key = in_sequence_key(&referral, &sender);
    let mut applied = 0;
    loop {
        let stored = core.store.get(Space::Sequences, &seq_key)?;
        let next = stored.as_deref().map(decode_u64).unwrap_or(1);
        let key = inbox_key(&referral, &sender, next);
        let Some(bytes) = core.store.get(Space::Inbox, &key)? else {
            break;
        };
        let mut batch = Batch::new();
        let mut outcome = "applied".to_string();
        let mut kind = "unreadable";
        // Verified when received; the sender may have been revoked since, which does not
        // undo what it delivered while it was a member.
        match envelope::open(&bytes, &core.id, &core.encryption, &|s, _| *s == sender) {
            Ok(opened) => {
                kind = kind_name(opened.header.kind);
                if let Err(reason) = core.applier.apply(core, &opened, &mut batch) {
                    tracing::warn!(referral = %referral, sequence = next, reason = %reason, "message not applied");
                    outcome = format!("not applied: {reason}");
                }
            }
            Err(e) => {
                tracing::error!(referral = %referral, error = %e, "stored envelope unreadable")
            }
        }
        batch.delete(Space::Inbox, key);
        batch.guard(
            Space::Sequences,
            seq_key.clone(),
            match stored {
                Some(v) => Expect::Value(v),
                None => Expect::Absent,
            },
        );
        batch.put(
            Space::Sequences,
            seq_key.clone(),
            (next + 1).to_be_bytes().to_vec(),
        );
        // Keys the application created are durable before rows that need them.
        core.vault
            .sync()
            .await
            .map_err(|e| StoreError::Engine(e.to_string()))?;
        // The node writes case content here: the audit entry commits with it, atomically.
        let action = format!("message.{kind}");
        let detail = format!("from {}, #{next}: {outcome}", sender.fingerprint());
        let audited = crate::audit::commit_with(
            core,
            batch,
            crate::audit::SYSTEM,
            &action,
            Some(referral),
            &detail,
        );
        match audited.await {
            Ok(()) => applied += 1,
            // A local action changed the referral meanwhile: apply again on fresh data.
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
    if applied > 0 {
        core.store.flush().await?;
        core.applier.settle(core).await;
    }
    Ok(applied)
}

/// A short name for a message kind, for the audit log.
fn kind_name(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Referral => "referral",
        MessageKind::Response => "response",
        MessageKind::HandoverProposal => "handover_proposal",
        MessageKind::HandoverConfirmation => "handover_confirmation",
        MessageKind::StatusUpdate => "status_update",
        MessageKind::Note => "note",
        MessageKind::Withdrawal => "withdrawal",
        MessageKind::ConsentWithdrawal => "consent_withdrawal",
        MessageKind::ErasureReceipt => "erasure_receipt",
        MessageKind::DeliveryReceipt => "delivery_receipt",
        MessageKind::DirectorySnapshot => "directory_snapshot",
        MessageKind::DirectoryUpdateRequest => "directory_update_request",
        MessageKind::JoinRequest => "join_request",
    }
}

/// After a restart: applies whatever was received but not yet applied.
pub async fn recover(core: &Core) -> Result<usize, StoreError> {
    let mut pairs: Vec<(ReferralId, NodeId)> = Vec::new();
    for (key, _) in core.store.scan(Space::Inbox, b"", usize::MAX)? {
        if key.len() != 16 + 32 + 8 {
            continue;
        }
        let referral = ReferralId(key[..16].try_into().unwrap_or_default());
        let Ok(sender) = NodeId::from_bytes(key[16..48].try_into().unwrap_or_default()) else {
            continue;
        };
        if !pairs.contains(&(referral, sender)) {
            pairs.push((referral, sender));
        }
    }
    let mut total = 0;
    for (referral, sender) in pairs {
        total += apply_ready(core, referral, sender).await?;
    }
    core.applier.settle(core).await;
    Ok(total)
}
