//! The handover proposal form ("Übergabetermin vorschlagen"), shared by the new referral
//! page and the referral detail: up to three time slots, the place, the need for an
//! interpreter and a note.

use lotse_protocol::Timestamp;
use lotse_protocol::payload::{HandoverProposal, MeetingPlace, Slot};
use maud::{Markup, html};

use crate::clock;
use crate::forms::FormData;
use crate::layout::{field_error, has_error};

/// How many slot inputs the form offers.
pub(crate) const SLOTS: usize = 3;

/// Errors found while reading a form: (field id, German message).
pub(crate) type Errors = Vec<(String, String)>;

/// The fields. `required` marks the first slot as required (on the detail page, where the
/// form only proposes a handover).
pub(crate) fn fields(f: &FormData, errors: &[(String, String)], required: bool) -> Markup {
    let mode = f.get("place_mode").unwrap_or_else(|| "in_person".into());
    html! {
        fieldset.slots {
            legend { "Terminvorschläge" }
            p.hint { "Die andere Stelle bestätigt einen davon. Uhrzeit in deutscher Zeit." }
            @for i in 1..=SLOTS {
                @let id = format!("slot_{i}");
                div.field {
                    label for=(id) { (i) ". Termin" @if i > 1 || !required { " (optional)" } }
                    input id=(id) type="datetime-local" name=(id) value=(f.raw(&id))
                        required[required && i == 1]
                        aria-invalid=[has_error(errors, &id).then_some("true")];
                    (field_error(errors, &id))
                }
            }
            div.field.narrow-field {
                label for="slot_minutes" { "Dauer in Minuten" }
                input #slot_minutes type="number" name="slot_minutes" min="15" max="480" step="5"
                    value=(f.get("slot_minutes").unwrap_or_else(|| "60".into()));
                (field_error(errors, "slot_minutes"))
            }
        }
        fieldset {
            legend { "Wo findet das Gespräch statt?" }
            div.choices {
                @for (value, label) in [("in_person", "vor Ort"), ("phone", "telefonisch"), ("video", "per Video")] {
                    @let id = format!("place_{value}");
                    div.choice {
                        input id=(id) type="radio" name="place_mode" value=(value) checked[mode == value];
                        label for=(id) { (label) }
                    }
                }
            }
            div.field {
                label for="place_detail" { "Ort, Raum oder Link" }
                input #place_detail type="text" name="place_detail" value=(f.raw("place_detail"))
                    placeholder="z. B. Beratungsstelle, Raum 2"
                    aria-invalid=[has_error(errors, "place_detail").then_some("true")];
                (field_error(errors, "place_detail"))
            }
        }
        div.field.checkbox {
            input #interpreter_needed type="checkbox" name="interpreter_needed" value="ja"
                checked[f.is_set("interpreter_needed")];
            label for="interpreter_needed" { "Sprachmittlung wird gebraucht" }
        }
        div.field {
            label for="interpreter_language" { "Sprache für die Sprachmittlung" }
            input #interpreter_language type="text" name="interpreter_language" value=(f.raw("interpreter_language"))
                aria-invalid=[has_error(errors, "interpreter_language").then_some("true")];
            (field_error(errors, "interpreter_language"))
        }
        div.field {
            label for="handover_note" { "Hinweis zum Termin (optional)" }
            textarea #handover_note name="handover_note" rows="2" { (f.raw("handover_note")) }
        }
    }
}

/// The slot value used by the confirmation form: `<millis>:<minutes>`.
pub(crate) fn slot_value(s: &Slot) -> String {
    format!("{}:{}", s.starts_at.millis(), s.minutes)
}

/// Reads a slot value of the confirmation form.
pub(crate) fn parse_slot_value(v: &str) -> Option<Slot> {
    let (ms, minutes) = v.split_once(':')?;
    Some(Slot {
        starts_at: Timestamp(ms.parse().ok()?),
        minutes: minutes.parse().ok()?,
    })
}

