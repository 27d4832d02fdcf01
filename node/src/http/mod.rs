//! The node's HTTP listener: `/healthz`, and the local admin API the CLI uses while the
//! node runs. Later layers (the JSON API for case work, the web UI) are merged into the
//! same router by [`app`], which also puts [`security_headers`] on every answer: the
//! JSON API's, the web UI's and the admin API's alike, so no route can forget them.

pub mod admin;
pub mod audit;
pub mod cross_site;
pub mod extract;
pub mod json;
pub mod referrals;
pub mod session;
pub mod users;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::auth::{AuthError, CsrfMismatch, RoleRequired};
use crate::core::Core;

pub use extract::ClientIp;

/// An API error: a status and a message that says what to do.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Message for the user.
    pub message: String,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, message: impl std::fmt::Display) -> Self {
        Self {
            status,
            message: message.to_string(),
        }
    }

    /// 400.
    pub fn bad_request(message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 500, logged.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the node's log",
        )
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong and what to do.
    pub error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        use AuthError as E;
        let status = match &e {
            E::InvalidUsername(_)
            | E::ReservedUsername(_)
            | E::InvalidDisplayName
            | E::WeakPassword
            | E::CommonPassword
            | E::PasswordFromAdmin
            | E::InvalidTokenName
            | E::TokenLifetime { .. } => StatusCode::BAD_REQUEST,
            E::UserExists(_)
            | E::LastAdmin(_)
            | E::TooManyTokens { .. }
            | E::NothingPending(_)
            | E::NoResetPending(_) => StatusCode::CONFLICT,
            E::UnknownUser(_) | E::UnknownToken(_) => StatusCode::NOT_FOUND,
            E::BadCredentials | E::BadResetCode => StatusCode::UNAUTHORIZED,
            E::WrongCurrentPassword | E::Disabled | E::AwaitingConfirmation | E::OwnChange => {
                StatusCode::FORBIDDEN
            }
            E::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            E::Hash(_) | E::Store(_) => return ApiError::internal(e),
        };
        ApiError::new(status, e)
    }
}

impl From<RoleRequired> for ApiError {
    fn from(e: RoleRequired) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, e)
    }
}

impl From<CsrfMismatch> for ApiError {
    fn from(e: CsrfMismatch) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, e)
    }
}

/// An answer for `e`, with `Retry-After` when it is a rate limit.
pub fn auth_error_response(e: AuthError) -> Response {
    let retry = match &e {
        AuthError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
        _ => None,
    };
    let mut resp = ApiError::from(e).into_response();
    if let Some(secs) = retry {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

/// Health as reported by `/healthz`.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Health {
    /// Always "ok" when the node answers.
    pub status: String,
    /// Node name.
    pub name: String,
    /// Node id.
    pub node_id: String,
    /// Directory serial (0: not joined).
    pub directory_serial: u64,
}

async fn healthz(State(core): State<Arc<Core>>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        name: core.config.name.clone(),
        node_id: core.id.to_string(),
        directory_serial: core.directory.serial(),
    })
}

/// Prometheus metrics: counts only, never case content or names.
async fn metrics(State(core): State<Arc<Core>>) -> Result<Response, ApiError> {
    use std::fmt::Write;
    let (queued, delivered, expired) = crate::outbox::counts(&core)?;
    let mut by_status = std::collections::BTreeMap::<&str, u64>::new();
    for (_, value) in core
        .store
        .scan(crate::store::Space::Referrals, b"", usize::MAX)?
    {
        let r: crate::referrals::ReferralRecord =
            crate::store::from_json(crate::store::Space::Referrals, &value)?;
        *by_status.entry(r.state.name()).or_default() += 1;
    }
    let members = core
        .directory
        .current()
        .map(|d| d.active_members().len())
        .unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP lotse_outbox_messages Outgoing messages by delivery state."
    );
    let _ = writeln!(out, "# TYPE lotse_outbox_messages gauge");
    for (state, n) in [
        ("queued", queued),
        ("delivered", delivered),
        ("expired", expired),
    ] {
        let _ = writeln!(out, "lotse_outbox_messages{{state=\"{state}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP lotse_referrals Referrals on this node by status."
    );
    let _ = writeln!(out, "# TYPE lotse_referrals gauge");
    for (status, n) in by_status {
        let _ = writeln!(out, "lotse_referrals{{status=\"{status}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP lotse_directory_serial Serial of the directory snapshot in use."
    );
    let _ = writeln!(out, "# TYPE lotse_directory_serial gauge");
    let _ = writeln!(out, "lotse_directory_serial {}", core.directory.serial());
    let _ = writeln!(
        out,
        "# HELP lotse_directory_members Active members in the directory."
    );
    let _ = writeln!(out, "# TYPE lotse_directory_members gauge");
    let _ = writeln!(out, "lotse_directory_members {members}");
    let _ = writeln!(out, "# HELP lotse_store_bytes Size of the store on disk.");
    let _ = writeln!(out, "# TYPE lotse_store_bytes gauge");
    let _ = writeln!(out, "lotse_store_bytes {}", core.store.size_on_disk()?);
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
        .into_response())
}

