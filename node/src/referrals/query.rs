//! Reading referrals: lists for the inbox and outbox, the detail view with its timeline
//! (each message with its delivery state), and due follow-ups. Access rules apply to every
//! read; reads of case content are audited by the caller.

use lotse_protocol::client::FieldOfAction;
use lotse_protocol::payload::{HandoverProposal, ReferralPayload, Slot};
use lotse_protocol::referral::{ReferralState, Side};
use lotse_protocol::{ReferralId, Timestamp};
use serde::{Deserialize, Serialize};

use super::access::{Access, Actor, access};
use super::actions::allowed_actions;
use super::{Erasure, EventDetail, ReferralRecord, WorkflowError, case, events, load, vault};
use crate::core::Core;
use crate::outbox::{self, DeliveryState};
use crate::store::{Space, from_json};

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum Mailbox {
    /// Referrals received.
    Inbox,
    /// Referrals sent.
    Outbox,
}

/// Filters for a list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// Inbox or outbox (both if none).
    #[serde(rename = "box", default)]
    pub mailbox: Option<Mailbox>,
    /// Status name (`sent`, `accepted`, ...).
    #[serde(default)]
    pub status: Option<String>,
    /// Field of action.
    #[serde(default)]
    pub field: Option<FieldOfAction>,
    /// Created on or after.
    #[serde(default)]
    pub from: Option<::time::Date>,
    /// Created on or before.
    #[serde(default)]
    pub to: Option<::time::Date>,
}

/// A referral in a list: no personal data.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Summary {
    /// The record.
    #[serde(flatten)]
    pub record: ReferralRecord,
    /// Status name.
    pub status: String,
    /// True if it waits in the agency inbox for someone to take it.
    pub unassigned: bool,
}

/// Delivery state of one message in the timeline.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// `queued`, `delivered`, `expired`, or `received` for incoming messages.
    pub state: String,
    /// When delivered or expired.
    pub at: Option<Timestamp>,
    /// The last delivery error while queued.
    pub last_error: Option<String>,
}

/// A timeline entry with its readable detail.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    /// When.
    pub at: Timestamp,
    /// Which side.
    pub side: Side,
    /// Who.
    pub actor: String,
    /// What.
    pub kind: String,
    /// Non-personal detail.
    pub info: Option<String>,
    /// Status afterwards.
    pub state_after: ReferralState,
    /// Note, if any (erased after consent withdrawal).
    pub note: Option<String>,
    /// Proposed handover, if any.
    pub proposal: Option<HandoverProposal>,
    /// Confirmed slot, if any.
    pub slot: Option<Slot>,
    /// Contact person, if any.
    pub contact: Option<String>,
    /// The message's delivery.
    pub delivery: Option<Delivery>,
}

/// The full view of one referral.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Detail {
    /// Summary.
    #[serde(flatten)]
    pub summary: Summary,
    /// The case file: client data, consent, initial handover proposal (absent after
    /// erasure).
    pub case: Option<ReferralPayload>,
    /// The latest handover proposal.
    pub current_proposal: Option<HandoverProposal>,
    /// The timeline, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// What the caller can do now.
    pub allowed_actions: Vec<String>,
}

fn summary(record: ReferralRecord) -> Summary {
    Summary {
        status: record.state.name().to_string(),
        unassigned: record.side == Side::Receiver && record.owner.is_none(),
        record,
    }
}

/// Lists what `actor` may see, newest first.
pub fn list(core: &Core, actor: &Actor, filter: &Filter) -> Result<Vec<Summary>, WorkflowError> {
    if !actor.works_cases() {
        return Err(WorkflowError::Forbidden(
            "case lists are for case managers and team leads".into(),
        ));
    }
    let mut out = Vec::new();
    for (_, value) in core.store.scan(Space::Referrals, b"", usize::MAX)? {
        let record: ReferralRecord = from_json(Space::Referrals, &value)?;
        if access(actor, &record) == Access::None {
            continue;
        }
        let mailbox = match record.side {
            Side::Sender => Mailbox::Outbox,
            Side::Receiver => Mailbox::Inbox,
        };
        if filter.mailbox.is_some_and(|m| m != mailbox)
            || filter
                .status
                .as_deref()
                .is_some_and(|s| s != record.state.name())
            || filter.field.is_some_and(|f| !record.fields.contains(&f))
            || filter.from.is_some_and(|d| record.created_at.date() < d)
            || filter.to.is_some_and(|d| record.created_at.date() > d)
        {
            continue;
        }
        out.push(summary(record));
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.record.updated_at));
    Ok(out)
}

