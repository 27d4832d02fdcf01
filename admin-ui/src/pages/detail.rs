//! One referral: overview, the client's data and consent (for those with full access),
//! the handover, the timeline with each message's delivery state, and a form for each
//! action the workflow allows now — and only those.
//!
//! Every view of case content is audited (`referral.read`), as every action is
//! (`referral.<action>`), like the JSON API does.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lotse_node::audit;
use lotse_node::auth::{Role, users};
use lotse_node::core::Core;
use lotse_node::referrals::query::{self, Detail, TimelineEntry};
use lotse_node::referrals::{Action, Erasure, WorkflowError, actions};
use lotse_protocol::ReferralId;
use lotse_protocol::client::Attachment;
use lotse_protocol::consent::ConsentForm;
use lotse_protocol::referral::{ReferralState, Side};
use maud::{Markup, html};

use super::badge;
use super::handover::{self, Errors};
use crate::error::UiError;
use crate::forms::FormData;
use crate::layout::{self, Ctx, Nav, csrf, error_summary, field_error, has_error};
use crate::{clock, labels, messages};

fn parse_id(id: &str) -> Result<ReferralId, UiError> {
    id.parse().map_err(|_| {
        UiError::not_found("Diese Vermittlung gibt es nicht. Bitte prüfen Sie den Link.")
    })
}

/// The detail, audited if it shows case content.
async fn load(ctx: &Ctx, id: &ReferralId) -> Result<Detail, UiError> {
    ctx.require_case_work()?;
    let actor = ctx.actor();
    let detail = query::detail(&ctx.core, &actor, id)?;
    if detail.case.is_some() {
        audit::record(
            &ctx.core,
            &actor.username,
            "referral.read",
            Some(*id),
            "case file",
        )
        .await?;
    }
    Ok(detail)
}

/// `GET /vermittlungen/{id}`.
pub(crate) async fn page(ctx: Ctx, Path(id): Path<String>) -> Result<Response, UiError> {
    let id = parse_id(&id)?;
    let detail = load(&ctx, &id).await?;
    Ok(render(&ctx, &detail, &FormData::new(), &[], None).into_response())
}

fn title(d: &Detail) -> String {
    match d.summary.record.side {
        Side::Sender => format!("Vermittlung an {}", d.summary.record.peer_name),
        Side::Receiver => format!("Vermittlung von {}", d.summary.record.peer_name),
    }
}

fn erasure(e: Erasure) -> String {
    match e {
        Erasure::None => "keine – die Einwilligung besteht".into(),
        Erasure::Requested { at } => format!(
            "Einwilligung widerrufen am {}; die Löschung bei der anderen Stelle ist angefordert",
            clock::date_time(at)
        ),
        Erasure::Erased { at } => {
            format!("Angaben zur Person gelöscht am {}", clock::date_time(at))
        }
        Erasure::Confirmed { at } => format!(
            "Die andere Stelle hat die Löschung am {} bestätigt",
            clock::date_time(at)
        ),
    }
}

fn overview(ctx: &Ctx, d: &Detail) -> Markup {
    let r = &d.summary.record;
    html! {
        section.card aria-labelledby="ueberblick" {
            h2 #ueberblick { "Überblick" }
            dl.facts {
                dt { "Status" } dd { (badge(r.state)) }
                dt { @match r.side { Side::Sender => "An", Side::Receiver => "Von" } }
                dd { (r.peer_name) }
                dt { "Angebot" } dd { (super::referral_service(&ctx.core, r)) }
                dt { "Handlungsfelder" } dd { (labels::fields(&r.fields)) }
                dt { @match r.side { Side::Sender => "Gesendet am", Side::Receiver => "Eingegangen am" } }
                dd { (clock::date_time(r.created_at)) }
                dt { "Zuständig" }
                dd {
                    @match &r.owner {
                        Some(o) => (super::user_name(&ctx.core, o)),
                        None => span.badge.badge-new { "noch niemand – wartet im Eingang" },
                    }
                }
                @if let (Side::Sender, true, Some(due)) = (r.side, r.state.awaits_answer(), r.answer_due) {
                    dt { "Antwort erwartet bis" } dd { (clock::date_time(due)) }
                }
                dt { "Wiedervorlage" }
                dd { @match r.follow_up { Some(d) => (clock::date(d)), None => "keine" } }
                @if let Some(v) = r.consent_valid_until {
                    dt { "Einwilligung gültig bis" } dd { (clock::date(v)) }
                }
                dt { "Datenlöschung" } dd { (erasure(r.erasure)) }
            }
        }
    }
}

