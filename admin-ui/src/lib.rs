//! `lotse-admin-ui`: the web UI case managers, team leads, admins and the KI coordinator
//! use, in German, rendered on the server with [maud] and built on `lotse-node`'s services.
//!
//! [`router`] returns an axum router with its state applied, to be merged into the node's
//! HTTP listener (`lotse_node::node::start(core, lotse_admin_ui::router(core))`).
//!
//! How it is built, and why:
//! - Every page is plain HTML with forms: each change is a POST that answers with a 303
//!   redirect to a page (post/redirect/get), so reloading never sends anything twice and
//!   everything works with JavaScript off. Two exceptions show a secret exactly once and
//!   therefore answer the POST with a page: a generated password and an invitation token.
//! - The UI adds no rules of its own about cases: the workflow (`lotse_node::referrals`)
//!   decides who may see and do what, and the UI shows its answer in German. Actions are
//!   offered only when the workflow lists them as allowed now.
//! - Every read of case content is written to the audit log, as the JSON API does.
//! - Sign-in goes through `lotse_node::auth::login` (rate limits, audit); the session is
//!   the HttpOnly, SameSite=Strict cookie, and every form carries the session's CSRF token.
//! - Pages send a strict Content-Security-Policy (no inline script or style) and are not
//!   cached, since they may show case data: the headers come from
//!   `lotse_node::http::security_headers`, which the node puts on every answer (the JSON
//!   API's too); the UI's router applies it as well, so it has them when used alone.
//!
//! Routes (German, as users see them in the address bar): `/anmelden`, `/abmelden`, `/`
//! (overview), `/eingang`, `/ausgang`, `/vermittlungen/neu`, `/vermittlungen/{id}`,
//! `/verzeichnis`, `/konto`, `/passwort-setzen`, `/kontenaenderungen` (team leads),
//! `/verwaltung/benutzer`, `/verwaltung/status`, `/netzwerk`,
//! `/netzwerk/einladungen`, `/netzwerk/widerruf/{node}`, and `/assets/...`.

mod assets;
mod clock;
pub mod demo;
mod error;
mod forms;
mod labels;
mod layout;
mod messages;
mod pages;
mod search;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lotse_node::core::Core;

use pages::{
    account, account_changes, admin, dashboard, detail, directory, disclosure, lists, login,
    network, new_referral, set_password, statistics,
};

/// The largest form post: a referral with its documents (the protocol allows 4 documents
/// of 2 MiB plus the signed consent form).
const MAX_FORM_BYTES: usize = 12 * 1024 * 1024;

/// The web UI's routes, with the node as state.
pub fn router(core: Arc<Core>) -> Router {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/anmelden", get(login::page).post(login::submit))
        .route("/abmelden", post(login::sign_out))
        .route("/konto", get(account::page).post(account::change_password))
        .route(
            "/passwort-setzen",
            get(set_password::page).post(set_password::submit),
        )
        .route("/kontenaenderungen", get(account_changes::page))
        .route("/kontenaenderungen/{username}", post(account_changes::act))
        .route("/eingang", get(lists::inbox))
        .route("/ausgang", get(lists::outbox))
        .route(
            "/vermittlungen/neu",
            get(new_referral::page)
                .post(new_referral::submit)
                .layer(DefaultBodyLimit::max(MAX_FORM_BYTES)),
        )
        .route("/vermittlungen/{id}", get(detail::page).post(detail::act))
        .route("/vermittlungen/{id}/dokument/{n}", get(detail::document))
        .route("/verzeichnis", get(directory::page))
        .route("/auskunft", get(disclosure::page))
        .route(
            "/verwaltung/benutzer",
            get(admin::users).post(admin::add_user),
        )
        .route("/verwaltung/benutzer/{username}", post(admin::change_user))
        .route("/verwaltung/status", get(admin::status))
        .route("/netzwerk", get(network::members))
        .route("/netzwerk/zahlen", get(statistics::page))
        .route("/netzwerk/zahlen.csv", get(statistics::csv))
        .route(
            "/netzwerk/einladungen",
            get(network::invitations).post(network::invite),
        )
        .route(
            "/netzwerk/widerruf/{node}",
            get(network::confirm_revoke).post(network::revoke),
        )
        .route("/assets/{file}", get(assets::serve))
        .fallback(not_found)
        .layer(middleware::map_response(lotse_node::http::security_headers))
        .with_state(core)
}

async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return (
            axum::http::StatusCode::NOT_FOUND,
            axum::Json(
                serde_json::json!({"error": "no such API endpoint; see /api/v1/openapi.json"}),
            ),
        )
            .into_response();
    }
    error::UiError::not_found(
        "Diese Seite gibt es nicht. Vielleicht hat sich die Adresse geändert: Über die \
         Navigation finden Sie alle Seiten.",
    )
    .into_response()
}
