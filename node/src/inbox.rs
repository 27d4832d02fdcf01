//! Receiving: verify, deduplicate, store durably, answer with a signed receipt, then apply
//! a referral's messages strictly in sequence order.
//!
//! Envelopes come one per `Deliver` request or many per `DeliverBatch` request; a batch is
//! checked envelope by envelope, stored with one commit and one flush, and answered with
//! one signed receipt listing what was stored and what was refused.
//!
//! Invariant 3 (nothing acknowledged is lost or applied twice) rests on three facts:
//! - the receipt is returned only after the message ids and the envelopes are flushed;
//! - a message id seen before is confirmed again and not stored twice
//!   (a guarded batch makes the check and the write one atomic step);
//! - application removes the envelope from the inbox and advances the per-(referral,
//!   sender) sequence counter in the same atomic batch as the application's own writes.
//!
//! Application is serial (one apply lock, because it follows each referral's sequence
//! and chains the audit log), so its costliest step, decryption, happens before the lock:
//! the task that applies a received batch first opens that batch's envelopes
//! ([`OpenedAhead`]), in parallel with other work, and under the lock uses an opened
//! envelope only if the inbox still holds exactly the bytes that were opened.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lotse_protocol::envelope::{self, Address, Header, Opened};
use lotse_protocol::payload::{DeliveryReceipt, MessageKind, Payload};
use lotse_protocol::receipt::{self, DeliveryReceipts, Refused};
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

/// Envelopes opened before their application, by inbox key: the bytes that were opened,
/// and what opening them gave.
type OpenedAhead = HashMap<Vec<u8>, (Vec<u8>, Opened)>;

/// Opens `kept` (inbox key, envelope bytes) for [`apply_pairs`]; an envelope that does not
/// open is left out, to be opened (and its error recorded) under the apply lock.
async fn open_ahead(core: &Core, kept: Vec<(Vec<u8>, Vec<u8>)>) -> OpenedAhead {
    let mut ahead = HashMap::with_capacity(kept.len());
    for (key, bytes) in kept {
        if let Ok(opened) = envelope::open_kept(&bytes, &core.id, &core.encryption) {
            ahead.insert(key, (bytes, opened));
        }
        // Each opening is a few tens of microseconds of CPU: let other tasks run between.
        tokio::task::yield_now().await;
    }
    ahead
}