fn document_link(id: &ReferralId, which: &str, a: &Attachment) -> Markup {
    html! {
        a href=(format!("/vermittlungen/{id}/dokument/{which}")) download=(a.file_name) {
            (a.file_name)
        }
        " (" (a.content.len().div_ceil(1024)) " KB)"
    }
}

fn case_file(d: &Detail) -> Markup {
    let id = d.summary.record.id;
    let Some(case) = &d.case else {
        return html! {
            @if d.summary.record.erasure != Erasure::None {
                section.card aria-labelledby="person" {
                    h2 #person { "Angaben zur Person" }
                    p.empty {
                        "Die Angaben zur Person und die Notizen wurden nach dem Widerruf der Einwilligung gelöscht. "
                        "Erhalten bleiben nur Status und Verlauf ohne persönliche Daten."
                    }
                }
            }
        };
    };
    let c = &case.client;
    let consent = &case.consent;
    html! {
        section.card aria-labelledby="person" {
            h2 #person { "Angaben zur Person" }
            dl.facts {
                @if let Some(v) = &c.name { dt { "Name" } dd { (v) } }
                @if let Some(v) = c.date_of_birth { dt { "Geburtsdatum" } dd { (clock::date(v)) } }
                @if let Some(v) = &c.contact { dt { "Kontakt" } dd { (v) } }
                @if !c.languages.is_empty() { dt { "Sprachen" } dd { (c.languages.join(", ")) } }
                @if let Some(v) = &c.residence_status { dt { "Aufenthaltsstatus" } dd { (v) } }
                @if let Some(v) = &c.household { dt { "Haushalt und Familie" } dd.pre { (v) } }
                @if !c.needs.is_empty() {
                    dt { "Bedarfe" }
                    dd { ul.plain { @for n in &c.needs { li { strong { (n.field.label_de()) ": " } (n.description) } } } }
                }
                @if let Some(v) = &c.summary { dt { "Situation" } dd.pre { (v) } }
                @if !c.attachments.is_empty() {
                    dt { "Dokumente" }
                    dd { ul.plain { @for (i, a) in c.attachments.iter().enumerate() { li { (document_link(&id, &i.to_string(), a)) } } } }
                }
                dt { "Ansprechperson der sendenden Stelle" } dd { (case.sender_contact) }
            }
            @if c == &Default::default() {
                p.empty { "Es wurden keine Angaben zur Person übermittelt." }
            }
        }
        section.card aria-labelledby="einwilligung" {
            h2 #einwilligung { "Einwilligung" }
            dl.facts {
                dt { "Zweck" } dd { (consent.purpose) }
                dt { "Freigegebene Angaben" }
                dd {
                    @if consent.categories.is_empty() { "keine" }
                    ul.plain { @for cat in &consent.categories { li { (labels::category(*cat)) } } }
                }
                dt { "Form" }
                dd { @match consent.form { ConsentForm::Written => "schriftlich", ConsentForm::Verbal => "mündlich, dokumentiert" } }
                dt { "Erteilt am" } dd { (clock::date(consent.given_on)) }
                dt { "Gültig bis" } dd { (clock::date(consent.valid_until)) }
                dt { "Erfasst von" } dd { (consent.recorded_by) }
                @if let Some(scan) = &consent.scanned_form {
                    dt { "Formular" } dd { (document_link(&id, "einwilligung", scan)) }
                }
            }
        }
    }
}

fn handover_card(d: &Detail) -> Markup {
    let state = d.summary.record.state;
    let agreed = d.timeline.iter().rev().find_map(|e| e.slot);
    html! {
        @if let Some(p) = &d.current_proposal {
            section.card aria-labelledby="uebergabe" {
                h2 #uebergabe { "Übergabe" }
                @if let (ReferralState::HandoverScheduled | ReferralState::HandoverDone | ReferralState::InProgress, Some(s)) = (state, agreed) {
                    p.agreed { strong { "Vereinbarter Termin: " } (clock::slot(s.starts_at, s.minutes)) }
                } @else if let ReferralState::HandoverProposed { by } = state {
                    p { @if by == d.summary.record.side { "Ihr Vorschlag wartet auf die Bestätigung der anderen Stelle." } @else { "Die andere Stelle hat Termine vorgeschlagen. Bitte bestätigen Sie einen." } }
                }
                (handover::show(p))
            }
        }
    }
}

