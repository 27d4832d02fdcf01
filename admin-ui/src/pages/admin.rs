//! For the node's admin: user accounts (add, disable, enable, change the role, reset the
//! password) and the node's status (keys, directory, peers and their last delivery, the
//! outbox queue, accounts that got case access on the server). Nothing here shows case
//! content.
//!
//! Four eyes: what would give an account case access (a new case manager or team lead,
//! enabling one, a role with more access) waits for a team lead's confirmation, and a
//! reset of such an account shows the admin no password (a team lead hands the user a
//! one-time code): see `lotse_node::auth::users`. The page says so where it happens.

use std::collections::HashMap;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lotse_node::auth::reset;
use lotse_node::auth::users::{self, GrantedBy, PendingChange, Requester, UserView};
use lotse_node::auth::{AuthError, Role};
use lotse_node::outbox::{self, DeliveryState, OutboxRecord};
use maud::{Markup, html};

use crate::error::UiError;
use crate::forms::FormData;
use crate::layout::{self, Ctx, Nav, csrf, error_summary, field_error, has_error};
use crate::{clock, labels, messages};

const ADMIN: &[Role] = &[Role::Admin];

fn users_page(
    ctx: &Ctx,
    list: &[UserView],
    f: &FormData,
    errors: &[(String, String)],
    secret: Option<(&str, &str)>,
) -> Markup {
    let role = f.get("role").unwrap_or_else(|| "case_manager".into());
    layout::page(
        ctx,
        Nav::Users,
        "Benutzer",
        html! {
            @if let Some((user, password)) = secret {
                section.card.secret role="status" {
                    h2 { "Neues Passwort für " (user) }
                    p { "Geben Sie dieses Passwort persönlich weiter. Es wird nur jetzt angezeigt." }
                    div.field {
                        label for="secret" { "Passwort" }
                        input #secret.mono type="text" readonly value=(password) data-copy-source;
                    }
                    button.button type="button" data-copy="secret" hidden { "Kopieren" }
                }
            }
            section.card aria-labelledby="konten" {
                h2 #konten { "Konten" }
                div.table-wrap {
                    table {
                        caption.visually-hidden { "Benutzerkonten" }
                        thead { tr {
                            th scope="col" { "Name" }
                            th scope="col" { "Benutzername" }
                            th scope="col" { "Rolle" }
                            th scope="col" { "Status" }
                            th scope="col" { "Passwort gesetzt" }
                            th scope="col" { span.visually-hidden { "Aktionen" } }
                        } }
                        tbody {
                            @for u in list {
                                tr {
                                    td { (u.display_name) }
                                    td.mono { (u.username) }
                                    td { (labels::role(u.role)) }
                                    td {
                                        @if let Some(p) = &u.pending {
                                            span.badge.badge-wait { (pending_label(p.change)) }
                                            br;
                                        }
                                        @if u.disabled { span.badge.badge-bad { "gesperrt" } }
                                        @else if u.is_active() { span.badge.badge-good { "aktiv" } }
                                        @if u.password_reset_open && u.pending.is_none() {
                                            br; span.badge.badge-wait { "Passwort wird neu gesetzt" }
                                        }
                                    }
                                    td.date { (clock::date_time(u.password_changed_at)) }
                                    td { div.row-actions {
                                        form method="post" action=(format!("/verwaltung/benutzer/{}", u.username)) {
                                            (csrf(ctx))
                                            @if u.disabled {
                                                input type="hidden" name="aktion" value="enable";
                                                button.button.small type="submit" aria-label=(format!("{} entsperren", u.username)) { "Entsperren" }
                                            } @else {
                                                input type="hidden" name="aktion" value="disable";
                                                button.button.small type="submit" disabled[u.username == ctx.user.username]
                                                    aria-label=(format!("{} sperren", u.username)) { "Sperren" }
                                            }
                                        }
                                        form method="post" action=(format!("/verwaltung/benutzer/{}", u.username)) {
                                            (csrf(ctx))
                                            input type="hidden" name="aktion" value="role";
                                            label.visually-hidden for=(format!("rolle-{}", u.username)) { "Neue Rolle für " (u.username) }
                                            select id=(format!("rolle-{}", u.username)) name="role" {
                                                @for r in Role::ALL {
                                                    option value=(r.as_str()) selected[u.role == r] { (labels::role(r)) }
                                                }
                                            }
                                            button.button.small type="submit" aria-label=(format!("Rolle von {} ändern", u.username)) { "Rolle ändern" }
                                        }
                                        form method="post" action=(format!("/verwaltung/benutzer/{}", u.username)) {
                                            (csrf(ctx))
                                            input type="hidden" name="aktion" value="reset";
                                            button.button.small type="submit" aria-label=(format!("Passwort von {} neu setzen", u.username)) { "Passwort neu setzen" }
                                        }
                                    } }
                                }
                            }
                        }
                    }
                }
                p.hint { "„Passwort neu setzen“ beendet die offenen Sitzungen und API-Schlüssel des Kontos. Bei Konten ohne Zugang zu Fällen zeigt Lotse das neue Passwort einmal an. Bei Fallmanagement und Teamleitung sehen Sie kein Passwort: Eine Teamleitung gibt der Person einen Einmal-Code, mit dem sie ihr Passwort selbst setzt." }
                p.hint { "Neue Konten mit Zugang zu Fällen, das Entsperren solcher Konten und eine Rolle mit mehr Zugang werden erst wirksam, wenn eine Teamleitung sie bestätigt (Vier-Augen-Prinzip)." }
            }
            section.card aria-labelledby="anlegen" {
                h2 #anlegen { "Konto anlegen" }
                (error_summary(errors))
                form method="post" action="/verwaltung/benutzer" {
                    (csrf(ctx))
                    div.row {
                        div.field {
                            label for="username" { "Benutzername" }
                            p.hint #username-hinweis { "Kleinbuchstaben, Ziffern, Punkt, Bindestrich; z. B. „a.berger“" }
                            input #username type="text" name="username" value=(f.raw("username")) required
                                autocapitalize="none" spellcheck="false" aria-describedby="username-hinweis"
                                aria-invalid=[has_error(errors, "username").then_some("true")];
                            (field_error(errors, "username"))
                        }
                        div.field {
                            label for="display_name" { "Name" }
                            p.hint #display_name-hinweis { "So sehen andere Stellen den Namen, z. B. „Anna Berger“" }
                            input #display_name type="text" name="display_name" value=(f.raw("display_name")) required
                                aria-describedby="display_name-hinweis"
                                aria-invalid=[has_error(errors, "display_name").then_some("true")];
                            (field_error(errors, "display_name"))
                        }
                        div.field {
                            label for="role" { "Rolle" }
                            p.hint { "Was das Konto darf" }
                            select #role name="role" {
                                @for r in Role::ALL {
                                    option value=(r.as_str()) selected[role == r.as_str()] { (labels::role(r)) }
                                }
                            }
                        }
                    }
                    div.field {
                        label for="password" { "Passwort (optional, nur für Administration und Koordination)" }
                        p.hint #password-hinweis { "Leer lassen: Lotse erzeugt ein sicheres Passwort und zeigt es einmal an. Konten mit Zugang zu Fällen setzen ihr Passwort selbst, mit einem Einmal-Code von der Teamleitung." }
                        input #password type="password" name="password" autocomplete="new-password"
                            aria-describedby="password-hinweis"
                            aria-invalid=[has_error(errors, "password").then_some("true")];
                        (field_error(errors, "password"))
                    }
                    button.button.primary type="submit" { "Konto anlegen" }
                }
            }
        },
    )
}

