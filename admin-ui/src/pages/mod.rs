//! The pages, one module per area, and the pieces several of them show (a referral table,
//! a status badge).

pub(crate) mod account;
pub(crate) mod account_changes;
pub(crate) mod admin;
pub(crate) mod dashboard;
pub(crate) mod detail;
pub(crate) mod directory;
pub(crate) mod disclosure;
pub(crate) mod handover;
pub(crate) mod lists;
pub(crate) mod login;
pub(crate) mod network;
pub(crate) mod new_referral;
pub(crate) mod set_password;
pub(crate) mod statistics;

use lotse_node::core::Core;
use lotse_node::referrals::query::Summary;
use lotse_protocol::NodeId;
use lotse_protocol::referral::{ReferralState, Side};
use maud::{Markup, html};

use crate::{clock, labels};

/// A status as a badge.
pub(crate) fn badge(state: ReferralState) -> Markup {
    html! { span class=(labels::state_class(state)) { (labels::state(state)) } }
}

/// The name of the service a referral is for: the recipient's service, which is the peer's
/// on the sending side and this node's own on the receiving side.
pub(crate) fn referral_service(core: &Core, r: &lotse_node::referrals::ReferralRecord) -> String {
    let owner = match r.side {
        Side::Sender => r.peer,
        Side::Receiver => core.id,
    };
    service_name(core, &owner, r.service_id.as_deref())
}

/// The name of service `id` of agency `node`, from the directory (or the id itself).
pub(crate) fn service_name(core: &Core, node: &NodeId, id: Option<&str>) -> String {
    let Some(id) = id else {
        return "–".into();
    };
    core.directory
        .member(node)
        .and_then(|m| m.profile.services.into_iter().find(|s| s.id == id))
        .map(|s| s.name)
        .unwrap_or_else(|| id.to_string())
}

/// The display name of user `username` of this node (or the username).
pub(crate) fn user_name(core: &Core, username: &str) -> String {
    lotse_node::auth::users::get_user(core, username)
        .ok()
        .flatten()
        .map(|u| u.display_name)
        .unwrap_or_else(|| username.to_string())
}

/// A table of referrals (no personal data: lists never show client data). `compact`
/// leaves out the fields of action and the follow-up date (for the overview's cards).
pub(crate) fn referral_table(
    core: &Core,
    caption: &str,
    rows: &[Summary],
    compact: bool,
) -> Markup {
    html! {
        div.table-wrap {
            table {
                caption.visually-hidden { (caption) }
                thead {
                    tr {
                        th scope="col" { "Vermittlung" }
                        @if !compact { th scope="col" { "Handlungsfelder" } }
                        th scope="col" { "Status" }
                        th scope="col" { "Datum" }
                        @if !compact {
                            th scope="col" { "Zuständig" }
                            th scope="col" { "Wiedervorlage" }
                        }
                    }
                }
                tbody {
                    @for s in rows {
                        @let r = &s.record;
                        tr {
                            td {
                                a href=(format!("/vermittlungen/{}", r.id)) {
                                    @match r.side {
                                        Side::Sender => { "an " (r.peer_name) }
                                        Side::Receiver => { "von " (r.peer_name) }
                                    }
                                }
                                br;
                                span.sub { (referral_service(core, r)) }
                            }
                            @if !compact { td { (labels::fields(&r.fields)) } }
                            td {
                                (badge(r.state))
                                @if s.unassigned && compact { " " span.badge.badge-new { "neu" } }
                            }
                            td.date { (clock::date(clock::local(r.created_at).date())) }
                            @if !compact {
                                td {
                                    @if s.unassigned {
                                        span.badge.badge-new { "neu" }
                                    } @else {
                                        @match &r.owner {
                                            Some(o) => (user_name(core, o)),
                                            None => "–",
                                        }
                                    }
                                }
                                td.date {
                                    @match r.follow_up {
                                        Some(d) => (clock::date(d)),
                                        None => "–",
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