fn delivery(e: &TimelineEntry) -> Markup {
    html! {
        @if let Some(d) = &e.delivery {
            @match d.state.as_str() {
                "delivered" => span.delivery.ok { "zugestellt" @if let Some(at) = d.at { " am " (clock::date_time(at)) } },
                "queued" => span.delivery.wait {
                    "wird zugestellt"
                    @if d.last_error.is_some() { " – die Stelle ist gerade nicht erreichbar; Lotse versucht es weiter" }
                },
                "expired" => span.delivery.bad { "nicht zugestellt" @if let Some(at) = d.at { " – abgelaufen am " (clock::date_time(at)) } },
                "received" => span.delivery.ok { "empfangen" },
                _ => {},
            }
        }
    }
}

fn timeline(d: &Detail) -> Markup {
    let our_side = d.summary.record.side;
    html! {
        section.card aria-labelledby="verlauf" {
            h2 #verlauf { "Verlauf" }
            ol.timeline {
                @for e in d.timeline.iter().rev() {
                    li class=(if e.side == our_side { "ours" } else { "theirs" }) {
                        div.when { (clock::date_time(e.at)) }
                        div.what {
                            strong { (labels::event(&e.kind)) }
                            @if let Some(info) = &e.info { " – " (labels::event_info(&e.kind, info)) }
                            " " (badge(e.state_after))
                        }
                        div.by {
                            @if e.side == our_side { (e.actor) " (Ihre Stelle)" } @else { (e.actor) }
                            " " (delivery(e))
                        }
                        @if let Some(n) = &e.note { p.note.pre { (n) } }
                        @if let Some(c) = &e.contact { p.note { "Ansprechperson: " (c) } }
                        @if let Some(s) = e.slot { p.note { "Termin: " (clock::slot(s.starts_at, s.minutes)) } }
                        @if let Some(p) = &e.proposal { (handover::show(p)) }
                    }
                }
            }
        }
    }
}

/// Colleagues a team lead can hand the referral to.
fn colleagues(core: &Core) -> Vec<(String, String)> {
    users::list_users(core)
        .unwrap_or_default()
        .into_iter()
        .filter(|u| !u.disabled && matches!(u.role, Role::CaseManager | Role::TeamLead))
        .map(|u| (u.username, u.display_name))
        .collect()
}

fn text_area(
    f: &FormData,
    errors: &[(String, String)],
    name: &str,
    label: &str,
    required: bool,
) -> Markup {
    html! {
        div.field {
            label for=(name) { (label) @if !required { " (optional)" } }
            textarea id=(name) name=(name) rows="3" required[required]
                aria-invalid=[has_error(errors, name).then_some("true")] { (f.raw(name)) }
            (field_error(errors, name))
        }
    }
}

fn action_form(ctx: &Ctx, d: &Detail, action: &str, body: Markup, button_class: &str) -> Markup {
    html! {
        form.action method="post" action=(format!("/vermittlungen/{}", d.summary.record.id)) {
            (csrf(ctx))
            input type="hidden" name="aktion" value=(action);
            (body)
            button class=(button_class) type="submit" { (labels::action(action)) }
        }
    }
}

