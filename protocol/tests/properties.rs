//! Property tests for `lotse-protocol`: envelopes open for their recipient only and reject
//! every change; the referral state machine never leaves a terminal state; and no decoder
//! (payloads, invitation tokens, profiles, directories) panics on arbitrary input.
//!
//! Case counts are kept small so the file runs in seconds in a debug build: age sealing is the
//! slow part, so keys and a sealed sample envelope are made once, in a `OnceLock`. Checks
//! over small finite domains (every byte position, every truncation length, every
//! state × event × side) are exhaustive plain tests instead of sampled ones.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use lotse_protocol::client::{ClientData, DataCategory, FieldOfAction, Need};
use lotse_protocol::codec;
use lotse_protocol::consent::ConsentError;
use lotse_protocol::directory::{
    AgencyProfile, DIRECTORY_DOMAIN, DirectoryContent, SignedDirectory, SignedProfile,
};
use lotse_protocol::envelope::{
    self, Address, HEADER_LEN, OpenError, SIGNATURE_DOMAIN, SIGNATURE_LEN,
};
use lotse_protocol::invitation::Invitation;
use lotse_protocol::keys::SignatureBytes;
use lotse_protocol::payload::{
    Decision, DeliveryReceipt, ErasureReceipt, HandoverProposal, MeetingPlace, MessageKind,
    Payload, Response, Slot, StatusChange, StatusUpdate, Withdrawal, WithdrawalReason,
};
use lotse_protocol::referral::{
    DeclineReason, Event, Outcome, ReferralState, Side, TransitionError, transition,
};
use lotse_protocol::{
    AuthorityKey, EncryptionIdentity, MessageId, NodeId, NodeKey, ReferralId, Timestamp,
};
use proptest::prelude::*;
use proptest::sample::select;

struct Keys {
    sender: NodeKey,
    recipient: NodeKey,
    recipient_age: EncryptionIdentity,
    other: NodeKey,
    other_age: EncryptionIdentity,
    authority: AuthorityKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        sender: NodeKey::generate(),
        recipient: NodeKey::generate(),
        recipient_age: EncryptionIdentity::generate(),
        other: NodeKey::generate(),
        other_age: EncryptionIdentity::generate(),
        authority: AuthorityKey::generate(),
    })
}

fn anyone(_: &NodeId, _: MessageKind) -> bool {
    true
}

/// Opens `bytes` as the sample recipient.
fn open_as_recipient(bytes: &[u8]) -> Result<envelope::Opened, OpenError> {
    let k = keys();
    envelope::open(bytes, &k.recipient.public(), &k.recipient_age, &anyone)
}

/// One referral note, sealed once, from the sample sender to the sample recipient.
fn sealed_note() -> &'static [u8] {
    static SEALED: OnceLock<Vec<u8>> = OnceLock::new();
    SEALED.get_or_init(|| {
        let k = keys();
        envelope::seal(
            &k.sender,
            Address {
                message_id: MessageId([1; 16]),
                recipient: k.recipient.public(),
                created_at: Timestamp(1_768_467_600_000),
                referral_id: Some(ReferralId([2; 16])),
                sequence: 5,
            },
            &k.recipient_age.recipient(),
            &Payload::Note("Termin steht".into()),
        )
        .unwrap()
    })
}

/// Signs `head` (the first 118 header bytes), a ciphertext length, `ciphertext` and a
/// signature as `key`: a well-formed, correctly signed envelope around any ciphertext, as a
/// member gone rogue could send.
fn resign(key: &NodeKey, head: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let mut out = head[..118].to_vec();
    out[22..54].copy_from_slice(key.public().as_bytes());
    out.extend_from_slice(&u32::try_from(ciphertext.len()).unwrap().to_be_bytes());
    out.extend_from_slice(ciphertext);
    let sig = key.sign(SIGNATURE_DOMAIN, &out);
    out.extend_from_slice(&sig);
    out
}

fn short_text() -> impl Strategy<Value = String> {
    ".{0,40}"
}

