//! The page shell and the request context every page starts from.
//!
//! [`Ctx`] is the signed-in user (from the session cookie) with the node; a page that
//! needs sign-in takes it and an anonymous visitor is sent to the sign-in page, which
//! brings them back afterwards. [`page`] wraps a page's content in the shell: skip link,
//! sidebar with the navigation the user's role allows, the node's name, and sign-out.
//! Every form that changes something carries the session's CSRF token ([`csrf`]) and its
//! handler checks it first ([`Ctx::check_csrf`]).

use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use lotse_node::auth::{Role, SessionCaller};
use lotse_node::core::Core;
use lotse_node::referrals::access::Actor;
use maud::{DOCTYPE, Markup, html};

use crate::assets;
use crate::error::UiError;
use crate::forms::{self, FormData};
use crate::labels;

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Dashboard,
    Inbox,
    Outbox,
    NewReferral,
    Directory,
    Disclosure,
    Users,
    Status,
    Network,
    Statistics,
    Invitations,
    Account,
    AccountChanges,
}

/// A signed-in request.
pub(crate) struct Ctx {
    /// The node.
    pub(crate) core: Arc<Core>,
    /// Who is signed in.
    pub(crate) user: SessionCaller,
    /// The query string's values (filters, the `ok` notice after a redirect).
    pub(crate) query: FormData,
}

impl Ctx {
    /// The user as the workflow's actor.
    pub(crate) fn actor(&self) -> Actor {
        Actor::from_caller(&self.user.as_caller())
    }

    /// True for case managers and team leads.
    pub(crate) fn works_cases(&self) -> bool {
        matches!(self.user.role, Role::CaseManager | Role::TeamLead)
    }

    /// `Ok` for the given roles; a friendly 403 page otherwise.
    pub(crate) fn require(&self, roles: &[Role]) -> Result<(), UiError> {
        if roles.contains(&self.user.role) {
            return Ok(());
        }
        let needed: Vec<&str> = roles.iter().map(|r| labels::role(*r)).collect();
        Err(UiError::forbidden(format!(
            "Diese Seite ist für: {}. Sie sind angemeldet als {} ({}).",
            needed.join(", "),
            self.user.display_name,
            labels::role(self.user.role)
        )))
    }

    /// `Ok` for case work; the page for admins and coordinators otherwise.
    pub(crate) fn require_case_work(&self) -> Result<(), UiError> {
        if self.works_cases() {
            return Ok(());
        }
        Err(UiError::forbidden(format!(
            "Sie sind angemeldet als {} ({}). Fallinhalte sehen nur Fallmanagerinnen, \
             Fallmanager und Teamleitungen der beteiligten Stellen. Die Administration \
             verwaltet den Knoten und die Benutzerkonten, ohne Fälle einzusehen.",
            self.user.display_name,
            labels::role(self.user.role)
        )))
    }

    /// Checks the CSRF token a form sent.
    pub(crate) fn check_csrf(&self, form: &FormData) -> Result<(), UiError> {
        self.user
            .check_csrf(form.raw("csrf_token"))
            .map_err(|_| UiError::stale_form())
    }

    /// The notice to show after a redirect (`?ok=...`).
    pub(crate) fn notice(&self) -> Option<&'static str> {
        self.query.get("ok").and_then(|c| labels::done(&c))
    }
}

/// Where to send an anonymous visitor: the sign-in page, then back to `parts`' page.
fn to_sign_in(parts: &Parts) -> Response {
    let back = if parts.method == axum::http::Method::GET {
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into())
    } else {
        "/".into()
    };
    let target = if back == "/" {
        "/anmelden".to_string()
    } else {
        format!("/anmelden?weiter={}", forms::encode(&back))
    };
    Redirect::to(&target).into_response()
}

impl FromRequestParts<Arc<Core>> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, core: &Arc<Core>) -> Result<Self, Response> {
        let user =
            <SessionCaller as OptionalFromRequestParts<Arc<Core>>>::from_request_parts(parts, core)
                .await
                .map_err(|e| UiError::internal(e.message).into_response())?;
        let Some(user) = user else {
            return Err(to_sign_in(parts));
        };
        let query = FormData::parse_urlencoded(parts.uri.query().unwrap_or("").as_bytes())
            .map_err(IntoResponse::into_response)?;
        Ok(Ctx {
            core: core.clone(),
            user,
            query,
        })
    }
}

/// The hidden field with the session's CSRF token.
pub(crate) fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(ctx.user.csrf_token()); }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " – Lotse" }
            link rel="stylesheet" href=(assets::css_url());
            script src=(assets::js_url()) defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub(crate) fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="de" {
            (head(title))
            body.bare {
                a.skip href="#inhalt" { "Zum Inhalt springen" }
                main #inhalt tabindex="-1" {
                    div.brand-bare { span.logo aria-hidden="true" { "⚓" } " Lotse" }
                    div.card.narrow { (body) }
                }
            }
        }
    }
}

