//! The delivery task: sends queued envelopes until a signed receipt arrives or they expire.
//!
//! Each round it looks at the messages that are due, expires those past their time, and
//! sends the others in batches per recipient: one stream over a reused connection and one
//! signed receipt per batch. At most [`MAX_BATCHES_PER_RECIPIENT`] batches travel to one
//! recipient at a time, so under load the messages queued meanwhile gather into the next
//! batch. Which messages are due is kept in memory ([`Queue`]): filled from the store at
//! start (and again every [`FULL_SCAN_EVERY`] as a safety net), told of new messages by the
//! outbox (`Core::newly_queued`) and of finished attempts by the attempts themselves, so a
//! round costs work for the due messages only, not a scan of every pending envelope. The
//! store stays the truth: before sending, a message's record is read again.
//!
//! A receipt must be signed by the recipient, answer this node, and list the message as
//! stored; a message it refuses, or does not list, counts as a failed attempt.
//! Failed attempts back off exponentially with jitter, capped at `backoff_max_ms`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lotse_protocol::receipt::{self, DeliveryReceipts};
use lotse_protocol::{MessageId, NodeId, Timestamp, limits};
use rand::Rng;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::core::Core;
use crate::outbox::{DeliveryState, OutboxRecord};
use crate::store::{Batch, Space, StoreError, from_json, to_json};
use crate::transport::Transport;
use crate::transport::frame::{self, RequestKind, Status};

/// At most this many batches in flight at once.
const MAX_IN_FLIGHT: usize = 64;
/// At most this many batches in flight to one recipient: while they travel, the messages
/// queued meanwhile gather into the next batch.
const MAX_BATCHES_PER_RECIPIENT: usize = 4;
/// Look at the queue at least this often, even without a wake-up.
const MAX_IDLE: Duration = Duration::from_secs(1);
/// Rebuild the in-memory queue from the store this often.
const FULL_SCAN_EVERY: Duration = Duration::from_secs(60);

/// What finished attempts report: the message and when it is due again (None: done).
type Reports = Arc<Mutex<Vec<(MessageId, Option<Timestamp>)>>>;

/// The delivery task's view of the queued messages: when each is due next.
#[derive(Default)]
struct Queue {
    due: HashMap<MessageId, Timestamp>,
    scanned_at: Option<Instant>,
}

/// An outgoing message whose signed receipt was stored ([`Core::delivered`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The message.
    pub message_id: MessageId,
    /// Its referral, if any.
    pub referral_id: Option<lotse_protocol::ReferralId>,
    /// Its sequence number within the referral.
    pub sequence: u64,
}

/// The delay before attempt `attempts + 1`: exponential, capped, with jitter in [d/2, d].
pub fn backoff_ms(initial: u64, max: u64, attempts: u32) -> u64 {
    let exp = initial.saturating_mul(1u64 << attempts.min(30));
    let capped = exp.min(max);
    let half = capped / 2;
    half + rand::thread_rng().gen_range(0..=capped - half)
}

/// Runs the delivery loop until shutdown.
pub async fn run(core: Arc<Core>, transport: Arc<Transport>, mut shutdown: watch::Receiver<bool>) {
    let flight = Arc::new(Flight::default());
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut attempts = JoinSet::new();
    let mut queue = Queue::default();
    let reports: Reports = Arc::default();
    loop {
        let state = Round {
            flight: &flight,
            permits: &permits,
            reports: &reports,
        };
        let wait = match round(&core, &transport, &state, &mut queue, &mut attempts).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::error!(error = %e, "delivery round failed");
                MAX_IDLE
            }
        };
        // Reap finished attempts so the set does not grow.
        while attempts.try_join_next().is_some() {}
        tokio::select! {
            _ = core.outbox_notify.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => break,
        }
    }
    // An attempt cut short leaves its messages queued; they are sent again at the next start.
    attempts.shutdown().await;
}

/// What is on its way: the messages, and the batches per recipient.
#[derive(Default)]
struct Flight {
    messages: Mutex<HashSet<MessageId>>,
    batches: Mutex<HashMap<NodeId, usize>>,
}

/// What a round shares with the attempts it starts.
struct Round<'a> {
    flight: &'a Arc<Flight>,
    permits: &'a Arc<Semaphore>,
    reports: &'a Reports,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Brings the queue up to date: a full scan when due, then new messages and reports.
fn refresh(core: &Core, queue: &mut Queue, reports: &Reports) -> Result<(), StoreError> {
    let now = core.clock.now();
    if queue
        .scanned_at
        .is_none_or(|t| t.elapsed() >= FULL_SCAN_EVERY)
    {
        queue.due.clear();
        for (key, _) in core.store.scan(Space::OutboxPending, b"", usize::MAX)? {
            if let Ok(id) = <[u8; 16]>::try_from(key.as_slice()).map(MessageId) {
                // The record says when it is due; look at it in this round.
                queue.due.insert(id, Timestamp(0));
            }
        }
        queue.scanned_at = Some(Instant::now());
    }
    for id in lock(&core.newly_queued).drain(..) {
        queue.due.insert(id, now);
    }
    for (id, next) in lock(reports).drain(..) {
        match next {
            Some(at) => queue.due.insert(id, at),
            None => queue.due.remove(&id),
        };
    }
    Ok(())
}

