//! What users do: create a referral, and act on one (answer, schedule the handover, report,
//! close, withdraw, withdraw consent, assign, set a follow-up).
//!
//! Every check happens before anything is written: consent (invariant 2), recipient,
//! bounds, access, and the state machine. The record change, the timeline entry and the
//! outgoing message are one atomic batch in the durable outbox, flushed before the caller
//! hears "done"; a concurrent change to the same referral makes the batch fail and the
//! action is retried on the fresh record.

use std::sync::Arc;

use lotse_protocol::client::ClientData;
use lotse_protocol::consent::Consent;
use lotse_protocol::payload::{
    ConsentWithdrawal, Decision, HandoverConfirmation, HandoverProposal, MeetingPlace, Payload,
    ReferralPayload, Response, Slot, StatusChange, StatusUpdate, Withdrawal, WithdrawalReason,
};
use lotse_protocol::referral::{DeclineReason, Event, Outcome, ReferralState, Side, transition};
use lotse_protocol::{MessageId, NodeId, ReferralId, limits};
use serde::{Deserialize, Serialize};

use super::access::{Access, Actor, UserRole, access};
use super::{
    Erasure, EventDetail, EventRecord, ReferralRecord, WorkflowError, erasure, load, put_case,
    put_event, put_proposal, put_record, seal_detail, vault,
};
use crate::core::Core;
use crate::outbox::{self, SendError};
use crate::store::Batch;

/// A new referral as a case manager fills it in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewReferral {
    /// The receiving agency's node id.
    pub recipient: NodeId,
    /// The service referred to.
    #[serde(default)]
    pub service_id: Option<String>,
    /// The client's data, limited to what the consent allows.
    #[serde(default)]
    pub client: ClientData,
    /// The consent record.
    #[serde(default)]
    pub consent: Option<Consent>,
    /// Proposed handover slots.
    #[serde(default)]
    pub handover: Option<HandoverProposal>,
    /// How the recipient reaches the referring case manager (defaults to their name).
    #[serde(default)]
    pub sender_contact: Option<String>,
}

/// An action on an existing referral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub enum Action {
    /// Take the client on.
    Accept {
        /// Note.
        #[serde(default)]
        note: Option<String>,
        /// Contact person at the recipient.
        #[serde(default)]
        contact: Option<String>,
    },
    /// Decline.
    Decline {
        /// Reason.
        reason: DeclineReason,
        /// Note.
        #[serde(default)]
        note: Option<String>,
    },
    /// Propose handover slots.
    ProposeHandover {
        /// Slots.
        slots: Vec<Slot>,
        /// Where.
        place: MeetingPlace,
        /// Interpreter language, if needed.
        #[serde(default)]
        interpreter: Option<String>,
        /// Note.
        #[serde(default)]
        note: Option<String>,
    },
    /// Confirm one proposed slot.
    ConfirmHandover {
        /// The slot.
        slot: Slot,
        /// Note.
        #[serde(default)]
        note: Option<String>,
    },
    /// The handover meeting took place.
    HandoverDone {
        /// Note.
        #[serde(default)]
        note: Option<String>,
    },
    /// A progress report ("Rückmeldung").
    StatusUpdate {
        /// The report.
        note: String,
    },
    /// A note to the other agency.
    Note {
        /// Text.
        text: String,
    },
    /// End with an outcome.
    Close {
        /// Outcome.
        outcome: Outcome,
        /// Note.
        #[serde(default)]
        note: Option<String>,
    },
    /// Withdraw the referral (sender).
    Withdraw {
        /// Note.
        #[serde(default)]
        note: Option<String>,
    },
    /// The client withdrew consent (sender): erase at both ends.
    WithdrawConsent,
    /// Give responsibility to a user of this node.
    Assign {
        /// Username.
        user: String,
    },
    /// Set or clear the follow-up date.
    SetFollowUp {
        /// The date, or none.
        date: Option<::time::Date>,
    },
}

