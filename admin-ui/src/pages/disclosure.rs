//! "Auskunft": what was shared about a client, with whom, when and on which consent
//! (DOMAIN.md: a client can ask). A case manager or team lead searches by name and, to
//! tell people of the same name apart, date of birth; the page lists the referrals they
//! may read, ready to print for the client. Every search is audited.

use axum::response::{IntoResponse, Response};
use lotse_node::referrals::query::{self, Disclosure, MIN_NAME};
use lotse_protocol::consent::ConsentForm;
use lotse_protocol::referral::Side;
use maud::{Markup, html};

use crate::error::UiError;
use crate::layout::{self, Ctx, Nav};
use crate::{clock, labels};

/// `GET /auskunft`.
pub(crate) async fn page(ctx: Ctx) -> Result<Response, UiError> {
    ctx.require_case_work()?;
    let name = ctx.query.get("name").unwrap_or_default();
    let born_text = ctx.query.get("geboren").unwrap_or_default();
    let born = clock::parse_date(&born_text);
    let searched = !name.trim().is_empty();
    let mut problem = None;
    if searched && name.trim().chars().count() < MIN_NAME {
        problem = Some(format!(
            "Bitte geben Sie mindestens {MIN_NAME} Zeichen des Namens ein."
        ));
    }
    if !born_text.trim().is_empty() && born.is_none() {
        problem = Some("Das Geburtsdatum ist kein gültiges Datum.".into());
    }
    let found = match (searched, &problem) {
        (true, None) => Some(query::disclosure(&ctx.core, &ctx.actor(), &name, born).await?),
        _ => None,
    };
    let content = html! {
        p.lead {
            "Eine Person darf erfahren, welche ihrer Angaben Ihre Stelle mit wem geteilt hat. "
            "Suchen Sie nach ihrem Namen; die Übersicht können Sie ausdrucken und aushändigen."
        }
        form.filters method="get" action="/auskunft" role="search" aria-label="Auskunft suchen" {
            div.field.wide {
                label for="name" { "Name der Person" }
                input #name type="search" name="name" value=(name) required;
            }
            div.field {
                label for="geboren" { "Geburtsdatum (freiwillig)" }
                input #geboren type="date" name="geboren" value=(born_text);
            }
            div.filter-buttons {
                button.button type="submit" { "Suchen" }
            }
        }
        @if let Some(p) = &problem {
            p.error role="alert" { (p) }
        }
        @if let Some(found) = &found {
            (results(&name, found))
        }
    };
    Ok(layout::page(&ctx, Nav::Disclosure, "Auskunft", content).into_response())
}

fn results(name: &str, found: &[Disclosure]) -> Markup {
    html! {
        section.card aria-labelledby="auskunft-ergebnis" {
            h2 #auskunft-ergebnis { "Geteilte Angaben zu „" (name.trim()) "“" }
            @if found.is_empty() {
                p.empty {
                    "Keine Vermittlung, die Sie einsehen dürfen, nennt diesen Namen."
                }
            } @else {
                table.referrals {
                    thead { tr {
                        th scope="col" { "Datum" }
                        th scope="col" { "Stelle" }
                        th scope="col" { "Geteilte Angaben" }
                        th scope="col" { "Zweck" }
                        th scope="col" { "Einwilligung" }
                        th scope="col" { "Stand" }
                    } }
                    tbody {
                        @for d in found {
                            tr {
                                td { (clock::date(d.created_at.date())) }
                                td {
                                    @match d.side {
                                        Side::Sender => { "gesendet an " }
                                        Side::Receiver => { "erhalten von " }
                                    }
                                    a href=(format!("/vermittlungen/{}", d.referral_id)) { (d.peer_name) }
                                }
                                td { (d.categories.iter().map(|c| labels::category(*c)).collect::<Vec<_>>().join(", ")) }
                                td { (d.purpose) }
                                td {
                                    @match d.consent_form { ConsentForm::Written => "schriftlich", ConsentForm::Verbal => "mündlich, dokumentiert" }
                                    ", am " (clock::date(d.given_on)) ", gültig bis " (clock::date(d.valid_until))
                                }
                                td { (status(&d.status)) }
                            }
                        }
                    }
                }
            }
            p.hint {
                "Vermittlungen, deren Einwilligung widerrufen wurde, enthalten keine Angaben zur "
                "Person mehr und erscheinen hier nicht. Jede Suche wird im Prüfprotokoll vermerkt."
            }
        }
    }
}

fn status(name: &str) -> &str {
    labels::STATUSES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(name, |(_, label)| label)
}