/// Referral and non-referral payloads with arbitrary contents.
fn payload_strategy() -> impl Strategy<Value = Payload> {
    prop_oneof![
        short_text().prop_map(Payload::Note),
        (
            any::<bool>(),
            proptest::option::of(short_text()),
            proptest::option::of(short_text())
        )
            .prop_map(|(accept, note, contact)| Payload::Response(Response {
                decision: if accept {
                    Decision::Accept
                } else {
                    Decision::Decline(DeclineReason::NotResponsible)
                },
                note,
                contact,
            })),
        proptest::option::of(short_text()).prop_map(|note| Payload::StatusUpdate(StatusUpdate {
            change: StatusChange::Progress,
            note,
        })),
        proptest::option::of(short_text()).prop_map(|note| Payload::Withdrawal(Withdrawal {
            reason: WithdrawalReason::BySender,
            note,
        })),
        any::<u64>().prop_map(|t| Payload::ErasureReceipt(ErasureReceipt {
            erased_at: Timestamp(t)
        })),
        (any::<[u8; 16]>(), any::<u64>()).prop_map(|(id, t)| Payload::DeliveryReceipt(
            DeliveryReceipt {
                message_id: MessageId(id),
                received_at: Timestamp(t),
            }
        )),
        (
            proptest::collection::vec((any::<u64>(), any::<u16>()), 1..=10),
            prop_oneof![
                short_text().prop_map(MeetingPlace::InPerson),
                Just(MeetingPlace::Phone),
                short_text().prop_map(MeetingPlace::Video),
            ],
            proptest::option::of(short_text()),
        )
            .prop_map(
                |(slots, place, note)| Payload::HandoverProposal(HandoverProposal {
                    slots: slots
                        .into_iter()
                        .map(|(t, minutes)| Slot {
                            starts_at: Timestamp(t),
                            minutes,
                        })
                        .collect(),
                    place,
                    interpreter: None,
                    note,
                })
            ),
        Just(Payload::Referral(Box::new(common::referral_payload()))),
    ]
}

/// A referral id that is not all zero (all zero means "no referral" on the wire).
fn referral_id() -> impl Strategy<Value = ReferralId> {
    any::<[u8; 16]>().prop_map(|mut b| {
        b[0] |= 1;
        ReferralId(b)
    })
}

fn all_sides() -> [Side; 2] {
    [Side::Sender, Side::Receiver]
}

fn all_states() -> Vec<ReferralState> {
    use ReferralState as S;
    let mut v = vec![
        S::Sent,
        S::Delivered,
        S::Accepted,
        S::HandoverProposed { by: Side::Sender },
        S::HandoverProposed { by: Side::Receiver },
        S::HandoverScheduled,
        S::HandoverDone,
        S::InProgress,
        S::Withdrawn,
        S::ConsentWithdrawn,
        S::Expired,
    ];
    v.extend(all_decline_reasons().map(S::Declined));
    v.extend(all_outcomes().map(S::Closed));
    v
}

fn all_decline_reasons() -> [DeclineReason; 4] {
    [
        DeclineReason::NoCapacity,
        DeclineReason::NotResponsible,
        DeclineReason::ClientDeclined,
        DeclineReason::Other,
    ]
}

fn all_outcomes() -> [Outcome; 4] {
    [
        Outcome::GoalsMet,
        Outcome::ClientManagesAlone,
        Outcome::Released,
        Outcome::EndedUnplanned,
    ]
}

fn all_events() -> Vec<Event> {
    let mut v = vec![
        Event::Delivered,
        Event::Accept {
            sender_proposed_handover: false,
        },
        Event::Accept {
            sender_proposed_handover: true,
        },
        Event::ProposeHandover,
        Event::ConfirmHandover,
        Event::HandoverDone,
        Event::StatusUpdate,
        Event::Note,
        Event::Withdraw,
        Event::WithdrawConsent,
        Event::Expire,
    ];
    v.extend(all_decline_reasons().map(Event::Decline));
    v.extend(all_outcomes().map(Event::Close));
    v
}

/// Applies a few random byte changes (flip, truncate, insert) to `bytes`.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(at, op, value) in edits {
        if bytes.is_empty() {
            bytes.push(value);
            continue;
        }
        let at = at % bytes.len();
        match op % 4 {
            0 => bytes[at] ^= value | 1,
            1 => bytes[at] = value,
            2 => bytes.truncate(at),
            _ => bytes.insert(at, value),
        }
    }
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4)
}

/// Decodes `bytes` as `kind`; if that works, the value must survive a re-encoding.
fn decode_is_stable(kind: MessageKind, bytes: &[u8]) {
    if let Ok(p) = Payload::decode(kind, bytes) {
        assert_eq!(p.kind(), kind);
        assert_eq!(Payload::decode(kind, &p.encode()), Ok(p));
    }
}

