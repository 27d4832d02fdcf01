//! The German words the UI shows for the node's machine names: statuses, decline reasons,
//! outcomes, data categories, roles, capacities, message kinds and timeline events.
//!
//! One place for the vocabulary, so a status reads the same on every page. The words
//! follow the field's own language (DOMAIN.md's glossary), not the code's.

use lotse_node::auth::Role;
use lotse_protocol::client::{DataCategory, FieldOfAction};
use lotse_protocol::directory::Capacity;
use lotse_protocol::payload::MessageKind;
use lotse_protocol::referral::{DeclineReason, Outcome, ReferralState};

/// Every status name a list can be filtered by, with its label, in workflow order.
pub(crate) const STATUSES: [(&str, &str); 12] = [
    ("sent", "gesendet"),
    ("delivered", "zugestellt"),
    ("accepted", "angenommen"),
    ("handover_proposed", "Übergabe vorgeschlagen"),
    ("handover_scheduled", "Übergabe vereinbart"),
    ("handover_done", "Übergabe erfolgt"),
    ("in_progress", "in Arbeit"),
    ("closed", "abgeschlossen"),
    ("declined", "abgelehnt"),
    ("withdrawn", "zurückgezogen"),
    ("consent_withdrawn", "Einwilligung widerrufen"),
    ("expired", "abgelaufen"),
];

/// The label of a status name (`sent` → `gesendet`).
pub(crate) fn status_name(name: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, l)| *l)
        .unwrap_or("unbekannt")
}

/// The label of a status, with the reason or outcome where there is one.
pub(crate) fn state(s: ReferralState) -> String {
    match s {
        ReferralState::Declined(r) => format!("abgelehnt: {}", decline(r)),
        ReferralState::Closed(o) => format!("abgeschlossen: {}", outcome(o)),
        s => status_name(s.name()).to_string(),
    }
}

/// A CSS class for a status badge: open, waiting, good, ended, or a problem.
pub(crate) fn state_class(s: ReferralState) -> &'static str {
    match s {
        ReferralState::Sent | ReferralState::Delivered => "badge badge-wait",
        ReferralState::HandoverProposed { .. } => "badge badge-wait",
        ReferralState::Accepted
        | ReferralState::HandoverScheduled
        | ReferralState::HandoverDone
        | ReferralState::InProgress => "badge badge-open",
        ReferralState::Closed(_) => "badge badge-good",
        ReferralState::Withdrawn => "badge badge-end",
        ReferralState::Declined(_) | ReferralState::ConsentWithdrawn | ReferralState::Expired => {
            "badge badge-bad"
        }
    }
}

/// Decline reasons, in the order a form offers them.
pub(crate) const DECLINE_REASONS: [DeclineReason; 4] = [
    DeclineReason::NoCapacity,
    DeclineReason::NotResponsible,
    DeclineReason::ClientDeclined,
    DeclineReason::Other,
];

/// A decline reason.
pub(crate) fn decline(r: DeclineReason) -> &'static str {
    match r {
        DeclineReason::NoCapacity => "keine Kapazität",
        DeclineReason::NotResponsible => "nicht zuständig",
        DeclineReason::ClientDeclined => "Klient/in hat abgelehnt",
        DeclineReason::Other => "anderer Grund",
    }
}

/// Outcomes, in the order a form offers them.
pub(crate) const OUTCOMES: [Outcome; 4] = [
    Outcome::GoalsMet,
    Outcome::ClientManagesAlone,
    Outcome::Released,
    Outcome::EndedUnplanned,
];

/// An outcome.
pub(crate) fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::GoalsMet => "Ziele erreicht",
        Outcome::ClientManagesAlone => "Klient/in kommt allein zurecht",
        Outcome::Released => "an eine andere Stelle abgegeben",
        Outcome::EndedUnplanned => "ungeplant beendet",
    }
}

/// A data category, as the consent form names it.
pub(crate) fn category(c: DataCategory) -> &'static str {
    match c {
        DataCategory::Name => "Name",
        DataCategory::DateOfBirth => "Geburtsdatum",
        DataCategory::Contact => "Kontaktdaten (Telefon, E-Mail, Anschrift)",
        DataCategory::Languages => "Sprachen",
        DataCategory::ResidenceStatus => "Aufenthaltsstatus",
        DataCategory::Household => "Haushalt und Familie",
        DataCategory::Needs => "Bedarfe nach Handlungsfeld",
        DataCategory::Summary => "Kurzbeschreibung der Situation",
        DataCategory::Attachments => "Dokumente (Anhänge)",
    }
}

