//! Inbox ("Eingang": referrals received) and outbox ("Ausgang": referrals sent), filtered
//! by status, field of action and date. Lists never show client data.

use axum::response::{IntoResponse, Response};
use lotse_node::referrals::query::{self, Filter, Mailbox};
use lotse_protocol::client::FieldOfAction;
use maud::html;

use super::referral_table;
use crate::error::UiError;
use crate::layout::{self, Ctx, Nav};
use crate::{clock, labels};

/// `GET /eingang`.
pub(crate) async fn inbox(ctx: Ctx) -> Result<Response, UiError> {
    list(ctx, Mailbox::Inbox).await
}

/// `GET /ausgang`.
pub(crate) async fn outbox(ctx: Ctx) -> Result<Response, UiError> {
    list(ctx, Mailbox::Outbox).await
}

async fn list(ctx: Ctx, mailbox: Mailbox) -> Result<Response, UiError> {
    ctx.require_case_work()?;
    let q = &ctx.query;
    let status = q
        .get("status")
        .filter(|s| labels::STATUSES.iter().any(|(n, _)| n == s));
    let field = q.get("feld").and_then(|k| labels::field_from_key(&k));
    let from = q.get("von").and_then(|d| clock::parse_date(&d));
    let to = q.get("bis").and_then(|d| clock::parse_date(&d));
    let filter = Filter {
        mailbox: Some(mailbox),
        status: status.clone(),
        field,
        from,
        to,
    };
    let rows = query::list(&ctx.core, &ctx.actor(), &filter)?;
    let filtered = status.is_some() || field.is_some() || from.is_some() || to.is_some();
    let (title, nav, path, empty) = match mailbox {
        Mailbox::Inbox => (
            "Eingang",
            Nav::Inbox,
            "/eingang",
            "Im Eingang ist keine Vermittlung.",
        ),
        Mailbox::Outbox => (
            "Ausgang",
            Nav::Outbox,
            "/ausgang",
            "Sie haben noch keine Vermittlung gesendet.",
        ),
    };
    let content = html! {
        form.filters method="get" action=(path) role="search" aria-label="Liste filtern" {
            div.field {
                label for="status" { "Status" }
                select #status name="status" {
                    option value="" { "alle" }
                    @for (name, label) in labels::STATUSES {
                        option value=(name) selected[status.as_deref() == Some(name)] { (label) }
                    }
                }
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
                label for="von" { "Datum von" }
                input #von type="date" name="von" value=(from.map(clock::iso_date).unwrap_or_default());
            }
            div.field {
                label for="bis" { "Datum bis" }
                input #bis type="date" name="bis" value=(to.map(clock::iso_date).unwrap_or_default());
            }
            div.filter-buttons {
                button.button type="submit" { "Filtern" }
                @if filtered {
                    a.button.quiet href=(path) { "Filter zurücksetzen" }
                }
            }
        }
        section.card aria-label=(title) {
            @if rows.is_empty() {
                p.empty {
                    @if filtered { "Keine Vermittlung passt zu diesem Filter." } @else { (empty) }
                }
            } @else {
                p.hint { (rows.len()) @if rows.len() == 1 { " Vermittlung" } @else { " Vermittlungen" } ", neueste Änderung zuerst." }
                (referral_table(&ctx.core, title, &rows, false))
            }
        }
    };
    Ok(layout::page(&ctx, nav, title, content).into_response())
}