impl Action {
    /// The machine name (`accept`, `set_follow_up`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Accept { .. } => "accept",
            Action::Decline { .. } => "decline",
            Action::ProposeHandover { .. } => "propose_handover",
            Action::ConfirmHandover { .. } => "confirm_handover",
            Action::HandoverDone { .. } => "handover_done",
            Action::StatusUpdate { .. } => "status_update",
            Action::Note { .. } => "note",
            Action::Close { .. } => "close",
            Action::Withdraw { .. } => "withdraw",
            Action::WithdrawConsent => "withdraw_consent",
            Action::Assign { .. } => "assign",
            Action::SetFollowUp { .. } => "set_follow_up",
        }
    }
}

fn check_text(field: &str, text: &Option<String>, limit: usize) -> Result<(), WorkflowError> {
    if text.as_ref().is_some_and(|t| t.len() > limit) {
        return Err(WorkflowError::Invalid(format!(
            "{field} is longer than {limit} bytes; shorten it"
        )));
    }
    Ok(())
}

/// Creates and sends a referral. Nothing is stored or sent unless every check passes.
pub async fn create(
    core: &Arc<Core>,
    actor: &Actor,
    new: NewReferral,
) -> Result<ReferralRecord, WorkflowError> {
    if !actor.works_cases() {
        return Err(WorkflowError::Forbidden(
            "only case managers and team leads create referrals".into(),
        ));
    }
    let consent = new.consent.ok_or(WorkflowError::NoConsent)?;
    let member = core.directory.member(&new.recipient).ok_or_else(|| {
        WorkflowError::Invalid(format!(
            "the recipient {} is not an active member of the network; choose an agency from the directory",
            new.recipient
        ))
    })?;
    if member.member.kind == lotse_protocol::directory::AgencyKind::IntegrationCentre {
        return Err(WorkflowError::Invalid(
            "the KI's directory node takes no referrals: it never holds case content; choose an agency".into(),
        ));
    }
    if new.recipient == core.id {
        return Err(WorkflowError::Invalid(
            "a referral goes to another agency, not to this node".into(),
        ));
    }
    if let Some(service) = &new.service_id
        && !member.profile.services.iter().any(|s| &s.id == service)
    {
        return Err(WorkflowError::Invalid(format!(
            "{} offers no service with the id {service:?}",
            member.member.name
        )));
    }
    new.client.validate()?;
    let today = core.clock.now().date();
    consent.validate(&new.recipient, today, &new.client)?;
    if let Some(h) = &new.handover {
        h.validate()
            .map_err(|e| WorkflowError::Invalid(e.to_string()))?;
    }
    let sender_contact = new
        .sender_contact
        .unwrap_or_else(|| actor.display_name.clone());
    check_text(
        "sender_contact",
        &Some(sender_contact.clone()),
        limits::MAX_SHORT_TEXT_BYTES,
    )?;
    let payload = ReferralPayload {
        service_id: new.service_id.clone(),
        client: new.client,
        consent,
        handover: new.handover,
        sender_contact,
    };
    let message = Payload::Referral(Box::new(payload.clone()));
    message
        .validate()
        .map_err(|e| WorkflowError::Invalid(e.to_string()))?;

    let id = ReferralId::random();
    let now = core.clock.now();
    let mut fields: Vec<_> = payload.client.needs.iter().map(|n| n.field).collect();
    fields.sort();
    fields.dedup();
    let record = ReferralRecord {
        id,
        side: Side::Sender,
        peer: new.recipient,
        peer_name: member.member.name.clone(),
        service_id: new.service_id,
        fields,
        state: ReferralState::Sent,
        created_at: now,
        updated_at: now,
        created_by: Some(actor.username.clone()),
        owner: Some(actor.username.clone()),
        follow_up: None,
        answer_due: Some(now.plus_millis(core.config.referrals.answer_deadline_secs * 1000)),
        sender_proposed_handover: payload.handover.is_some(),
        consent_valid_until: Some(payload.consent.valid_until),
        erasure: Erasure::None,
    };
    let vault = vault(core);
    let result = async {
        let mut batch = Batch::new();
        vault.create(&id, &mut batch)?;
        put_record(&mut batch, &record, None);
        put_case(core, &mut batch, &id, &payload)?;
        if let Some(h) = &payload.handover {
            put_proposal(core, &mut batch, &id, h)?;
        }
        let message_id = MessageId::random();
        put_event(
            &mut batch,
            &id,
            &EventRecord {
                at: now,
                side: Side::Sender,
                actor: actor.display_name.clone(),
                kind: "sent".into(),
                info: None,
                state_after: ReferralState::Sent,
                message_id: Some(message_id),
                outgoing: true,
                sealed_detail: None,
            },
        );
        outbox::send_as(core, message_id, record.peer, Some(id), &message, batch).await?;
        Ok::<_, WorkflowError>(())
    }
    .await;
    if let Err(e) = result {
        // Nothing was committed; do not leave a key behind.
        let _ = vault.destroy(&id);
        return Err(e);
    }
    Ok(record)
}