/// Client data that uses exactly the categories in `cats`.
fn data_with(cats: &BTreeSet<DataCategory>) -> ClientData {
    let has = |c| cats.contains(&c);
    ClientData {
        name: has(DataCategory::Name).then(|| "Amina".into()),
        date_of_birth: has(DataCategory::DateOfBirth)
            .then_some(::time::macros::date!(1990 - 1 - 1)),
        contact: has(DataCategory::Contact).then(|| "0151".into()),
        languages: if has(DataCategory::Languages) {
            vec!["ar".into()]
        } else {
            vec![]
        },
        residence_status: has(DataCategory::ResidenceStatus).then(|| "§ 25".into()),
        household: has(DataCategory::Household).then(|| "zwei Kinder".into()),
        needs: if has(DataCategory::Needs) {
            vec![Need {
                field: FieldOfAction::Work,
                description: "Arbeit".into(),
            }]
        } else {
            vec![]
        },
        summary: has(DataCategory::Summary).then(|| "kurz".into()),
        attachments: if has(DataCategory::Attachments) {
            vec![lotse_protocol::client::Attachment {
                file_name: "a.pdf".into(),
                media_type: "application/pdf".into(),
                content: vec![1, 2, 3],
            }]
        } else {
            vec![]
        },
    }
}

/// The encodings of every sample payload.
fn sample_encodings() -> Vec<Vec<u8>> {
    common::sample_payloads()
        .into_iter()
        .map(|(_, p)| p.encode())
        .collect()
}

fn categories() -> impl Strategy<Value = BTreeSet<DataCategory>> {
    proptest::collection::btree_set(select(DataCategory::ALL.to_vec()), 0..=9)
}

// ---------------------------------------------------------------------------------------
// Envelopes
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A sealed envelope opens for its recipient, to exactly what was sealed, and for nobody
    /// else: another node id is `WrongRecipient`, the right id with another age identity is
    /// `Decrypt`.
    #[test]
    fn sealed_envelope_opens_for_its_recipient_only(
        payload in payload_strategy(),
        message_id in any::<[u8; 16]>(),
        created_at in any::<u64>(),
        referral in referral_id(),
        sequence in any::<u64>(),
    ) {
        let k = keys();
        let is_referral = payload.kind().is_referral_message();
        let address = Address {
            message_id: MessageId(message_id),
            recipient: k.recipient.public(),
            created_at: Timestamp(created_at),
            referral_id: is_referral.then_some(referral),
            sequence,
        };
        let bytes = envelope::seal(&k.sender, address, &k.recipient_age.recipient(), &payload)
            .unwrap();

        let opened = open_as_recipient(&bytes).unwrap();
        prop_assert_eq!(&opened.payload, &payload);
        prop_assert_eq!(opened.header.sender, k.sender.public());
        prop_assert_eq!(opened.header.recipient, address.recipient);
        prop_assert_eq!(opened.header.message_id, address.message_id);
        prop_assert_eq!(opened.header.created_at, address.created_at);
        prop_assert_eq!(opened.header.referral_id, address.referral_id);
        prop_assert_eq!(opened.header.sequence, sequence);
        prop_assert_eq!(opened.header.kind, payload.kind());

        let other_id = k.other.public();
        prop_assert!(matches!(
            envelope::open(&bytes, &other_id, &k.other_age, &anyone),
            Err(OpenError::WrongRecipient { recipient }) if recipient == address.recipient
        ), "unexpected result");
        prop_assert!(matches!(
            envelope::open(&bytes, &k.recipient.public(), &k.other_age, &anyone),
            Err(OpenError::Decrypt(_))
        ), "unexpected result");
        // The sender itself cannot read what it sent either.
        prop_assert!(matches!(
            envelope::open(&bytes, &k.sender.public(), &k.recipient_age, &anyone),
            Err(OpenError::WrongRecipient { .. })
        ), "unexpected result");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Changing any byte of a sealed envelope to any other value makes `open` fail.
    #[test]
    fn any_changed_byte_is_rejected(at in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let mut bytes = sealed_note().to_vec();
        let at = at.index(bytes.len());
        bytes[at] ^= mask;
        prop_assert!(open_as_recipient(&bytes).is_err(), "changed byte {} was accepted", at);
    }

    /// Bytes appended to a sealed envelope make `open` fail.
    #[test]
    fn appended_bytes_are_rejected(extra in proptest::collection::vec(any::<u8>(), 1..64)) {
        let mut bytes = sealed_note().to_vec();
        bytes.extend_from_slice(&extra);
        prop_assert!(matches!(
            open_as_recipient(&bytes),
            Err(OpenError::LengthMismatch { .. })
        ), "unexpected result");
    }

    /// Arbitrary bytes never open, and never panic.
    #[test]
    fn arbitrary_bytes_do_not_open(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(open_as_recipient(&bytes).is_err());
        let _ = envelope::parse_header(&bytes);
    }

    /// Arbitrary bytes behind a valid magic, version and kind never open, and never panic.
    #[test]
    fn arbitrary_bytes_after_a_valid_prefix_do_not_open(
        kind in 1u8..=13,
        rest in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = b"LTSE\x01".to_vec();
        bytes.push(kind);
        bytes.extend_from_slice(&rest);
        prop_assert!(open_as_recipient(&bytes).is_err());
    }

    /// A member that signs a damaged or made-up ciphertext gets a clean error: the signature
    /// is valid, so this exercises decryption and payload decoding of hostile input.
    #[test]
    fn correctly_signed_garbage_is_rejected_cleanly(
        edits in edits(),
        garbage in proptest::collection::vec(any::<u8>(), 0..300),
        use_garbage in any::<bool>(),
    ) {
        let k = keys();
        let sealed = sealed_note();
        let ciphertext = &sealed[HEADER_LEN..sealed.len() - SIGNATURE_LEN];
        let body = if use_garbage {
            garbage
        } else {
            mutate(ciphertext.to_vec(), &edits)
        };
        let bytes = resign(&k.sender, sealed, &body);
        if let Ok(opened) = open_as_recipient(&bytes) {
            // Only possible if the edits cancelled out.
            prop_assert_eq!(body.as_slice(), ciphertext);
            prop_assert_eq!(opened.payload, Payload::Note("Termin steht".into()));
        }
    }
}