fn actions_panel(
    ctx: &Ctx,
    d: &Detail,
    f: &FormData,
    errors: &[(String, String)],
    failed: Option<&str>,
) -> Markup {
    let allowed = |a: &str| d.allowed_actions.iter().any(|x| x == a);
    let r = &d.summary.record;
    let submitted = f.get("aktion");
    // Values typed into the form that failed; other forms start empty.
    let empty = FormData::new();
    let vals = |a: &str| {
        if submitted.as_deref() == Some(a) {
            f
        } else {
            &empty
        }
    };
    let errs = |a: &str| {
        if submitted.as_deref() == Some(a) {
            errors
        } else {
            &[] as &[(String, String)]
        }
    };
    let inbox_only =
        d.summary.unassigned && r.owner.is_none() && d.case.is_none() && r.erasure == Erasure::None;
    let main_actions = [
        "accept",
        "confirm_handover",
        "handover_done",
        "propose_handover",
        "status_update",
        "close",
        "note",
    ];
    let any_main = main_actions.iter().any(|a| allowed(a));
    html! {
        section.card.actions-card aria-labelledby="schritte" {
            h2 #schritte { "Nächste Schritte" }
            @if let Some(msg) = failed {
                div.error-summary role="alert" tabindex="-1" #fehler { p { (msg) } }
            }
            (error_summary(errors))
            @if inbox_only && allowed("assign") {
                p { "Diese Vermittlung wartet im Eingang Ihrer Stelle. Übernehmen Sie sie, um die Angaben zur Person zu sehen und zu antworten." }
                (action_form(ctx, d, "assign", html! {
                    input type="hidden" name="assign_user" value=(ctx.user.username);
                }, "button primary"))
            }
            @if !any_main && !inbox_only {
                p.empty {
                    @if r.state.is_terminal() { "Diese Vermittlung ist beendet." }
                    @else if r.state.awaits_answer() && r.side == Side::Sender { "Sie warten auf die Antwort der anderen Stelle." }
                    @else { "Gerade ist die andere Stelle am Zug." }
                }
            }
            @if allowed("accept") {
                details.action-box open {
                    summary { "Annehmen" }
                    (action_form(ctx, d, "accept", html! {
                        div.field {
                            label for="accept_contact" { "Ansprechperson bei Ihrer Stelle (optional)" }
                            input #accept_contact type="text" name="accept_contact" value=(vals("accept").raw("accept_contact"))
                                placeholder=(format!("{}, Telefon …", ctx.user.display_name));
                        }
                        (text_area(vals("accept"), errs("accept"), "accept_note", "Nachricht an die sendende Stelle", false))
                    }, "button primary"))
                }
            }
            @if allowed("confirm_handover") {
                @if let Some(p) = &d.current_proposal {
                    details.action-box open {
                        summary { "Übergabetermin bestätigen" }
                        (action_form(ctx, d, "confirm_handover", html! {
                            fieldset #confirm_slot {
                                legend { "Welcher Termin passt?" }
                                (field_error(errs("confirm_handover"), "confirm_slot"))
                                div.choices {
                                    @for (i, s) in p.slots.iter().enumerate() {
                                        @let id = format!("confirm_slot_{i}");
                                        div.choice {
                                            input id=(id) type="radio" name="confirm_slot" value=(handover::slot_value(s))
                                                checked[p.slots.len() == 1 || vals("confirm_handover").raw("confirm_slot") == handover::slot_value(s)];
                                            label for=(id) { (clock::slot(s.starts_at, s.minutes)) }
                                        }
                                    }
                                }
                            }
                            (text_area(vals("confirm_handover"), errs("confirm_handover"), "confirm_note", "Hinweis", false))
                        }, "button primary"))
                    }
                }
            }
            @if allowed("handover_done") {
                details.action-box open {
                    summary { "Übergabe erfolgt" }
                    (action_form(ctx, d, "handover_done", html! {
                        (text_area(vals("handover_done"), errs("handover_done"), "done_note", "Wie ist das Gespräch gelaufen?", false))
                    }, "button primary"))
                }
            }
            @if allowed("status_update") {
                details.action-box open[r.state != ReferralState::Accepted] {
                    summary { "Rückmeldung senden" }
                    (action_form(ctx, d, "status_update", html! {
                        (text_area(vals("status_update"), errs("status_update"), "update_note", "Rückmeldung an die sendende Stelle", true))
                    }, "button primary"))
                }
            }
            @if allowed("propose_handover") {
                details.action-box open[r.state == ReferralState::Accepted || submitted.as_deref() == Some("propose_handover")] {
                    summary { "Übergabetermin vorschlagen" }
                    (action_form(ctx, d, "propose_handover", handover::fields(vals("propose_handover"), errs("propose_handover"), true), "button primary"))
                }
            }
            @if allowed("close") {
                details.action-box open[submitted.as_deref() == Some("close")] {
                    summary { "Abschließen" }
                    (action_form(ctx, d, "close", html! {
                        div.field {
                            label for="close_outcome" { "Ergebnis" }
                            select #close_outcome name="close_outcome" required
                                aria-invalid=[has_error(errs("close"), "close_outcome").then_some("true")] {
                                option value="" { "Bitte wählen" }
                                @for o in labels::OUTCOMES {
                                    @let key = actions::outcome_name(o);
                                    option value=(key) selected[vals("close").raw("close_outcome") == key] { (labels::outcome(o)) }
                                }
                            }
                            (field_error(errs("close"), "close_outcome"))
                        }
                        (text_area(vals("close"), errs("close"), "close_note", "Abschlussnotiz", false))
                    }, "button"))
                }
            }
            @if allowed("note") {
                details.action-box open[submitted.as_deref() == Some("note")] {
                    summary { "Notiz an die andere Stelle" }
                    (action_form(ctx, d, "note", html! {
                        (text_area(vals("note"), errs("note"), "note_text", "Notiz", true))
                    }, "button"))
                }
            }
            @if allowed("decline") {
                details.action-box open[submitted.as_deref() == Some("decline")] {
                    summary { "Ablehnen" }
                    (action_form(ctx, d, "decline", html! {
                        p.hint { "Die sendende Stelle behält dann die Fallverantwortung." }
                        div.field {
                            label for="decline_reason" { "Grund" }
                            select #decline_reason name="decline_reason" required
                                aria-invalid=[has_error(errs("decline"), "decline_reason").then_some("true")] {
                                option value="" { "Bitte wählen" }
                                @for reason in labels::DECLINE_REASONS {
                                    @let key = actions::decline_name(reason);
                                    option value=(key) selected[vals("decline").raw("decline_reason") == key] { (labels::decline(reason)) }
                                }
                            }
                            (field_error(errs("decline"), "decline_reason"))
                        }
                        (text_area(vals("decline"), errs("decline"), "decline_note", "Erläuterung", false))
                    }, "button danger"))
                }
            }
        }
        @if allowed("set_follow_up") || (allowed("assign") && !inbox_only) {
            section.card aria-labelledby="organisation" {
                h2 #organisation { "Organisation" }
                @if allowed("set_follow_up") {
                    (action_form(ctx, d, "set_follow_up", html! {
                        div.field {
                            label for="follow_up" { "Wiedervorlage am" }
                            input #follow_up type="date" name="follow_up"
                                value=(r.follow_up.map(clock::iso_date).unwrap_or_default())
                                aria-invalid=[has_error(errs("set_follow_up"), "follow_up").then_some("true")];
                            p.hint { "Leer lassen, um die Wiedervorlage zu löschen." }
                            (field_error(errs("set_follow_up"), "follow_up"))
                        }
                    }, "button"))
                }
                @if allowed("assign") && ctx.user.role == Role::TeamLead {
                    (action_form(ctx, d, "assign", html! {
                        div.field {
                            label for="assign_user" { "Zuständig" }
                            select #assign_user name="assign_user" {
                                @for (name, display) in colleagues(&ctx.core) {
                                    option value=(name) selected[r.owner.as_deref() == Some(name.as_str())] { (display) " (" (name) ")" }
                                }
                            }
                        }
                    }, "button"))
                }
            }
        }
        @if allowed("withdraw") || allowed("withdraw_consent") {
            section.card.danger-zone aria-labelledby="beenden" {
                h2 #beenden { "Zurückziehen und Widerruf" }
                @if allowed("withdraw") {
                    details.action-box open[submitted.as_deref() == Some("withdraw")] {
                        summary { "Vermittlung zurückziehen" }
                        (action_form(ctx, d, "withdraw", html! {
                            (text_area(vals("withdraw"), errs("withdraw"), "withdraw_note", "Grund für die andere Stelle", false))
                            div.field.checkbox {
                                input #withdraw_confirm type="checkbox" name="withdraw_confirm" value="ja" required;
                                label for="withdraw_confirm" { "Ja, die Vermittlung soll zurückgezogen werden." }
                                (field_error(errs("withdraw"), "withdraw_confirm"))
                            }
                        }, "button danger"))
                    }
                }
                @if allowed("withdraw_consent") {
                    details.action-box open[submitted.as_deref() == Some("withdraw_consent")] {
                        summary { "Einwilligung widerrufen" }
                        (action_form(ctx, d, "withdraw_consent", html! {
                            p.hint {
                                "Wenn die Klientin oder der Klient die Einwilligung widerruft, werden die Angaben zur Person "
                                "hier und bei der anderen Stelle gelöscht. Die andere Stelle bestätigt die Löschung. "
                                "Das lässt sich nicht rückgängig machen."
                            }
                            div.field.checkbox {
                                input #consent_confirm type="checkbox" name="consent_confirm" value="ja" required;
                                label for="consent_confirm" { "Die Einwilligung wurde widerrufen; die Daten sollen gelöscht werden." }
                                (field_error(errs("withdraw_consent"), "consent_confirm"))
                            }
                        }, "button danger"))
                    }
                }
            }
        }
    }
}