/// The message and state machine event an action produces, if it is not local-only.
fn message_for(
    record: &ReferralRecord,
    action: &Action,
) -> Option<(Event, Payload, EventDetail, Option<String>)> {
    let d = EventDetail::default;
    Some(match action.clone() {
        Action::Accept { note, contact } => (
            Event::Accept {
                sender_proposed_handover: record.sender_proposed_handover,
            },
            Payload::Response(Response {
                decision: Decision::Accept,
                note: note.clone(),
                contact: contact.clone(),
            }),
            EventDetail {
                note,
                contact,
                ..d()
            },
            None,
        ),
        Action::Decline { reason, note } => (
            Event::Decline(reason),
            Payload::Response(Response {
                decision: Decision::Decline(reason),
                note: note.clone(),
                contact: None,
            }),
            EventDetail { note, ..d() },
            Some(decline_name(reason).into()),
        ),
        Action::ProposeHandover {
            slots,
            place,
            interpreter,
            note,
        } => {
            let proposal = HandoverProposal {
                slots,
                place,
                interpreter,
                note,
            };
            (
                Event::ProposeHandover,
                Payload::HandoverProposal(proposal.clone()),
                EventDetail {
                    proposal: Some(proposal),
                    ..d()
                },
                None,
            )
        }
        Action::ConfirmHandover { slot, note } => (
            Event::ConfirmHandover,
            Payload::HandoverConfirmation(HandoverConfirmation {
                slot,
                note: note.clone(),
            }),
            EventDetail {
                slot: Some(slot),
                note,
                ..d()
            },
            None,
        ),
        Action::HandoverDone { note } => status(StatusChange::HandoverDone, note, None),
        Action::StatusUpdate { note } => status(StatusChange::Progress, Some(note), None),
        Action::Close { outcome, note } => status(
            StatusChange::Closed(outcome),
            note,
            Some(outcome_name(outcome).into()),
        ),
        Action::Note { text } => (
            Event::Note,
            Payload::Note(text.clone()),
            EventDetail {
                note: Some(text),
                ..d()
            },
            None,
        ),
        Action::Withdraw { note } => (
            Event::Withdraw,
            Payload::Withdrawal(Withdrawal {
                reason: WithdrawalReason::BySender,
                note: note.clone(),
            }),
            EventDetail { note, ..d() },
            None,
        ),
        Action::WithdrawConsent => (
            Event::WithdrawConsent,
            Payload::ConsentWithdrawal(ConsentWithdrawal {
                withdrawn_on: record.updated_at.date(),
            }),
            d(),
            None,
        ),
        Action::Assign { .. } | Action::SetFollowUp { .. } => return None,
    })
}

fn status(
    change: StatusChange,
    note: Option<String>,
    info: Option<String>,
) -> (Event, Payload, EventDetail, Option<String>) {
    let event = match change {
        StatusChange::HandoverDone => Event::HandoverDone,
        StatusChange::Progress => Event::StatusUpdate,
        StatusChange::Closed(o) => Event::Close(o),
    };
    (
        event,
        Payload::StatusUpdate(StatusUpdate {
            change,
            note: note.clone(),
        }),
        EventDetail {
            note,
            ..EventDetail::default()
        },
        info,
    )
}

/// The machine name of a decline reason.
pub fn decline_name(r: DeclineReason) -> &'static str {
    match r {
        DeclineReason::NoCapacity => "no_capacity",
        DeclineReason::NotResponsible => "not_responsible",
        DeclineReason::ClientDeclined => "client_declined",
        DeclineReason::Other => "other",
    }
}

