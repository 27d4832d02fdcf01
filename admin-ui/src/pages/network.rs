//! For the KI coordinator on the directory node: the network's members, invitations for
//! new agencies (the token is shown once, to copy), and revocation after a confirmation
//! step. The coordinator manages who is in the network; it never sees case content.
//! Every change is written to the audit log.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lotse_node::audit;
use lotse_node::auth::Role;
use lotse_node::directory::authority::{self, AuthorityError};
use lotse_protocol::NodeId;
use lotse_protocol::directory::AgencyKind;
use maud::{Markup, html};

use crate::error::UiError;
use crate::forms::FormData;
use crate::layout::{self, Ctx, Nav, csrf, error_summary, field_error, has_error};
use crate::{clock, messages};

const COORDINATOR: &[Role] = &[Role::Coordinator];

/// Refuses anyone but the coordinator on the KI's directory node.
pub(crate) fn require_directory_node(ctx: &Ctx) -> Result<(), UiError> {
    ctx.require(COORDINATOR)?;
    if ctx.core.is_directory_node() {
        Ok(())
    } else {
        Err(UiError::forbidden(
            "Mitglieder und Einladungen verwaltet das Kommunale Integrationszentrum auf seinem \
             Verzeichnisknoten. Dieser Knoten gehört einer Stelle.",
        ))
    }
}