fn render(
    ctx: &Ctx,
    d: &Detail,
    f: &FormData,
    errors: &[(String, String)],
    failed: Option<&str>,
) -> Markup {
    let content = html! {
        div.detail {
            div.detail-main {
                (overview(ctx, d))
                (handover_card(d))
                (case_file(d))
                (timeline(d))
            }
            div.detail-side {
                (actions_panel(ctx, d, f, errors, failed))
            }
        }
    };
    let nav = match d.summary.record.side {
        Side::Sender => Nav::Outbox,
        Side::Receiver => Nav::Inbox,
    };
    layout::page(ctx, nav, &title(d), content)
}

fn required_text(f: &FormData, name: &str, errors: &mut Errors, message: &str) -> String {
    match f.get(name) {
        Some(t) => t,
        None => {
            errors.push((name.into(), message.into()));
            String::new()
        }
    }
}

/// Reads the submitted action.
fn parse_action(ctx: &Ctx, f: &FormData) -> Result<Action, Errors> {
    let mut errors = Errors::new();
    let action = match f.raw("aktion") {
        "accept" => Action::Accept {
            note: f.get("accept_note"),
            contact: f.get("accept_contact"),
        },
        "decline" => {
            let reason = labels::DECLINE_REASONS
                .into_iter()
                .find(|r| actions::decline_name(*r) == f.raw("decline_reason"));
            if reason.is_none() {
                errors.push((
                    "decline_reason".into(),
                    "Bitte wählen Sie einen Grund.".into(),
                ));
            }
            let note = f.get("decline_note");
            if reason == Some(lotse_protocol::referral::DeclineReason::Other) && note.is_none() {
                errors.push((
                    "decline_note".into(),
                    "Bitte erläutern Sie den Grund.".into(),
                ));
            }
            Action::Decline {
                reason: reason.unwrap_or(lotse_protocol::referral::DeclineReason::Other),
                note,
            }
        }
        "propose_handover" => match handover::parse(f, &mut errors, true, ctx.core.clock.now()) {
            Some(p) => Action::ProposeHandover {
                slots: p.slots,
                place: p.place,
                interpreter: p.interpreter,
                note: p.note,
            },
            None => return Err(errors),
        },
        "confirm_handover" => match handover::parse_slot_value(f.raw("confirm_slot")) {
            Some(slot) => Action::ConfirmHandover {
                slot,
                note: f.get("confirm_note"),
            },
            None => {
                errors.push((
                    "confirm_slot".into(),
                    "Bitte wählen Sie einen Termin.".into(),
                ));
                return Err(errors);
            }
        },
        "handover_done" => Action::HandoverDone {
            note: f.get("done_note"),
        },
        "status_update" => Action::StatusUpdate {
            note: required_text(
                f,
                "update_note",
                &mut errors,
                "Bitte schreiben Sie Ihre Rückmeldung.",
            ),
        },
        "note" => Action::Note {
            text: required_text(
                f,
                "note_text",
                &mut errors,
                "Bitte schreiben Sie eine Notiz.",
            ),
        },
        "close" => {
            let outcome = labels::OUTCOMES
                .into_iter()
                .find(|o| actions::outcome_name(*o) == f.raw("close_outcome"));
            match outcome {
                Some(outcome) => Action::Close {
                    outcome,
                    note: f.get("close_note"),
                },
                None => {
                    errors.push((
                        "close_outcome".into(),
                        "Bitte wählen Sie das Ergebnis.".into(),
                    ));
                    return Err(errors);
                }
            }
        }
        "withdraw" => {
            if !f.is_set("withdraw_confirm") {
                errors.push((
                    "withdraw_confirm".into(),
                    "Bitte bestätigen Sie, dass die Vermittlung zurückgezogen werden soll.".into(),
                ));
            }
            Action::Withdraw {
                note: f.get("withdraw_note"),
            }
        }
        "withdraw_consent" => {
            if !f.is_set("consent_confirm") {
                errors.push((
                    "consent_confirm".into(),
                    "Bitte bestätigen Sie den Widerruf.".into(),
                ));
            }
            Action::WithdrawConsent
        }
        "assign" => Action::Assign {
            user: required_text(
                f,
                "assign_user",
                &mut errors,
                "Bitte wählen Sie, wer zuständig ist.",
            ),
        },
        "set_follow_up" => match f.get("follow_up") {
            None => Action::SetFollowUp { date: None },
            Some(text) => match clock::parse_date(&text) {
                Some(d) => Action::SetFollowUp { date: Some(d) },
                None => {
                    errors.push(("follow_up".into(), "Das ist kein gültiges Datum.".into()));
                    return Err(errors);
                }
            },
        },
        _ => {
            errors.push((
                String::new(),
                "Unbekannte Aktion. Bitte laden Sie die Seite neu.".into(),
            ));
            return Err(errors);
        }
    };
    if errors.is_empty() {
        Ok(action)
    } else {
        Err(errors)
    }
}