/// The machine name of an outcome.
pub fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::GoalsMet => "goals_met",
        Outcome::ClientManagesAlone => "client_manages_alone",
        Outcome::Released => "released",
        Outcome::EndedUnplanned => "ended_unplanned",
    }
}

/// Checks access for an action.
fn authorise(actor: &Actor, record: &ReferralRecord, action: &Action) -> Result<(), WorkflowError> {
    if !actor.works_cases() {
        // The same answer as for reading: admins and coordinators never touch cases.
        return Err(WorkflowError::Forbidden(
            "case work is for case managers and team leads; admins manage the node only".into(),
        ));
    }
    match (access(actor, record), action) {
        (Access::None, _) => Err(WorkflowError::NotFound),
        (Access::InboxOnly, Action::Assign { user }) if *user == actor.username => Ok(()),
        (Access::InboxOnly, _) => Err(WorkflowError::Forbidden(
            "this referral waits in the agency inbox: take it (assign it to yourself) or ask a team lead to assign it".into(),
        )),
        (Access::Full, Action::Assign { user })
            if actor.role == UserRole::CaseManager && *user != actor.username =>
        {
            Err(WorkflowError::Forbidden(
                "only a team lead can hand a referral to a colleague".into(),
            ))
        }
        (Access::Full, _) => Ok(()),
    }
}

/// Which actions `actor` could take on `record` now (for the UI and the API).
pub fn allowed_actions(actor: &Actor, record: &ReferralRecord) -> Vec<&'static str> {
    let probes = [
        Action::Accept {
            note: None,
            contact: None,
        },
        Action::Decline {
            reason: DeclineReason::Other,
            note: None,
        },
        Action::ProposeHandover {
            slots: vec![],
            place: MeetingPlace::Phone,
            interpreter: None,
            note: None,
        },
        Action::ConfirmHandover {
            slot: Slot {
                starts_at: lotse_protocol::Timestamp(0),
                minutes: 0,
            },
            note: None,
        },
        Action::HandoverDone { note: None },
        Action::StatusUpdate {
            note: String::new(),
        },
        Action::Note {
            text: String::new(),
        },
        Action::Close {
            outcome: Outcome::GoalsMet,
            note: None,
        },
        Action::Withdraw { note: None },
        Action::WithdrawConsent,
    ];
    let mut out = Vec::new();
    if access(actor, record) == Access::None {
        return out;
    }
    for probe in probes {
        if authorise(actor, record, &probe).is_err() {
            continue;
        }
        if let Some((event, ..)) = message_for(record, &probe)
            && transition(record.state, event, record.side).is_ok()
            && !(matches!(probe, Action::WithdrawConsent) && record.erasure != Erasure::None)
        {
            out.push(probe.name());
        }
    }
    if authorise(
        actor,
        record,
        &Action::Assign {
            user: actor.username.clone(),
        },
    )
    .is_ok()
    {
        out.push("assign");
    }
    if access(actor, record) == Access::Full && !record.state.is_terminal() {
        out.push("set_follow_up");
    }
    out
}

fn validate_action(
    core: &Core,
    record: &ReferralRecord,
    action: &Action,
) -> Result<(), WorkflowError> {
    let long = limits::MAX_TEXT_BYTES;
    match action {
        Action::Accept { note, contact } => {
            check_text("note", note, long)?;
            check_text("contact", contact, limits::MAX_SHORT_TEXT_BYTES)
        }
        Action::Decline { note, .. }
        | Action::HandoverDone { note }
        | Action::Close { note, .. }
        | Action::Withdraw { note }
        | Action::ConfirmHandover { note, .. } => check_text("note", note, long),
        Action::StatusUpdate { note } | Action::Note { text: note } => {
            if note.trim().is_empty() {
                return Err(WorkflowError::Invalid("the text must not be empty".into()));
            }
            check_text("note", &Some(note.clone()), long)
        }
        Action::ProposeHandover {
            slots,
            place,
            interpreter,
            note,
        } => HandoverProposal {
            slots: slots.clone(),
            place: place.clone(),
            interpreter: interpreter.clone(),
            note: note.clone(),
        }
        .validate()
        .map_err(|e| WorkflowError::Invalid(e.to_string())),
        Action::WithdrawConsent => {
            if record.erasure != Erasure::None {
                return Err(WorkflowError::Invalid(
                    "consent was already withdrawn for this referral".into(),
                ));
            }
            Ok(())
        }
        Action::Assign { user } => {
            if user.trim().is_empty() {
                return Err(WorkflowError::Invalid("name the user to assign".into()));
            }
            let _ = core;
            Ok(())
        }
        Action::SetFollowUp { date } => {
            if date.is_some() && record.state.is_terminal() {
                return Err(WorkflowError::Invalid(
                    "the referral has ended; a follow-up date is no longer needed".into(),
                ));
            }
            Ok(())
        }
    }
}