/// A message ready to go: its record and its sealed envelope.
type Ready = (OutboxRecord, Vec<u8>);

async fn round(
    core: &Arc<Core>,
    transport: &Arc<Transport>,
    state: &Round<'_>,
    queue: &mut Queue,
    attempts: &mut JoinSet<()>,
) -> Result<Duration, StoreError> {
    refresh(core, queue, state.reports)?;
    let now = core.clock.now();
    let mut wait = MAX_IDLE;
    let mut due: Vec<(Timestamp, MessageId)> = Vec::new();
    for (id, at) in &queue.due {
        if *at <= now {
            due.push((*at, *id));
        } else {
            wait = wait.min(Duration::from_millis(at.0 - now.0));
        }
    }
    due.sort();
    // Ready messages per recipient, oldest first.
    let mut ready: Vec<(NodeId, Vec<Ready>)> = Vec::new();
    for (_, id) in due {
        // In flight: its attempt reports back. Not yet durable: the flush wakes us.
        if lock(&state.flight.messages).contains(&id) || lock(&core.not_yet_durable).contains(&id) {
            continue;
        }
        let key = id.0.to_vec();
        let (Some(sealed), Some(bytes)) = (
            core.store.get(Space::OutboxPending, &key)?,
            core.store.get(Space::Outbox, &key)?,
        ) else {
            queue.due.remove(&id);
            continue;
        };
        let record: OutboxRecord = from_json(Space::Outbox, &bytes)?;
        let DeliveryState::Queued {
            next_attempt_at,
            ref last_error,
            ..
        } = record.state
        else {
            queue.due.remove(&id);
            continue;
        };
        if now >= record.expires_at {
            expire(core, &record, last_error.clone())?;
            queue.due.remove(&id);
            continue;
        }
        if next_attempt_at > now {
            queue.due.insert(id, next_attempt_at);
            wait = wait.min(Duration::from_millis(next_attempt_at.0 - now.0));
            continue;
        }
        match ready.iter_mut().find(|(r, _)| *r == record.recipient) {
            Some((_, list)) => list.push((record, sealed)),
            None => ready.push((record.recipient, vec![(record, sealed)])),
        }
    }
    for (recipient, list) in ready {
        for batch in into_batches(list) {
            {
                let mut batches = lock(&state.flight.batches);
                let count = batches.entry(recipient).or_default();
                if *count >= MAX_BATCHES_PER_RECIPIENT {
                    // The rest waits for a batch to this recipient to finish (it wakes us).
                    break;
                }
                *count += 1;
            }
            let Ok(permit) = state.permits.clone().acquire_owned().await else {
                return Ok(wait);
            };
            let ids: Vec<MessageId> = batch.iter().map(|(r, _)| r.message_id).collect();
            lock(&state.flight.messages).extend(ids.iter().copied());
            for id in &ids {
                queue.due.remove(id);
            }
            let (core, transport) = (core.clone(), transport.clone());
            let (flight, reports) = (state.flight.clone(), state.reports.clone());
            attempts.spawn(async move {
                let results = attempt(&core, &transport, recipient, &batch).await;
                let next = finish(&core, batch, results).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "could not record a delivery attempt");
                    // Still queued in the store: look again after the longest backoff.
                    let later = core
                        .clock
                        .now()
                        .plus_millis(core.config.delivery.backoff_max_ms);
                    vec![Some(later); ids.len()]
                });
                lock(&reports).extend(ids.iter().copied().zip(next));
                {
                    let mut messages = lock(&flight.messages);
                    for id in &ids {
                        messages.remove(id);
                    }
                }
                {
                    let mut batches = lock(&flight.batches);
                    if let Some(count) = batches.get_mut(&recipient) {
                        *count = count.saturating_sub(1);
                        if *count == 0 {
                            batches.remove(&recipient);
                        }
                    }
                }
                drop(permit);
                // The next round may have work that waited for this slot.
                core.outbox_notify.notify_one();
            });
        }
    }
    Ok(wait)
}

