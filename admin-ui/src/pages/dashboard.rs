//! The overview ("Übersicht") a case manager starts the day with: new referrals waiting in
//! the agency inbox, sent referrals still waiting for an answer, follow-ups that are due,
//! and messages that could not be delivered. Admins and coordinators start on their own
//! pages instead.

use std::collections::HashMap;

use axum::response::{IntoResponse, Redirect, Response};
use lotse_node::auth::Role;
use lotse_node::outbox::{self, DeliveryState};
use lotse_node::referrals::query::{self, Filter, Summary};
use lotse_protocol::referral::Side;
use maud::{Markup, html};

use super::{badge, referral_table};
use crate::error::UiError;
use crate::layout::{self, Ctx, Nav};
use crate::{clock, labels};

fn section(ctx: &Ctx, id: &str, title: &str, empty: &str, rows: &[Summary]) -> Markup {
    html! {
        section.card aria-labelledby=(id) {
            h2 id=(id) {
                (title) " "
                span.count { (rows.len()) }
            }
            @if rows.is_empty() {
                p.empty { (empty) }
            } @else {
                (referral_table(&ctx.core, title, rows, true))
            }
        }
    }
}

/// `GET /`.
pub(crate) async fn page(ctx: Ctx) -> Result<Response, UiError> {
    match ctx.user.role {
        Role::Admin => return Ok(Redirect::to("/verwaltung/status").into_response()),
        Role::Coordinator => return Ok(Redirect::to("/netzwerk").into_response()),
        Role::CaseManager | Role::TeamLead => {}
    }
    let actor = ctx.actor();
    let all = query::list(&ctx.core, &actor, &Filter::default())?;
    let unassigned: Vec<Summary> = all.iter().filter(|s| s.unassigned).cloned().collect();
    let waiting: Vec<Summary> = all
        .iter()
        .filter(|s| s.record.side == Side::Sender && s.record.state.awaits_answer())
        .cloned()
        .collect();
    let due = query::due(&ctx.core, &actor)?;

    // Undelivered messages of the referrals this user sees.
    let visible: HashMap<_, &Summary> = all.iter().map(|s| (s.record.id, s)).collect();
    let undelivered: Vec<_> = outbox::list(&ctx.core, 1000)?
        .into_iter()
        .filter(|r| match &r.state {
            DeliveryState::Queued { last_error, .. } => last_error.is_some(),
            DeliveryState::Expired { .. } => true,
            DeliveryState::Delivered { .. } => false,
        })
        .filter_map(|r| {
            let s = visible.get(&r.referral_id?)?;
            Some((r, *s))
        })
        .collect();

    let content = html! {
        p.actions-top {
            a.button.primary href="/vermittlungen/neu" { "Neue Vermittlung" }
        }
        div.grid {
            (section(&ctx, "neu", "Neue Eingänge", "Keine neuen Vermittlungen im Eingang.", &unassigned))
            (section(&ctx, "wartet", "Warten auf Antwort", "Alle gesendeten Vermittlungen sind beantwortet.", &waiting))
            (section(&ctx, "wiedervorlage", "Wiedervorlagen fällig", "Heute ist keine Wiedervorlage fällig.", &due))
            section.card aria-labelledby="unzugestellt" {
                h2 #unzugestellt {
                    "Nicht zugestellte Nachrichten "
                    span.count { (undelivered.len()) }
                }
                @if undelivered.is_empty() {
                    p.empty { "Alle Nachrichten sind angekommen oder unterwegs." }
                } @else {
                    p.hint {
                        "Lotse versucht es automatisch weiter, bis die Nachricht abläuft. "
                        "Ist eine Nachricht abgelaufen, klären Sie den Fall bitte telefonisch."
                    }
                    div.table-wrap {
                        table {
                            caption.visually-hidden { "Nicht zugestellte Nachrichten" }
                            thead { tr {
                                th scope="col" { "Vermittlung" }
                                th scope="col" { "Nachricht" }
                                th scope="col" { "Seit" }
                                th scope="col" { "Stand" }
                            } }
                            tbody {
                                @for (r, s) in &undelivered {
                                    tr {
                                        td {
                                            a href=(format!("/vermittlungen/{}", s.record.id)) {
                                                (s.record.peer_name)
                                            }
                                            " " (badge(s.record.state))
                                        }
                                        td { (labels::message_kind(r.kind)) }
                                        td { (clock::date_time(r.created_at)) }
                                        td {
                                            @match &r.state {
                                                DeliveryState::Expired { at, .. } => {
                                                    span.badge.badge-bad { "nicht zugestellt" }
                                                    " abgelaufen am " (clock::date_time(*at))
                                                }
                                                DeliveryState::Queued { attempts, .. } => {
                                                    span.badge.badge-wait { "wird erneut versucht" }
                                                    " " (attempts) " Versuche bisher; die Stelle ist gerade nicht erreichbar"
                                                }
                                                DeliveryState::Delivered { .. } => {}
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
    Ok(layout::page(&ctx, Nav::Dashboard, "Übersicht", content).into_response())
}