/// The URL name of a field of action (`housing`), as the protocol spells it.
pub(crate) fn field_key(f: FieldOfAction) -> &'static str {
    match f {
        FieldOfAction::ResidenceLaw => "residence_law",
        FieldOfAction::InitialOrientation => "initial_orientation",
        FieldOfAction::Language => "language",
        FieldOfAction::Education => "education",
        FieldOfAction::VocationalTraining => "vocational_training",
        FieldOfAction::Work => "work",
        FieldOfAction::Housing => "housing",
        FieldOfAction::Health => "health",
        FieldOfAction::Family => "family",
        FieldOfAction::Livelihood => "livelihood",
        FieldOfAction::SocialParticipation => "social_participation",
    }
}

/// The field of action named `key`.
pub(crate) fn field_from_key(key: &str) -> Option<FieldOfAction> {
    FieldOfAction::ALL
        .into_iter()
        .find(|f| field_key(*f) == key.trim())
}

/// Fields of action as a readable list.
pub(crate) fn fields(list: &[FieldOfAction]) -> String {
    if list.is_empty() {
        return "–".into();
    }
    list.iter()
        .map(|f| f.label_de())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A role.
pub(crate) fn role(r: Role) -> &'static str {
    match r {
        Role::CaseManager => "Fallmanagement",
        Role::TeamLead => "Teamleitung",
        Role::Admin => "Administration",
        Role::Coordinator => "Koordination (KI)",
    }
}

/// A service's capacity.
pub(crate) fn capacity(c: Capacity) -> &'static str {
    match c {
        Capacity::Available => "Plätze frei",
        Capacity::WaitingList => "Warteliste",
        Capacity::Full => "ausgelastet",
    }
}

/// A CSS class for a capacity badge.
pub(crate) fn capacity_class(c: Capacity) -> &'static str {
    match c {
        Capacity::Available => "badge badge-good",
        Capacity::WaitingList => "badge badge-wait",
        Capacity::Full => "badge badge-bad",
    }
}

/// A kind of message.
pub(crate) fn message_kind(k: MessageKind) -> &'static str {
    match k {
        MessageKind::Referral => "Vermittlung",
        MessageKind::Response => "Antwort",
        MessageKind::HandoverProposal => "Terminvorschlag",
        MessageKind::HandoverConfirmation => "Terminbestätigung",
        MessageKind::StatusUpdate => "Rückmeldung",
        MessageKind::Note => "Notiz",
        MessageKind::Withdrawal => "Rücknahme",
        MessageKind::ConsentWithdrawal => "Widerruf der Einwilligung",
        MessageKind::ErasureReceipt => "Löschbestätigung",
        MessageKind::DeliveryReceipt => "Empfangsbestätigung",
        MessageKind::DirectorySnapshot => "Verzeichnis",
        MessageKind::DirectoryUpdateRequest => "Verzeichnis-Eintrag",
        MessageKind::JoinRequest => "Beitrittsanfrage",
    }
}

/// A timeline event (`accept` → `Angenommen`).
pub(crate) fn event(kind: &str) -> &'static str {
    match kind {
        "sent" => "Vermittlung gesendet",
        "received" => "Vermittlung eingegangen",
        "delivered" => "Zugestellt",
        "accept" => "Angenommen",
        "decline" => "Abgelehnt",
        "propose_handover" => "Übergabetermin vorgeschlagen",
        "confirm_handover" => "Übergabetermin bestätigt",
        "handover_done" => "Übergabe erfolgt",
        "status_update" => "Rückmeldung",
        "note" => "Notiz",
        "close" => "Abgeschlossen",
        "withdraw" => "Vermittlung zurückgezogen",
        "withdraw_consent" => "Einwilligung widerrufen",
        "erasure_confirmed" => "Löschung bestätigt",
        "erased_here" => "Angaben zur Person hier gelöscht",
        "expire" => "Abgelaufen (keine Antwort)",
        "assigned" => "Zuständigkeit übertragen",
        "follow_up_set" => "Wiedervorlage geändert",
        _ => "Ereignis",
    }
}

/// The non-personal detail of a timeline event (a reason, an outcome) in German.
pub(crate) fn event_info(kind: &str, info: &str) -> String {
    let reason = DECLINE_REASONS
        .into_iter()
        .find(|r| lotse_node::referrals::actions::decline_name(*r) == info)
        .map(decline);
    let result = OUTCOMES
        .into_iter()
        .find(|o| lotse_node::referrals::actions::outcome_name(*o) == info)
        .map(outcome);
    match (kind, reason, result) {
        (_, Some(r), _) => format!("Grund: {r}"),
        (_, _, Some(o)) => format!("Ergebnis: {o}"),
        ("assigned", _, _) => format!("an {info}"),
        ("follow_up_set", _, _) => match crate::clock::parse_date(info) {
            Some(d) => format!("auf {}", crate::clock::date(d)),
            None => info.to_string(),
        },
        (_, _, _) if info == "no_answer" => "keine Antwort in der Frist".into(),
        (_, _, _) if info == "expired" => "abgelaufen".into(),
        _ => info.to_string(),
    }
}

