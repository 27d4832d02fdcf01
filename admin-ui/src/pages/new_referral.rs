//! A new referral ("Neue Vermittlung") in two steps: find a service in the directory, then
//! fill in the client's data, the consent and, if wanted, handover slots.
//!
//! The consent decides what may be sent (DESIGN.md invariant 2). The script hides client
//! fields whose category is not ticked, but the rule that counts is the workflow's: data
//! outside the consent's categories is refused, and the page shows why, with everything
//! the user typed kept (only a chosen file has to be chosen again: browsers never refill
//! file inputs).

use std::collections::BTreeSet;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lotse_node::audit;
use lotse_node::referrals::{NewReferral, WorkflowError, actions};
use lotse_protocol::NodeId;
use lotse_protocol::client::{Attachment, ClientData, DataCategory, FieldOfAction, Need};
use lotse_protocol::consent::{Consent, ConsentError, ConsentForm};
use lotse_protocol::directory::VerifiedMember;
use maud::{Markup, html};

use super::directory::{results, search_form};
use super::handover::{self, Errors};
use crate::error::UiError;
use crate::forms::{FormData, Upload};
use crate::layout::{self, Ctx, Nav, csrf, error_summary, field_error, has_error};
use crate::search::{self, ServiceQuery};
use crate::{clock, labels, messages};

/// How many need rows the form offers.
const NEEDS: usize = 3;

/// The client fields: (input name, label, category, multi-line, hint).
const CLIENT_FIELDS: [(&str, &str, DataCategory, bool, &str); 6] = [
    ("client_name", "Name", DataCategory::Name, false, ""),
    (
        "client_contact",
        "Kontaktdaten",
        DataCategory::Contact,
        false,
        "Telefon, E-Mail oder Anschrift",
    ),
    (
        "client_languages",
        "Sprachen",
        DataCategory::Languages,
        false,
        "Mehrere durch Komma trennen, z. B. „Arabisch, Deutsch (A2)“",
    ),
    (
        "client_residence",
        "Aufenthaltsstatus",
        DataCategory::ResidenceStatus,
        false,
        "z. B. Aufenthaltserlaubnis, Gestattung, Duldung",
    ),
    (
        "client_household",
        "Haushalt und Familie",
        DataCategory::Household,
        true,
        "",
    ),
    (
        "client_summary",
        "Kurzbeschreibung der Situation",
        DataCategory::Summary,
        true,
        "Was sollte die andere Stelle vor dem ersten Gespräch wissen?",
    ),
];

fn member(ctx: &Ctx, id: &str) -> Option<VerifiedMember> {
    let node: NodeId = id.parse().ok()?;
    if node == ctx.core.id {
        return None;
    }
    ctx.core.directory.member(&node)
}

/// The form as first shown: sensible defaults for the consent and the handover.
fn defaults(ctx: &Ctx, m: &VerifiedMember, service: Option<&str>) -> FormData {
    let today = clock::today(ctx.core.clock.now());
    let valid = today.replace_year(today.year() + 1).unwrap_or(today);
    let mut f = FormData::from_pairs([
        ("stelle", m.member.node_id.to_string()),
        ("consent_form", "written".into()),
        ("consent_given_on", clock::iso_date(today)),
        ("consent_valid_until", clock::iso_date(valid)),
        ("consent_recorded_by", ctx.user.display_name.clone()),
        ("sender_contact", ctx.user.display_name.clone()),
        ("slot_minutes", "60".into()),
    ]);
    if let Some(s) = service.and_then(|id| m.profile.services.iter().find(|s| s.id == id)) {
        f.set("angebot", s.id.clone());
        if let Some(field) = s.fields.first() {
            f.set("need_field_1", labels::field_key(*field).into());
        }
    }
    f
}