/// `GET /verwaltung/benutzer`.
pub(crate) async fn users(ctx: Ctx) -> Result<Response, UiError> {
    ctx.require(ADMIN)?;
    let list = users::list_users(&ctx.core)?;
    Ok(users_page(&ctx, &list, &FormData::new(), &[], None).into_response())
}

/// What a waiting change is, in German.
pub(crate) fn pending_label(change: PendingChange) -> String {
    match change {
        PendingChange::NewAccount => "wartet auf Bestätigung durch eine Teamleitung".into(),
        PendingChange::Enable => "Entsperren wartet auf Bestätigung".into(),
        PendingChange::Role { to } => {
            format!("Rolle „{}“ wartet auf Bestätigung", labels::role(to))
        }
    }
}

fn auth_field(e: &AuthError) -> &'static str {
    match e {
        AuthError::InvalidUsername(_)
        | AuthError::ReservedUsername(_)
        | AuthError::UserExists(_) => "username",
        AuthError::InvalidDisplayName => "display_name",
        AuthError::WeakPassword | AuthError::CommonPassword | AuthError::PasswordFromAdmin => {
            "password"
        }
        _ => "",
    }
}

/// `POST /verwaltung/benutzer`: add an account.
pub(crate) async fn add_user(ctx: Ctx, f: FormData) -> Result<Response, UiError> {
    ctx.check_csrf(&f)?;
    ctx.require(ADMIN)?;
    let role = f
        .get("role")
        .and_then(|r| r.parse::<Role>().ok())
        .unwrap_or(Role::CaseManager);
    let display = f.get("display_name").unwrap_or_default();
    match users::add_user(
        &ctx.core,
        Requester::Admin(&ctx.user.username),
        f.raw("username"),
        &display,
        role,
        f.get("password"),
    )
    .await
    {
        Ok(new) => match new.password {
            // A generated password is shown once, on this answer.
            Some(p) => {
                let list = users::list_users(&ctx.core)?;
                Ok(users_page(
                    &ctx,
                    &list,
                    &FormData::new(),
                    &[],
                    Some((&new.user.username, &p)),
                )
                .into_response())
            }
            None if new.user.pending.is_some() => {
                Ok(layout::done("/verwaltung/benutzer", "user_pending"))
            }
            None => Ok(layout::done("/verwaltung/benutzer", "user_added")),
        },
        Err(e @ (AuthError::Store(_) | AuthError::Hash(_))) => Err(UiError::internal(e)),
        Err(e) => {
            let list = users::list_users(&ctx.core)?;
            let errors = vec![(auth_field(&e).to_string(), messages::auth(&e))];
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                users_page(&ctx, &list, &f, &errors, None),
            )
                .into_response())
        }
    }
}

