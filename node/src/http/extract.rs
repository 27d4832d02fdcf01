//! Who is calling: the request extractors every authenticated handler takes.
//!
//! - [`Caller`] (JSON API): accepts `Authorization: Bearer <session or API token>` or the
//!   `lotse_session` cookie. A cookie-authenticated request with an unsafe method (POST,
//!   PUT, PATCH, DELETE) must also send the session's CSRF token in `X-CSRF-Token`;
//!   bearer requests need none, since a browser never adds that header on its own.
//! - [`SessionCaller`] (HTML forms): the cookie only. The form handler checks the CSRF
//!   token from the form body itself with [`SessionCaller::check_csrf`].
//! - [`ClientIp`]: the peer address, when the server was started with connect info.
//!
//! The invariant: no handler taking a [`Caller`] runs for an unauthenticated request, or
//! for a cross-site request riding on the cookie. Both re-read the user on every request,
//! so disabling a user or changing their role takes effect at once.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::ApiError;
use crate::auth::caller::csrf_matches;
use crate::auth::sessions::API_TOKEN_PREFIX;
use crate::auth::{self, AuthVia, Caller, SessionCaller};
use crate::core::Core;

/// The session cookie's name on this node: `lotse_session_` and the start of the node id.
/// Browsers keep cookies per host, not per port, so nodes sharing a host (a demo, a test
/// network) must not share a name, or signing in at one would sign out of the other.
pub fn session_cookie_name(core: &Core) -> String {
    let id = core.id.to_string();
    format!("lotse_session_{}", &id[..12])
}
/// The header carrying the CSRF token on cookie-authenticated changes.
pub const CSRF_HEADER: &str = "x-csrf-token";

fn not_signed_in() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "sign in first: POST /api/v1/login, then send the token as `Authorization: Bearer <token>` (browsers keep the session cookie it sets)",
    )
}

fn bad_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "the token is not valid (expired, signed out, revoked, or the account is disabled); sign in again",
    )
}

fn missing_csrf() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "missing or wrong CSRF token: requests authenticated by the session cookie that change something must send the csrf_token from the login answer in the X-CSRF-Token header",
    )
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// The `Set-Cookie` value that stores a session token: HttpOnly (no script reads it),
/// SameSite=Strict (no other site's page sends it), for the whole site, and without
/// Max-Age, so closing the browser forgets it (shared office computers).
pub fn session_cookie(core: &Core, token: &str) -> HeaderValue {
    let name = session_cookie_name(core);
    HeaderValue::from_str(&format!(
        "{name}={token}; HttpOnly; SameSite=Strict; Path=/"
    ))
    .unwrap_or_else(|_| clear_session_cookie(core))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(core: &Core) -> HeaderValue {
    let name = session_cookie_name(core);
    HeaderValue::from_str(&format!(
        "{name}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("lotse_session=; Max-Age=0"))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Authenticates `parts`: `Ok(None)` if no credential was sent, an error for a wrong one.
async fn authenticate(core: &Core, parts: &Parts) -> Result<Option<Caller>, ApiError> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "the Authorization header must be `Bearer <token>`",
                )
            })?;
        if token.starts_with(API_TOKEN_PREFIX) {
            let (_, user) = auth::authenticate_api_token(core, token)?.ok_or_else(bad_token)?;
            return Ok(Some(Caller::new(user, AuthVia::ApiToken, None)));
        }
        let (session, user) = auth::authenticate_session(core, token)?.ok_or_else(bad_token)?;
        return Ok(Some(Caller::new(
            user,
            AuthVia::Bearer,
            Some((session.id, session.record.csrf_token)),
        )));
    }
    let Some(token) = cookie_value(&parts.headers, &session_cookie_name(core)) else {
        return Ok(None);
    };
    let Some((session, user)) = auth::authenticate_session(core, token)? else {
        return Ok(None);
    };
    if !is_safe(&parts.method) {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !csrf_matches(&session.record.csrf_token, sent) {
            return Err(missing_csrf());
        }
    }
    Ok(Some(Caller::new(
        user,
        AuthVia::Cookie,
        Some((session.id, session.record.csrf_token)),
    )))
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<Core>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let core = Arc::<Core>::from_ref(state);
        authenticate(&core, parts).await?.ok_or_else(not_signed_in)
    }
}

/// `Option<Caller>`: `None` when no credential was sent; still an error for a wrong token
/// or a missing CSRF token.
impl<S> OptionalFromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<Core>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        let core = Arc::<Core>::from_ref(state);
        authenticate(&core, parts).await
    }
}

