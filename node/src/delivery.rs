//! The delivery task: sends queued envelopes until a signed receipt arrives or they expire.
//!
//! Each round it looks at the pending envelopes, expires those past their time, and sends
//! the due ones concurrently (bounded), each on its own stream over a reused connection.
//! A receipt must be a `DeliveryReceipt` envelope signed by the recipient for exactly this
//! message id; anything else counts as a failed attempt. Failed attempts back off
//! exponentially with jitter, capped at `backoff_max_ms`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lotse_protocol::envelope;
use lotse_protocol::payload::{MessageKind, Payload};
use lotse_protocol::{MessageId, Timestamp};
use rand::Rng;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::core::Core;
use crate::outbox::{DeliveryState, OutboxRecord};
use crate::store::{Batch, Space, StoreError, from_json, to_json};
use crate::transport::Transport;
use crate::transport::frame::{RequestKind, Status};

/// At most this many envelopes in flight at once.
const MAX_IN_FLIGHT: usize = 256;
/// Look at the queue at least this often, even without a wake-up.
const MAX_IDLE: Duration = Duration::from_secs(1);

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
    let in_flight: Arc<Mutex<HashSet<MessageId>>> = Arc::default();
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut attempts = JoinSet::new();
    loop {
        let wait = match round(&core, &transport, &in_flight, &permits, &mut attempts).await {
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
    // An attempt cut short leaves its message queued; it is sent again at the next start.
    attempts.shutdown().await;
}

async fn round(
    core: &Arc<Core>,
    transport: &Arc<Transport>,
    in_flight: &Arc<Mutex<HashSet<MessageId>>>,
    permits: &Arc<Semaphore>,
    attempts: &mut JoinSet<()>,
) -> Result<Duration, StoreError> {
    let now = core.clock.now();
    let mut wait = MAX_IDLE;
    for (key, sealed) in core.store.scan(Space::OutboxPending, b"", usize::MAX)? {
        let Ok(id) = <[u8; 16]>::try_from(key.as_slice()).map(MessageId) else {
            continue;
        };
        if in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
            || core
                .not_yet_durable
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&id)
        {
            continue;
        }
        let Some(bytes) = core.store.get(Space::Outbox, &key)? else {
            continue;
        };
        let record: OutboxRecord = from_json(Space::Outbox, &bytes)?;
        let DeliveryState::Queued {
            next_attempt_at,
            ref last_error,
            ..
        } = record.state
        else {
            continue;
        };
        if now >= record.expires_at {
            expire(core, &record, last_error.clone())?;
            continue;
        }
        if next_attempt_at > now {
            wait = wait.min(Duration::from_millis(next_attempt_at.0 - now.0));
            continue;
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        let (core, transport, in_flight) = (core.clone(), transport.clone(), in_flight.clone());
        attempts.spawn(async move {
            let result = attempt(&core, &transport, &record, &sealed).await;
            if let Err(e) = finish(&core, record, result) {
                tracing::error!(error = %e, "could not record a delivery attempt");
            }
            in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            drop(permit);
            // The next round may have work that waited for this slot.
            core.outbox_notify.notify_one();
        });
    }
    Ok(wait)
}

/// One attempt: Ok(receipt time) or Err(reason).
async fn attempt(
    core: &Core,
    transport: &Transport,
    record: &OutboxRecord,
    sealed: &[u8],
) -> Result<Timestamp, String> {
    let member = core
        .directory
        .member(&record.recipient)
        .ok_or("the recipient is no longer an active member of the network")?;
    let response = transport
        .request(
            record.recipient,
            &member.profile.addresses,
            RequestKind::Deliver,
            sealed,
        )
        .await
        .map_err(|e| e.to_string())?;
    if response.status != Status::Ok {
        return Err(format!("the recipient refused: {}", response.reason()));
    }
    let recipient = record.recipient;
    let opened = envelope::open(&response.body, &core.id, &core.encryption, &|s, k| {
        *s == recipient && k == MessageKind::DeliveryReceipt
    })
    .map_err(|e| format!("invalid receipt: {e}"))?;
    match opened.payload {
        Payload::DeliveryReceipt(r) if r.message_id == record.message_id => Ok(r.received_at),
        _ => Err("the receipt is for another message".into()),
    }
}

fn finish(
    core: &Core,
    mut record: OutboxRecord,
    result: Result<Timestamp, String>,
) -> Result<(), StoreError> {
    let key = record.message_id.0.to_vec();
    let DeliveryState::Queued { attempts, .. } = record.state else {
        return Ok(());
    };
    let mut batch = Batch::new();
    let delivered = result.is_ok();
    match result {
        Ok(_) => {
            record.state = DeliveryState::Delivered {
                at: core.clock.now(),
                attempts: attempts + 1,
            };
            batch.delete(Space::OutboxPending, key.clone());
            core.applier.on_delivered(core, &record, &mut batch);
            tracing::debug!(message = %record.message_id, "delivered");
        }
        Err(reason) => {
            let d = &core.config.delivery;
            let delay = backoff_ms(d.backoff_initial_ms, d.backoff_max_ms, attempts);
            tracing::info!(message = %record.message_id, attempt = attempts + 1, error = %reason, retry_in_ms = delay, "delivery failed");
            record.state = DeliveryState::Queued {
                attempts: attempts + 1,
                next_attempt_at: core.clock.now().plus_millis(delay),
                last_error: Some(reason),
            };
        }
    }
    batch.put(Space::Outbox, key, to_json(&record));
    // Not flushed here: if this is lost in a crash the message is sent again and the
    // receiver answers with the receipt it stored the first time.
    core.store.commit(batch)?;
    if delivered {
        // Nobody listening is the normal case, not an error.
        let _ = core.delivered.send(Delivered {
            message_id: record.message_id,
            referral_id: record.referral_id,
            sequence: record.sequence,
        });
    }
    Ok(())
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
