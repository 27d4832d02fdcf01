//! Erasure after consent is withdrawn (invariant 6).
//!
//! At either end, erasure removes the case file, the latest handover proposal and the
//! encrypted detail of every timeline entry, keeping a data-free stub (ids, dates,
//! statuses), and destroys the referral's key. At the recipient, the node then returns a
//! signed erasure receipt. The receipt is owed durably: a marker is written in the same
//! batch as the erasure and removed in the same batch that queues the receipt, so a crash in
//! between sends it at the next start.

use lotse_protocol::payload::{ErasureReceipt, Payload};
use lotse_protocol::{NodeId, ReferralId};
use serde::{Deserialize, Serialize};

use super::{EventRecord, vault};
use crate::core::Core;
use crate::outbox;
use crate::store::{Batch, Space, StoreError, from_json, to_json};

const MARKER_PREFIX: &[u8] = b"erasure-receipt/";

#[derive(Debug, Serialize, Deserialize)]
struct Owed {
    peer: NodeId,
}

fn marker_key(id: &ReferralId) -> Vec<u8> {
    let mut k = MARKER_PREFIX.to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

/// Adds the deletion of the referral's personal data to `batch`.
pub(crate) fn erase_locally(
    core: &Core,
    batch: &mut Batch,
    id: &ReferralId,
) -> Result<(), StoreError> {
    for (key, _) in core
        .store
        .scan(Space::CaseData, id.as_bytes(), usize::MAX)?
    {
        batch.delete(Space::CaseData, key);
    }
    for (key, value) in core.store.scan(Space::Events, id.as_bytes(), usize::MAX)? {
        let mut event: EventRecord = from_json(Space::Events, &value)?;
        if event.sealed_detail.take().is_some() {
            batch.put(Space::Events, key, to_json(&event));
        }
    }
    Ok(())
}

/// Recipient side: records that a receipt is owed to `peer`.
pub(crate) fn owe_receipt(batch: &mut Batch, id: &ReferralId, peer: NodeId) {
    batch.put(Space::Meta, marker_key(id), to_json(&Owed { peer }));
}

/// Destroys keys and queues the receipts owed. Run after incoming messages were applied
/// and at start.
pub async fn settle(core: &Core) -> Result<usize, crate::outbox::SendError> {
    let mut done = 0;
    for (key, value) in core.store.scan(Space::Meta, MARKER_PREFIX, usize::MAX)? {
        let Ok(raw) = <[u8; 16]>::try_from(&key[MARKER_PREFIX.len()..]) else {
            continue;
        };
        let id = ReferralId(raw);
        let owed: Owed = from_json(Space::Meta, &value)?;
        // The applied withdrawal is durable before its key goes.
        core.store.flush().await?;
        vault(core)
            .destroy(&id)
            .map_err(|e| StoreError::Engine(e.to_string()))?;
        let mut batch = Batch::new();
        batch.delete(Space::Meta, key.clone());
        outbox::send(
            core,
            owed.peer,
            Some(id),
            &Payload::ErasureReceipt(ErasureReceipt {
                erased_at: core.clock.now(),
            }),
            batch,
        )
        .await?;
        tracing::info!(referral = %id, "case data erased after consent withdrawal; receipt queued");
        done += 1;
    }
    Ok(done)
}

/// What [`erase_here`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasedHere {
    /// The personal data was erased and the key destroyed now.
    Now,
    /// Nothing was left to erase.
    Already,
}

/// Erases a referral's personal data on this node at an admin's request, with no message
/// to the other side: after a restore brought back a referral whose erasure this node had
/// already carried out (docs/operations.md, "Back up and restore a node"), or when a
/// retention period ends. Like an erasure after a withdrawn consent it keeps the data-free
/// stub, records the erasure and why in the audit log, and destroys the key after the
/// flush. Serialised with the application of received messages.
pub async fn erase_here(
    core: &Core,
    id: &ReferralId,
    reason: &str,
) -> Result<ErasedHere, super::WorkflowError> {
    let _applying = core.apply_lock.lock().await;
    let Some((mut record, previous)) = super::load(core, id)? else {
        return Err(super::WorkflowError::NotFound);
    };
    let keyed = vault(core).has(id);
    if !keyed && record.erasure != super::Erasure::None {
        return Ok(ErasedHere::Already);
    }
    let now = core.clock.now();
    let mut batch = Batch::new();
    erase_locally(core, &mut batch, id)?;
    if record.erasure == super::Erasure::None {
        record.erasure = super::Erasure::Erased { at: now };
    }
    record.updated_at = now;
    super::put_record(&mut batch, &record, Some(previous));
    super::put_event(
        &mut batch,
        id,
        &EventRecord {
            at: now,
            side: record.side,
            actor: crate::audit::CLI.into(),
            kind: "erased_here".into(),
            info: None,
            state_after: record.state,
            message_id: None,
            outgoing: false,
            sealed_detail: None,
        },
    );
    let detail = format!("personal data erased on request: {reason}");
    crate::audit::commit_with(
        core,
        batch,
        crate::audit::CLI,
        "referral.erase",
        Some(*id),
        &detail,
    )
    .await
    .map_err(|e| match e {
        StoreError::Conflict => super::WorkflowError::Busy,
        other => other.into(),
    })?;
    vault(core).destroy(id)?;
    tracing::info!(referral = %id, "case data erased on request");
    Ok(ErasedHere::Now)
}