fn text_input(
    f: &FormData,
    errors: &[(String, String)],
    name: &str,
    label: &str,
    hint: &str,
    multi: bool,
) -> Markup {
    let hint_id = format!("{name}-hinweis");
    html! {
        label for=(name) { (label) }
        @if !hint.is_empty() { p.hint id=(hint_id) { (hint) } }
        @if multi {
            textarea id=(name) name=(name) rows="3"
                aria-describedby=[(!hint.is_empty()).then_some(&hint_id)]
                aria-invalid=[has_error(errors, name).then_some("true")] { (f.raw(name)) }
        } @else {
            input id=(name) type="text" name=(name) value=(f.raw(name))
                aria-describedby=[(!hint.is_empty()).then_some(&hint_id)]
                aria-invalid=[has_error(errors, name).then_some("true")];
        }
        (field_error(errors, name))
    }
}

fn render_form(ctx: &Ctx, m: &VerifiedMember, f: &FormData, errors: &[(String, String)]) -> Markup {
    let service = f.get("angebot");
    let cats: BTreeSet<&str> = f
        .all("consent_categories")
        .iter()
        .map(String::as_str)
        .collect();
    let consent_form = f.get("consent_form").unwrap_or_default();
    html! {
        (error_summary(errors))
        form.referral method="post" action="/vermittlungen/neu" enctype="multipart/form-data" novalidate {
            (csrf(ctx))
            input type="hidden" name="stelle" value=(m.member.node_id.to_string());
            section.card {
                h2 { "An wen?" }
                p.chosen {
                    strong { (m.member.name) }
                    " · " (m.member.kind.label_de()) " · "
                    a href="/vermittlungen/neu" { "andere Stelle wählen" }
                }
                div.field {
                    label for="angebot" { "Angebot" }
                    select #angebot name="angebot" {
                        option value="" { "kein bestimmtes Angebot" }
                        @for s in &m.profile.services {
                            option value=(s.id) selected[service.as_deref() == Some(s.id.as_str())] {
                                (s.name) " (" (labels::capacity(s.capacity)) ")"
                            }
                        }
                    }
                }
            }
            section.card #einwilligung {
                h2 { "Einwilligung" }
                p.hint {
                    "Ohne Einwilligung der Klientin oder des Klienten für diese Stelle, diesen Zweck "
                    "und diese Angaben wird nichts gesendet. Die Einwilligung kann jederzeit widerrufen werden."
                }
                div.field {
                    label for="consent_purpose" { "Zweck" }
                    p.hint #consent_purpose-hinweis { "Wofür darf die andere Stelle die Angaben verwenden? z. B. „Beratung zur Wohnungssuche“" }
                    input #consent_purpose type="text" name="consent_purpose" value=(f.raw("consent_purpose"))
                        aria-describedby="consent_purpose-hinweis"
                        aria-invalid=[has_error(errors, "consent_purpose").then_some("true")];
                    (field_error(errors, "consent_purpose"))
                }
                fieldset #consent_categories aria-invalid=[has_error(errors, "consent_categories").then_some("true")] {
                    legend { "Welche Angaben dürfen weitergegeben werden?" }
                    (field_error(errors, "consent_categories"))
                    div.choices.columns {
                        @for c in DataCategory::ALL {
                            @let id = format!("cat_{}", c.as_str());
                            div.choice {
                                input id=(id) type="checkbox" name="consent_categories" value=(c.as_str())
                                    checked[cats.contains(c.as_str())] data-consent-category=(c.as_str());
                                label for=(id) { (labels::category(c)) }
                            }
                        }
                    }
                }
                fieldset {
                    legend { "Form der Einwilligung" }
                    div.choices {
                        div.choice {
                            input #form_written type="radio" name="consent_form" value="written" checked[consent_form != "verbal"];
                            label for="form_written" { "schriftlich (unterschriebenes Formular)" }
                        }
                        div.choice {
                            input #form_verbal type="radio" name="consent_form" value="verbal" checked[consent_form == "verbal"];
                            label for="form_verbal" { "mündlich (von Ihnen dokumentiert)" }
                        }
                    }
                }
                div.row {
                    div.field {
                        label for="consent_given_on" { "Erteilt am" }
                        input #consent_given_on type="date" name="consent_given_on" value=(f.raw("consent_given_on"))
                            aria-invalid=[has_error(errors, "consent_given_on").then_some("true")];
                        (field_error(errors, "consent_given_on"))
                    }
                    div.field {
                        label for="consent_valid_until" { "Gültig bis" }
                        input #consent_valid_until type="date" name="consent_valid_until" value=(f.raw("consent_valid_until"))
                            aria-invalid=[has_error(errors, "consent_valid_until").then_some("true")];
                        (field_error(errors, "consent_valid_until"))
                    }
                    div.field {
                        label for="consent_recorded_by" { "Erfasst von" }
                        input #consent_recorded_by type="text" name="consent_recorded_by" value=(f.raw("consent_recorded_by"))
                            aria-invalid=[has_error(errors, "consent_recorded_by").then_some("true")];
                        (field_error(errors, "consent_recorded_by"))
                    }
                }
                div.field {
                    label for="consent_scan" { "Unterschriebenes Formular (optional)" }
                    p.hint #consent_scan-hinweis { "PDF oder Foto, höchstens 2 MB." }
                    input #consent_scan type="file" name="consent_scan" accept="application/pdf,image/*"
                        aria-describedby="consent_scan-hinweis";
                    (field_error(errors, "consent_scan"))
                }
            }
            section.card #klient {
                h2 { "Angaben zur Person" }
                p.hint {
                    "Geben Sie nur an, was die andere Stelle wirklich braucht und wofür die Einwilligung vorliegt. "
                    "Alle Felder sind freiwillig."
                }
                div.field data-category="name" {
                    (text_input(f, errors, CLIENT_FIELDS[0].0, CLIENT_FIELDS[0].1, CLIENT_FIELDS[0].4, false))
                }
                div.field data-category="date_of_birth" {
                    label for="client_dob" { "Geburtsdatum" }
                    input #client_dob type="date" name="client_dob" value=(f.raw("client_dob"))
                        aria-invalid=[has_error(errors, "client_dob").then_some("true")];
                    (field_error(errors, "client_dob"))
                }
                @for (name, label, cat, multi, hint) in &CLIENT_FIELDS[1..] {
                    div.field data-category=(cat.as_str()) {
                        (text_input(f, errors, name, label, hint, *multi))
                    }
                }
                fieldset #needs data-category="needs" {
                    legend { "Bedarfe" }
                    @for i in 1..=NEEDS {
                        @let field_name = format!("need_field_{i}");
                        @let text_name = format!("need_text_{i}");
                        @let chosen = f.get(&field_name).and_then(|k| labels::field_from_key(&k));
                        div.row.need {
                            div.field {
                                label for=(field_name) { "Handlungsfeld " (i) }
                                select id=(field_name) name=(field_name) {
                                    option value="" { "–" }
                                    @for fa in FieldOfAction::ALL {
                                        option value=(labels::field_key(fa)) selected[chosen == Some(fa)] { (fa.label_de()) }
                                    }
                                }
                            }
                            div.field.wide {
                                label for=(text_name) { "Was wird gebraucht? (" (i) ")" }
                                input id=(text_name) type="text" name=(text_name) value=(f.raw(&text_name))
                                    aria-invalid=[has_error(errors, &text_name).then_some("true")];
                                (field_error(errors, &text_name))
                            }
                        }
                    }
                }
                div.field data-category="attachments" {
                    label for="client_document" { "Dokument anhängen (optional)" }
                    p.hint #client_document-hinweis { "z. B. ein Bescheid; höchstens 2 MB." }
                    input #client_document type="file" name="client_document" aria-describedby="client_document-hinweis";
                    (field_error(errors, "client_document"))
                }
            }
            section.card #uebergabe {
                h2 { "Warme Übergabe (optional)" }
                p.hint {
                    "Schlagen Sie Termine für ein gemeinsames Übergabegespräch mit der Klientin oder dem Klienten vor. "
                    "Sie können das auch später tun, oder die andere Stelle schlägt Termine vor."
                }
                (handover::fields(f, errors, false))
            }
            section.card {
                h2 { "Absenden" }
                div.field {
                    label for="sender_contact" { "So erreicht die andere Stelle Sie" }
                    input #sender_contact type="text" name="sender_contact" value=(f.raw("sender_contact"))
                        aria-invalid=[has_error(errors, "sender_contact").then_some("true")];
                    (field_error(errors, "sender_contact"))
                }
                button.button.primary type="submit" { "Vermittlung senden" }
            }
        }
    }
}

