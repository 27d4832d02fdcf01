//! Applying received referral messages: the [`Workflow`] is the node's [`Applier`].
//!
//! A new referral is stored only if its consent names this node and covers every category
//! of data it carries; its case data goes straight into the vault. Every later message must
//! come from the referral's other party and pass the state machine for that party's side;
//! otherwise it is logged and changes nothing. Receipts for our own messages move the
//! sender's record from `sent` to `delivered`; an expired referral message marks the
//! referral expired.

use std::future::Future;
use std::pin::Pin;

use lotse_protocol::envelope::Opened;
use lotse_protocol::payload::{Payload, WithdrawalReason};
use lotse_protocol::referral::{Event, ReferralState, Side, transition};

use super::actions::{decline_name, outcome_name};
use super::{
    Erasure, EventDetail, EventRecord, ReferralRecord, erasure, load, peer_name, put_case,
    put_event, put_proposal, put_record, seal_detail, vault,
};
use crate::core::Core;
use crate::inbox::Applier;
use crate::outbox::OutboxRecord;
use crate::store::Batch;
use lotse_protocol::payload::MessageKind;

/// The referral workflow as the node's application layer.
pub struct Workflow;

impl Applier for Workflow {
    fn apply(&self, core: &Core, opened: &Opened, batch: &mut Batch) -> Result<(), String> {
        apply(core, opened, batch).map_err(|e| e.to_string())
    }

    fn on_delivered(&self, core: &Core, record: &OutboxRecord, batch: &mut Batch) {
        if record.kind != MessageKind::Referral {
            return;
        }
        let Some(id) = record.referral_id else { return };
        let Ok(Some((mut r, previous))) = load(core, &id) else {
            return;
        };
        if r.state != ReferralState::Sent {
            return;
        }
        if let Ok(next) = transition(r.state, Event::Delivered, Side::Receiver) {
            r.state = next;
            r.updated_at = core.clock.now();
            put_record(batch, &r, Some(previous));
        }
    }

    fn settle<'a>(&'a self, core: &'a Core) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            if let Err(e) = erasure::settle(core).await {
                tracing::error!(error = %e, "could not finish an erasure; retrying later");
            }
        })
    }
}