/// `POST /verwaltung/benutzer/{username}`: disable, enable, change the role, or reset
/// the password.
pub(crate) async fn change_user(
    ctx: Ctx,
    Path(username): Path<String>,
    f: FormData,
) -> Result<Response, UiError> {
    ctx.check_csrf(&f)?;
    ctx.require(ADMIN)?;
    let by = Requester::Admin(&ctx.user.username);
    let waits = |u: &UserView| u.pending.is_some();
    let result = match f.raw("aktion") {
        "disable" => users::disable_user(&ctx.core, by, &username)
            .await
            .map(|_| ("user_disabled", None)),
        "enable" => users::enable_user(&ctx.core, by, &username).await.map(|u| {
            (
                if waits(&u) {
                    "change_pending"
                } else {
                    "user_enabled"
                },
                None,
            )
        }),
        "role" => {
            let role = f
                .get("role")
                .and_then(|r| r.parse::<Role>().ok())
                .ok_or_else(|| UiError::bad_request("Bitte wählen Sie eine Rolle."))?;
            users::set_role(&ctx.core, by, &username, role)
                .await
                .map(|u| {
                    (
                        if waits(&u) {
                            "change_pending"
                        } else {
                            "role_changed"
                        },
                        None,
                    )
                })
        }
        "reset" => reset::reset_password(&ctx.core, by, &username, None)
            .await
            .map(|done| match done.password {
                Some(p) => ("password_reset", Some(p)),
                None => ("reset_pending", None),
            }),
        _ => return Err(UiError::bad_request("Unbekannte Aktion.")),
    };
    match result {
        Ok((_, Some(password))) => {
            let list = users::list_users(&ctx.core)?;
            Ok(users_page(
                &ctx,
                &list,
                &FormData::new(),
                &[],
                Some((&username, &password)),
            )
            .into_response())
        }
        Ok((code, None)) => Ok(layout::done("/verwaltung/benutzer", code)),
        Err(e @ (AuthError::Store(_) | AuthError::Hash(_))) => Err(UiError::internal(e)),
        Err(e) => {
            let list = users::list_users(&ctx.core)?;
            let errors = vec![(String::new(), messages::auth(&e))];
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                users_page(&ctx, &list, &FormData::new(), &errors, None),
            )
                .into_response())
        }
    }
}

fn last_delivery(r: &OutboxRecord) -> Markup {
    html! {
        @match &r.state {
            DeliveryState::Delivered { at, .. } => {
                span.badge.badge-good { "erreichbar" } " zuletzt zugestellt " (clock::date_time(*at))
            }
            DeliveryState::Queued { attempts, last_error, .. } => {
                @if last_error.is_some() {
                    span.badge.badge-bad { "nicht erreichbar" } " " (attempts) " Versuche"
                    @if let Some(e) = last_error { br; small.mono { (e) } }
                } @else {
                    span.badge.badge-wait { "wird zugestellt" }
                }
            }
            DeliveryState::Expired { at, .. } => {
                span.badge.badge-bad { "nicht erreicht" } " Nachricht abgelaufen " (clock::date_time(*at))
            }
        }
    }
}

