//! "Netzwerk in Zahlen", for the KI coordinator on the directory node: the network's
//! agencies by kind, its services by field of action and capacity (where the network has
//! no offer, or none with free places), and the languages offered, from the signed
//! directory; and the referrals of a year by field of action as the agencies report them
//! (`lotse_node::statistics`): sums only, counts from 1 to 4 suppressed at the agency.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::header;
use axum::response::{IntoResponse, Response};
use lotse_node::statistics::{self, StoredReport};
use lotse_protocol::client::FieldOfAction;
use lotse_protocol::directory::{AgencyKind, Capacity};
use lotse_protocol::statistics::{Count, FieldFigures};
use maud::{Markup, html};

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

/// A network-wide sum of reported counts, some of which may be suppressed.
#[derive(Default, Clone, Copy)]
struct Sum {
    exact: u32,
    few: u32,
}

impl Sum {
    fn add(&mut self, c: Count) {
        match c {
            Count::Exact(n) => self.exact += n,
            Count::Few => self.few += 1,
        }
    }

    /// "12", "unter 5" (one suppressed count alone) or "mind. 14" (with suppressed ones).
    fn text(self) -> String {
        match (self.exact, self.few) {
            (n, 0) => n.to_string(),
            (0, 1) => "unter 5".into(),
            (n, few) => format!("mind. {}", n + few),
        }
    }
}

/// The reported referrals of one field of action, summed over the agencies.
#[derive(Default)]
struct Demand {
    counts: [Sum; 7],
    medians: Vec<u32>,
}

impl Demand {
    fn add(&mut self, f: &FieldFigures) {
        for (sum, (_, count)) in self.counts.iter_mut().zip(f.counts()) {
            sum.add(count);
        }
        self.medians.extend(f.median_hours_to_accept);
    }
}

/// Hours as a social worker would say them.
fn duration(hours: u32) -> String {
    match hours {
        0 => "unter 1 Std.".into(),
        1..48 => format!("{hours} Std."),
        _ => format!("{} Tage", hours / 24),
    }
}

/// The fields of action `r` reported for `year`.
fn fields_in(r: &StoredReport, year: u16) -> &[FieldFigures] {
    r.report
        .years
        .iter()
        .find(|y| y.year == year)
        .map(|y| y.fields.as_slice())
        .unwrap_or_default()
}

/// The reported years, the year shown (the one in `?jahr=` if reported, else the
/// latest) and what was asked for if it could not be shown.
struct YearChoice {
    years: BTreeSet<u16>,
    chosen: Option<u16>,
    not_reported: Option<String>,
}

impl YearChoice {
    fn of(ctx: &Ctx, reports: &[StoredReport]) -> YearChoice {
        let years: BTreeSet<u16> = reports
            .iter()
            .flat_map(|r| r.report.years.iter().map(|y| y.year))
            .collect();
        let asked = ctx.query.get("jahr").filter(|j| !j.trim().is_empty());
        let chosen = asked
            .as_deref()
            .and_then(|j| j.trim().parse::<u16>().ok())
            .filter(|y| years.contains(y))
            .or_else(|| years.last().copied());
        let not_reported =
            asked.filter(|a| chosen.map(|c| c.to_string()).as_deref() != Some(a.trim()));
        YearChoice {
            years,
            chosen,
            not_reported,
        }
    }
}

/// The reported referrals of `year`, summed over the agencies by field of action.
fn demand_in(reports: &[StoredReport], year: Option<u16>) -> BTreeMap<FieldOfAction, Demand> {
    let mut demand: BTreeMap<FieldOfAction, Demand> = BTreeMap::new();
    if let Some(year) = year {
        for r in reports {
            for f in fields_in(r, year) {
                demand.entry(f.field).or_default().add(f);
            }
        }
    }
    demand
}

/// The typical time to acceptance: the range of the agencies' medians.
fn medians_text(medians: &[u32]) -> String {
    match (medians.iter().min(), medians.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => duration(*lo),
        (Some(lo), Some(hi)) => format!("{} bis {}", duration(*lo), duration(*hi)),
        _ => "–".into(),
    }
}

