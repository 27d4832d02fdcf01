//! Deadlines: a referral the recipient has not answered in time expires at the sender, and
//! the recipient is told (a withdrawal with the reason "expired").

use std::sync::Arc;
use std::time::Duration;

use lotse_protocol::payload::{Payload, Withdrawal, WithdrawalReason};
use lotse_protocol::referral::{Event, transition};
use tokio::sync::watch;

use super::access::Actor;
use super::{EventRecord, ReferralRecord, put_event, put_record};
use crate::core::Core;
use crate::outbox;
use crate::store::{Batch, Space, from_json};

/// Expires every overdue referral once. Returns how many expired.
pub async fn expire_overdue(core: &Core) -> Result<usize, super::WorkflowError> {
    let now = core.clock.now();
    let mut count = 0;
    for (_, value) in core.store.scan(Space::Referrals, b"", usize::MAX)? {
        let mut record: ReferralRecord = from_json(Space::Referrals, &value)?;
        let overdue =
            record.answer_due.is_some_and(|due| due <= now) && record.state.awaits_answer();
        if !overdue {
            continue;
        }
        let Ok(next) = transition(record.state, Event::Expire, record.side) else {
            continue;
        };
        record.state = next;
        record.updated_at = now;
        let mut batch = Batch::new();
        put_record(&mut batch, &record, Some(value));
        let message_id = lotse_protocol::MessageId::random();
        put_event(
            &mut batch,
            &record.id,
            &EventRecord {
                at: now,
                side: record.side,
                actor: Actor::system().display_name,
                kind: "expire".into(),
                info: Some("no_answer".into()),
                state_after: next,
                message_id: Some(message_id),
                outgoing: true,
                sealed_detail: None,
            },
        );
        let payload = Payload::Withdrawal(Withdrawal {
            reason: WithdrawalReason::Expired,
            note: None,
        });
        match outbox::send_as(
            core,
            message_id,
            record.peer,
            Some(record.id),
            &payload,
            batch,
        )
        .await
        {
            Ok(_) => count += 1,
            Err(outbox::SendError::Conflict) => {}
            // The recipient left the network: expire locally all the same.
            Err(outbox::SendError::UnknownRecipient(_)) => {
                let mut local = Batch::new();
                put_record(
                    &mut local,
                    &record,
                    core.store.get(Space::Referrals, record.id.as_bytes())?,
                );
                if core.store.commit(local).is_ok() {
                    count += 1;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    if count > 0 {
        tracing::info!(count, "referrals expired without an answer");
    }
    Ok(count)
}

/// Checks deadlines periodically until shutdown.
pub async fn run(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    let deadline_ms = core
        .config
        .referrals
        .answer_deadline_secs
        .saturating_mul(1000);
    let period = Duration::from_millis((deadline_ms / 4).clamp(200, 60_000));
    loop {
        if let Err(e) = expire_overdue(&core).await {
            tracing::error!(error = %e, "deadline check failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.changed() => return,
        }
    }
}
