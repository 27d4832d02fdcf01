//! "Kontenänderungen", for team leads: the second pair of eyes on case access.
//!
//! A team lead sees what waits for confirmation (new accounts with case access, enabling
//! one, a role with more access) and confirms or refuses it; sees the open password
//! resets and has a one-time code made for one, shown once on the answer, to hand over in
//! person or by phone; sees the accounts that got case access on the server without a team
//! lead; and the latest account changes of the audit log. The rules themselves are in
//! `lotse_node::auth::{users, four_eyes, reset}`; this page only shows their answers.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lotse_node::auth::four_eyes::{self, AccountChanges};
use lotse_node::auth::reset::{self, OneTimeCode};
use lotse_node::auth::users::{GrantedBy, UserView};
use lotse_node::auth::{AuthError, Role};
use maud::{Markup, html};

use super::admin::pending_label;
use crate::error::UiError;
use crate::forms::FormData;
use crate::layout::{self, Ctx, Nav, csrf, error_summary};
use crate::{clock, labels, messages};

const TEAM_LEAD: &[Role] = &[Role::TeamLead];

/// An audit action about accounts, in German.
fn action_label(action: &str) -> &str {
    match action {
        "user.add" => "Konto angelegt",
        "user.add_on_server" => "Konto auf dem Server angelegt (ohne Bestätigung)",
        "user.request" => "Änderung beantragt",
        "user.confirm" => "Änderung bestätigt",
        "user.refuse" => "Änderung abgelehnt",
        "user.disable" => "Konto gesperrt",
        "user.enable" => "Konto entsperrt",
        "user.enable_on_server" => "Konto auf dem Server entsperrt (ohne Bestätigung)",
        "user.role" => "Rolle geändert",
        "user.role_on_server" => "Rolle auf dem Server geändert (ohne Bestätigung)",
        "user.reset_password" => "Passwort neu gesetzt",
        "user.reset_password_on_server" => "Passwort auf dem Server neu gesetzt",
        "user.reset_requested" => "Passwort zurückgesetzt, Einmal-Code nötig",
        "user.reset_code" => "Einmal-Code angezeigt",
        "user.password_set_with_code" => "Passwort mit Einmal-Code gesetzt",
        "user.change_password" => "eigenes Passwort geändert",
        "password.change_failed" => "Passwortänderung mit falschem Passwort",
        "password.code_failed" => "falscher Einmal-Code",
        other => other,
    }
}

fn who(u: &UserView) -> Markup {
    html! { (u.display_name) " (" span.mono { (u.username) } ", " (labels::role(u.role)) ")" }
}