/// Every sample payload (every kind and enum variant) survives sealing and opening.
#[test]
fn every_sample_payload_seals_and_opens() {
    let k = keys();
    for (name, payload) in common::sample_payloads() {
        let address = Address {
            message_id: MessageId::random(),
            recipient: k.recipient.public(),
            created_at: Timestamp(1),
            referral_id: payload
                .kind()
                .is_referral_message()
                .then(ReferralId::random),
            sequence: 1,
        };
        let bytes = envelope::seal(&k.sender, address, &k.recipient_age.recipient(), &payload)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let opened = open_as_recipient(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(opened.payload, payload, "{name}");
    }
}

/// Every single-byte change, at every position, with a few masks, is rejected.
#[test]
fn every_changed_byte_is_rejected() {
    let sealed = sealed_note();
    for at in 0..sealed.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut bytes = sealed.to_vec();
            bytes[at] ^= mask;
            assert!(
                open_as_recipient(&bytes).is_err(),
                "byte {at} ^ {mask:#04x} was accepted"
            );
        }
    }
}

/// Every truncation fails with a clean error, and the short ones with `TooShort`.
#[test]
fn every_truncation_is_rejected() {
    let sealed = sealed_note();
    assert!(open_as_recipient(sealed).is_ok());
    for len in 0..sealed.len() {
        let err = open_as_recipient(&sealed[..len]).unwrap_err();
        if len < HEADER_LEN + SIGNATURE_LEN {
            assert!(
                matches!(err, OpenError::TooShort { .. }),
                "length {len}: {err:?}"
            );
        } else {
            assert!(
                matches!(err, OpenError::LengthMismatch { .. }),
                "length {len}: {err:?}"
            );
        }
    }
}

/// Re-addressing a sealed envelope to another node breaks its signature.
#[test]
fn re_addressed_envelope_is_rejected() {
    let k = keys();
    let mut bytes = sealed_note().to_vec();
    bytes[54..86].copy_from_slice(k.other.public().as_bytes());
    assert_eq!(
        envelope::open(&bytes, &k.other.public(), &k.other_age, &anyone).unwrap_err(),
        OpenError::BadSignature
    );
}

// ---------------------------------------------------------------------------------------
// The referral state machine
// ---------------------------------------------------------------------------------------