struct NavItem {
    nav: Nav,
    href: &'static str,
    label: &'static str,
}

fn nav_items(ctx: &Ctx) -> Vec<NavItem> {
    let item = |nav, href, label| NavItem { nav, href, label };
    let mut v = Vec::new();
    match ctx.user.role {
        Role::CaseManager | Role::TeamLead => {
            v.push(item(Nav::Dashboard, "/", "Übersicht"));
            v.push(item(Nav::Inbox, "/eingang", "Eingang"));
            v.push(item(Nav::Outbox, "/ausgang", "Ausgang"));
            v.push(item(
                Nav::NewReferral,
                "/vermittlungen/neu",
                "Neue Vermittlung",
            ));
            v.push(item(Nav::Directory, "/verzeichnis", "Verzeichnis"));
            v.push(item(Nav::Disclosure, "/auskunft", "Auskunft"));
            if ctx.user.role == Role::TeamLead {
                v.push(item(
                    Nav::AccountChanges,
                    "/kontenaenderungen",
                    "Kontenänderungen",
                ));
            }
        }
        Role::Admin => {
            v.push(item(Nav::Status, "/verwaltung/status", "Knotenstatus"));
            v.push(item(Nav::Users, "/verwaltung/benutzer", "Benutzer"));
            v.push(item(Nav::Directory, "/verzeichnis", "Verzeichnis"));
        }
        Role::Coordinator => {
            v.push(item(Nav::Network, "/netzwerk", "Mitglieder"));
            v.push(item(
                Nav::Invitations,
                "/netzwerk/einladungen",
                "Einladungen",
            ));
            v.push(item(
                Nav::Statistics,
                "/netzwerk/zahlen",
                "Netzwerk in Zahlen",
            ));
            v.push(item(Nav::Directory, "/verzeichnis", "Verzeichnis"));
            v.push(item(Nav::Status, "/verwaltung/status", "Knotenstatus"));
        }
    }
    v.push(item(Nav::Account, "/konto", "Mein Konto"));
    v
}

/// A full page: shell, navigation, heading, optional notice, content.
pub(crate) fn page(ctx: &Ctx, nav: Nav, title: &str, content: Markup) -> Markup {
    let notice = ctx.notice();
    html! {
        (DOCTYPE)
        html lang="de" {
            (head(title))
            body {
                a.skip href="#inhalt" { "Zum Inhalt springen" }
                div.shell {
                    aside.sidebar {
                        div.brand {
                            span.logo aria-hidden="true" { "⚓" }
                            span { "Lotse" }
                        }
                        p.node-name { (ctx.core.config.name) }
                        nav aria-label="Hauptnavigation" {
                            ul {
                                @for i in nav_items(ctx) {
                                    li {
                                        @if i.nav == nav {
                                            a href=(i.href) aria-current="page" { (i.label) }
                                        } @else {
                                            a href=(i.href) { (i.label) }
                                        }
                                    }
                                }
                            }
                        }
                        div.who {
                            p {
                                span.who-name { (ctx.user.display_name) }
                                br;
                                span.who-role { (labels::role(ctx.user.role)) }
                            }
                            form method="post" action="/abmelden" {
                                (csrf(ctx))
                                button.link-button type="submit" { "Abmelden" }
                            }
                        }
                    }
                    main #inhalt tabindex="-1" {
                        h1 { (title) }
                        @if let Some(n) = notice {
                            div.notice role="status" { (n) }
                        }
                        (content)
                    }
                }
            }
        }
    }
}

/// A "see other" redirect after a successful form post, with a notice code.
pub(crate) fn done(path: &str, code: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}ok={code}")).into_response()
}

/// An error box listing what to fix, each linked to its field.
pub(crate) fn error_summary(errors: &[(String, String)]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div.error-summary role="alert" tabindex="-1" #fehler {
                h2 { "Bitte prüfen Sie Ihre Eingaben" }
                ul {
                    @for (field, message) in errors {
                        li {
                            @if field.is_empty() {
                                (message)
                            } @else {
                                a href=(format!("#{field}")) { (message) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The message for `field` among `errors`, shown under the field.
pub(crate) fn field_error(errors: &[(String, String)], field: &str) -> Markup {
    html! {
        @for (f, m) in errors {
            @if f == field {
                p.field-error id=(format!("{field}-fehler")) { (m) }
            }
        }
    }
}

/// True if `field` has an error (for `aria-invalid`).
pub(crate) fn has_error(errors: &[(String, String)], field: &str) -> bool {
    errors.iter().any(|(f, _)| f == field)
}
