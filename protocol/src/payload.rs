//! Message kinds and their payloads: what travels, encrypted, inside an envelope.
//!
//! The kind is in the envelope's signed header; the payload is encoded with [`crate::codec`]
//! and must decode as the kind the header names. [`Payload::event`] maps a referral message
//! to the state machine event it causes, so sender and receiver apply the same rules.

use serde::{Deserialize, Serialize};

use crate::client::ClientData;
use crate::codec::{self, DecodeError};
use crate::consent::Consent;
use crate::directory::{SignedDirectory, SignedProfile};
use crate::limits;
use crate::referral::{DeclineReason, Event, Outcome};
use crate::{MessageId, Timestamp};

/// The kind of a message, as a byte in the envelope header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum MessageKind {
    /// A new referral with client data and consent.
    Referral = 1,
    /// Accept or decline.
    Response = 2,
    /// Proposed handover slots.
    HandoverProposal = 3,
    /// Confirmation of one slot.
    HandoverConfirmation = 4,
    /// Progress, handover done, or closure.
    StatusUpdate = 5,
    /// A free note.
    Note = 6,
    /// The sender withdraws (or the referral expired unanswered).
    Withdrawal = 7,
    /// The client withdrew consent: erase the data.
    ConsentWithdrawal = 8,
    /// The recipient confirms erasure.
    ErasureReceipt = 9,
    /// Signed confirmation that a message was stored.
    DeliveryReceipt = 10,
    /// A signed directory snapshot.
    DirectorySnapshot = 11,
    /// An agency's signed update of its own profile.
    DirectoryUpdateRequest = 12,
    /// A new agency asks to join, with its invitation secret.
    JoinRequest = 13,
}

impl MessageKind {
    /// All kinds.
    pub const ALL: [MessageKind; 13] = [
        MessageKind::Referral,
        MessageKind::Response,
        MessageKind::HandoverProposal,
        MessageKind::HandoverConfirmation,
        MessageKind::StatusUpdate,
        MessageKind::Note,
        MessageKind::Withdrawal,
        MessageKind::ConsentWithdrawal,
        MessageKind::ErasureReceipt,
        MessageKind::DeliveryReceipt,
        MessageKind::DirectorySnapshot,
        MessageKind::DirectoryUpdateRequest,
        MessageKind::JoinRequest,
    ];

    /// The kind for a header byte, if it is one.
    pub fn from_byte(b: u8) -> Option<MessageKind> {
        MessageKind::ALL.into_iter().find(|k| *k as u8 == b)
    }

    /// True for messages that belong to one referral and carry a sequence number.
    pub fn is_referral_message(self) -> bool {
        (MessageKind::Referral as u8..=MessageKind::ErasureReceipt as u8).contains(&(self as u8))
    }
}

/// A proposed time for the handover meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Slot {
    /// Start time.
    pub starts_at: Timestamp,
    /// Length in minutes.
    pub minutes: u16,
}

/// Where the handover meeting takes place.
///
/// In JSON it is adjacently tagged (`{"mode": "in_person", "detail": "..."}`); in the binary
/// codec it is a plain enum (variant index, then the text), because postcard cannot decode
/// adjacently tagged enums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeetingPlace {
    /// In person, at an address.
    InPerson(String),
    /// By phone.
    Phone,
    /// By video, with a link or instructions.
    Video(String),
}

/// The serde forms of [`MeetingPlace`]: adjacently tagged for people, plain for the codec.
mod meeting_place_serde {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::MeetingPlace;

    #[derive(Serialize, Deserialize)]
    #[serde(rename = "MeetingPlace")]
    enum Binary {
        InPerson(String),
        Phone,
        Video(String),
    }