/// `GET /netzwerk`.
pub(crate) async fn members(ctx: Ctx) -> Result<Response, UiError> {
    require_directory_node(&ctx)?;
    let dir = ctx.core.directory.current();
    let content = html! {
        p.actions-top { a.button.primary href="/netzwerk/einladungen" { "Stelle einladen" } }
        @match &dir {
            None => section.card { p.empty { "Das Verzeichnis ist noch nicht angelegt." } },
            Some(d) => {
                section.card aria-labelledby="mitglieder" {
                    h2 #mitglieder { "Mitglieder " span.count { (d.active_members().len()) } }
                    p.hint { "Verzeichnis Stand " (d.serial) ", ausgestellt " (clock::date_time(d.issued_at)) "." }
                    div.table-wrap {
                        table {
                            caption.visually-hidden { "Mitglieder des Netzwerks" }
                            thead { tr {
                                th scope="col" { "Stelle" }
                                th scope="col" { "Art" }
                                th scope="col" { "Aufgenommen" }
                                th scope="col" { "Angebote" }
                                th scope="col" { "Fingerabdruck" }
                                th scope="col" { span.visually-hidden { "Aktionen" } }
                            } }
                            tbody {
                                @for m in d.active_members() {
                                    tr {
                                        td { (m.member.name) }
                                        td { (m.member.kind.label_de()) }
                                        td.date { (clock::date_time(m.member.admitted_at)) }
                                        td { (m.profile.services.len()) }
                                        td.mono { (m.member.node_id.fingerprint()) }
                                        td { div.row-actions {
                                            @if m.member.node_id != ctx.core.id {
                                                a.button.small.danger href=(format!("/netzwerk/widerruf/{}", m.member.node_id))
                                                    aria-label=(format!("{} aus dem Netzwerk entfernen", m.member.name)) { "Entfernen …" }
                                            }
                                        } }
                                    }
                                }
                            }
                        }
                    }
                }
                @if !d.revoked.is_empty() {
                    section.card aria-labelledby="entfernt" {
                        h2 #entfernt { "Entfernte Knoten" }
                        ul.plain { @for n in &d.revoked { li.mono { (n.fingerprint()) " · " (n) } } }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ctx, Nav::Network, "Mitglieder", content).into_response())
}

/// Agency kinds an invitation may name (the KI is the directory node itself).
fn kinds() -> impl Iterator<Item = AgencyKind> {
    AgencyKind::ALL
        .into_iter()
        .filter(|k| *k != AgencyKind::IntegrationCentre)
}

fn invitations_page(
    ctx: &Ctx,
    f: &FormData,
    errors: &[(String, String)],
    token: Option<(&str, String)>,
) -> Result<Markup, UiError> {
    let list = authority::list_invitations(&ctx.core).map_err(UiError::internal)?;
    let now = ctx.core.clock.now();
    let kind = f.get("agency_kind").unwrap_or_else(|| "mbe".into());
    let names = |n: &NodeId| {
        ctx.core
            .directory
            .member(n)
            .map(|m| m.member.name)
            .unwrap_or_else(|| n.fingerprint().to_string())
    };
    Ok(layout::page(
        ctx,
        Nav::Invitations,
        "Einladungen",
        html! {
            @if let Some((agency, token)) = &token {
                section.card.secret aria-labelledby="token-titel" {
                    h2 #token-titel { "Einladung für " (agency) }
                    p {
                        "Geben Sie diesen Einladungscode der Stelle auf einem sicheren Weg (persönlich oder verschlüsselt). "
                        "Er gilt einmal und wird nur jetzt angezeigt. Die Stelle tritt damit bei: "
                        code { "lotse join --data-dir … CODE" }
                    }
                    div.field {
                        label for="token" { "Einladungscode" }
                        textarea #token.mono readonly rows="5" data-copy-source { (token) }
                    }
                    button.button type="button" data-copy="token" hidden { "Code kopieren" }
                }
            }
            section.card aria-labelledby="neu" {
                h2 #neu { "Stelle einladen" }
                (error_summary(errors))
                form method="post" action="/netzwerk/einladungen" {
                    (csrf(ctx))
                    div.row {
                        div.field.wide {
                            label for="agency_name" { "Name der Stelle" }
                            input #agency_name type="text" name="agency_name" value=(f.raw("agency_name")) required
                                aria-invalid=[has_error(errors, "agency_name").then_some("true")];
                            (field_error(errors, "agency_name"))
                        }
                        div.field {
                            label for="agency_kind" { "Art der Stelle" }
                            select #agency_kind name="agency_kind" {
                                @for k in kinds() {
                                    option value=(k.as_str()) selected[kind == k.as_str()] { (k.label_de()) }
                                }
                            }
                        }
                        div.field.narrow-field {
                            label for="valid_hours" { "Gültig (Stunden)" }
                            input #valid_hours type="number" name="valid_hours" min="1" max="2160"
                                value=(f.get("valid_hours").unwrap_or_else(|| "72".into()))
                                aria-invalid=[has_error(errors, "valid_hours").then_some("true")];
                            (field_error(errors, "valid_hours"))
                        }
                    }
                    button.button.primary type="submit" { "Einladung erstellen" }
                }
            }
            section.card aria-labelledby="liste" {
                h2 #liste { "Bisherige Einladungen" }
                @if list.is_empty() {
                    p.empty { "Noch keine Einladungen." }
                } @else {
                    div.table-wrap {
                        table {
                            caption.visually-hidden { "Einladungen" }
                            thead { tr {
                                th scope="col" { "Stelle" }
                                th scope="col" { "Art" }
                                th scope="col" { "Erstellt" }
                                th scope="col" { "Status" }
                            } }
                            tbody {
                                @for i in &list {
                                    tr {
                                        td { (i.agency_name) }
                                        td { (i.agency_kind.label_de()) }
                                        td { (clock::date_time(i.created_at)) }
                                        td {
                                            @match (i.used_by, i.used_at) {
                                                (Some(n), Some(at)) => {
                                                    span.badge.badge-good { "verwendet" } " am " (clock::date_time(at)) " von " (names(&n))
                                                }
                                                _ if now >= i.expires_at => {
                                                    span.badge.badge-end { "abgelaufen" } " am " (clock::date_time(i.expires_at))
                                                }
                                                _ => {
                                                    span.badge.badge-wait { "offen" } " gültig bis " (clock::date_time(i.expires_at))
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
        },
    ))
}

/// `GET /netzwerk/einladungen`.
pub(crate) async fn invitations(ctx: Ctx) -> Result<Response, UiError> {
    require_directory_node(&ctx)?;
    Ok(invitations_page(&ctx, &FormData::new(), &[], None)?.into_response())
}

/// `POST /netzwerk/einladungen`: creates an invitation and shows its token once.
pub(crate) async fn invite(ctx: Ctx, f: FormData) -> Result<Response, UiError> {
    ctx.check_csrf(&f)?;
    require_directory_node(&ctx)?;
    let mut errors = Vec::new();
    let name = f.get("agency_name").unwrap_or_default();
    if name.is_empty() {
        errors.push((
            "agency_name".to_string(),
            "Bitte geben Sie den Namen der Stelle an.".to_string(),
        ));
    }
    let kind = f
        .get("agency_kind")
        .and_then(|k| k.parse::<AgencyKind>().ok())
        .filter(|k| *k != AgencyKind::IntegrationCentre)
        .unwrap_or(AgencyKind::Other);
    let hours = match f.get("valid_hours").map(|h| h.parse::<u64>()) {
        None => 72,
        Some(Ok(h)) if (1..=2160).contains(&h) => h,
        Some(_) => {
            errors.push((
                "valid_hours".to_string(),
                "Eine Einladung gilt 1 bis 2160 Stunden (90 Tage).".to_string(),
            ));
            72
        }
    };
    if !errors.is_empty() {
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            invitations_page(&ctx, &f, &errors, None)?,
        )
            .into_response());
    }
    match authority::create_invitation(&ctx.core, &name, kind, hours * 3600 * 1000).await {
        Ok(inv) => {
            audit::record(
                &ctx.core,
                &ctx.user.username,
                "invitation.create",
                None,
                &format!("for {name:?}"),
            )
            .await?;
            Ok(
                invitations_page(&ctx, &FormData::new(), &[], Some((&name, inv.to_token())))?
                    .into_response(),
            )
        }
        Err(e @ (AuthorityError::Store(_) | AuthorityError::Accept(_))) => {
            Err(UiError::internal(e))
        }
        Err(e) => {
            let errors = vec![("agency_name".to_string(), messages::authority(&e))];
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                invitations_page(&ctx, &f, &errors, None)?,
            )
                .into_response())
        }
    }
}

fn parse_node(text: &str) -> Result<NodeId, UiError> {
    text.parse()
        .map_err(|_| UiError::not_found("Diesen Knoten gibt es nicht im Netzwerk."))
}

/// `GET /netzwerk/widerruf/{node}`: what revocation means, and a button to confirm.
pub(crate) async fn confirm_revoke(
    ctx: Ctx,
    Path(node): Path<String>,
) -> Result<Response, UiError> {
    require_directory_node(&ctx)?;
    let node = parse_node(&node)?;
    let m = ctx
        .core
        .directory
        .member(&node)
        .ok_or_else(|| UiError::not_found("Diese Stelle ist kein Mitglied des Netzwerks."))?;
    let content = html! {
        section.card.danger-zone {
            h2 { (m.member.name) " aus dem Netzwerk entfernen?" }
            p { "Danach nimmt kein Knoten mehr Nachrichten von dieser Stelle an, und niemand kann ihr neue Vermittlungen senden. "
                "Offene Vermittlungen mit ihr können nicht mehr fortgeführt werden. Das lässt sich nicht rückgängig machen; "
                "die Stelle müsste neu eingeladen werden." }
            dl.facts {
                dt { "Art" } dd { (m.member.kind.label_de()) }
                dt { "Fingerabdruck" } dd.mono { (node.fingerprint()) }
            }
            form method="post" action=(format!("/netzwerk/widerruf/{node}")) {
                (csrf(&ctx))
                div.field.checkbox {
                    input #confirm type="checkbox" name="confirm" value="ja" required;
                    label for="confirm" { "Ja, " (m.member.name) " soll entfernt werden." }
                }
                div.button-row {
                    button.button.danger type="submit" { "Endgültig entfernen" }
                    a.button.quiet href="/netzwerk" { "Abbrechen" }
                }
            }
        }
    };
    Ok(layout::page(&ctx, Nav::Network, "Stelle entfernen", content).into_response())
}

/// `POST /netzwerk/widerruf/{node}`.
pub(crate) async fn revoke(
    ctx: Ctx,
    Path(node): Path<String>,
    f: FormData,
) -> Result<Response, UiError> {
    ctx.check_csrf(&f)?;
    require_directory_node(&ctx)?;
    let node = parse_node(&node)?;
    if !f.is_set("confirm") {
        return Err(UiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Nicht bestätigt",
            "Bitte bestätigen Sie das Entfernen mit dem Häkchen. Es wurde nichts geändert.",
        ));
    }
    match authority::revoke(&ctx.core, node).await {
        Ok(_) => {
            audit::record(
                &ctx.core,
                &ctx.user.username,
                "member.revoke",
                None,
                &format!("node {}", node.fingerprint()),
            )
            .await?;
            Ok(layout::done("/netzwerk", "revoked"))
        }
        Err(e @ (AuthorityError::Store(_) | AuthorityError::Accept(_))) => {
            Err(UiError::internal(e))
        }
        Err(e) => Err(UiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Nicht möglich",
            messages::authority(&e),
        )),
    }
}
