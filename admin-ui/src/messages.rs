//! German messages for the node's errors, written for the person at the desk: what went
//! wrong and what to do. The node's own messages are English (for logs and the API); a
//! social worker should never have to read them.
//!
//! Anything without a translation here falls back to a German sentence with the node's
//! message attached, so nothing is ever swallowed.

use lotse_node::auth::AuthError;
use lotse_node::directory::authority::AuthorityError;
use lotse_node::referrals::WorkflowError;
use lotse_protocol::client::ClientDataError;
use lotse_protocol::consent::ConsentError;
use lotse_protocol::referral::TransitionError;

use crate::labels;

/// A field name of the client data in German.
fn field(name: &str) -> &str {
    match name {
        "name" => "Name",
        "contact" => "Kontaktdaten",
        "residence_status" => "Aufenthaltsstatus",
        "household" => "Haushalt und Familie",
        "summary" => "Kurzbeschreibung",
        "languages" => "Sprachen",
        "needs" => "Bedarfe",
        "purpose" => "Zweck der Einwilligung",
        "recorded_by" => "Erfasst von",
        "note" => "Notiz",
        "contact_person" => "Ansprechperson",
        other => other,
    }
}

/// A client data problem.
pub(crate) fn client_data(e: &ClientDataError) -> String {
    match e {
        ClientDataError::TextTooLong { field: f, limit } => format!(
            "Das Feld „{}“ ist zu lang (höchstens {limit} Zeichen). Bitte kürzen Sie es.",
            field(f)
        ),
        ClientDataError::AttachmentTooLarge {
            file_name, limit, ..
        } => format!(
            "Die Datei „{file_name}“ ist zu groß. Erlaubt sind höchstens {} MB pro Datei.",
            limit / (1024 * 1024)
        ),
        ClientDataError::TooManyAttachments { limit } => {
            format!("Eine Vermittlung kann höchstens {limit} Dokumente mitnehmen.")
        }
        ClientDataError::AttachmentName => {
            "Jede Datei braucht einen Dateinamen (1 bis 200 Zeichen).".into()
        }
    }
}

