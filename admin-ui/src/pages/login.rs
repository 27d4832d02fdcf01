//! Signing in and out. Sign-in goes through `lotse_node::auth::login`, the one way to sign
//! in (rate limits, audit log); a failed attempt shows a clear German message and keeps
//! the username, a rate-limited one says when to try again.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use lotse_node::auth::extract::{clear_session_cookie, session_cookie};
use lotse_node::auth::{self, AuthError, ClientIp, SessionCaller};
use lotse_node::core::Core;
use maud::{Markup, html};

use crate::error::UiError;
use crate::forms::FormData;
use crate::layout::{self, Ctx};
use crate::{labels, messages};

/// A safe place to go after sign-in: a path on this site, never another site.
fn safe_next(next: Option<String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/".into(),
    }
}

fn form(
    core: &Core,
    username: &str,
    next: &str,
    error: Option<&str>,
    notice: Option<&str>,
) -> Markup {
    let body = html! {
        h1 { "Anmelden" }
        p.lead { "bei " strong { (core.config.name) } }
        @if let Some(n) = notice {
            div.notice role="status" { (n) }
        }
        @if let Some(e) = error {
            div.error-summary role="alert" #fehler {
                p { (e) }
            }
        }
        form method="post" action="/anmelden" {
            input type="hidden" name="weiter" value=(next);
            div.field {
                label for="username" { "Benutzername" }
                input #username type="text" name="username" value=(username)
                    autocomplete="username" autocapitalize="none" spellcheck="false" required
                    autofocus[username.is_empty()];
            }
            div.field {
                label for="password" { "Passwort" }
                input #password type="password" name="password" autocomplete="current-password"
                    required autofocus[!username.is_empty()];
            }
            button.button.primary type="submit" { "Anmelden" }
        }
        p.hint {
            "Passwort vergessen? Die Administration Ihrer Stelle kann es neu setzen."
        }
    };
    layout::bare("Anmelden", body)
}

/// `GET /anmelden`.
pub(crate) async fn page(
    State(core): State<Arc<Core>>,
    user: Option<SessionCaller>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let q = FormData::from_pairs(q.iter().map(|(k, v)| (k.as_str(), v.clone())));
    let next = safe_next(q.get("weiter"));
    if user.is_some() {
        return Redirect::to(&next).into_response();
    }
    let notice = q.get("ok").and_then(|c| labels::done(&c));
    form(&core, "", &next, None, notice).into_response()
}

/// `POST /anmelden`.
pub(crate) async fn submit(
    State(core): State<Arc<Core>>,
    ClientIp(client): ClientIp,
    f: FormData,
) -> Response {
    let username = f.raw("username").trim().to_string();
    let next = safe_next(f.get("weiter"));
    match auth::login(&core, &username, f.raw("password"), client).await {
        Ok(done) => (
            StatusCode::SEE_OTHER,
            [
                (
                    header::SET_COOKIE,
                    session_cookie(&core, &done.session.token),
                ),
                (
                    header::LOCATION,
                    HeaderValue::from_str(&next).unwrap_or(HeaderValue::from_static("/")),
                ),
            ],
        )
            .into_response(),
        Err(e) => {
            let status = match &e {
                AuthError::BadCredentials => StatusCode::UNAUTHORIZED,
                AuthError::Disabled => StatusCode::FORBIDDEN,
                AuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                AuthError::Store(_) | AuthError::Hash(_) => {
                    return UiError::internal(e).into_response();
                }
                _ => StatusCode::UNAUTHORIZED,
            };
            let mut resp = (
                status,
                form(&core, &username, &next, Some(&messages::auth(&e)), None),
            )
                .into_response();
            if let AuthError::RateLimited { retry_after_secs } = e {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            resp
        }
    }
}

/// `POST /abmelden`.
pub(crate) async fn sign_out(ctx: Ctx, f: FormData) -> Result<Response, UiError> {
    ctx.check_csrf(&f)?;
    auth::logout(&ctx.core, &ctx.user.username, ctx.user.session_id())
        .await
        .map_err(UiError::internal)?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, clear_session_cookie(&ctx.core)),
            (
                header::LOCATION,
                HeaderValue::from_static("/anmelden?ok=signed_out"),
            ),
        ],
    )
        .into_response())
}
