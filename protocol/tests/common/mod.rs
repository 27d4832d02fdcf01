//! Shared fixtures for the integration tests: fixed keys and one sample value of every
//! payload kind, profile, directory and invitation.
//!
//! Everything here is deterministic. The test vectors in `vectors.rs` are the encodings of
//! exactly these values, so changing a value here means regenerating the vectors (see the
//! comment at the top of `vectors.rs`).

// Each test crate uses a different part of these fixtures.
#![allow(dead_code)]

use std::collections::BTreeSet;

use ::time::macros::date;
use lotse_protocol::client::{Attachment, ClientData, DataCategory, FieldOfAction, Need};
use lotse_protocol::consent::{Consent, ConsentForm};
use lotse_protocol::directory::{
    AgencyKind, AgencyProfile, Capacity, DirectoryContent, Member, Service, SignedDirectory,
    SignedProfile,
};
use lotse_protocol::invitation::Invitation;
use lotse_protocol::payload::{
    ConsentWithdrawal, Decision, DeliveryReceipt, ErasureReceipt, HandoverConfirmation,
    HandoverProposal, JoinRequest, MeetingPlace, Payload, ReferralPayload, Response, Slot,
    StatusChange, StatusUpdate, Withdrawal, WithdrawalReason,
};
use lotse_protocol::referral::{DeclineReason, Outcome};
use lotse_protocol::{
    AuthorityKey, EncryptionIdentity, MessageId, NodeId, NodeKey, ReferralId, Timestamp,
};

/// The referring agency's node key (an MBE).
pub(crate) const SENDER_SECRET: [u8; 32] = [1; 32];
/// The receiving agency's node key (a JMD).
pub(crate) const RECIPIENT_SECRET: [u8; 32] = [2; 32];
/// The directory authority key.
pub(crate) const AUTHORITY_SECRET: [u8; 32] = [5; 32];
/// The KI's directory node key.
pub(crate) const KI_SECRET: [u8; 32] = [6; 32];
/// A revoked node's key.
pub(crate) const REVOKED_SECRET: [u8; 32] = [8; 32];

/// The sender's age identity: the X25519 secret `[3; 32]` in age's Bech32 text form.
pub(crate) const SENDER_AGE: &str =
    "AGE-SECRET-KEY-1QVPSXQCRQVPSXQCRQVPSXQCRQVPSXQCRQVPSXQCRQVPSXQCRQVPS2PGGME";
/// The recipient's age identity: the X25519 secret `[4; 32]`.
pub(crate) const RECIPIENT_AGE: &str =
    "AGE-SECRET-KEY-1QSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQMDXKL7";
/// The KI node's age identity: the X25519 secret `[7; 32]`.
pub(crate) const KI_AGE: &str =
    "AGE-SECRET-KEY-1QURSWPC8QURSWPC8QURSWPC8QURSWPC8QURSWPC8QURSWPC8QURSKMP32K";

/// 2026-01-15T09:00:00Z.
pub(crate) const T0: Timestamp = Timestamp(1_768_467_600_000);

pub(crate) fn sender() -> NodeKey {
    NodeKey::from_secret_bytes(SENDER_SECRET)
}

pub(crate) fn recipient() -> NodeKey {
    NodeKey::from_secret_bytes(RECIPIENT_SECRET)
}

pub(crate) fn authority() -> AuthorityKey {
    AuthorityKey::from_secret_bytes(AUTHORITY_SECRET)
}

pub(crate) fn ki() -> NodeKey {
    NodeKey::from_secret_bytes(KI_SECRET)
}

pub(crate) fn revoked() -> NodeId {
    NodeKey::from_secret_bytes(REVOKED_SECRET).public()
}

pub(crate) fn age(text: &str) -> EncryptionIdentity {
    EncryptionIdentity::from_secret_text(text).unwrap()
}

/// The sample referral's id.
pub(crate) const REFERRAL_ID: ReferralId = ReferralId([0x52; 16]);
/// The message id used for the sample envelopes.
pub(crate) const MESSAGE_ID: MessageId = MessageId([0x4d; 16]);

fn attachment(name: &str, content: &[u8]) -> Attachment {
    Attachment {
        file_name: name.into(),
        media_type: "application/pdf".into(),
        content: content.to_vec(),
    }
}