fn apply(core: &Core, opened: &Opened, batch: &mut Batch) -> Result<(), super::WorkflowError> {
    use super::WorkflowError as E;
    let h = &opened.header;
    let id = h
        .referral_id
        .ok_or_else(|| E::Invalid("not a referral message".into()))?;
    let now = core.clock.now();
    if let Payload::Referral(p) = &opened.payload {
        if load(core, &id)?.is_some() {
            return Err(E::Invalid(format!("referral {id} exists already")));
        }
        // The sender checked consent; we check what does not depend on its clock.
        if p.consent.recipient != core.id {
            return Err(E::Invalid("the consent names another recipient".into()));
        }
        let present = p.client.present_categories();
        if !present.is_subset(&p.consent.categories) {
            return Err(E::Invalid(
                "the referral carries data the consent does not cover".into(),
            ));
        }
        let state = transition(ReferralState::Sent, Event::Delivered, Side::Receiver)?;
        let mut fields: Vec<_> = p.client.needs.iter().map(|n| n.field).collect();
        fields.sort();
        fields.dedup();
        let record = ReferralRecord {
            id,
            side: Side::Receiver,
            peer: h.sender,
            peer_name: peer_name(core, &h.sender),
            service_id: p.service_id.clone(),
            fields,
            state,
            created_at: now,
            updated_at: now,
            created_by: None,
            owner: None,
            follow_up: None,
            answer_due: None,
            sender_proposed_handover: p.handover.is_some(),
            consent_valid_until: Some(p.consent.valid_until),
            erasure: Erasure::None,
        };
        vault(core).create(&id, batch)?;
        put_record(batch, &record, None);
        put_case(core, batch, &id, p)?;
        if let Some(h) = &p.handover {
            put_proposal(core, batch, &id, h)?;
        }
        put_event(
            batch,
            &id,
            &EventRecord {
                at: now,
                side: Side::Sender,
                actor: record.peer_name.clone(),
                kind: "received".into(),
                info: None,
                state_after: state,
                message_id: Some(h.message_id),
                outgoing: false,
                sealed_detail: None,
            },
        );
        return Ok(());
    }

    let (mut record, previous) = load(core, &id)?.ok_or(E::NotFound)?;
    if record.peer != h.sender {
        return Err(E::Forbidden(
            "the message comes from another agency than the referral's".into(),
        ));
    }
    let their_side = record.side.other();
    let mut detail = EventDetail::default();
    let mut info = None;
    // Receipts carry no status change; everything else is an event of the state machine.
    let mut event = match &opened.payload {
        Payload::ErasureReceipt(_) => Event::Note,
        p => p
            .event()
            .ok_or_else(|| E::Invalid(format!("{:?} is not a referral event", h.kind)))?,
    };
    match &opened.payload {
        Payload::Response(r) => {
            event = match r.decision {
                lotse_protocol::payload::Decision::Accept => Event::Accept {
                    sender_proposed_handover: record.sender_proposed_handover,
                },
                lotse_protocol::payload::Decision::Decline(reason) => {
                    info = Some(decline_name(reason).to_string());
                    Event::Decline(reason)
                }
            };
            detail.note = r.note.clone();
            detail.contact = r.contact.clone();
        }
        Payload::HandoverProposal(p) => {
            if record.erasure == Erasure::None {
                put_proposal(core, batch, &id, p)?;
            }
            detail.proposal = Some(p.clone());
        }
        Payload::HandoverConfirmation(c) => {
            detail.slot = Some(c.slot);
            detail.note = c.note.clone();
        }
        Payload::StatusUpdate(s) => {
            if let lotse_protocol::payload::StatusChange::Closed(o) = s.change {
                info = Some(outcome_name(o).to_string());
            }
            detail.note = s.note.clone();
        }
        Payload::Note(t) => detail.note = Some(t.clone()),
        Payload::Withdrawal(w) => {
            detail.note = w.note.clone();
            if w.reason == WithdrawalReason::Expired {
                info = Some("expired".into());
            }
        }
        Payload::ConsentWithdrawal(_) => {}
        Payload::ErasureReceipt(r) => {
            record.erasure = Erasure::Confirmed { at: r.erased_at };
            record.updated_at = now;
            put_record(batch, &record, Some(previous));
            put_event(
                batch,
                &id,
                &EventRecord {
                    at: now,
                    side: their_side,
                    actor: record.peer_name.clone(),
                    kind: "erasure_confirmed".into(),
                    info: None,
                    state_after: record.state,
                    message_id: Some(h.message_id),
                    outgoing: false,
                    sealed_detail: None,
                },
            );
            return Ok(());
        }
        _ => return Err(E::Invalid(format!("{:?} is not a referral event", h.kind))),
    }
    let next = transition(record.state, event, their_side)?;
    let erase = matches!(opened.payload, Payload::ConsentWithdrawal(_));
    let sealed_detail = if record.erasure == Erasure::None && !erase {
        seal_detail(core, &id, &detail)?
    } else {
        None
    };
    record.state = next;
    record.updated_at = now;
    if erase {
        erasure::erase_locally(core, batch, &id)?;
        erasure::owe_receipt(batch, &id, record.peer);
        record.erasure = Erasure::Erased { at: now };
    }
    put_record(batch, &record, Some(previous));
    put_event(
        batch,
        &id,
        &EventRecord {
            at: now,
            side: their_side,
            actor: record.peer_name.clone(),
            kind: event.name().into(),
            info,
            state_after: next,
            message_id: Some(h.message_id),
            outgoing: false,
            sealed_detail,
        },
    );
    Ok(())
}