/// The referral figures the agencies reported, for the chosen year.
fn demand_section(ctx: &Ctx, reports: &[StoredReport]) -> Markup {
    let YearChoice {
        years,
        chosen,
        not_reported,
    } = YearChoice::of(ctx, reports);
    let demand = demand_in(reports, chosen);
    let mut by_name: Vec<(String, &StoredReport)> = reports
        .iter()
        .map(|r| {
            let name = ctx.core.directory.member(&r.node).map(|m| m.member.name);
            (name.unwrap_or_default(), r)
        })
        .collect();
    by_name.sort_by(|a, b| a.0.cmp(&b.0));
    let members = ctx
        .core
        .directory
        .current()
        .map(|d| d.active_members().len().saturating_sub(1))
        .unwrap_or(0);
    html! {
        section.card aria-labelledby="vermittlungen" {
            h2 #vermittlungen { "Vermittlungen nach Handlungsfeld" }
            p.hint {
                "Von " (reports.len()) " der " (members) " Stellen gemeldet: nur Summen der erhaltenen Vermittlungen je Handlungsfeld. "
                "Zahlen von 1 bis 4 verlassen eine Stelle nicht, sie erscheinen als „unter 5“ (in Summen als „mind.“). "
                "Eine Vermittlung mit Bedarfen in mehreren Handlungsfeldern zählt in jedem davon. "
                "Die Zeit bis zur Annahme nennt eine Stelle nur, wenn sie mindestens 5 angenommen hat; "
                "bei mehreren Stellen steht die Spanne."
            }
            @if let Some(asked) = &not_reported {
                p.notice role="status" { "Für „" (asked) "“ hat keine Stelle Vermittlungen gemeldet." }
            }
            @if years.len() > 1 {
                nav.years aria-label="Jahr der Vermittlungen" {
                    "Jahr: "
                    @for y in &years {
                        @if Some(*y) == chosen {
                            strong aria-current="page" { (y) }
                        } @else {
                            a href=(format!("/netzwerk/zahlen?jahr={y}#vermittlungen")) { (y) }
                        }
                        " "
                    }
                }
            }
            @if demand.is_empty() {
                p.empty { "Noch keine Stelle hat Vermittlungen gemeldet." }
            } @else {
                h3 { "Erhalten im Jahr " (chosen.unwrap_or_default()) }
                p { a href=(format!("/netzwerk/zahlen.csv?jahr={}", chosen.unwrap_or_default())) download { "Als Tabelle herunterladen (CSV)" } }
                div.table-wrap { table {
                    caption.visually-hidden { "Erhaltene Vermittlungen nach Handlungsfeld, angenommen, abgelehnt nach Grund, offen" }
                    thead {
                        tr {
                            th scope="col" rowspan="2" { "Handlungsfeld" }
                            th scope="col" rowspan="2" { "erhalten" }
                            th scope="col" rowspan="2" { "angenommen" }
                            th scope="colgroup" colspan="4" { "abgelehnt, weil" }
                            th scope="col" rowspan="2" { "ohne Antwort" }
                            th scope="col" rowspan="2" { "Annahme nach (Median)" }
                        }
                        tr {
                            @for reason in DECLINE_REASONS {
                                th scope="col" { (reason) }
                            }
                        }
                    }
                    tbody {
                        @for (field, d) in &demand {
                            tr {
                                th scope="row" { (field.label_de()) }
                                @for sum in d.counts {
                                    td { (sum.text()) }
                                }
                                td { (medians_text(&d.medians)) }
                            }
                        }
                    }
                } }
                h3 { "Letzte Meldung je Stelle" }
                div.table-wrap { table {
                    caption.visually-hidden { "Letzte Meldung je Stelle" }
                    thead { tr { th scope="col" { "Stelle" } th scope="col" { "gemeldet am" } th scope="col" { "Handlungsfelder mit Vermittlungen" } } }
                    tbody {
                        @for (name, r) in &by_name {
                            tr {
                                th scope="row" { (name) }
                                td { (clock::date_time(r.received_at)) }
                                td { (chosen.map(|y| fields_in(r, y).len()).unwrap_or_default()) }
                            }
                        }
                    }
                } }
            }
        }
    }
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
    let reports = statistics::reports(&ctx.core).map_err(UiError::internal)?;
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
            " vom " (clock::date_time(dir.issued_at)) ". Einzelne Vermittlungen sieht das Integrationszentrum nicht: "
            "sie bleiben bei den Stellen, die nur Summen melden."
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
        (demand_section(&ctx, &reports))
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

/// The decline reasons, in the order of `FieldFigures::counts`.
const DECLINE_REASONS: [&str; 4] = [
    "keine Kapazität",
    "nicht zuständig",
    "Klient:in wollte nicht",
    "anderer Grund",
];

/// `GET /netzwerk/zahlen.csv`: the reported referrals of the chosen year as a table for
/// a spreadsheet (semicolons and a byte order mark, as German spreadsheet programs expect).
pub(crate) async fn csv(ctx: Ctx) -> Result<Response, UiError> {
    require_directory_node(&ctx)?;
    let reports = statistics::reports(&ctx.core).map_err(UiError::internal)?;
    let chosen = YearChoice::of(&ctx, &reports).chosen;
    let year = chosen.map(|y| y.to_string()).unwrap_or_default();
    // The columns of the page's table, with the decline reasons spelled out.
    let mut heads = vec![
        "Jahr".to_string(),
        "Handlungsfeld".into(),
        "erhalten".into(),
        "angenommen".into(),
    ];
    heads.extend(DECLINE_REASONS.iter().map(|r| format!("abgelehnt: {r}")));
    heads.extend([
        "ohne Antwort".into(),
        "Annahme nach (Median je Stelle)".into(),
    ]);
    let mut out = format!("\u{feff}{}\r\n", heads.join(";"));
    for (field, d) in demand_in(&reports, chosen) {
        let mut cells = vec![year.clone(), field.label_de().to_string()];
        cells.extend(d.counts.iter().map(|sum| sum.text()));
        cells.push(medians_text(&d.medians));
        out.push_str(&cells.join(";"));
        out.push_str("\r\n");
    }
    let name = format!("attachment; filename=\"lotse-vermittlungen-{year}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        out,
    )
        .into_response())
}