fn session_caller(core: &Core, parts: &Parts) -> Result<Option<SessionCaller>, ApiError> {
    let Some(token) = cookie_value(&parts.headers, &session_cookie_name(core)) else {
        return Ok(None);
    };
    Ok(auth::authenticate_session(core, token)?
        .map(|(s, user)| SessionCaller::new(user, s.id, s.record.csrf_token)))
}

impl<S> FromRequestParts<S> for SessionCaller
where
    S: Send + Sync,
    Arc<Core>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let core = Arc::<Core>::from_ref(state);
        session_caller(&core, parts)?.ok_or_else(not_signed_in)
    }
}

/// `Option<SessionCaller>`: `None` when not signed in (for pages that redirect to login).
impl<S> OptionalFromRequestParts<S> for SessionCaller
where
    S: Send + Sync,
    Arc<Core>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        let core = Arc::<Core>::from_ref(state);
        session_caller(&core, parts)
    }
}

/// The client's IP address, if the server was started with connect info
/// (`into_make_service_with_connect_info::<SocketAddr>()`, as `node::start` does).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;
    use crate::auth::{Role, sessions, testutil, users};

    fn parts(method: &str, headers: &[(&str, &str)]) -> Parts {
        let mut req = Request::builder().method(method).uri("/x");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn cookies_are_found_among_others() {
        let p = parts(
            "GET",
            &[
                ("cookie", "a=1; lotse_session=abc ; b=2"),
                ("cookie", "c=3"),
            ],
        );
        assert_eq!(cookie_value(&p.headers, "lotse_session"), Some("abc"));
        assert_eq!(cookie_value(&p.headers, "c"), Some("3"));
        assert_eq!(cookie_value(&p.headers, "lotse"), None);
    }

    #[tokio::test]
    async fn session_cookies_are_named_per_node() {
        let (_t, core) = testutil::core().await;
        let set = session_cookie(&core, "tok");
        let set = set.to_str().unwrap();
        assert!(set.starts_with(&format!("{}=tok;", session_cookie_name(&core))));
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/")
        );
        let (_t2, other) = testutil::core().await;
        assert_ne!(session_cookie_name(&core), session_cookie_name(&other));
    }

    #[tokio::test]
    async fn csrf_is_required_for_cookie_changes_only() {
        let (_t, core) = testutil::core().await;
        users::add_user(
            &core,
            users::Requester::Server,
            "lea",
            "Lea",
            Role::Coordinator,
            None,
        )
        .await
        .unwrap();
        let s = sessions::create_session(&core, "lea").await.unwrap();
        let cookie = format!("{}={}", session_cookie_name(&core), s.token);
        let bearer = format!("Bearer {}", s.token);

        // Cookie: reads pass, changes need the header.
        let c = authenticate(&core, &parts("GET", &[("cookie", &cookie)]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((c.username.as_str(), c.via), ("lea", AuthVia::Cookie));
        let e = authenticate(&core, &parts("POST", &[("cookie", &cookie)]))
            .await
            .unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        let e = authenticate(
            &core,
            &parts("DELETE", &[("cookie", &cookie), ("x-csrf-token", "wrong")]),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(e.message.contains("X-CSRF-Token"));
        let ok = authenticate(
            &core,
            &parts(
                "POST",
                &[("cookie", &cookie), ("X-CSRF-Token", &s.csrf_token)],
            ),
        )
        .await
        .unwrap();
        assert!(ok.is_some());

        // Bearer: no CSRF needed.
        let c = authenticate(&core, &parts("POST", &[("authorization", &bearer)]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.via, AuthVia::Bearer);

        // Nothing sent: None; wrong bearer: 401.
        assert!(
            authenticate(&core, &parts("POST", &[]))
                .await
                .unwrap()
                .is_none()
        );
        let e = authenticate(&core, &parts("GET", &[("authorization", "Bearer nope")]))
            .await
            .unwrap_err();
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        let e = authenticate(&core, &parts("GET", &[("authorization", "Basic x")]))
            .await
            .unwrap_err();
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);

        // The form variant checks the token the handler gives it.
        let sc = session_caller(&core, &parts("POST", &[("cookie", &cookie)]))
            .unwrap()
            .unwrap();
        assert_eq!(sc.csrf_token(), s.csrf_token);
        assert!(sc.check_csrf(&s.csrf_token).is_ok());
        assert!(sc.check_csrf("").is_err());
        assert!(
            session_caller(&core, &parts("POST", &[("authorization", &bearer)]))
                .unwrap()
                .is_none(),
            "forms accept the cookie only"
        );
    }
}