fn attachment(u: &Upload) -> Attachment {
    Attachment {
        file_name: u.file_name.chars().take(200).collect(),
        media_type: u.media_type.clone(),
        content: u.content.clone(),
    }
}

/// Reads the form into a referral; field errors for what cannot be read.
fn parse(ctx: &Ctx, m: &VerifiedMember, f: &FormData) -> Result<NewReferral, Errors> {
    let mut errors: Errors = Vec::new();
    let now = ctx.core.clock.now();
    let date_of_birth = f.get("client_dob").and_then(|d| {
        let parsed = clock::parse_date(&d);
        if parsed.is_none() {
            errors.push((
                "client_dob".into(),
                "Das Geburtsdatum ist kein gültiges Datum.".into(),
            ));
        }
        parsed
    });
    let mut needs = Vec::new();
    for i in 1..=NEEDS {
        let Some(description) = f.get(&format!("need_text_{i}")) else {
            continue;
        };
        match f
            .get(&format!("need_field_{i}"))
            .and_then(|k| labels::field_from_key(&k))
        {
            Some(field) => needs.push(Need { field, description }),
            None => errors.push((
                format!("need_text_{i}"),
                format!("Bitte wählen Sie das Handlungsfeld für Bedarf {i}."),
            )),
        }
    }
    let client = ClientData {
        name: f.get("client_name"),
        date_of_birth,
        contact: f.get("client_contact"),
        languages: f
            .get("client_languages")
            .map(|l| {
                l.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        residence_status: f.get("client_residence"),
        household: f.get("client_household"),
        needs,
        summary: f.get("client_summary"),
        attachments: f
            .file("client_document")
            .map(attachment)
            .into_iter()
            .collect(),
    };

    // The consent: none at all if nothing of it was filled in (the workflow then says
    // that a referral needs consent).
    let categories: BTreeSet<DataCategory> = f
        .all("consent_categories")
        .iter()
        .filter_map(|c| DataCategory::ALL.into_iter().find(|x| x.as_str() == c))
        .collect();
    let purpose = f.get("consent_purpose");
    let scan = f.file("consent_scan");
    let consent = if purpose.is_none() && categories.is_empty() && scan.is_none() {
        None
    } else {
        let mut date = |name: &str, what: &str| match f.get(name).map(|d| clock::parse_date(&d)) {
            Some(Some(d)) => Some(d),
            Some(None) => {
                errors.push((name.into(), format!("„{what}“ ist kein gültiges Datum.")));
                None
            }
            None => {
                errors.push((name.into(), format!("Bitte geben Sie an: {what}.")));
                None
            }
        };
        let given_on = date("consent_given_on", "Erteilt am");
        let valid_until = date("consent_valid_until", "Gültig bis");
        match (given_on, valid_until) {
            (Some(given_on), Some(valid_until)) => Some(Consent {
                recipient: m.member.node_id,
                purpose: purpose.unwrap_or_default(),
                categories,
                form: if f.get("consent_form").as_deref() == Some("verbal") {
                    ConsentForm::Verbal
                } else {
                    ConsentForm::Written
                },
                given_on,
                valid_until,
                recorded_by: f.get("consent_recorded_by").unwrap_or_default(),
                scanned_form: scan.map(attachment),
            }),
            _ => None,
        }
    };
    let handover = handover::parse(f, &mut errors, false, now);
    let service_id = f
        .get("angebot")
        .filter(|s| m.profile.services.iter().any(|x| &x.id == s));
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(NewReferral {
        recipient: m.member.node_id,
        service_id,
        client,
        consent,
        handover,
        sender_contact: f.get("sender_contact"),
    })
}

/// Where on the form a workflow refusal belongs.
fn error_field(e: &WorkflowError) -> &'static str {
    match e {
        WorkflowError::NoConsent => "consent_purpose",
        WorkflowError::Consent(c) => match c {
            ConsentError::NoPurpose => "consent_purpose",
            ConsentError::NoRecorder => "consent_recorded_by",
            ConsentError::Expired { .. } | ConsentError::InvertedDates { .. } => {
                "consent_valid_until"
            }
            ConsentError::NotYetGiven { .. } => "consent_given_on",
            ConsentError::ScannedForm(_) => "consent_scan",
            ConsentError::CategoriesNotCovered { .. } => "consent_categories",
            _ => "einwilligung",
        },
        WorkflowError::ClientData(_) => "klient",
        _ => "",
    }
}

async fn step_one(ctx: &Ctx) -> Markup {
    let q = ServiceQuery::from_form(&ctx.query);
    let hits = search::search(&ctx.core, &q);
    layout::page(
        ctx,
        Nav::NewReferral,
        "Neue Vermittlung",
        html! {
            ol.steps aria-label="Schritte" {
                li aria-current="step" { "1. Angebot finden" }
                li { "2. Angaben und Einwilligung" }
            }
            p.lead { "Suchen Sie im Verzeichnis die passende Stelle und wählen Sie ein Angebot." }
            (search_form(ctx, "/vermittlungen/neu", &ctx.query))
            (results(&hits, true, &ctx.core.id))
        },
    )
}

fn step_two(ctx: &Ctx, m: &VerifiedMember, f: &FormData, errors: &[(String, String)]) -> Markup {
    layout::page(
        ctx,
        Nav::NewReferral,
        "Neue Vermittlung",
        html! {
            ol.steps aria-label="Schritte" {
                li { a href="/vermittlungen/neu" { "1. Angebot finden" } }
                li aria-current="step" { "2. Angaben und Einwilligung" }
            }
            (render_form(ctx, m, f, errors))
        },
    )
}

/// `GET /vermittlungen/neu`.
pub(crate) async fn page(ctx: Ctx) -> Result<Response, UiError> {
    ctx.require_case_work()?;
    let chosen = ctx.query.get("stelle").and_then(|s| member(&ctx, &s));
    Ok(match chosen {
        Some(m) => {
            let f = defaults(&ctx, &m, ctx.query.get("angebot").as_deref());
            step_two(&ctx, &m, &f, &[]).into_response()
        }
        None => step_one(&ctx).await.into_response(),
    })
}

/// `POST /vermittlungen/neu`.
pub(crate) async fn submit(ctx: Ctx, f: FormData) -> Result<Response, UiError> {
    ctx.check_csrf(&f)?;
    ctx.require_case_work()?;
    let Some(m) = f.get("stelle").and_then(|s| member(&ctx, &s)) else {
        return Err(UiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Stelle nicht im Netzwerk",
            "Die gewählte Stelle ist nicht (mehr) im Netzwerk. Bitte wählen Sie im Verzeichnis eine andere.",
        ));
    };
    let refill = |errors: Errors| {
        let mut errors = errors;
        if f.file("consent_scan").is_some() || f.file("client_document").is_some() {
            errors.push((
                String::new(),
                "Gewählte Dateien müssen Sie nach einem Fehler noch einmal auswählen.".into(),
            ));
        }
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            step_two(&ctx, &m, &f, &errors),
        )
            .into_response()
    };
    let new = match parse(&ctx, &m, &f) {
        Ok(new) => new,
        Err(errors) => return Ok(refill(errors)),
    };
    let actor = ctx.actor();
    match actions::create(&ctx.core, &actor, new).await {
        Ok(record) => {
            audit::record(
                &ctx.core,
                &actor.username,
                "referral.create",
                Some(record.id),
                &format!("to {}", record.peer.fingerprint()),
            )
            .await?;
            Ok(layout::done(
                &format!("/vermittlungen/{}", record.id),
                "created",
            ))
        }
        Err(e @ (WorkflowError::Send(_) | WorkflowError::Store(_) | WorkflowError::Vault(_))) => {
            Err(UiError::internal(e))
        }
        Err(WorkflowError::Forbidden(m)) => Err(UiError::forbidden(m)),
        Err(e) => Ok(refill(vec![(
            error_field(&e).to_string(),
            messages::workflow(&e),
        )])),
    }
}