/// A consent problem.
pub(crate) fn consent(e: &ConsentError) -> String {
    match e {
        ConsentError::WrongRecipient { .. } => {
            "Die Einwilligung gilt für eine andere Stelle. Bitte erfassen Sie die Einwilligung für die gewählte Stelle.".into()
        }
        ConsentError::Expired { valid_until } => format!(
            "Die Einwilligung ist abgelaufen (gültig bis {}). Bitte holen Sie eine neue Einwilligung ein.",
            crate::clock::date(*valid_until)
        ),
        ConsentError::NotYetGiven { given_on } => format!(
            "Das Datum der Einwilligung ({}) liegt in der Zukunft. Bitte prüfen Sie das Datum.",
            crate::clock::date(*given_on)
        ),
        ConsentError::InvertedDates { .. } => {
            "„Gültig bis“ liegt vor dem Tag, an dem die Einwilligung erteilt wurde. Bitte prüfen Sie die Daten.".into()
        }
        ConsentError::NoPurpose => {
            "Bitte geben Sie den Zweck an, für den die Klientin oder der Klient eingewilligt hat.".into()
        }
        ConsentError::NoRecorder => "Bitte geben Sie an, wer die Einwilligung erfasst hat.".into(),
        ConsentError::TextTooLong { field: f, limit } => format!(
            "Das Feld „{}“ ist zu lang (höchstens {limit} Zeichen).",
            field(f)
        ),
        ConsentError::CategoriesNotCovered { missing } => format!(
            "Die Einwilligung deckt nicht alle eingegebenen Angaben ab. Nicht eingewilligt: {}. \
             Entfernen Sie diese Angaben oder kreuzen Sie die Kategorie bei der Einwilligung an, \
             wenn die Klientin oder der Klient zugestimmt hat.",
            missing
                .iter()
                .map(|c| labels::category(*c))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ConsentError::ScannedForm(e) => {
            format!("Das eingescannte Formular: {}", client_data(e))
        }
    }
}

/// A step the status does not allow.
pub(crate) fn transition(e: &TransitionError) -> String {
    match e {
        TransitionError::Ended { .. } => {
            "Diese Vermittlung ist bereits beendet; dieser Schritt ist nicht mehr möglich.".into()
        }
        TransitionError::WrongSide { .. } => {
            "Diesen Schritt macht die andere Stelle, nicht Ihre.".into()
        }
        TransitionError::NotAllowed { state, .. } => format!(
            "Dieser Schritt passt nicht zum aktuellen Stand („{}“). Bitte laden Sie die Seite neu.",
            labels::state(*state)
        ),
        TransitionError::OwnProposal => {
            "Einen Terminvorschlag bestätigt die andere Stelle, nicht die Stelle, die ihn gemacht hat.".into()
        }
    }
}

/// A workflow failure.
pub(crate) fn workflow(e: &WorkflowError) -> String {
    match e {
        WorkflowError::NotFound => {
            "Diese Vermittlung gibt es nicht, oder sie ist für Sie nicht sichtbar.".into()
        }
        WorkflowError::Forbidden(_) => {
            "Dafür fehlt Ihnen die Berechtigung. Wenden Sie sich bei Bedarf an Ihre Teamleitung.".into()
        }
        WorkflowError::NoConsent => {
            "Ohne Einwilligung der Klientin oder des Klienten kann keine Vermittlung gesendet werden. \
             Bitte erfassen Sie die Einwilligung: Zweck, Datenkategorien, Form und Datum."
                .into()
        }
        WorkflowError::Consent(c) => consent(c),
        WorkflowError::ClientData(c) => client_data(c),
        WorkflowError::Invalid(m) => invalid(m),
        WorkflowError::Transition(t) => transition(t),
        WorkflowError::Erased => {
            "Die Falldaten wurden nach dem Widerruf der Einwilligung gelöscht.".into()
        }
        WorkflowError::Busy => {
            "Die Vermittlung wurde gerade gleichzeitig geändert. Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.".into()
        }
        WorkflowError::Send(_) | WorkflowError::Store(_) | WorkflowError::Vault(_) => {
            "Das hat leider nicht geklappt: ein technischer Fehler auf diesem Knoten. Es wurde nichts gesendet. Bitte versuchen Sie es später noch einmal oder wenden Sie sich an Ihre Administration.".into()
        }
    }
}

/// The workflow's "invalid input" messages that a user can cause from the UI.
fn invalid(m: &str) -> String {
    if m.contains("not an active member") {
        "Diese Stelle ist nicht (mehr) im Netzwerk. Bitte wählen Sie eine Stelle aus dem Verzeichnis.".into()
    } else if m.contains("offers no service") {
        "Die Stelle bietet dieses Angebot nicht (mehr) an. Bitte wählen Sie ein Angebot aus dem Verzeichnis.".into()
    } else if m.contains("confirm one of the proposed") {
        "Bitte wählen Sie einen der vorgeschlagenen Termine.".into()
    } else if m.contains("must not be empty") {
        "Bitte schreiben Sie einen Text.".into()
    } else if m.contains("already withdrawn") {
        "Die Einwilligung wurde für diese Vermittlung bereits widerrufen.".into()
    } else if m.contains("longer than") {
        "Ein Text ist zu lang. Bitte kürzen Sie ihn.".into()
    } else if m.contains("slot") || m.contains("handover") {
        format!("Die Angaben zur Übergabe sind nicht vollständig: {m}")
    } else {
        format!("Die Eingabe ist nicht gültig ({m}).")
    }
}

/// A sign-in or account problem.
pub(crate) fn auth(e: &AuthError) -> String {
    match e {
        AuthError::BadCredentials => {
            "Benutzername oder Passwort ist falsch. Bitte prüfen Sie Ihre Eingabe.".into()
        }
        AuthError::Disabled => {
            "Dieses Konto ist gesperrt. Bitte wenden Sie sich an die Administration Ihrer Stelle.".into()
        }
        AuthError::RateLimited { retry_after_secs } => {
            let minutes = retry_after_secs.div_ceil(60).max(1);
            format!(
                "Zu viele fehlgeschlagene Anmeldeversuche. Bitte versuchen Sie es in {minutes} {} erneut.",
                if minutes == 1 { "Minute" } else { "Minuten" }
            )
        }
        AuthError::InvalidUsername(_) => {
            "Der Benutzername darf nur a–z, 0–9, Punkt, Unterstrich und Bindestrich enthalten (höchstens 64 Zeichen).".into()
        }
        AuthError::ReservedUsername(n) => {
            format!("Der Benutzername „{n}“ ist reserviert. Bitte wählen Sie einen anderen.")
        }
        AuthError::InvalidDisplayName => {
            "Der Anzeigename muss 1 bis 200 Zeichen lang sein.".into()
        }
        AuthError::WeakPassword => format!(
            "Das Passwort muss mindestens {} Zeichen lang sein.",
            lotse_node::auth::users::MIN_PASSWORD_CHARS
        ),
        AuthError::CommonPassword => {
            "Dieses Passwort ist zu bekannt (oder ein bekanntes mit angehängten Ziffern oder \
             Zeichen) und leicht zu erraten. Bitte wählen Sie ein anderes, zum Beispiel einen \
             Satz aus mehreren Wörtern."
                .into()
        }
        AuthError::AwaitingConfirmation => {
            "Ihr Konto wartet noch auf die Bestätigung durch eine Teamleitung. Bitte sprechen \
             Sie Ihre Teamleitung an."
                .into()
        }
        AuthError::PasswordFromAdmin => {
            "Konten mit Zugang zu Fällen setzen ihr Passwort selbst, mit einem Einmal-Code von \
             der Teamleitung. Bitte lassen Sie das Passwort leer."
                .into()
        }
        AuthError::NothingPending(n) => {
            format!("Für das Konto „{n}“ wartet keine Änderung auf Bestätigung.")
        }
        AuthError::OwnChange => {
            "Eine Änderung Ihres eigenen Kontos bestätigt eine andere Teamleitung.".into()
        }
        AuthError::BadResetCode => {
            "Der Code stimmt nicht, wurde schon benutzt oder ist abgelaufen. Bitte bitten Sie \
             Ihre Teamleitung um einen neuen Code."
                .into()
        }
        AuthError::NoResetPending(n) => format!(
            "Für „{n}“ ist keine Passwort-Rücksetzung offen. Die Administration kann eine \
             anstoßen."
        ),
        AuthError::UserExists(n) => format!("Ein Konto „{n}“ gibt es schon."),
        AuthError::UnknownUser(n) => format!("Es gibt kein Konto „{n}“."),
        AuthError::LastAdmin(_) => {
            "Das ist das letzte aktive Administrationskonto. Legen Sie zuerst ein weiteres an.".into()
        }
        AuthError::WrongCurrentPassword => "Das bisherige Passwort stimmt nicht.".into(),
        other => format!("Das hat nicht geklappt ({other})."),
    }
}

/// A directory administration problem (KI node).
pub(crate) fn authority(e: &AuthorityError) -> String {
    match e {
        AuthorityError::NotDirectoryNode => {
            "Das geht nur auf dem Verzeichnisknoten des Kommunalen Integrationszentrums.".into()
        }
        AuthorityError::UnknownMember(_) => "Diese Stelle ist kein Mitglied des Netzwerks.".into(),
        AuthorityError::RevokeSelf => {
            "Der Verzeichnisknoten kann sich nicht selbst entfernen.".into()
        }
        AuthorityError::Invalid(m) if m.contains("agency name") => {
            "Der Name der Stelle muss 1 bis 200 Zeichen lang sein.".into()
        }
        other => format!("Das hat nicht geklappt ({other})."),
    }
}