/// Client data that uses every category.
pub(crate) fn client_data() -> ClientData {
    ClientData {
        name: Some("Amina Yusuf".into()),
        date_of_birth: Some(date!(1998 - 04 - 17)),
        contact: Some("0151 2345678".into()),
        languages: vec!["ar".into(), "de".into()],
        residence_status: Some("Aufenthaltserlaubnis § 25 Abs. 2 AufenthG".into()),
        household: Some("alleinerziehend, zwei Kinder (4 und 7)".into()),
        needs: vec![
            Need {
                field: FieldOfAction::Housing,
                description: "sucht eine Dreizimmerwohnung".into(),
            },
            Need {
                field: FieldOfAction::Language,
                description: "B1-Kurs mit Kinderbetreuung".into(),
            },
        ],
        summary: Some("Erstgespräch am 12.01.; Wohnungssuche ist dringend.".into()),
        attachments: vec![attachment("mietangebot.pdf", b"%PDF-1.4 test")],
    }
}

/// A written consent covering every category, for the sample recipient.
pub(crate) fn consent() -> Consent {
    Consent {
        recipient: recipient().public(),
        purpose: "Unterstützung bei der Wohnungssuche und Sprachkurs".into(),
        categories: DataCategory::ALL.into_iter().collect::<BTreeSet<_>>(),
        form: ConsentForm::Written,
        given_on: date!(2026 - 01 - 12),
        valid_until: date!(2026 - 12 - 31),
        recorded_by: "A. Berater".into(),
        scanned_form: Some(attachment("einwilligung.pdf", b"%PDF-1.4 signed")),
    }
}

pub(crate) fn slot(offset_days: u64) -> Slot {
    Slot {
        starts_at: T0.plus_millis(offset_days * 86_400_000),
        minutes: 45,
    }
}

pub(crate) fn referral_payload() -> ReferralPayload {
    ReferralPayload {
        service_id: Some("wohnungssuche".into()),
        client: client_data(),
        consent: consent(),
        handover: Some(HandoverProposal {
            slots: vec![slot(3), slot(4)],
            place: MeetingPlace::InPerson("Marktplatz 1, Musterstadt".into()),
            interpreter: Some("ar".into()),
            note: Some("gemeinsames Erstgespräch".into()),
        }),
        sender_contact: "A. Berater, MBE Musterstadt, 0221 12345".into(),
    }
}

/// The sender's services.
pub(crate) fn service() -> Service {
    Service {
        id: "wohnungssuche".into(),
        name: "Wohnungssuche".into(),
        description: "Beratung und Begleitung bei der Suche nach Wohnraum".into(),
        fields: vec![FieldOfAction::Housing, FieldOfAction::Livelihood],
        target_group: "Erwachsene mit Migrationsgeschichte".into(),
        age_min: Some(27),
        age_max: None,
        languages: vec!["de".into(), "ar".into(), "en".into()],
        area: "Musterstadt".into(),
        contact: "wohnen@mbe.example.org".into(),
        opening_hours: "Mo-Do 9-16 Uhr".into(),
        capacity: Capacity::WaitingList,
    }
}

pub(crate) fn sender_profile() -> AgencyProfile {
    AgencyProfile {
        node_id: sender().public(),
        encryption: age(SENDER_AGE).recipient(),
        addresses: vec!["mbe.example.org:4433".into()],
        services: vec![service()],
        updated_at: T0,
    }
}

pub(crate) fn recipient_profile() -> AgencyProfile {
    AgencyProfile {
        node_id: recipient().public(),
        encryption: age(RECIPIENT_AGE).recipient(),
        addresses: vec!["jmd.example.org:4433".into(), "192.0.2.7:4433".into()],
        services: vec![],
        updated_at: T0,
    }
}

pub(crate) fn signed_sender_profile() -> SignedProfile {
    sender_profile().sign(&sender())
}

pub(crate) fn directory_content() -> DirectoryContent {
    DirectoryContent {
        authority: authority().public(),
        serial: 7,
        issued_at: T0,
        members: vec![
            Member {
                node_id: sender().public(),
                name: "MBE Musterstadt".into(),
                kind: AgencyKind::Mbe,
                admitted_at: Timestamp(1_767_225_600_000),
                profile: signed_sender_profile(),
            },
            Member {
                node_id: recipient().public(),
                name: "JMD Musterstadt".into(),
                kind: AgencyKind::Jmd,
                admitted_at: Timestamp(1_767_312_000_000),
                profile: recipient_profile().sign(&recipient()),
            },
        ],
        revoked: vec![revoked()],
    }
}

