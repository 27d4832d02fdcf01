//! The directory ("Verzeichnis"): the network's agencies and their services, searchable by
//! words, field of action, language, age, area and capacity. The same search is the first
//! step of a new referral, where each service can be chosen.

use axum::response::{IntoResponse, Response};
use lotse_protocol::NodeId;
use lotse_protocol::client::FieldOfAction;
use lotse_protocol::directory::{Capacity, Service};
use maud::{Markup, html};

use crate::error::UiError;
use crate::forms::{FormData, encode};
use crate::labels;
use crate::layout::{self, Ctx, Nav};
use crate::search::{self, AgencyHit, ServiceQuery};

/// The search form.
pub(crate) fn search_form(ctx: &Ctx, action: &str, q: &FormData) -> Markup {
    let field = q.get("feld").and_then(|k| labels::field_from_key(&k));
    let capacity = q.get("kapazitaet").unwrap_or_default();
    let languages = search::languages(&ctx.core);
    html! {
        form.filters method="get" action=(action) role="search" aria-label="Angebote suchen" {
            div.field.wide {
                label for="q" { "Suchbegriff" }
                input #q type="search" name="q" value=(q.raw("q")) placeholder="z. B. Wohnung, Ausbildung, Caritas";
            }
            div.field {
                label for="feld" { "Handlungsfeld" }
                select #feld name="feld" {
                    option value="" { "alle" }
                    @for f in FieldOfAction::ALL {
                        option value=(labels::field_key(f)) selected[field == Some(f)] { (f.label_de()) }
                    }
                }
            }
            div.field {
                label for="sprache" { "Sprache" }
                input #sprache type="text" name="sprache" value=(q.raw("sprache")) list="sprachen";
                datalist #sprachen {
                    @for l in &languages { option value=(l) {} }
                }
            }
            div.field.narrow-field {
                label for="alter" { "Alter" }
                input #alter type="number" name="alter" min="0" max="120" inputmode="numeric" value=(q.raw("alter"));
            }
            div.field {
                label for="gebiet" { "Gebiet" }
                input #gebiet type="text" name="gebiet" value=(q.raw("gebiet"));
            }
            div.field {
                label for="kapazitaet" { "Kapazität" }
                select #kapazitaet name="kapazitaet" {
                    option value="" { "egal" }
                    option value="available" selected[capacity == "available"] { "nur mit freien Plätzen" }
                    option value="waiting_list" selected[capacity == "waiting_list"] { "freie Plätze oder Warteliste" }
                }
            }
            div.filter-buttons {
                button.button type="submit" { "Suchen" }
            }
        }
    }
}

fn service_card(agency: &AgencyHit, s: &Service, choose: bool) -> Markup {
    html! {
        article.service {
            header {
                h4 { (s.name) }
                span class=(labels::capacity_class(s.capacity)) { (labels::capacity(s.capacity)) }
            }
            p { (s.description) }
            dl.facts.compact {
                dt { "Handlungsfelder" } dd { (labels::fields(&s.fields)) }
                dt { "Zielgruppe" } dd {
                    (s.target_group)
                    @match (s.age_min, s.age_max) {
                        (Some(a), Some(b)) => { " (" (a) "–" (b) " Jahre)" }
                        (Some(a), None) => { " (ab " (a) " Jahren)" }
                        (None, Some(b)) => { " (bis " (b) " Jahre)" }
                        (None, None) => {}
                    }
                }
                dt { "Sprachen" } dd { (s.languages.join(", ")) }
                dt { "Gebiet" } dd { (s.area) }
                dt { "Kontakt" } dd { (s.contact) }
                dt { "Sprechzeiten" } dd { (s.opening_hours) }
            }
            @if choose {
                @if s.capacity == Capacity::Full {
                    p.hint { "Dieses Angebot ist zurzeit ausgelastet. Sie können trotzdem vermitteln; die Stelle entscheidet." }
                }
                a.button.primary href=(format!("/vermittlungen/neu?stelle={}&angebot={}", agency.node_id, encode(&s.id)))
                    aria-label=(format!("{} bei {} auswählen", s.name, agency.name)) {
                    "Auswählen"
                }
            }
        }
    }
}

/// The results: one card per agency, its services inside. With `choose`, every service
/// has a button that starts a referral to it.
pub(crate) fn results(hits: &[AgencyHit], choose: bool, own: &NodeId) -> Markup {
    html! {
        @if hits.is_empty() {
            section.card { p.empty { "Kein Angebot passt zu dieser Suche. Versuchen Sie weniger Filter." } }
        }
        @for a in hits {
            section.card.agency aria-labelledby=(format!("stelle-{}", a.node_id)) {
                h2 id=(format!("stelle-{}", a.node_id)) {
                    (a.name)
                    @if a.node_id == *own { " (Ihre Stelle)" }
                }
                p.kind { (a.kind.label_de()) }
                @if a.services.is_empty() {
                    p.empty { "Diese Stelle hat noch keine Angebote eingetragen." }
                }
                div.services {
                    @for s in &a.services {
                        (service_card(a, s, choose && a.node_id != *own))
                    }
                }
                @if choose && a.node_id != *own {
                    p.agency-choose {
                        a.button.quiet href=(format!("/vermittlungen/neu?stelle={}", a.node_id))
                            aria-label=(format!("An {} vermitteln, ohne bestimmtes Angebot", a.name)) {
                            "An diese Stelle vermitteln, ohne bestimmtes Angebot"
                        }
                    }
                }
            }
        }
    }
}

/// `GET /verzeichnis`.
pub(crate) async fn page(ctx: Ctx) -> Result<Response, UiError> {
    let q = ServiceQuery::from_form(&ctx.query);
    let hits = search::search(&ctx.core, &q);
    let serial = ctx.core.directory.serial();
    let content = html! {
        p.lead {
            "Alle Stellen im Netzwerk und ihre Angebote. Jede Stelle pflegt ihre Einträge selbst."
        }
        (search_form(&ctx, "/verzeichnis", &ctx.query))
        @if serial == 0 {
            section.card { p.empty { "Dieser Knoten ist noch keinem Netzwerk beigetreten." } }
        } @else {
            (results(&hits, false, &ctx.core.id))
        }
    };
    Ok(layout::page(&ctx, Nav::Directory, "Verzeichnis", content).into_response())
}
