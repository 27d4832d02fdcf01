//! The durable outbox: every outgoing message is sealed, written and flushed here before
//! anyone is told it was sent.
//!
//! Each message has a record ([`OutboxRecord`]) with its visible delivery state: queued
//! (attempts, next attempt, last error), delivered (when), or expired. The sealed envelope
//! itself sits in `OutboxPending` until a signed receipt arrives, then it is deleted; the
//! record stays as the message's history. Per referral, outgoing messages get consecutive
//! sequence numbers, allocated in the same atomic batch that queues the message.

use lotse_protocol::envelope::{self, Address};
use lotse_protocol::payload::{MessageKind, Payload};
use lotse_protocol::{MessageId, NodeId, ReferralId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::core::Core;
use crate::store::{Batch, Expect, Space, StoreError, from_json, to_json};

/// Where an outgoing message stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum DeliveryState {
    /// Waiting to be delivered.
    Queued {
        /// Attempts so far.
        attempts: u32,
        /// When the next attempt is due.
        next_attempt_at: Timestamp,
        /// Why the last attempt failed.
        last_error: Option<String>,
    },
    /// The recipient confirmed with a signed receipt.
    Delivered {
        /// When the receipt arrived.
        at: Timestamp,
        /// Attempts it took.
        attempts: u32,
    },
    /// Not delivered before its expiry.
    Expired {
        /// When it expired.
        at: Timestamp,
        /// The last error.
        last_error: Option<String>,
    },
}

impl DeliveryState {
    /// A stable name: `queued`, `delivered`, `expired`.
    pub fn name(&self) -> &'static str {
        match self {
            DeliveryState::Queued { .. } => "queued",
            DeliveryState::Delivered { .. } => "delivered",
            DeliveryState::Expired { .. } => "expired",
        }
    }
}

/// One outgoing message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// Message id.
    pub message_id: MessageId,
    /// Recipient.
    pub recipient: NodeId,
    /// Kind.
    pub kind: MessageKind,
    /// Referral, if any.
    pub referral_id: Option<ReferralId>,
    /// Sequence within the referral.
    pub sequence: u64,
    /// Created.
    pub created_at: Timestamp,
    /// Gives up after.
    pub expires_at: Timestamp,
    /// Envelope size in bytes.
    pub size: usize,
    /// Delivery state.
    pub state: DeliveryState,
}

/// Queueing failed; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Not an active member.
    #[error("the recipient {0} is not an active member of the network; check the directory")]
    UnknownRecipient(String),
    /// Sending to oneself.
    #[error("a node cannot send messages to itself")]
    ToSelf,
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] envelope::SealError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A guard of the caller's writes failed; nothing was written.
    #[error("the data changed concurrently; nothing was sent")]
    Conflict,
}

/// The key of the sequence counter for messages this node sends about `referral`.
fn out_sequence_key(referral: &ReferralId) -> Vec<u8> {
    let mut k = b"out/".to_vec();
    k.extend_from_slice(referral.as_bytes());
    k
}

/// Seals and queues `payload` for `recipient`, together with the caller's own writes in
/// `extra` (all or nothing), and flushes before returning.
pub async fn send(
    core: &Core,
    recipient: NodeId,
    referral_id: Option<ReferralId>,
    payload: &Payload,
    extra: Batch,
) -> Result<OutboxRecord, SendError> {
    send_as(
        core,
        MessageId::random(),
        recipient,
        referral_id,
        payload,
        extra,
    )
    .await
}