/// Splits one recipient's ready messages into batches within the batch limits.
fn into_batches(list: Vec<Ready>) -> Vec<Vec<Ready>> {
    let mut batches: Vec<Vec<Ready>> = Vec::new();
    let mut bytes = 0;
    for item in list {
        let size = item.1.len() + 4;
        let full = batches.last().is_none_or(|b| {
            b.len() >= limits::MAX_BATCH_MESSAGES || bytes + size > limits::MAX_BATCH_BYTES - 4
        });
        if full {
            batches.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        if let Some(last) = batches.last_mut() {
            last.push(item);
        }
    }
    batches
}

/// One attempt for a batch to `recipient`: per message Ok(receipt time) or Err(reason).
async fn attempt(
    core: &Core,
    transport: &Transport,
    recipient: NodeId,
    batch: &[Ready],
) -> Vec<Result<Timestamp, String>> {
    match exchange(core, transport, recipient, batch).await {
        Ok(receipt) => {
            let stored: HashSet<MessageId> = receipt.stored.iter().copied().collect();
            (0u32..)
                .zip(batch)
                .map(|(index, (record, _))| {
                    if let Some(r) = receipt.refused.iter().find(|r| r.index == index) {
                        Err(format!("the recipient refused: {}", r.reason))
                    } else if stored.contains(&record.message_id) {
                        Ok(receipt.received_at)
                    } else {
                        Err("the recipient's receipt does not list this message".into())
                    }
                })
                .collect()
        }
        Err(reason) => vec![Err(reason); batch.len()],
    }
}

/// Sends a batch and checks the signed receipt that answers it.
async fn exchange(
    core: &Core,
    transport: &Transport,
    recipient: NodeId,
    batch: &[Ready],
) -> Result<DeliveryReceipts, String> {
    let member = core
        .directory
        .member(&recipient)
        .ok_or("the recipient is no longer an active member of the network")?;
    let body = frame::encode_batch(batch.iter().map(|(_, sealed)| sealed.as_slice()));
    let response = transport
        .request(
            recipient,
            &member.profile.addresses,
            RequestKind::DeliverBatch,
            &body,
        )
        .await
        .map_err(|e| e.to_string())?;
    if response.status != Status::Ok {
        return Err(format!("the recipient refused: {}", response.reason()));
    }
    receipt::verify(&response.body, &recipient, &core.id)
        .map_err(|e| format!("invalid receipt: {e}"))
}

/// Records a batch's attempt in one commit; returns when each message is due again (None:
/// delivered).
fn finish(
    core: &Core,
    batch: Vec<Ready>,
    results: Vec<Result<Timestamp, String>>,
) -> Result<Vec<Option<Timestamp>>, StoreError> {
    let mut writes = Batch::new();
    let mut next = Vec::with_capacity(batch.len());
    let mut delivered = Vec::new();
    for ((mut record, _), result) in batch.into_iter().zip(results) {
        let key = record.message_id.0.to_vec();
        let DeliveryState::Queued { attempts, .. } = record.state else {
            next.push(None);
            continue;
        };
        match result {
            Ok(_) => {
                record.state = DeliveryState::Delivered {
                    at: core.clock.now(),
                    attempts: attempts + 1,
                };
                writes.delete(Space::OutboxPending, key.clone());
                core.applier.on_delivered(core, &record, &mut writes);
                tracing::debug!(message = %record.message_id, "delivered");
                delivered.push(Delivered {
                    message_id: record.message_id,
                    referral_id: record.referral_id,
                    sequence: record.sequence,
                });
                next.push(None);
            }
            Err(reason) => {
                let d = &core.config.delivery;
                let delay = backoff_ms(d.backoff_initial_ms, d.backoff_max_ms, attempts);
                tracing::info!(message = %record.message_id, attempt = attempts + 1, error = %reason, retry_in_ms = delay, "delivery failed");
                let at = core.clock.now().plus_millis(delay);
                next.push(Some(at));
                record.state = DeliveryState::Queued {
                    attempts: attempts + 1,
                    next_attempt_at: at,
                    last_error: Some(reason),
                };
            }
        }
        writes.put(Space::Outbox, key, to_json(&record));
    }
    // Not flushed here: if this is lost in a crash the messages are sent again and the
    // receiver confirms them again without storing them twice.
    core.store.commit(writes)?;
    for d in delivered {
        // Nobody listening is the normal case, not an error.
        let _ = core.delivered.send(d);
    }
    Ok(next)
}

fn expire(
    core: &Core,
    record: &OutboxRecord,
    last_error: Option<String>,
) -> Result<(), StoreError> {
    let mut record = record.clone();
    record.state = DeliveryState::Expired {
        at: core.clock.now(),
        last_error,
    };
    tracing::warn!(message = %record.message_id, "message expired undelivered");
    let key = record.message_id.0.to_vec();
    let mut batch = Batch::new();
    batch.delete(Space::OutboxPending, key.clone());
    core.applier.on_expired(core, &record, &mut batch);
    batch.put(Space::Outbox, key, to_json(&record));
    core.store.commit(batch)
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempts in 0..40 {
            let d = backoff_ms(500, 60_000, attempts);
            let full = (500u64 << attempts.min(30)).min(60_000);
            assert!(d >= full / 2 && d <= full, "attempt {attempts}: {d}");
        }
    }
}