    #[derive(Serialize, Deserialize)]
    #[serde(
        rename = "MeetingPlace",
        rename_all = "snake_case",
        tag = "mode",
        content = "detail"
    )]
    enum Text {
        InPerson(String),
        Phone,
        Video(String),
    }

    impl Serialize for MeetingPlace {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if s.is_human_readable() {
                match self.clone() {
                    MeetingPlace::InPerson(t) => Text::InPerson(t),
                    MeetingPlace::Phone => Text::Phone,
                    MeetingPlace::Video(t) => Text::Video(t),
                }
                .serialize(s)
            } else {
                match self.clone() {
                    MeetingPlace::InPerson(t) => Binary::InPerson(t),
                    MeetingPlace::Phone => Binary::Phone,
                    MeetingPlace::Video(t) => Binary::Video(t),
                }
                .serialize(s)
            }
        }
    }

    impl<'de> Deserialize<'de> for MeetingPlace {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Ok(if d.is_human_readable() {
                match Text::deserialize(d)? {
                    Text::InPerson(t) => MeetingPlace::InPerson(t),
                    Text::Phone => MeetingPlace::Phone,
                    Text::Video(t) => MeetingPlace::Video(t),
                }
            } else {
                match Binary::deserialize(d)? {
                    Binary::InPerson(t) => MeetingPlace::InPerson(t),
                    Binary::Phone => MeetingPlace::Phone,
                    Binary::Video(t) => MeetingPlace::Video(t),
                }
            })
        }
    }
}

/// Handover slots proposed by one side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HandoverProposal {
    /// One or more possible slots.
    pub slots: Vec<Slot>,
    /// Where.
    pub place: MeetingPlace,
    /// Interpreter language, if one is needed.
    #[serde(default)]
    pub interpreter: Option<String>,
    /// A note.
    #[serde(default)]
    pub note: Option<String>,
}

/// A new referral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralPayload {
    /// The service referred to, if a specific one.
    pub service_id: Option<String>,
    /// The client's data, limited to what the consent allows.
    pub client: ClientData,
    /// The consent record.
    pub consent: Consent,
    /// Proposed handover slots, if any.
    pub handover: Option<HandoverProposal>,
    /// The referring case manager and how to reach them.
    pub sender_contact: String,
}

/// Accept or decline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Taken on.
    Accept,
    /// Declined, with a reason.
    Decline(DeclineReason),
}

/// The recipient's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Accept or decline.
    pub decision: Decision,
    /// A note.
    pub note: Option<String>,
    /// Who at the recipient is responsible now, and how to reach them.
    pub contact: Option<String>,
}

/// The confirmed handover slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoverConfirmation {
    /// The slot chosen from the proposal.
    pub slot: Slot,
    /// A note.
    pub note: Option<String>,
}

/// What a status update reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusChange {
    /// The handover meeting took place.
    HandoverDone,
    /// Progress while working with the client.
    Progress,
    /// The work ended.
    Closed(Outcome),
}

/// A status update ("Rückmeldung").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// What changed.
    pub change: StatusChange,
    /// A note.
    pub note: Option<String>,
}

/// Why a referral is withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawalReason {
    /// The sender withdrew it.
    BySender,
    /// It expired without an answer.
    Expired,
}

/// The sender withdraws a referral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// Why.
    pub reason: WithdrawalReason,
    /// A note.
    pub note: Option<String>,
}

/// The client withdrew consent: the recipient must erase the referral's personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentWithdrawal {
    /// When the client withdrew it.
    pub withdrawn_on: ::time::Date,
}

/// The recipient confirms that it erased the referral's personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureReceipt {
    /// When the data was erased.
    pub erased_at: Timestamp,
}

/// Signed confirmation that a message was stored durably by its recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReceipt {
    /// The message stored.
    pub message_id: MessageId,
    /// When it was stored.
    pub received_at: Timestamp,
}

/// A request to join the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The secret from the invitation token.
    pub secret: [u8; 32],
    /// The new member's signed profile.
    pub profile: SignedProfile,
}

/// A message's content, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// See [`ReferralPayload`].
    Referral(Box<ReferralPayload>),
    /// See [`Response`].
    Response(Response),
    /// See [`HandoverProposal`].
    HandoverProposal(HandoverProposal),
    /// See [`HandoverConfirmation`].
    HandoverConfirmation(HandoverConfirmation),
    /// See [`StatusUpdate`].
    StatusUpdate(StatusUpdate),
    /// A free note.
    Note(String),
    /// See [`Withdrawal`].
    Withdrawal(Withdrawal),
    /// See [`ConsentWithdrawal`].
    ConsentWithdrawal(ConsentWithdrawal),
    /// See [`ErasureReceipt`].
    ErasureReceipt(ErasureReceipt),
    /// See [`DeliveryReceipt`].
    DeliveryReceipt(DeliveryReceipt),
    /// A signed directory.
    DirectorySnapshot(SignedDirectory),
    /// An agency's signed profile update.
    DirectoryUpdateRequest(SignedProfile),
    /// See [`JoinRequest`].
    JoinRequest(JoinRequest),
}