/// Like [`send`], with a message id the caller chose (to refer to it in its own writes).
/// If a guard in `extra` fails, nothing is written and [`SendError::Conflict`] returned.
pub async fn send_as(
    core: &Core,
    message_id: MessageId,
    recipient: NodeId,
    referral_id: Option<ReferralId>,
    payload: &Payload,
    extra: Batch,
) -> Result<OutboxRecord, SendError> {
    if recipient == core.id {
        return Err(SendError::ToSelf);
    }
    let member = core
        .directory
        .member(&recipient)
        .ok_or_else(|| SendError::UnknownRecipient(recipient.to_string()))?;
    loop {
        let mut batch = extra.clone();
        let mut sequence_read = None;
        let sequence = match referral_id {
            Some(r) => {
                let key = out_sequence_key(&r);
                let stored = core.store.get(Space::Sequences, &key)?;
                sequence_read = Some((key.clone(), stored.clone()));
                let next = stored.as_deref().map(decode_u64).unwrap_or(1);
                batch.guard(
                    Space::Sequences,
                    key.clone(),
                    match stored {
                        Some(v) => Expect::Value(v),
                        None => Expect::Absent,
                    },
                );
                batch.put(Space::Sequences, key, (next + 1).to_be_bytes().to_vec());
                next
            }
            None => 0,
        };
        let now = core.clock.now();
        let sealed = envelope::seal(
            &core.node_key,
            Address {
                message_id,
                recipient,
                created_at: now,
                referral_id,
                sequence,
            },
            &member.profile.encryption,
            payload,
        )?;
        let record = OutboxRecord {
            message_id,
            recipient,
            kind: payload.kind(),
            referral_id,
            sequence,
            created_at: now,
            expires_at: now.plus_millis(core.config.delivery.message_expiry_secs * 1000),
            size: sealed.len(),
            state: DeliveryState::Queued {
                attempts: 0,
                next_attempt_at: now,
                last_error: None,
            },
        };
        batch.put(Space::Outbox, message_id.0.to_vec(), to_json(&record));
        batch.put(Space::OutboxPending, message_id.0.to_vec(), sealed);
        // Not sent before it is durable here: a receiver must never hold a message that a
        // crash could take from the sender before its API call returned.
        let hold = DurabilityHold::new(core, message_id);
        match core.store.commit(batch) {
            Ok(()) => {
                core.store.flush().await?;
                drop(hold);
                core.newly_queued
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(message_id);
                core.outbox_notify.notify_one();
                return Ok(record);
            }
            Err(StoreError::Conflict) => {
                // Another message for this referral took the sequence number: take the
                // next. If the number is unchanged, the caller's own guard failed.
                let moved = match &sequence_read {
                    Some((key, read)) => core.store.get(Space::Sequences, key)? != *read,
                    None => false,
                };
                if moved {
                    continue;
                }
                return Err(SendError::Conflict);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Keeps a message out of delivery rounds until dropped (after the flush, or on failure).
struct DurabilityHold<'a> {
    core: &'a Core,
    id: MessageId,
}

impl<'a> DurabilityHold<'a> {
    fn new(core: &'a Core, id: MessageId) -> Self {
        core.not_yet_durable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        Self { core, id }
    }
}

impl Drop for DurabilityHold<'_> {
    fn drop(&mut self) {
        self.core
            .not_yet_durable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

pub(crate) fn decode_u64(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(u64::MAX)
}

/// One outbox record.
pub fn get(core: &Core, id: &MessageId) -> Result<Option<OutboxRecord>, StoreError> {
    core.store
        .get(Space::Outbox, id.as_bytes())?
        .map(|b| from_json(Space::Outbox, &b))
        .transpose()
}

/// All outbox records, newest first, at most `limit`.
pub fn list(core: &Core, limit: usize) -> Result<Vec<OutboxRecord>, StoreError> {
    let mut v: Vec<OutboxRecord> = core
        .store
        .scan(Space::Outbox, b"", usize::MAX)?
        .iter()
        .map(|(_, b)| from_json(Space::Outbox, b))
        .collect::<Result<_, _>>()?;
    v.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    v.truncate(limit);
    Ok(v)
}

/// Counts by state: (queued, delivered, expired).
pub fn counts(core: &Core) -> Result<(usize, usize, usize), StoreError> {
    let mut c = (0, 0, 0);
    for r in list(core, usize::MAX)? {
        match r.state {
            DeliveryState::Queued { .. } => c.0 += 1,
            DeliveryState::Delivered { .. } => c.1 += 1,
            DeliveryState::Expired { .. } => c.2 += 1,
        }
    }
    Ok(c)
}