/// Takes the envelope opened ahead for `key`, if it was opened from exactly `kept`, the
/// bytes the inbox holds now; otherwise the caller opens `kept` itself.
fn take_opened(ahead: &mut OpenedAhead, key: &[u8], kept: &[u8]) -> Option<Opened> {
    match ahead.remove(key) {
        Some((bytes, opened)) if bytes == kept => Some(opened),
        _ => None,
    }
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

/// Handles a `Deliver` request (one envelope) from the authenticated `peer`.
pub async fn receive(core: &Arc<Core>, peer: NodeId, bytes: &[u8]) -> Response {
    match accept(core, peer, &[bytes]).await {
        Ok(outcomes) => match outcomes.into_iter().next() {
            Some(Outcome::Stored(id)) => answer(
                core,
                peer,
                Payload::DeliveryReceipt(DeliveryReceipt {
                    message_id: id,
                    received_at: core.clock.now(),
                }),
            ),
            Some(Outcome::Refused(reason)) => Response::rejected(reason),
            None => Response::unavailable("nothing was stored"),
        },
        Err(reason) => unavailable(reason),
    }
}

/// Handles a `DeliverBatch` request from the authenticated `peer`: every envelope is
/// checked on its own, the accepted ones are stored with one flush, and one signed receipt
/// says which were stored and which refused (and why).
pub async fn receive_batch(core: &Arc<Core>, peer: NodeId, body: &[u8]) -> Response {
    let envelopes = match crate::transport::frame::decode_batch(body) {
        Ok(e) => e,
        Err(reason) => {
            tracing::warn!(peer = %peer.fingerprint(), reason = %reason, "refused a batch");
            return Response::rejected(format!("malformed batch: {reason}"));
        }
    };
    match accept(core, peer, &envelopes).await {
        Ok(outcomes) => {
            let mut receipt = DeliveryReceipts {
                stored: Vec::new(),
                received_at: core.clock.now(),
                refused: Vec::new(),
            };
            for (index, outcome) in (0u32..).zip(outcomes) {
                match outcome {
                    Outcome::Stored(id) => receipt.stored.push(id),
                    Outcome::Refused(reason) => receipt.refused.push(Refused {
                        index,
                        // Within the payload's bound for short texts (512 bytes).
                        reason: reason.chars().take(120).collect(),
                    }),
                }
            }
            Response::ok(receipt::sign(&core.node_key, peer, receipt))
        }
        Err(reason) => unavailable(reason),
    }
}

fn unavailable(reason: String) -> Response {
    tracing::error!(reason = %reason, "could not store received envelopes");
    Response::unavailable(reason)
}

/// What became of one received envelope.
enum Outcome {
    /// Stored durably (now or before).
    Stored(MessageId),
    /// Refused for good, with the reason.
    Refused(String),
}

/// Checks, deduplicates and durably stores `envelopes` from `peer`; then starts applying
/// them. Err only for a failure of this node (the sender tries again later).
async fn accept(
    core: &Arc<Core>,
    peer: NodeId,
    envelopes: &[&[u8]],
) -> Result<Vec<Outcome>, String> {
    let now = core.clock.now();
    let mut outcomes = Vec::with_capacity(envelopes.len());
    let mut new: Vec<(usize, Header)> = Vec::new();
    for (index, bytes) in envelopes.iter().enumerate() {
        let outcome = match check(core, peer, bytes).await {
            Ok(header) => {
                let key = header.message_id.0.to_vec();
                let seen = core
                    .store
                    .get(Space::Seen, &key)
                    .map_err(|e| e.to_string())?;
                let twice = new.iter().any(|(_, h)| h.message_id == header.message_id);
                if seen.is_none() && !twice {
                    new.push((index, header));
                }
                // A retry or a replay by the sender itself: stored once, confirmed again.
                Outcome::Stored(header.message_id)
            }
            Err(reason) => {
                tracing::warn!(peer = %peer.fingerprint(), reason = %reason, "refused an envelope");
                Outcome::Refused(reason)
            }
        };
        outcomes.push(outcome);
    }
    if new.is_empty() {
        // Everything was seen before (or refused): what we confirm must be durable.
        core.store.flush().await.map_err(|e| e.to_string())?;
        return Ok(outcomes);
    }
    let stamp = now.millis().to_be_bytes().to_vec();
    let write = |batch: &mut Batch, index: usize, header: &Header| {
        let key = header.message_id.0.to_vec();
        batch.guard(Space::Seen, key.clone(), Expect::Absent);
        batch.put(Space::Seen, key, stamp.clone());
        if let Some(referral) = header.referral_id {
            batch.put(
                Space::Inbox,
                inbox_key(&referral, &header.sender, header.sequence),
                envelopes[index].to_vec(),
            );
        }
    };
    let mut batch = Batch::new();
    for (index, header) in &new {
        write(&mut batch, *index, header);
    }
    match core.store.commit(batch) {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            // Some message of the batch arrived at the same moment on another stream: store
            // the others one by one; the copy that won is stored already.
            for (index, header) in &new {
                let mut one = Batch::new();
                write(&mut one, *index, header);
                match core.store.commit(one) {
                    Ok(()) | Err(StoreError::Conflict) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        Err(e) => return Err(e.to_string()),
    }
    core.store.flush().await.map_err(|e| e.to_string())?;
    let mut pairs: Vec<(ReferralId, NodeId)> = Vec::new();
    for (_, header) in &new {
        if let Some(referral) = header.referral_id
            && !pairs.contains(&(referral, header.sender))
        {
            pairs.push((referral, header.sender));
        }
    }
    if !pairs.is_empty() {
        let core = core.clone();
        let kept: Vec<(Vec<u8>, Vec<u8>)> = new
            .iter()
            .filter_map(|(index, header)| {
                let referral = header.referral_id?;
                let key = inbox_key(&referral, &header.sender, header.sequence);
                Some((key, envelopes[*index].to_vec()))
            })
            .collect();
        tokio::spawn(async move {
            let ahead = open_ahead(&core, kept).await;
            if let Err(e) = apply_pairs(&core, &pairs, ahead).await {
                tracing::error!(error = %e, "could not apply received messages");
            }
        });
    }
    Ok(outcomes)
}

/// Checks one envelope from `peer` before it may be stored; returns its header or why it
/// is refused.
async fn check(core: &Arc<Core>, peer: NodeId, bytes: &[u8]) -> Result<Header, String> {
    let directory = &core.directory;
    let verified = envelope::verify(bytes, &core.id, &|sender, kind| {
        directory.is_active(sender) && deliverable(kind)
    })
    .map_err(|e| e.to_string())?;
    let header = verified.header;
    if core.is_directory_node() && header.kind.is_referral_message() {
        // Invariant 1: the KI never holds case content, not even encrypted.
        return Err("the KI's directory node accepts no referral messages".into());
    }
    if header.sender != peer {
        return Err("the envelope is signed by another node than the connected peer".into());
    }
    if header.kind == MessageKind::DirectoryUpdateRequest {
        // Directory updates take effect before the message counts as received; applying
        // one twice is harmless (an update that is not newer is ignored).
        if !core.is_directory_node() {
            return Err("directory updates go to the KI's directory node".into());
        }
        let opened = verified
            .decrypt(&core.encryption)
            .map_err(|e| e.to_string())?;
        if let Payload::DirectoryUpdateRequest(profile) = &opened.payload {
            crate::directory::authority::update_profile(core, header.sender, profile)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    // Referral messages are opened once, when they are applied in sequence order; their
    // signature was checked here, so what is stored is what the sender signed.
    Ok(header)
}

/// Seals a single envelope's receipt for `peer`.
fn answer(core: &Core, peer: NodeId, payload: Payload) -> Response {
    let Some(member) = core.directory.member(&peer) else {
        return Response::rejected("the sender is not an active member");
    };
    let sealed = envelope::seal(
        &core.node_key,
        Address {
            message_id: MessageId::random(),
            recipient: peer,
            created_at: core.clock.now(),
            referral_id: None,
            sequence: 0,
        },
        &member.profile.encryption,
        &payload,
    );
    match sealed {
        Ok(receipt) => Response::ok(receipt),
        Err(e) => unavailable(e.to_string()),
    }
}

/// Applies what is ready for each (referral, sender) pair under one lock.
///
/// Each message's application (its writes, the inbox entry's removal, the sequence
/// counter, the audit entry) is one atomic commit, and one flush after the lock is released
/// covers them all; a crash either keeps a message's application or leaves the message in
/// the inbox, where [`recover`] applies it again at the next start.
async fn apply_pairs(
    core: &Core,
    pairs: &[(ReferralId, NodeId)],
    mut ahead: OpenedAhead,
) -> Result<usize, StoreError> {
    let mut applied = 0;
    {
        let _guard = core.apply_lock.lock().await;
        let mut pace = Pace::new();
        for (referral, sender) in pairs {
            applied += apply_locked(core, *referral, *sender, &mut ahead, &mut pace).await?;
        }
    }
    // The lock is not held over the sync: the next batch is applied meanwhile, and the
    // flushes of several batches group into one.
    if applied > 0 {
        core.store.flush().await?;
        settle(core).await;
    }
    Ok(applied)
}

/// Gives way to other tasks once per [`Pace::SLICE`] of work.
struct Pace {
    since: std::time::Instant,
}

impl Pace {
    /// How long a loop may run before it yields.
    const SLICE: std::time::Duration = std::time::Duration::from_millis(1);

    fn new() -> Self {
        Self {
            since: std::time::Instant::now(),
        }
    }

    async fn tick(&mut self) {
        if self.since.elapsed() >= Self::SLICE {
            tokio::task::yield_now().await;
            self.since = std::time::Instant::now();
        }
    }
}

/// Runs the applier's settle step under the apply lock, as if it followed the applications
/// directly: an erasure's key is destroyed while no message is being applied.
async fn settle(core: &Core) {
    let _guard = core.apply_lock.lock().await;
    core.applier.settle(core).await;
}

/// Applies the stored messages of (`referral`, `sender`) that are next in sequence.
pub async fn apply_ready(
    core: &Core,
    referral: ReferralId,
    sender: NodeId,
) -> Result<usize, StoreError> {
    apply_pairs(core, &[(referral, sender)], OpenedAhead::new()).await
}

/// [`apply_ready`] with the apply lock held and without the final flush; takes what it
/// applies from `ahead` where the inbox holds the very bytes that were opened.
async fn apply_locked(
    core: &Core,
    referral: ReferralId,
    sender: NodeId,
    ahead: &mut OpenedAhead,
    pace: &mut Pace,
) -> Result<usize, StoreError> {
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
        // Its signature was checked when it was received, before it was stored (the sender
        // may have been revoked since, which does not undo what it delivered while it was a
        // member); what it says must still match where it was kept.
        let in_place = |h: &Header| {
            h.sender == sender && h.referral_id == Some(referral) && h.sequence == next
        };
        let opened = match take_opened(ahead, &key, &bytes) {
            Some(opened) => Ok(opened),
            None => envelope::open_kept(&bytes, &core.id, &core.encryption),
        };
        match opened {
            Ok(opened) if in_place(&opened.header) => {
                kind = kind_name(opened.header.kind);
                if let Err(reason) = core.applier.apply(core, &opened, &mut batch) {
                    tracing::warn!(referral = %referral, sequence = next, reason = %reason, "message not applied");
                    outcome = format!("not applied: {reason}");
                }
            }
            Ok(_) => {
                tracing::error!(referral = %referral, "stored envelope does not match its place in the inbox")
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
        // The node writes case content here: the audit entry commits with it, atomically.
        let action = format!("message.{kind}");
        let detail = format!("from {}, #{next}: {outcome}", sender.fingerprint());
        let audited = crate::audit::commit_with_unflushed(
            core,
            batch,
            crate::audit::SYSTEM,
            &action,
            Some(referral),
            &detail,
        );
        match audited.await {
            Ok(()) => {
                applied += 1;
                // Without a flush per message this loop would not give way; let the
                // sending side and other requests run now and then. Not after every
                // message: the lock is held meanwhile, so under load each yield would
                // cost a whole round of the scheduler before the next message.
                pace.tick().await;
            }
            // A local action changed the referral meanwhile: apply again on fresh data.
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
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
    settle(core).await;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lotse_protocol::{EncryptionIdentity, NodeKey, Timestamp};

    fn sealed(to: &EncryptionIdentity, me: &NodeKey, referral: ReferralId, text: &str) -> Vec<u8> {
        let address = Address {
            message_id: MessageId::random(),
            recipient: me.public(),
            created_at: Timestamp(1),
            referral_id: Some(referral),
            sequence: 1,
        };
        let payload = Payload::Note(text.into());
        envelope::seal(me, address, &to.recipient(), &payload).unwrap()
    }

    #[test]
    fn an_envelope_opened_ahead_is_used_only_for_the_same_bytes() {
        let (key, identity) = (NodeKey::generate(), EncryptionIdentity::generate());
        let referral = ReferralId::random();
        let first = sealed(&identity, &key, referral, "erste Fassung");
        let second = sealed(&identity, &key, referral, "zweite Fassung");
        let slot = inbox_key(&referral, &key.public(), 1);
        let open = |bytes: &[u8]| envelope::open_kept(bytes, &key.public(), &identity).unwrap();

        let mut ahead = OpenedAhead::new();
        ahead.insert(slot.clone(), (first.clone(), open(&first)));
        let taken = take_opened(&mut ahead, &slot, &first).unwrap();
        assert_eq!(taken.header, open(&first).header);

        // The slot now holds other bytes than were opened: the caller must open those.
        ahead.insert(slot.clone(), (first.clone(), open(&first)));
        assert!(take_opened(&mut ahead, &slot, &second).is_none());
        assert!(
            ahead.is_empty(),
            "a stale opening is dropped, not kept for later"
        );
        assert!(take_opened(&mut ahead, &slot, &first).is_none());
    }
}