/// Reads the proposal. `None` if no slot was entered (and `required` is false).
pub(crate) fn parse(
    f: &FormData,
    errors: &mut Errors,
    required: bool,
    now: Timestamp,
) -> Option<HandoverProposal> {
    let minutes = match f.get("slot_minutes") {
        None => 60,
        Some(m) => match m.parse::<u16>() {
            Ok(m) if (15..=480).contains(&m) => m,
            _ => {
                errors.push((
                    "slot_minutes".into(),
                    "Die Dauer muss zwischen 15 und 480 Minuten liegen.".into(),
                ));
                60
            }
        },
    };
    let mut slots = Vec::new();
    for i in 1..=SLOTS {
        let id = format!("slot_{i}");
        let Some(text) = f.get(&id) else { continue };
        match clock::parse_local_datetime(&text) {
            Some(ts) if ts > now => slots.push(Slot {
                starts_at: ts,
                minutes,
            }),
            Some(_) => errors.push((id, format!("Der {i}. Termin liegt in der Vergangenheit."))),
            None => errors.push((
                id,
                format!("Der {i}. Termin ist kein gültiges Datum mit Uhrzeit."),
            )),
        }
    }
    slots.sort_by_key(|s| s.starts_at);
    slots.dedup();
    if slots.is_empty() {
        if required && !errors.iter().any(|(f, _)| f.starts_with("slot_")) {
            errors.push((
                "slot_1".into(),
                "Bitte schlagen Sie mindestens einen Termin vor.".into(),
            ));
        }
        return None;
    }
    let detail = f.get("place_detail");
    let place = match f.get("place_mode").as_deref() {
        Some("phone") => MeetingPlace::Phone,
        Some("video") => MeetingPlace::Video(detail.unwrap_or_default()),
        _ => match detail {
            Some(d) => MeetingPlace::InPerson(d),
            None => {
                errors.push((
                    "place_detail".into(),
                    "Bitte geben Sie an, wo das Gespräch vor Ort stattfindet.".into(),
                ));
                MeetingPlace::InPerson(String::new())
            }
        },
    };
    let interpreter = if f.is_set("interpreter_needed") {
        match f.get("interpreter_language") {
            Some(l) => Some(l),
            None => {
                errors.push((
                    "interpreter_language".into(),
                    "Bitte geben Sie die Sprache für die Sprachmittlung an.".into(),
                ));
                None
            }
        }
    } else {
        None
    };
    Some(HandoverProposal {
        slots,
        place,
        interpreter,
        note: f.get("handover_note"),
    })
}

/// The place in words.
pub(crate) fn place(p: &MeetingPlace) -> String {
    match p {
        MeetingPlace::InPerson(d) => format!("vor Ort: {d}"),
        MeetingPlace::Phone => "telefonisch".into(),
        MeetingPlace::Video(d) if d.is_empty() => "per Video".into(),
        MeetingPlace::Video(d) => format!("per Video: {d}"),
    }
}

/// A proposal in words.
pub(crate) fn show(p: &HandoverProposal) -> Markup {
    html! {
        dl.facts.compact {
            dt { "Termine" }
            dd {
                ul.plain {
                    @for s in &p.slots { li { (clock::slot(s.starts_at, s.minutes)) } }
                }
            }
            dt { "Ort" } dd { (place(&p.place)) }
            dt { "Sprachmittlung" } dd {
                @match &p.interpreter { Some(l) => { "ja, " (l) }, None => "nicht nötig" }
            }
            @if let Some(n) = &p.note {
                dt { "Hinweis" } dd.pre { (n) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn slots_place_and_interpreter_are_read() {
        let f = FormData::from_pairs([
            ("slot_1", "2030-01-15T10:00".to_string()),
            ("slot_2", "".to_string()),
            ("slot_3", "2030-01-14T09:30".to_string()),
            ("slot_minutes", "45".to_string()),
            ("place_mode", "in_person".to_string()),
            ("place_detail", "Raum 2".to_string()),
            ("interpreter_needed", "ja".to_string()),
            ("interpreter_language", "Arabisch".to_string()),
        ]);
        let mut errors = Vec::new();
        let p = parse(&f, &mut errors, true, Timestamp(0)).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(p.slots.len(), 2);
        assert!(p.slots[0].starts_at < p.slots[1].starts_at);
        assert_eq!(p.slots[0].minutes, 45);
        assert_eq!(p.place, MeetingPlace::InPerson("Raum 2".into()));
        assert_eq!(p.interpreter.as_deref(), Some("Arabisch"));
        let v = slot_value(&p.slots[0]);
        assert_eq!(parse_slot_value(&v), Some(p.slots[0]));
    }

    #[test]
    fn missing_parts_are_named() {
        let mut errors = Vec::new();
        assert!(parse(&FormData::new(), &mut errors, false, Timestamp(0)).is_none());
        assert!(errors.is_empty());
        assert!(parse(&FormData::new(), &mut errors, true, Timestamp(0)).is_none());
        assert_eq!(errors[0].0, "slot_1");
        let f = FormData::from_pairs([
            ("slot_1", "gestern".to_string()),
            ("interpreter_needed", "ja".to_string()),
        ]);
        let mut errors = Vec::new();
        parse(&f, &mut errors, true, Timestamp(0));
        assert_eq!(errors.len(), 1, "{errors:?}");
        let f = FormData::from_pairs([
            ("slot_1", "2030-01-15T10:00".to_string()),
            ("interpreter_needed", "ja".to_string()),
        ]);
        let mut errors = Vec::new();
        parse(&f, &mut errors, true, Timestamp(0));
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["place_detail", "interpreter_language"]);
    }
}