fn render(
    ctx: &Ctx,
    changes: &AccountChanges,
    errors: &[(String, String)],
    code: Option<&OneTimeCode>,
) -> Markup {
    let form = |username: &str, aktion: &str, label: String, primary: bool| {
        html! {
            form method="post" action=(format!("/kontenaenderungen/{username}")) {
                (csrf(ctx))
                input type="hidden" name="aktion" value=(aktion);
                @if primary {
                    button.button.small.primary type="submit" { (label) }
                } @else {
                    button.button.small type="submit" { (label) }
                }
            }
        }
    };
    layout::page(
        ctx,
        Nav::AccountChanges,
        "Kontenänderungen",
        html! {
            @if let Some(c) = code {
                section.card.secret role="status" {
                    h2 { "Einmal-Code für " (c.username) }
                    p { "Geben Sie diesen Code der Person persönlich oder am Telefon weiter. Er wird nur jetzt angezeigt und gilt bis " (clock::date_time(c.expires_at)) ". Damit setzt die Person auf der Anmeldeseite unter „Mit einem Einmal-Code ein neues Passwort setzen“ ihr Passwort selbst." }
                    div.field {
                        label for="secret" { "Einmal-Code" }
                        input #secret.mono type="text" readonly value=(c.code) data-copy-source;
                    }
                    button.button type="button" data-copy="secret" hidden { "Kopieren" }
                }
            }
            (error_summary(errors))
            p.lead { "Konten mit Zugang zu Fällen bekommen diesen Zugang erst, wenn eine Teamleitung zustimmt. So kann niemand allein, auch nicht die Administration, Fälle einsehen." }
            section.card aria-labelledby="wartet" {
                h2 #wartet { "Wartet auf Ihre Bestätigung" }
                @if changes.waiting.is_empty() {
                    p.empty { "Zurzeit wartet nichts auf Bestätigung." }
                } @else {
                    ul.plain {
                        @for u in &changes.waiting {
                            @if let Some(p) = &u.pending {
                                li {
                                    p { (who(u)) ": " (pending_label(p.change)) ", beantragt von " span.mono { (p.requested_by) } " am " (clock::date_time(p.requested_at)) }
                                    @if u.username != ctx.user.username {
                                        div.row-actions {
                                            (form(&u.username, "confirm", format!("{} bestätigen", u.username), true))
                                            (form(&u.username, "refuse", format!("{} ablehnen", u.username), false))
                                        }
                                    } @else {
                                        p.hint { "Eine Änderung Ihres eigenen Kontos bestätigt eine andere Teamleitung." }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section.card aria-labelledby="ruecksetzungen" {
                h2 #ruecksetzungen { "Offene Passwort-Rücksetzungen" }
                @if changes.open_resets.is_empty() {
                    p.empty { "Keine offenen Rücksetzungen." }
                } @else {
                    p.hint { "Die Administration hat diese Passwörter zurückgesetzt, ohne sie zu kennen. Lassen Sie sich einen Einmal-Code anzeigen und geben Sie ihn der Person; ein früher angezeigter Code gilt dann nicht mehr." }
                    ul.plain {
                        @for u in &changes.open_resets {
                            li {
                                p { (who(u)) }
                                @if u.username != ctx.user.username {
                                    (form(&u.username, "code", format!("Einmal-Code für {} anzeigen", u.username), false))
                                }
                            }
                        }
                    }
                }
            }
            @if !changes.granted_on_server.is_empty() {
                section.card aria-labelledby="server" {
                    h2 #server { "Zugang ohne Bestätigung einer Teamleitung" }
                    p.hint { "Auf dem Server angelegt oder freigeschaltet, als es keine aktive Teamleitung gab." }
                    ul {
                        @for u in &changes.granted_on_server {
                            li { (who(u)) @if let Some(GrantedBy::Server { at }) = &u.granted { ", am " (clock::date_time(*at)) } }
                        }
                    }
                }
            }
            section.card aria-labelledby="verlauf" {
                h2 #verlauf { "Letzte Kontenänderungen" }
                div.table-wrap {
                    table {
                        caption.visually-hidden { "Letzte Kontenänderungen" }
                        thead { tr {
                            th scope="col" { "Zeit" }
                            th scope="col" { "Von" }
                            th scope="col" { "Was" }
                            th scope="col" { "Einzelheiten" }
                        } }
                        tbody {
                            @for e in &changes.recent {
                                tr {
                                    td.date { (clock::date_time(e.at)) }
                                    td.mono { (e.actor) }
                                    td { (action_label(&e.action)) }
                                    td { small { (e.detail) } }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// `GET /kontenaenderungen`.
pub(crate) async fn page(ctx: Ctx) -> Result<Response, UiError> {
    ctx.require(TEAM_LEAD)?;
    let changes = four_eyes::account_changes(&ctx.core).map_err(UiError::internal)?;
    Ok(render(&ctx, &changes, &[], None).into_response())
}

/// `POST /kontenaenderungen/{username}`: confirm, refuse, or show a one-time code.
pub(crate) async fn act(
    ctx: Ctx,
    Path(username): Path<String>,
    f: FormData,
) -> Result<Response, UiError> {
    ctx.check_csrf(&f)?;
    ctx.require(TEAM_LEAD)?;
    let lead = ctx.user.username.clone();
    let result = match f.raw("aktion") {
        "confirm" => four_eyes::confirm(&ctx.core, &lead, &username)
            .await
            .map(|c| c.code),
        "refuse" => four_eyes::refuse(&ctx.core, &lead, &username)
            .await
            .map(|()| None),
        "code" => reset::issue_code(&ctx.core, &lead, &username)
            .await
            .map(Some),
        _ => return Err(UiError::bad_request("Unbekannte Aktion.")),
    };
    match result {
        // A code is shown once, on this answer.
        Ok(Some(code)) => {
            let changes = four_eyes::account_changes(&ctx.core).map_err(UiError::internal)?;
            Ok(render(&ctx, &changes, &[], Some(&code)).into_response())
        }
        Ok(None) if f.raw("aktion") == "refuse" => {
            Ok(layout::done("/kontenaenderungen", "change_refused"))
        }
        Ok(None) => Ok(layout::done("/kontenaenderungen", "change_confirmed")),
        Err(e @ (AuthError::Store(_) | AuthError::Hash(_))) => Err(UiError::internal(e)),
        Err(e) => {
            let changes = four_eyes::account_changes(&ctx.core).map_err(UiError::internal)?;
            let errors = vec![(String::new(), messages::auth(&e))];
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                render(&ctx, &changes, &errors, None),
            )
                .into_response())
        }
    }
}