/// The button label of an action (`accept` → `Annehmen`).
pub(crate) fn action(name: &str) -> &'static str {
    match name {
        "accept" => "Annehmen",
        "decline" => "Ablehnen",
        "propose_handover" => "Übergabetermin vorschlagen",
        "confirm_handover" => "Termin bestätigen",
        "handover_done" => "Übergabe hat stattgefunden",
        "status_update" => "Rückmeldung senden",
        "note" => "Notiz senden",
        "close" => "Abschließen",
        "withdraw" => "Vermittlung zurückziehen",
        "withdraw_consent" => "Einwilligung widerrufen",
        "assign" => "Zuständigkeit festlegen",
        "set_follow_up" => "Wiedervorlage speichern",
        _ => "Ausführen",
    }
}

/// What the page says after an action succeeded.
pub(crate) fn done(code: &str) -> Option<&'static str> {
    Some(match code {
        "created" => {
            "Die Vermittlung wurde gesendet. Unten sehen Sie, sobald sie bei der anderen Stelle angekommen ist."
        }
        "accept" => "Sie haben die Vermittlung angenommen. Die sendende Stelle wird informiert.",
        "decline" => "Sie haben die Vermittlung abgelehnt. Die sendende Stelle wird informiert.",
        "propose_handover" => "Ihr Terminvorschlag wurde gesendet.",
        "confirm_handover" => "Der Übergabetermin ist bestätigt.",
        "handover_done" => "Die Übergabe ist vermerkt.",
        "status_update" => "Ihre Rückmeldung wurde gesendet.",
        "note" => "Ihre Notiz wurde gesendet.",
        "close" => "Die Vermittlung ist abgeschlossen.",
        "withdraw" => "Die Vermittlung wurde zurückgezogen.",
        "withdraw_consent" => {
            "Der Widerruf ist erfasst. Die Daten werden hier und bei der anderen Stelle gelöscht."
        }
        "assign" => "Die Zuständigkeit ist gespeichert.",
        "set_follow_up" => "Die Wiedervorlage ist gespeichert.",
        "signed_out" => "Sie sind abgemeldet.",
        "user_added" => "Das Benutzerkonto wurde angelegt.",
        "user_disabled" => "Das Benutzerkonto ist gesperrt. Offene Sitzungen wurden beendet.",
        "user_enabled" => "Das Benutzerkonto ist wieder aktiv.",
        "password_reset" => "Das Passwort wurde neu gesetzt.",
        "password_changed" => "Ihr Passwort ist geändert.",
        "user_pending" => "Neues Konto wartet auf Bestätigung durch eine Teamleitung.",
        "change_pending" => "Die Änderung wartet auf Bestätigung durch eine Teamleitung.",
        "role_changed" => {
            "Die Rolle ist geändert. Offene Sitzungen und API-Schlüssel des Kontos wurden beendet."
        }
        "reset_pending" => {
            "Das Passwort ist zurückgesetzt. Eine Teamleitung gibt der Person einen Einmal-Code, mit dem sie ein neues Passwort setzt."
        }
        "change_refused" => "Die Änderung ist abgelehnt.",
        "change_confirmed" => "Die Änderung ist bestätigt.",
        "password_set" => "Ihr neues Passwort ist gesetzt. Bitte melden Sie sich damit an.",
        "revoked" => "Die Stelle wurde aus dem Netzwerk entfernt.",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_status_has_a_label() {
        for (name, label) in STATUSES {
            assert_eq!(status_name(name), label);
        }
        assert_eq!(
            state(ReferralState::HandoverScheduled),
            "Übergabe vereinbart"
        );
        assert_eq!(
            state(ReferralState::Declined(DeclineReason::NoCapacity)),
            "abgelehnt: keine Kapazität"
        );
    }

    #[test]
    fn field_keys_round_trip_and_match_the_protocol() {
        for f in FieldOfAction::ALL {
            assert_eq!(field_from_key(field_key(f)), Some(f));
            let json = serde_json_name(f);
            assert_eq!(json, field_key(f));
        }
    }

    fn serde_json_name(f: FieldOfAction) -> String {
        // The Filter of the JSON API parses fields with serde; the UI's keys must match.
        let v: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            serde::de::IntoDeserializer::into_deserializer(field_key(f));
        let parsed: FieldOfAction = serde::Deserialize::deserialize(v).unwrap();
        assert_eq!(parsed, f);
        field_key(f).to_string()
    }
}