/// The detail of one referral, with case content if the actor has full access.
pub fn detail(core: &Core, actor: &Actor, id: &ReferralId) -> Result<Detail, WorkflowError> {
    if !actor.works_cases() {
        return Err(WorkflowError::Forbidden(
            "case content is for case managers and team leads; admins manage the node only".into(),
        ));
    }
    let (record, _) = load(core, id)?.ok_or(WorkflowError::NotFound)?;
    let level = access(actor, &record);
    if level == Access::None {
        return Err(WorkflowError::NotFound);
    }
    let full = level == Access::Full;
    let erased = record.erasure != Erasure::None;
    let case_file = if full && !erased {
        match case(core, id) {
            Ok(c) => Some(c),
            Err(WorkflowError::Erased) => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let current_proposal = if full && !erased {
        super::proposal(core, id).unwrap_or(None)
    } else {
        None
    };
    let vault = vault(core);
    let mut timeline = Vec::new();
    for e in events(core, id)? {
        let detail: EventDetail = match (&e.sealed_detail, full) {
            (Some(sealed), true) => vault
                .open(id, sealed)
                .ok()
                .and_then(|plain| serde_json::from_slice(&plain).ok())
                .unwrap_or_default(),
            _ => EventDetail::default(),
        };
        let delivery = match (e.message_id, e.outgoing) {
            (Some(m), true) => outbox::get(core, &m)?.map(|r| match r.state {
                DeliveryState::Queued { last_error, .. } => Delivery {
                    state: "queued".into(),
                    at: None,
                    last_error,
                },
                DeliveryState::Delivered { at, .. } => Delivery {
                    state: "delivered".into(),
                    at: Some(at),
                    last_error: None,
                },
                DeliveryState::Expired { at, last_error } => Delivery {
                    state: "expired".into(),
                    at: Some(at),
                    last_error,
                },
            }),
            (Some(_), false) => Some(Delivery {
                state: "received".into(),
                at: Some(e.at),
                last_error: None,
            }),
            (None, _) => None,
        };
        timeline.push(TimelineEntry {
            at: e.at,
            side: e.side,
            actor: e.actor,
            kind: e.kind,
            info: e.info,
            state_after: e.state_after,
            note: detail.note,
            proposal: detail.proposal,
            slot: detail.slot,
            contact: detail.contact,
            delivery,
        });
    }
    let allowed = allowed_actions(actor, &record)
        .into_iter()
        .map(String::from)
        .collect();
    Ok(Detail {
        summary: summary(record),
        case: case_file,
        current_proposal,
        timeline,
        allowed_actions: allowed,
    })
}

/// Referrals of `actor` whose follow-up date is today or earlier.
pub fn due(core: &Core, actor: &Actor) -> Result<Vec<Summary>, WorkflowError> {
    let today = core.clock.now().date();
    Ok(list(core, actor, &Filter::default())?
        .into_iter()
        .filter(|s| {
            access(actor, &s.record) == Access::Full
                && s.record.follow_up.is_some_and(|d| d <= today)
                && !s.record.state.is_terminal()
        })
        .collect())
}

/// The shortest name a disclosure search accepts.
pub const MIN_NAME: usize = 2;

/// One referral in the answer to a client's question "what was shared with whom"
/// (DOMAIN.md): which agency, when, which data categories, on which consent.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Disclosure {
    /// The referral.
    pub referral_id: ReferralId,
    /// Sent by this agency, or received from the other.
    pub side: Side,
    /// The other agency.
    pub peer_name: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// Status name.
    pub status: String,
    /// The purpose the client consented to.
    pub purpose: String,
    /// The data categories the consent allowed to pass.
    pub categories: Vec<lotse_protocol::client::DataCategory>,
    /// Written or verbal consent.
    pub consent_form: lotse_protocol::consent::ConsentForm,
    /// When consent was given.
    pub given_on: ::time::Date,
    /// Until when it is valid.
    pub valid_until: ::time::Date,
}

/// Lower-case words, for comparing names.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_lowercase).collect()
}

/// The referrals about a client that `actor` may read in full, found by name (every word
/// of `name` must be a word of the client's name) and, if given, date of birth; newest
/// first. A referral whose data was erased holds no name any more and is not found. The
/// search reads case files, so it is audited here (`client.disclosure`, without the name).
pub async fn disclosure(
    core: &Core,
    actor: &Actor,
    name: &str,
    born: Option<::time::Date>,
) -> Result<Vec<Disclosure>, WorkflowError> {
    let found = find_client(core, actor, name, born)?;
    let detail = format!(
        "what was shared about a client: {} referrals found",
        found.len()
    );
    crate::audit::record(core, &actor.username, "client.disclosure", None, &detail).await?;
    Ok(found)
}

fn find_client(
    core: &Core,
    actor: &Actor,
    name: &str,
    born: Option<::time::Date>,
) -> Result<Vec<Disclosure>, WorkflowError> {
    if !actor.works_cases() {
        return Err(WorkflowError::Forbidden(
            "a client's referrals are for case managers and team leads".into(),
        ));
    }
    let wanted = words(name);
    if name.trim().chars().count() < MIN_NAME {
        return Err(WorkflowError::Invalid(format!(
            "give the client's name (at least {MIN_NAME} characters)"
        )));
    }
    let mut found = Vec::new();
    for (_, value) in core.store.scan(Space::Referrals, b"", usize::MAX)? {
        let record: ReferralRecord = from_json(Space::Referrals, &value)?;
        if access(actor, &record) != Access::Full || record.erasure != Erasure::None {
            continue;
        }
        let file = match case(core, &record.id) {
            Ok(file) => file,
            Err(WorkflowError::Erased) => continue,
            Err(e) => return Err(e),
        };
        let have = words(file.client.name.as_deref().unwrap_or_default());
        if !wanted.iter().all(|w| have.contains(w))
            || born.is_some_and(|b| file.client.date_of_birth != Some(b))
        {
            continue;
        }
        let consent = file.consent;
        found.push(Disclosure {
            referral_id: record.id,
            side: record.side,
            peer_name: record.peer_name.clone(),
            created_at: record.created_at,
            status: record.state.name().into(),
            purpose: consent.purpose,
            categories: consent.categories.into_iter().collect(),
            consent_form: consent.form,
            given_on: consent.given_on,
            valid_until: consent.valid_until,
        });
    }
    found.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    Ok(found)
}