/// A payload breaks a content rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Could not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A text is too long.
    #[error("{field} is longer than {limit} bytes")]
    TextTooLong {
        /// The field.
        field: &'static str,
        /// The limit.
        limit: usize,
    },
    /// Client data is out of bounds.
    #[error(transparent)]
    Client(#[from] crate::client::ClientDataError),
    /// The consent record is out of bounds.
    #[error("consent: {0}")]
    Consent(#[from] crate::consent::ConsentError),
    /// A handover proposal needs between 1 and 10 slots.
    #[error("a handover proposal needs between 1 and 10 time slots")]
    SlotCount,
}

fn check_text(field: &'static str, text: Option<&str>, limit: usize) -> Result<(), PayloadError> {
    match text {
        Some(t) if t.len() > limit => Err(PayloadError::TextTooLong { field, limit }),
        _ => Ok(()),
    }
}

impl HandoverProposal {
    /// Checks slot count and text sizes.
    pub fn validate(&self) -> Result<(), PayloadError> {
        if self.slots.is_empty() || self.slots.len() > 10 {
            return Err(PayloadError::SlotCount);
        }
        let place = match &self.place {
            MeetingPlace::InPerson(p) | MeetingPlace::Video(p) => Some(p.as_str()),
            MeetingPlace::Phone => None,
        };
        check_text("place", place, limits::MAX_SHORT_TEXT_BYTES)?;
        check_text(
            "interpreter",
            self.interpreter.as_deref(),
            limits::MAX_SHORT_TEXT_BYTES,
        )?;
        check_text("note", self.note.as_deref(), limits::MAX_TEXT_BYTES)
    }
}

impl Payload {
    /// The kind this payload travels as.
    pub fn kind(&self) -> MessageKind {
        match self {
            Payload::Referral(_) => MessageKind::Referral,
            Payload::Response(_) => MessageKind::Response,
            Payload::HandoverProposal(_) => MessageKind::HandoverProposal,
            Payload::HandoverConfirmation(_) => MessageKind::HandoverConfirmation,
            Payload::StatusUpdate(_) => MessageKind::StatusUpdate,
            Payload::Note(_) => MessageKind::Note,
            Payload::Withdrawal(_) => MessageKind::Withdrawal,
            Payload::ConsentWithdrawal(_) => MessageKind::ConsentWithdrawal,
            Payload::ErasureReceipt(_) => MessageKind::ErasureReceipt,
            Payload::DeliveryReceipt(_) => MessageKind::DeliveryReceipt,
            Payload::DirectorySnapshot(_) => MessageKind::DirectorySnapshot,
            Payload::DirectoryUpdateRequest(_) => MessageKind::DirectoryUpdateRequest,
            Payload::JoinRequest(_) => MessageKind::JoinRequest,
        }
    }

    /// Encodes the payload (without its kind, which the header carries).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Payload::Referral(p) => codec::encode(p),
            Payload::Response(p) => codec::encode(p),
            Payload::HandoverProposal(p) => codec::encode(p),
            Payload::HandoverConfirmation(p) => codec::encode(p),
            Payload::StatusUpdate(p) => codec::encode(p),
            Payload::Note(p) => codec::encode(p),
            Payload::Withdrawal(p) => codec::encode(p),
            Payload::ConsentWithdrawal(p) => codec::encode(p),
            Payload::ErasureReceipt(p) => codec::encode(p),
            Payload::DeliveryReceipt(p) => codec::encode(p),
            Payload::DirectorySnapshot(p) => codec::encode(p),
            Payload::DirectoryUpdateRequest(p) => codec::encode(p),
            Payload::JoinRequest(p) => codec::encode(p),
        }
    }

    /// Decodes a payload of `kind` and checks its content bounds.
    pub fn decode(kind: MessageKind, bytes: &[u8]) -> Result<Payload, PayloadError> {
        const W: &str = "payload";
        let max = limits::MAX_PAYLOAD_BYTES;
        let p = match kind {
            MessageKind::Referral => Payload::Referral(Box::new(codec::decode(W, bytes, max)?)),
            MessageKind::Response => Payload::Response(codec::decode(W, bytes, max)?),
            MessageKind::HandoverProposal => {
                Payload::HandoverProposal(codec::decode(W, bytes, max)?)
            }
            MessageKind::HandoverConfirmation => {
                Payload::HandoverConfirmation(codec::decode(W, bytes, max)?)
            }
            MessageKind::StatusUpdate => Payload::StatusUpdate(codec::decode(W, bytes, max)?),
            MessageKind::Note => Payload::Note(codec::decode(W, bytes, max)?),
            MessageKind::Withdrawal => Payload::Withdrawal(codec::decode(W, bytes, max)?),
            MessageKind::ConsentWithdrawal => {
                Payload::ConsentWithdrawal(codec::decode(W, bytes, max)?)
            }
            MessageKind::ErasureReceipt => Payload::ErasureReceipt(codec::decode(W, bytes, max)?),
            MessageKind::DeliveryReceipt => Payload::DeliveryReceipt(codec::decode(W, bytes, max)?),
            MessageKind::DirectorySnapshot => {
                Payload::DirectorySnapshot(codec::decode(W, bytes, max)?)
            }
            MessageKind::DirectoryUpdateRequest => {
                Payload::DirectoryUpdateRequest(codec::decode(W, bytes, max)?)
            }
            MessageKind::JoinRequest => Payload::JoinRequest(codec::decode(W, bytes, max)?),
        };
        p.validate()?;
        Ok(p)
    }

    /// Checks the content bounds (text lengths, attachment sizes, slot counts).
    pub fn validate(&self) -> Result<(), PayloadError> {
        let long = limits::MAX_TEXT_BYTES;
        let short = limits::MAX_SHORT_TEXT_BYTES;
        match self {
            Payload::Referral(r) => {
                r.client.validate()?;
                r.consent.check_bounds()?;
                if let Some(h) = &r.handover {
                    h.validate()?;
                }
                check_text("service_id", r.service_id.as_deref(), short)?;
                check_text("sender_contact", Some(&r.sender_contact), short)
            }
            Payload::Response(r) => {
                check_text("note", r.note.as_deref(), long)?;
                check_text("contact", r.contact.as_deref(), short)
            }
            Payload::HandoverProposal(h) => h.validate(),
            Payload::HandoverConfirmation(c) => check_text("note", c.note.as_deref(), long),
            Payload::StatusUpdate(s) => check_text("note", s.note.as_deref(), long),
            Payload::Note(t) => check_text("note", Some(t), long),
            Payload::Withdrawal(w) => check_text("note", w.note.as_deref(), long),
            Payload::ConsentWithdrawal(_)
            | Payload::ErasureReceipt(_)
            | Payload::DeliveryReceipt(_)
            | Payload::DirectorySnapshot(_)
            | Payload::DirectoryUpdateRequest(_)
            | Payload::JoinRequest(_) => Ok(()),
        }
    }

    /// The state machine event this message causes, for referral messages.
    pub fn event(&self) -> Option<Event> {
        Some(match self {
            Payload::Referral(_) => Event::Delivered,
            Payload::Response(r) => match r.decision {
                Decision::Accept => Event::Accept {
                    sender_proposed_handover: false,
                },
                Decision::Decline(reason) => Event::Decline(reason),
            },
            Payload::HandoverProposal(_) => Event::ProposeHandover,
            Payload::HandoverConfirmation(_) => Event::ConfirmHandover,
            Payload::StatusUpdate(s) => match s.change {
                StatusChange::HandoverDone => Event::HandoverDone,
                StatusChange::Progress => Event::StatusUpdate,
                StatusChange::Closed(o) => Event::Close(o),
            },
            Payload::Note(_) => Event::Note,
            Payload::Withdrawal(w) => match w.reason {
                WithdrawalReason::BySender => Event::Withdraw,
                WithdrawalReason::Expired => Event::Expire,
            },
            Payload::ConsentWithdrawal(_) => Event::WithdrawConsent,
            _ => return None,
        })
    }
}