pub(crate) fn signed_directory() -> SignedDirectory {
    directory_content().sign(&authority())
}

pub(crate) fn invitation() -> Invitation {
    Invitation {
        agency_name: "JMD Musterstadt".into(),
        agency_kind: AgencyKind::Jmd,
        ki_addresses: vec!["ki.example.org:4433".into()],
        ki_node: ki().public(),
        ki_encryption: age(KI_AGE).recipient(),
        authority: authority().public(),
        secret: [9; 32],
        expires_at: T0.plus_millis(14 * 86_400_000),
    }
}

/// One sample of every payload kind, and of every variant of the enums inside them.
/// The names are the vector file names (`payload_<name>.hex`).
pub(crate) fn sample_payloads() -> Vec<(&'static str, Payload)> {
    vec![
        ("referral", Payload::Referral(Box::new(referral_payload()))),
        (
            "referral_minimal",
            Payload::Referral(Box::new(ReferralPayload {
                service_id: None,
                client: ClientData::default(),
                consent: Consent {
                    categories: BTreeSet::new(),
                    form: ConsentForm::Verbal,
                    scanned_form: None,
                    ..consent()
                },
                handover: None,
                sender_contact: "A. Berater".into(),
            })),
        ),
        (
            "response_accept",
            Payload::Response(Response {
                decision: Decision::Accept,
                note: None,
                contact: Some("B. Beraterin, JMD, 0221 54321".into()),
            }),
        ),
        (
            "response_decline",
            Payload::Response(Response {
                decision: Decision::Decline(DeclineReason::NoCapacity),
                note: Some("Warteliste bis März".into()),
                contact: None,
            }),
        ),
        (
            "handover_proposal_phone",
            Payload::HandoverProposal(HandoverProposal {
                slots: vec![slot(5)],
                place: MeetingPlace::Phone,
                interpreter: None,
                note: None,
            }),
        ),
        (
            "handover_proposal_video",
            Payload::HandoverProposal(HandoverProposal {
                slots: vec![slot(6), slot(7), slot(8)],
                place: MeetingPlace::Video("https://video.example.org/r/abc".into()),
                interpreter: Some("fa".into()),
                note: Some("Link gilt 24 Stunden".into()),
            }),
        ),
        (
            "handover_confirmation",
            Payload::HandoverConfirmation(HandoverConfirmation {
                slot: slot(4),
                note: Some("passt".into()),
            }),
        ),
        (
            "status_handover_done",
            Payload::StatusUpdate(StatusUpdate {
                change: StatusChange::HandoverDone,
                note: None,
            }),
        ),
        (
            "status_progress",
            Payload::StatusUpdate(StatusUpdate {
                change: StatusChange::Progress,
                note: Some("Wohnungsbesichtigung am Freitag".into()),
            }),
        ),
        (
            "status_closed",
            Payload::StatusUpdate(StatusUpdate {
                change: StatusChange::Closed(Outcome::GoalsMet),
                note: None,
            }),
        ),
        (
            "note",
            Payload::Note("Termin am Dienstag, 10 Uhr – Dolmetscherin ist bestellt.".into()),
        ),
        (
            "withdrawal_by_sender",
            Payload::Withdrawal(Withdrawal {
                reason: WithdrawalReason::BySender,
                note: Some("Klientin ist umgezogen".into()),
            }),
        ),
        (
            "withdrawal_expired",
            Payload::Withdrawal(Withdrawal {
                reason: WithdrawalReason::Expired,
                note: None,
            }),
        ),
        (
            "consent_withdrawal",
            Payload::ConsentWithdrawal(ConsentWithdrawal {
                withdrawn_on: date!(2026 - 02 - 01),
            }),
        ),
        (
            "erasure_receipt",
            Payload::ErasureReceipt(ErasureReceipt {
                erased_at: T0.plus_millis(1_000),
            }),
        ),
        (
            "delivery_receipt",
            Payload::DeliveryReceipt(DeliveryReceipt {
                message_id: MESSAGE_ID,
                received_at: T0.plus_millis(250),
            }),
        ),
        (
            "directory_snapshot",
            Payload::DirectorySnapshot(signed_directory()),
        ),
        (
            "directory_update_request",
            Payload::DirectoryUpdateRequest(signed_sender_profile()),
        ),
        (
            "join_request",
            Payload::JoinRequest(JoinRequest {
                secret: [9; 32],
                profile: recipient_profile().sign(&recipient()),
            }),
        ),
    ]
}