/// `POST /vermittlungen/{id}`: one action.
pub(crate) async fn act(
    ctx: Ctx,
    Path(id): Path<String>,
    f: FormData,
) -> Result<Response, UiError> {
    ctx.check_csrf(&f)?;
    ctx.require_case_work()?;
    let id = parse_id(&id)?;
    let actor = ctx.actor();
    let action = match parse_action(&ctx, &f) {
        Ok(a) => a,
        Err(errors) => {
            let detail = load(&ctx, &id).await?;
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                render(&ctx, &detail, &f, &errors, None),
            )
                .into_response());
        }
    };
    let name = action.name();
    match actions::act(&ctx.core, &actor, id, action).await {
        Ok(_) => {
            audit::record(
                &ctx.core,
                &actor.username,
                &format!("referral.{name}"),
                Some(id),
                "",
            )
            .await?;
            Ok(layout::done(&format!("/vermittlungen/{id}"), name))
        }
        Err(
            e @ (WorkflowError::NotFound
            | WorkflowError::Send(_)
            | WorkflowError::Store(_)
            | WorkflowError::Vault(_)),
        ) => Err(e.into()),
        Err(e) => {
            let detail = load(&ctx, &id).await?;
            let msg = messages::workflow(&e);
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                render(&ctx, &detail, &f, &[], Some(&msg)),
            )
                .into_response())
        }
    }
}