/// Performs `action` on referral `id` as `actor`.
pub async fn act(
    core: &Arc<Core>,
    actor: &Actor,
    id: ReferralId,
    action: Action,
) -> Result<ReferralRecord, WorkflowError> {
    for _ in 0..8 {
        match act_once(core, actor, id, &action).await {
            Err(WorkflowError::Busy) => continue,
            other => return other,
        }
    }
    Err(WorkflowError::Busy)
}

async fn act_once(
    core: &Arc<Core>,
    actor: &Actor,
    id: ReferralId,
    action: &Action,
) -> Result<ReferralRecord, WorkflowError> {
    let (mut record, previous) = load(core, &id)?.ok_or(WorkflowError::NotFound)?;
    authorise(actor, &record, action)?;
    validate_action(core, &record, action)?;
    let now = core.clock.now();
    let mut batch = Batch::new();
    let Some((event, payload, detail, info)) = message_for(&record, action) else {
        // Local-only: assignment and follow-up.
        let (kind, info) = match action {
            Action::Assign { user } => {
                record.owner = Some(user.clone());
                ("assigned", Some(user.clone()))
            }
            Action::SetFollowUp { date } => {
                record.follow_up = *date;
                ("follow_up_set", date.map(|d| d.to_string()))
            }
            _ => unreachable!("message_for covers every other action"),
        };
        record.updated_at = now;
        put_record(&mut batch, &record, Some(previous));
        put_event(
            &mut batch,
            &id,
            &EventRecord {
                at: now,
                side: record.side,
                actor: actor.display_name.clone(),
                kind: kind.into(),
                info,
                state_after: record.state,
                message_id: None,
                outgoing: false,
                sealed_detail: None,
            },
        );
        match core.store.commit(batch) {
            Err(crate::store::StoreError::Conflict) => return Err(WorkflowError::Busy),
            other => other?,
        }
        core.store.flush().await?;
        return Ok(record);
    };
    let new_state = transition(record.state, event, record.side)?;
    if let Action::ConfirmHandover { slot, .. } = action {
        let proposed = super::proposal(core, &id)?;
        if !proposed.is_some_and(|p| p.slots.contains(slot)) {
            return Err(WorkflowError::Invalid(
                "confirm one of the proposed time slots".into(),
            ));
        }
    }
    if let Action::ProposeHandover { .. } = action
        && let Some(p) = &detail.proposal
    {
        put_proposal(core, &mut batch, &id, p)?;
    }
    let sealed_detail = if record.erasure == Erasure::None {
        seal_detail(core, &id, &detail)?
    } else {
        None
    };
    record.state = new_state;
    record.updated_at = now;
    let withdrawing = matches!(action, Action::WithdrawConsent);
    if withdrawing {
        record.erasure = Erasure::Requested { at: now };
        erasure::erase_locally(core, &mut batch, &id)?;
    }
    put_record(&mut batch, &record, Some(previous));
    let message_id = MessageId::random();
    put_event(
        &mut batch,
        &id,
        &EventRecord {
            at: now,
            side: record.side,
            actor: actor.display_name.clone(),
            kind: event.name().into(),
            info,
            state_after: new_state,
            message_id: Some(message_id),
            outgoing: true,
            sealed_detail,
        },
    );
    let sent = outbox::send_as(core, message_id, record.peer, Some(id), &payload, batch).await;
    match sent {
        Ok(_) => {}
        Err(SendError::Conflict) => return Err(WorkflowError::Busy),
        Err(e) => return Err(e.into()),
    }
    if withdrawing {
        vault(core).destroy(&id)?;
    }
    Ok(record)
}
