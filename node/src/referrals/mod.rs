//! The referral workflow on one node: records, case data, timelines, and the rules of who
//! may see and do what.
//!
//! Both ends of a referral keep a [`ReferralRecord`] (metadata and status, no personal
//! data) and, while consent stands, the case data encrypted under the referral's own key
//! ([`vault`]). Every status change goes through the protocol's state machine, on the side
//! that acts ([`actions`]) and on the side that receives the message ([`incoming`]), so both
//! reach the same status. Withdrawal of consent erases the case data at both ends and the
//! recipient returns a signed erasure receipt ([`erasure`]). Unanswered referrals expire
//! ([`deadlines`]).

pub mod access;
pub mod actions;
pub mod deadlines;
pub mod erasure;
pub mod incoming;
pub mod query;
pub mod vault;

use lotse_protocol::client::FieldOfAction;
use lotse_protocol::payload::ReferralPayload;
use lotse_protocol::referral::{ReferralState, Side};
use lotse_protocol::{MessageId, NodeId, ReferralId, Timestamp, codec, limits};
use serde::{Deserialize, Serialize};

use crate::core::Core;
use crate::store::{Batch, Space, StoreError, from_json, to_json};

pub use actions::{Action, NewReferral};
pub use incoming::Workflow;

/// Where the erasure of a referral's personal data stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
#[derive(utoipa::ToSchema)]
pub enum Erasure {
    /// Consent stands; data is kept.
    None,
    /// Sender: consent withdrawn, erasure requested from the recipient.
    Requested {
        /// When.
        at: Timestamp,
    },
    /// Recipient: data erased, receipt sent.
    Erased {
        /// When.
        at: Timestamp,
    },
    /// Sender: the recipient's signed erasure receipt arrived.
    Confirmed {
        /// When the recipient erased.
        at: Timestamp,
    },
}

/// A referral as one node keeps it: metadata and status only, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReferralRecord {
    /// Referral id (the same on both nodes).
    pub id: ReferralId,
    /// Our side.
    pub side: Side,
    /// The other agency.
    pub peer: NodeId,
    /// Its name at the time.
    pub peer_name: String,
    /// The service referred to.
    pub service_id: Option<String>,
    /// Fields of action of the needs.
    pub fields: Vec<FieldOfAction>,
    /// Current status.
    pub state: ReferralState,
    /// Created (sender) or received (recipient).
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Who created it (sender side).
    pub created_by: Option<String>,
    /// The responsible user on this node; `None` on the recipient side means it waits in
    /// the agency inbox.
    pub owner: Option<String>,
    /// Follow-up date ("Wiedervorlage").
    pub follow_up: Option<::time::Date>,
    /// Sender: the answer is due by then, or the referral expires.
    pub answer_due: Option<Timestamp>,
    /// The referral carried a handover proposal from the sender.
    pub sender_proposed_handover: bool,
    /// The consent's last valid day.
    pub consent_valid_until: Option<::time::Date>,
    /// Erasure status.
    pub erasure: Erasure,
}

/// One entry of a referral's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// When.
    pub at: Timestamp,
    /// Which side acted.
    pub side: Side,
    /// Who: a user's name on our side, the agency's name on the other.
    pub actor: String,
    /// What (an event name like `accept`, or `received`, `assigned`, `erased`).
    pub kind: String,
    /// Non-personal detail: a decline reason, an outcome, an assignee.
    pub info: Option<String>,
    /// The status after the event.
    pub state_after: ReferralState,
    /// The message that carried it, if any.
    pub message_id: Option<MessageId>,
    /// True if we sent that message.
    pub outgoing: bool,
    /// Case content (notes, slots), encrypted under the referral's key.
    pub sealed_detail: Option<Vec<u8>>,
}

/// Case content of an event, kept encrypted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDetail {
    /// A note.
    #[serde(default)]
    pub note: Option<String>,
    /// Proposed handover.
    #[serde(default)]
    pub proposal: Option<lotse_protocol::payload::HandoverProposal>,
    /// Confirmed slot.
    #[serde(default)]
    pub slot: Option<lotse_protocol::payload::Slot>,
    /// Contact person.
    #[serde(default)]
    pub contact: Option<String>,
}

