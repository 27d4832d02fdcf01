//! "Netzwerk in Zahlen", for the KI coordinator on the directory node: the network's
//! agencies by kind, its services by field of action and capacity (where the network has
//! no offer, or none with free places), and the languages offered. All of it comes from the
//! signed directory; the KI sees no referrals, so there are no referral figures here.

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use lotse_protocol::client::FieldOfAction;
use lotse_protocol::directory::{AgencyKind, Capacity};
use maud::html;

use super::network::require_directory_node;
use crate::clock;
use crate::error::UiError;
use crate::layout::{self, Ctx, Nav};

/// Services of one field of action, by capacity.
#[derive(Default)]
struct Supply {
    available: usize,
    waiting: usize,
    full: usize,
}

/// `GET /netzwerk/zahlen`.
pub(crate) async fn page(ctx: Ctx) -> Result<Response, UiError> {
    require_directory_node(&ctx)?;
    let Some(dir) = ctx.core.directory.current() else {
        let content =
            html! { section.card { p.empty { "Das Verzeichnis ist noch nicht angelegt." } } };
        return Ok(
            layout::page(&ctx, Nav::Statistics, "Netzwerk in Zahlen", content).into_response(),
        );
    };
    let members = dir.active_members();
    let mut kinds: BTreeMap<AgencyKind, usize> = BTreeMap::new();
    let mut supply: BTreeMap<FieldOfAction, Supply> = BTreeMap::new();
    let mut languages: BTreeMap<String, usize> = BTreeMap::new();
    let mut services = 0;
    for m in &members {
        *kinds.entry(m.member.kind).or_default() += 1;
        for s in &m.profile.services {
            services += 1;
            for f in &s.fields {
                let e = supply.entry(*f).or_default();
                match s.capacity {
                    Capacity::Available => e.available += 1,
                    Capacity::WaitingList => e.waiting += 1,
                    Capacity::Full => e.full += 1,
                }
            }
            for l in &s.languages {
                *languages.entry(l.trim().to_string()).or_default() += 1;
            }
        }
    }
    let mut by_use: Vec<(String, usize)> = languages.into_iter().collect();
    by_use.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let content = html! {
        p.lead {
            (members.len()) " Stellen mit " (services) " Angeboten, laut Verzeichnis Stand " (dir.serial)
            " vom " (clock::date_time(dir.issued_at)) ". Vermittlungen kennt das Integrationszentrum nicht: "
            "sie bleiben bei den Stellen, deshalb stehen hier keine Fallzahlen."
        }
        section.card aria-labelledby="felder" {
            h2 #felder { "Angebote nach Handlungsfeld" }
            p.hint { "Ein Angebot kann mehrere Handlungsfelder abdecken. Wo kein Angebot oder keines mit freien Plätzen steht, fehlt etwas im Netzwerk." }
            div.table-wrap { table {
                caption.visually-hidden { "Angebote nach Handlungsfeld und Kapazität" }
                thead { tr {
                    th scope="col" { "Handlungsfeld" }
                    th scope="col" { "Plätze frei" }
                    th scope="col" { "Warteliste" }
                    th scope="col" { "ausgelastet" }
                    th scope="col" { "Lage" }
                } }
                tbody {
                    @for f in FieldOfAction::ALL {
                        @let s = supply.remove(&f).unwrap_or_default();
                        tr {
                            th scope="row" { (f.label_de()) }
                            td { (s.available) }
                            td { (s.waiting) }
                            td { (s.full) }
                            td {
                                @if s.available + s.waiting + s.full == 0 {
                                    strong { "kein Angebot" }
                                } @else if s.available == 0 {
                                    strong { "keine freien Plätze" }
                                } @else {
                                    "freie Plätze vorhanden"
                                }
                            }
                        }
                    }
                }
            } }
        }
        section.card aria-labelledby="arten" {
            h2 #arten { "Stellen nach Art" }
            div.table-wrap { table {
                caption.visually-hidden { "Stellen nach Art" }
                thead { tr { th scope="col" { "Art" } th scope="col" { "Stellen" } } }
                tbody {
                    @for (kind, n) in &kinds {
                        tr { th scope="row" { (kind.label_de()) } td { (n) } }
                    }
                }
            } }
        }
        section.card aria-labelledby="sprachen" {
            h2 #sprachen { "Sprachen in den Angeboten" }
            @if by_use.is_empty() {
                p.empty { "Noch kein Angebot nennt eine Sprache." }
            } @else {
                div.table-wrap { table {
                    caption.visually-hidden { "Sprachen und wie viele Angebote sie nennen" }
                    thead { tr { th scope="col" { "Sprache" } th scope="col" { "Angebote" } } }
                    tbody {
                        @for (language, n) in &by_use {
                            tr { th scope="row" { (language) } td { (n) } }
                        }
                    }
                } }
            }
        }
    };
    Ok(layout::page(&ctx, Nav::Statistics, "Netzwerk in Zahlen", content).into_response())
}
