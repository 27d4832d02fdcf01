//! Signing in and out. Sign-in goes through `lotse_node::auth::login`, the one way to sign
//! in (rate limits, audit log); a failed attempt shows a clear German message and keeps
//! the username, a rate-limited one says when to try again. A sign-in form posted from
//! another website is refused (login CSRF), and the page to return to afterwards
//! (`weiter`) is followed only if it is a path on this site ([`safe_next`]).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use lotse_node::auth::{self, AuthError, SessionCaller};
use lotse_node::core::Core;
use lotse_node::http::cross_site;
use lotse_node::http::extract::{ClientIp, clear_session_cookie, session_cookie};
use maud::{Markup, html};

use crate::error::UiError;
use crate::forms::FormData;
use crate::layout::{self, Ctx};
use crate::{labels, messages};

/// A stand-in origin to resolve `weiter` against: only whether the result stays on it
/// matters, not its name.
const HOME: &str = "http://lotse.invalid/";
/// The longest `weiter` followed (a page address with filters is far shorter).
const MAX_NEXT: usize = 2048;

/// A safe place to go after sign-in: a path on this site, never another site.
///
/// The value is parsed, not pattern-matched: it is resolved against a stand-in origin by
/// the WHATWG URL parser, which applies the rules a browser applies to a `Location`
/// header (it drops tabs and newlines and reads `\` as `/`, so `/<TAB>/host` and `/\host`
/// become `//host`), and accepted only if the result is still on that origin. What comes
/// back is the parser's own serialisation of path and query, never the raw input. Control
/// characters, whitespace and backslashes are refused before parsing (a `Location` header
/// cannot carry them, and no page of ours has them), and the value must also pass after
/// one round of percent-decoding, so an encoded `%2F%2Fhost` falls back to `/` as well.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    next.and_then(|raw| {
        let path = same_origin_path(raw)?;
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .ok()?;
        same_origin_path(&decoded)?;
        Some(path)
    })
    .unwrap_or_else(|| "/".into())
}

/// `raw`'s path and query if it is a path on this site.
fn same_origin_path(raw: &str) -> Option<String> {
    let plain = raw.len() <= MAX_NEXT
        && raw.starts_with('/')
        && !raw
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\');
    if !plain {
        return None;
    }
    let home = url::Url::parse(HOME).ok()?;
    let target = home.join(raw).ok()?;
    if target.origin() != home.origin() || target.username() != "" || target.password().is_some() {
        return None;
    }
    Some(target[url::Position::BeforePath..url::Position::AfterQuery].to_string())
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
            "Passwort vergessen? Die Administration Ihrer Stelle kann es zurücksetzen; "
            "Ihre Teamleitung gibt Ihnen dann einen Einmal-Code. "
            a href="/passwort-setzen" { "Mit einem Einmal-Code ein neues Passwort setzen" }
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
    let next = safe_next(q.get("weiter").as_deref());
    if user.is_some() {
        return Redirect::to(&next).into_response();
    }
    let notice = q.get("ok").and_then(|c| labels::done(&c));
    form(&core, "", &next, None, notice).into_response()
}

/// `POST /anmelden`. A post that a browser says comes from another website is refused
/// before anything else (login CSRF: see `lotse_node::http::cross_site`).
pub(crate) async fn submit(
    State(core): State<Arc<Core>>,
    ClientIp(client): ClientIp,
    method: Method,
    headers: HeaderMap,
    f: FormData,
) -> Response {
    let next = safe_next(f.get("weiter").as_deref());
    if cross_site::check(&method, &headers).is_err() {
        let message = "Diese Anmeldung kam von einer anderen Website und wurde deshalb nicht \
                       ausgeführt. Bitte melden Sie sich hier auf der Seite Ihres Knotens an.";
        return (
            StatusCode::FORBIDDEN,
            form(&core, "", &next, Some(message), None),
        )
            .into_response();
    }
    let username = f.raw("username").trim().to_string();
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
                AuthError::Disabled | AuthError::AwaitingConfirmation => StatusCode::FORBIDDEN,
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

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_paths_on_this_site_are_followed() {
        for (given, expected) in [
            ("/", "/"),
            ("/konto", "/konto"),
            ("/eingang?status=sent", "/eingang?status=sent"),
            ("/vermittlungen/abc?x=%2F", "/vermittlungen/abc?x=%2F"),
            ("/a/../konto", "/konto"),
        ] {
            assert_eq!(safe_next(Some(given)), expected, "{given:?}");
        }
        for hostile in [
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "/\tevil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/konto\r\nSet-Cookie: x=1",
            "/ /evil.example",
            "https://evil.example/",
            "http:evil.example",
            "evil.example",
            "javascript:alert(1)",
            "/%2F%2Fevil.example",
            "/%2fevil.example",
            "/%5Cevil.example",
            "/%09/evil.example",
            "/%0d%0a/evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/", "{hostile:?}");
        }
        assert_eq!(safe_next(Some(&format!("/{}", "a".repeat(5000)))), "/");
        assert_eq!(safe_next(None), "/");
    }
}