/// `GET /verwaltung/status`.
pub(crate) async fn status(ctx: Ctx) -> Result<Response, UiError> {
    ctx.require(&[Role::Admin, Role::Coordinator])?;
    let core = &ctx.core;
    let (queued, delivered, expired) = outbox::counts(core)?;
    let mut last: HashMap<_, OutboxRecord> = HashMap::new();
    for r in outbox::list(core, usize::MAX)? {
        // Newest first: keep the first one per recipient.
        last.entry(r.recipient).or_insert(r);
    }
    let dir = core.directory.current();
    let authority = core.directory.authority();
    let on_server: Vec<UserView> = users::list_users(core)?
        .into_iter()
        .filter(|u| u.role.has_case_access() && matches!(u.granted, Some(GrantedBy::Server { .. })))
        .collect();
    let content = html! {
        @if !on_server.is_empty() {
            section.card aria-labelledby="ohne-bestaetigung" {
                h2 #ohne-bestaetigung { "Zugang zu Fällen ohne Bestätigung einer Teamleitung" }
                p { "Diese Konten haben auf dem Server (mit dem Befehl „lotse user“) Zugang zu Fällen bekommen, als der Knoten keine aktive Teamleitung hatte. Das ist nur für die erste Teamleitung vorgesehen und steht im Protokoll." }
                ul {
                    @for u in &on_server {
                        li {
                            (u.display_name) " (" span.mono { (u.username) } ", " (labels::role(u.role)) ")"
                            @if let Some(GrantedBy::Server { at }) = &u.granted { ", am " (clock::date_time(*at)) }
                        }
                    }
                }
            }
        }
        div.grid {
            section.card aria-labelledby="knoten" {
                h2 #knoten { "Dieser Knoten" }
                dl.facts {
                    dt { "Name" } dd { (core.config.name) }
                    dt { "Art" } dd { @if core.is_directory_node() { "Verzeichnisknoten des KI" } @else { "Knoten einer Stelle" } }
                    dt { "Fingerabdruck" } dd.mono { (core.id.fingerprint()) }
                    dt { "Knoten-ID" } dd.mono.break { (core.id) }
                    dt { "Fingerabdruck des Verzeichnisses (KI)" }
                    dd.mono { @match authority { Some(a) => (a.fingerprint()), None => "noch keinem Netzwerk beigetreten" } }
                }
                p.hint { "Vergleichen Sie Fingerabdrücke telefonisch mit der anderen Seite, wenn Sie eine Verbindung prüfen wollen." }
            }
            section.card aria-labelledby="warteschlange" {
                h2 #warteschlange { "Ausgehende Nachrichten" }
                dl.facts {
                    dt { "In Zustellung" } dd { (queued) }
                    dt { "Zugestellt" } dd { (delivered) }
                    dt { "Abgelaufen (nicht zugestellt)" } dd { (expired) }
                }
                @if expired > 0 {
                    p.hint { "Abgelaufene Nachrichten haben ihr Ziel nicht erreicht. Die Fallverantwortlichen sehen sie in ihrer Übersicht." }
                }
            }
        }
        section.card aria-labelledby="netz" {
            h2 #netz { "Netzwerk" }
            @match &dir {
                None => p.empty { "Dieser Knoten ist noch keinem Netzwerk beigetreten." },
                Some(d) => {
                    p { "Verzeichnis Stand " strong { (d.serial) } ", ausgestellt " (clock::date_time(d.issued_at)) ". " (d.active_members().len()) " Mitglieder." }
                    div.table-wrap {
                        table {
                            caption.visually-hidden { "Mitglieder und Erreichbarkeit" }
                            thead { tr {
                                th scope="col" { "Stelle" }
                                th scope="col" { "Fingerabdruck" }
                                th scope="col" { "Adresse" }
                                th scope="col" { "Letzte Zustellung" }
                            } }
                            tbody {
                                @for m in d.active_members() {
                                    tr {
                                        td { (m.member.name) @if m.member.node_id == core.id { " (dieser Knoten)" } br; small { (m.member.kind.label_de()) } }
                                        td.mono { (m.member.node_id.fingerprint()) }
                                        td.mono { (m.profile.addresses.join(", ")) }
                                        td {
                                            @if m.member.node_id == core.id { "–" }
                                            @else {
                                                @match last.get(&m.member.node_id) {
                                                    Some(r) => (last_delivery(r)),
                                                    None => span.hint { "noch keine Nachricht gesendet" },
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ctx, Nav::Status, "Knotenstatus", content).into_response())
}