/// A workflow failure, each mapped to a clear HTTP status by the API.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// No such referral (or not visible to this user).
    #[error("no referral with this id is visible to you")]
    NotFound,
    /// Not allowed for this user.
    #[error("{0}")]
    Forbidden(String),
    /// No consent record.
    #[error(
        "a referral needs the client's consent: record it (purpose, data categories, form, dates) before sending"
    )]
    NoConsent,
    /// Consent does not allow it.
    #[error("the consent does not allow this referral: {0}")]
    Consent(#[from] lotse_protocol::consent::ConsentError),
    /// Client data out of bounds.
    #[error("{0}")]
    ClientData(#[from] lotse_protocol::client::ClientDataError),
    /// Invalid input.
    #[error("{0}")]
    Invalid(String),
    /// The state machine refuses.
    #[error("{0}")]
    Transition(#[from] lotse_protocol::referral::TransitionError),
    /// The case data was erased.
    #[error("the case data was erased after consent was withdrawn")]
    Erased,
    /// Sending failed.
    #[error(transparent)]
    Send(#[from] crate::outbox::SendError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Case key storage.
    #[error(transparent)]
    Vault(#[from] vault::VaultError),
    /// Someone else changed the referral at the same moment.
    #[error("the referral was changed at the same moment; reload and try again")]
    Busy,
}

/// The node's vault of case keys.
pub fn vault(core: &Core) -> &vault::Vault {
    &core.vault
}

/// Reads a record.
pub fn load(core: &Core, id: &ReferralId) -> Result<Option<(ReferralRecord, Vec<u8>)>, StoreError> {
    match core.store.get(Space::Referrals, id.as_bytes())? {
        Some(bytes) => Ok(Some((from_json(Space::Referrals, &bytes)?, bytes))),
        None => Ok(None),
    }
}

/// Adds the writes of a changed record, guarded by its previous bytes.
pub(crate) fn put_record(batch: &mut Batch, record: &ReferralRecord, previous: Option<Vec<u8>>) {
    let key = record.id.0.to_vec();
    batch.guard(
        Space::Referrals,
        key.clone(),
        match previous {
            Some(p) => crate::store::Expect::Value(p),
            None => crate::store::Expect::Absent,
        },
    );
    batch.put(Space::Referrals, key, to_json(record));
}

/// Adds a timeline event.
pub(crate) fn put_event(batch: &mut Batch, id: &ReferralId, event: &EventRecord) {
    let mut key = id.0.to_vec();
    key.extend_from_slice(&event.at.millis().to_be_bytes());
    key.extend_from_slice(&rand::random::<[u8; 8]>());
    batch.put(Space::Events, key, to_json(event));
}

/// Seals event detail under the referral key (None if there is nothing to seal).
pub(crate) fn seal_detail(
    core: &Core,
    id: &ReferralId,
    detail: &EventDetail,
) -> Result<Option<Vec<u8>>, vault::VaultError> {
    if *detail == EventDetail::default() {
        return Ok(None);
    }
    vault(core).seal(id, &to_json(detail)).map(Some)
}

const PROPOSAL_SUFFIX: &[u8] = b"/proposal";

/// Stores the case file (the referral payload), encrypted.
pub(crate) fn put_case(
    core: &Core,
    batch: &mut Batch,
    id: &ReferralId,
    payload: &ReferralPayload,
) -> Result<(), vault::VaultError> {
    let sealed = vault(core).seal(id, &codec::encode(payload))?;
    batch.put(Space::CaseData, id.0.to_vec(), sealed);
    Ok(())
}

/// Reads the case file.
pub fn case(core: &Core, id: &ReferralId) -> Result<ReferralPayload, WorkflowError> {
    let sealed = core
        .store
        .get(Space::CaseData, id.as_bytes())?
        .ok_or(WorkflowError::Erased)?;
    let plain = vault(core).open(id, &sealed).map_err(|e| match e {
        vault::VaultError::Erased => WorkflowError::Erased,
        e => WorkflowError::Vault(e),
    })?;
    codec::decode("case file", &plain, limits::MAX_PAYLOAD_BYTES)
        .map_err(|e| WorkflowError::Invalid(e.to_string()))
}

/// Stores the latest handover proposal, encrypted.
pub(crate) fn put_proposal(
    core: &Core,
    batch: &mut Batch,
    id: &ReferralId,
    proposal: &lotse_protocol::payload::HandoverProposal,
) -> Result<(), vault::VaultError> {
    let mut key = id.0.to_vec();
    key.extend_from_slice(PROPOSAL_SUFFIX);
    batch.put(
        Space::CaseData,
        key,
        vault(core).seal(id, &to_json(proposal))?,
    );
    Ok(())
}

/// The latest handover proposal.
pub fn proposal(
    core: &Core,
    id: &ReferralId,
) -> Result<Option<lotse_protocol::payload::HandoverProposal>, WorkflowError> {
    let mut key = id.0.to_vec();
    key.extend_from_slice(PROPOSAL_SUFFIX);
    let Some(sealed) = core.store.get(Space::CaseData, &key)? else {
        return Ok(None);
    };
    let plain = vault(core)
        .open(id, &sealed)
        .map_err(|_| WorkflowError::Erased)?;
    Ok(Some(from_json(Space::CaseData, &plain)?))
}

/// The timeline of a referral, oldest first.
pub fn events(core: &Core, id: &ReferralId) -> Result<Vec<EventRecord>, StoreError> {
    core.store
        .scan(Space::Events, id.as_bytes(), usize::MAX)?
        .iter()
        .map(|(_, v)| from_json(Space::Events, v))
        .collect()
}

/// The peer agency's current name.
pub(crate) fn peer_name(core: &Core, node: &NodeId) -> String {
    core.directory
        .member(node)
        .map(|m| m.member.name)
        .unwrap_or_else(|| format!("Unbekannte Stelle {}", node.fingerprint()))
}