/// Headers every answer of the node gets, unless its handler set its own (the UI's
/// assets keep their long cache time):
/// - `Cache-Control: no-store`: answers show case data and accounts; no browser or proxy
///   may keep them (a shared office computer, a caching proxy).
/// - `X-Content-Type-Options: nosniff`: a JSON answer with a client's text is never read
///   as HTML or script.
/// - `Content-Security-Policy` with `frame-ancestors 'none'` and `X-Frame-Options: DENY`:
///   no other site frames a page (clickjacking); scripts and styles only from this origin.
/// - `Referrer-Policy: same-origin`: a referral's address (with its id) never goes to
///   another site.
pub async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, k, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::CACHE_CONTROL, "no-store");
    resp
}

/// The whole HTTP application of a node: [`router`] with `extra` (the JSON API for case
/// work, the web UI) merged in, and [`security_headers`] on every answer.
pub fn app(core: Arc<Core>, extra: Router) -> Router {
    router(core)
        .merge(extra)
        .layer(middleware::map_response(security_headers))
}

/// The base router: health and the admin API.
pub fn router(core: Arc<Core>) -> Router {
    let (api, doc) = api_router().split_for_parts();
    let doc = Arc::new(doc);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .nest("/api/v1/admin", admin::router(core.clone()))
        .merge(api)
        .merge(crate::hsds::router())
        .with_state(core)
}

/// The OpenAPI document's frame; the paths come from the routes themselves.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Lotse node API",
        description = "The JSON API of one Lotse node: sign-in, users, the network directory, referrals and their events, the audit log. Authenticate with `Authorization: Bearer <token>` (from POST /api/v1/login or an API token) or the session cookie plus the `X-CSRF-Token` header for changes.",
    ),
    tags(
        (name = "session", description = "Signing in and out"),
        (name = "users", description = "Users and API tokens (admins)"),
        (name = "referrals", description = "Referrals, the directory, due items"),
        (name = "audit", description = "The audit log (admins, coordinators)"),
    )
)]
struct ApiDoc;

/// Every `/api/v1` route with its documentation: a route exists in the router if and only
/// if it is in the document, because both come from the same `#[utoipa::path]`.
pub fn api_router() -> utoipa_axum::router::OpenApiRouter<Arc<Core>> {
    use utoipa::OpenApi;
    utoipa_axum::router::OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(session::routes())
        .merge(users::routes())
        .merge(audit::routes())
        .merge(referrals::router())
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_lists_every_api_route() {
        let doc = super::openapi();
        let json = serde_json::to_value(&doc).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3."));
        let paths: Vec<&String> = json["paths"].as_object().unwrap().keys().collect();
        for expected in [
            "/api/v1/login",
            "/api/v1/logout",
            "/api/v1/directory",
            "/api/v1/referrals",
            "/api/v1/referrals/{id}",
            "/api/v1/referrals/{id}/events",
            "/api/v1/due",
            "/api/v1/audit",
            "/api/v1/users",
            "/api/v1/users/{username}/role",
            "/api/v1/account-changes",
            "/api/v1/account-changes/{username}/confirm",
            "/api/v1/password/reset",
            "/api/v1/tokens",
        ] {
            assert!(
                paths.iter().any(|p| *p == expected),
                "{expected} missing from {paths:?}"
            );
        }
        // Request and answer types are described, down to the protocol's types.
        let schemas = json["components"]["schemas"].as_object().unwrap();
        for name in [
            "NewReferral",
            "Consent",
            "ClientData",
            "Action",
            "Detail",
            "ErrorBody",
        ] {
            assert!(schemas.contains_key(name), "schema {name} missing");
        }
        let post = &json["paths"]["/api/v1/referrals"]["post"];
        assert!(post["responses"]["422"].is_object());
    }

    #[tokio::test]
    async fn metrics_are_counts_only() {
        use axum::body::Body;
        use tower::ServiceExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::init::for_test(tmp.path(), true).await;
        let core = crate::core::Core::open(dir).unwrap();
        let resp = super::router(core)
            .oneshot(
                axum::http::Request::get("/metrics")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("lotse_directory_serial 1"), "{text}");
        assert!(
            text.contains("lotse_outbox_messages{state=\"queued\"} 0"),
            "{text}"
        );
    }
}