/// `GET /vermittlungen/{id}/dokument/{n}`: an attached document (`0`, `1`, ...) or the
/// signed consent form (`einwilligung`), as a download. Audited like any case read.
pub(crate) async fn document(
    ctx: Ctx,
    Path((id, which)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let id = parse_id(&id)?;
    ctx.require_case_work()?;
    let actor = ctx.actor();
    let detail = query::detail(&ctx.core, &actor, &id)?;
    let Some(case) = detail.case else {
        return Err(UiError::not_found(
            "Dieses Dokument ist nicht (mehr) vorhanden.",
        ));
    };
    let doc = match which.as_str() {
        "einwilligung" => case.consent.scanned_form,
        n => n
            .parse::<usize>()
            .ok()
            .and_then(|i| case.client.attachments.get(i).cloned()),
    }
    .ok_or_else(|| UiError::not_found("Dieses Dokument ist nicht (mehr) vorhanden."))?;
    audit::record(
        &ctx.core,
        &actor.username,
        "referral.read",
        Some(id),
        "document",
    )
    .await?;
    let safe: String = doc
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Only types a browser shows harmlessly keep their type; anything else is a plain
    // download, so an uploaded HTML file can never run as a page of this site.
    let media_type = match doc.media_type.as_str() {
        "application/pdf" => "application/pdf",
        "image/png" => "image/png",
        "image/jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    };
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(media_type)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        doc.content,
    )
        .into_response())
}