/// For every state, event and side: a terminal state is never left (the transition fails
/// or keeps the state), and a one-sided event by the other side is `WrongSide`.
#[test]
fn no_transition_leaves_a_terminal_state() {
    let states = all_states();
    assert_eq!(states.len(), 19);
    for state in states {
        for event in all_events() {
            for side in all_sides() {
                let result = transition(state, event, side);
                if state.is_terminal() {
                    assert!(
                        result.is_err() || result == Ok(state),
                        "{state:?} --{event:?} by {side:?}--> {result:?}"
                    );
                }
                if let Some(required) = event.required_side()
                    && required != side
                {
                    assert_eq!(
                        result,
                        Err(TransitionError::WrongSide { event, required }),
                        "{state:?} --{event:?} by {side:?}"
                    );
                }
                // Every error explains itself.
                if let Err(e) = result {
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any single step from any state never panics, and never leaves a terminal state.
    #[test]
    fn transitions_never_panic(
        state in select(all_states()),
        event in select(all_events()),
        side in select(all_sides().to_vec()),
    ) {
        let result = transition(state, event, side);
        if state.is_terminal() {
            prop_assert!(result.is_err() || result == Ok(state));
        }
    }

    /// Random walks from `sent`: once a walk reaches a terminal state it stays there, and
    /// every state reached is one of the known states.
    #[test]
    fn random_walks_stay_in_terminal_states(
        steps in proptest::collection::vec(
            (select(all_events()), select(all_sides().to_vec())),
            0..40,
        ),
    ) {
        let known = all_states();
        let mut state = ReferralState::Sent;
        let mut ended: Option<ReferralState> = None;
        for (event, side) in steps {
            if let Ok(next) = transition(state, event, side) {
                state = next;
            }
            prop_assert!(known.contains(&state));
            if let Some(end) = ended {
                prop_assert_eq!(state, end);
            } else if state.is_terminal() {
                ended = Some(state);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Consent
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A consent allows data exactly when every category present is consented to, and
    /// otherwise names the missing categories.
    #[test]
    fn consent_covers_exactly_its_categories(
        consented in categories(),
        present in categories(),
    ) {
        let recipient = keys().recipient.public();
        let consent = lotse_protocol::consent::Consent {
            recipient,
            categories: consented.clone(),
            ..common::consent()
        };
        let data = data_with(&present);
        prop_assert_eq!(data.present_categories(), present.clone());
        let today = ::time::macros::date!(2026 - 06 - 01);
        let result = consent.validate(&recipient, today, &data);
        let missing: Vec<DataCategory> = present.difference(&consented).copied().collect();
        if missing.is_empty() {
            prop_assert_eq!(result, Ok(()));
        } else {
            prop_assert_eq!(result, Err(ConsentError::CategoriesNotCovered { missing }));
        }
        // Never for another recipient.
        prop_assert!(matches!(
            consent.validate(&keys().other.public(), today, &data),
            Err(ConsentError::WrongRecipient { .. })
        ), "unexpected result");
    }
}

// ---------------------------------------------------------------------------------------
// Decoders never panic
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `Payload::decode` of arbitrary bytes never panics, for every kind; with and without a
    /// valid format byte in front.
    #[test]
    fn payload_decode_of_arbitrary_bytes_never_panics(
        kind in select(MessageKind::ALL.to_vec()),
        versioned in any::<bool>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut input = Vec::with_capacity(bytes.len() + 1);
        if versioned {
            input.push(codec::FORMAT_VERSION);
        }
        input.extend_from_slice(&bytes);
        decode_is_stable(kind, &input);
    }

    /// Decoding damaged valid encodings (of every sample payload, as every kind) never
    /// panics, and whatever decodes re-encodes to the same value.
    #[test]
    fn payload_decode_of_damaged_encodings_never_panics(
        sample in select(sample_encodings()),
        kind in select(MessageKind::ALL.to_vec()),
        edits in edits(),
    ) {
        decode_is_stable(kind, &mutate(sample, &edits));
    }

    /// `Invitation::from_token` never panics on arbitrary text, on the right prefix with
    /// arbitrary base64 behind it, or on a damaged real token.
    #[test]
    fn invitation_from_token_never_panics(
        text in any::<String>(),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        edits in edits(),
    ) {
        let _ = Invitation::from_token(&text);
        let _ = Invitation::from_token(&format!("lotse-invite-1.{text}"));
        let encoded = data_encoding::BASE64URL_NOPAD.encode(&body);
        let _ = Invitation::from_token(&format!("lotse-invite-1.{encoded}"));
        let mut versioned = vec![codec::FORMAT_VERSION];
        versioned.extend_from_slice(&body);
        let encoded = data_encoding::BASE64URL_NOPAD.encode(&versioned);
        let _ = Invitation::from_token(&format!("lotse-invite-1.{encoded}"));

        let token = common::invitation().to_token().into_bytes();
        let damaged = String::from_utf8_lossy(&mutate(token, &edits)).into_owned();
        if let Ok(inv) = Invitation::from_token(&damaged) {
            prop_assert_eq!(Invitation::from_token(&inv.to_token()), Ok(inv));
        }
    }

    /// `SignedDirectory::verify` never panics: not on arbitrary bytes and signature, not on
    /// arbitrary bytes correctly signed by the authority (so the content decoder runs), and
    /// not on a damaged real directory re-signed by the authority (so profile checks run).
    #[test]
    fn directory_verify_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        signature in proptest::collection::vec(any::<u8>(), 64),
        edits in edits(),
    ) {
        let authority = &keys().authority;
        let pinned = authority.public();
        let sig: [u8; 64] = signature.try_into().unwrap();
        let unsigned = SignedDirectory { bytes: bytes.clone(), signature: SignatureBytes(sig) };
        prop_assert!(unsigned.verify(&pinned).is_err());

        let mut versioned = vec![codec::FORMAT_VERSION];
        versioned.extend_from_slice(&bytes);
        for content in [bytes, versioned] {
            let signed = SignedDirectory {
                signature: SignatureBytes(authority.sign(DIRECTORY_DOMAIN, &content)),
                bytes: content,
            };
            let _ = signed.verify(&pinned);
        }

        let real = directory_content_for(authority);
        let damaged = mutate(codec::encode(&real), &edits);
        let signed = SignedDirectory {
            signature: SignatureBytes(authority.sign(DIRECTORY_DOMAIN, &damaged)),
            bytes: damaged,
        };
        if let Ok(dir) = signed.verify(&pinned) {
            prop_assert_eq!(dir.authority, pinned);
        }
    }

    /// `SignedProfile::verify` (which decodes before it checks the signature) never panics.
    #[test]
    fn profile_verify_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        signature in proptest::collection::vec(any::<u8>(), 64),
        edits in edits(),
    ) {
        let sig = SignatureBytes(signature.try_into().unwrap());
        let _ = SignedProfile { bytes: bytes.clone(), signature: sig }.verify();
        let mut versioned = vec![codec::FORMAT_VERSION];
        versioned.extend_from_slice(&bytes);
        let _ = SignedProfile { bytes: versioned, signature: sig }.verify();
        let real = common::signed_sender_profile();
        let damaged = mutate(real.bytes.clone(), &edits);
        let changed = damaged != real.bytes;
        let result = SignedProfile { bytes: damaged, signature: real.signature }.verify();
        // A changed profile never keeps a valid signature.
        prop_assert_eq!(result.is_ok(), !changed);
    }
}

/// The sample directory content, but signed for `authority` (the random test authority).
fn directory_content_for(authority: &AuthorityKey) -> DirectoryContent {
    DirectoryContent {
        authority: authority.public(),
        ..common::directory_content()
    }
}

/// A directory with a profile that names another node than its listing is refused, as is a
/// node listed twice; and a snapshot signed by another authority.
#[test]
fn directory_rejects_mismatched_and_duplicate_members() {
    let authority = &keys().authority;
    let pinned = authority.public();
    let mut content = directory_content_for(authority);
    assert!(content.sign(authority).verify(&pinned).is_ok());

    let mut mismatched = content.clone();
    mismatched.members[0].node_id = mismatched.members[1].node_id;
    assert!(matches!(
        mismatched.sign(authority).verify(&pinned),
        Err(lotse_protocol::directory::DirectoryError::ProfileMismatch { .. })
    ));

    let first = content.members[0].clone();
    content.members.push(first);
    assert!(matches!(
        content.sign(authority).verify(&pinned),
        Err(lotse_protocol::directory::DirectoryError::Duplicate { .. })
    ));

    // Signed by the fixed vector authority but checked against the random one.
    assert_eq!(
        common::signed_directory().verify(&pinned).unwrap_err(),
        lotse_protocol::directory::DirectoryError::BadSignature
    );
    // A profile decodes to the sample profile only with the node's own signature.
    let p: AgencyProfile = codec::decode(
        "p",
        &common::signed_sender_profile().bytes,
        lotse_protocol::limits::MAX_DIRECTORY_BYTES,
    )
    .unwrap();
    assert_eq!(p, common::sender_profile());
}
