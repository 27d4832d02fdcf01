//! Signing in and out over the JSON API.
//!
//! - `POST /api/v1/login` `{username, password}` → `{token, csrf_token, ...}` and the
//!   `lotse_session` cookie. 401 for a wrong password and an unknown user alike, 403 for a
//!   disabled account (only with the right password), 429 when rate limited.
//! - `POST /api/v1/logout` → 204; the session ends and the cookie is cleared.
//! - `GET /api/v1/session` → who is signed in (and the CSRF token, for a reloaded page).
//! - `POST /api/v1/password` `{current_password, new_password}` → 204; other sessions and
//!   all API tokens end. Rate-limited like sign-in (429), failures audited.
//! - `POST /api/v1/password/reset` `{username, code, new_password}` (no sign-in) → 204: a
//!   user sets a new password with the one-time code a team lead handed over. Wrong codes
//!   are rate-limited like sign-ins (429) and audited; a cross-site browser post is refused.
//!
//! All of it goes through [`crate::auth`]; this file only maps HTTP to it.

use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lotse_protocol::Timestamp;
use serde::{Deserialize, Serialize};

use super::extract::{ClientIp, clear_session_cookie, session_cookie};
use super::json::ApiJson;
use super::{ApiError, ErrorBody, auth_error_response};
use crate::auth::{self, AuthVia, Caller, Role, reset, users};
use crate::core::Core;

/// Body of `POST /api/v1/login`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct LoginRequest {
    /// Username (any case).
    pub username: String,
    /// Password.
    pub password: String,
}

/// Answer of `POST /api/v1/login`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// Session token: send as `Authorization: Bearer <token>` (or rely on the cookie).
    pub token: String,
    /// For cookie-authenticated changes: send in `X-CSRF-Token`.
    pub csrf_token: String,
    /// Username.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Display name.
    pub display_name: String,
    /// When the session ends at the latest (it ends earlier after 4 idle hours).
    pub expires_at: Timestamp,
}

/// Answer of `GET /api/v1/session`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// Username.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// How the request authenticated.
    pub via: AuthVia,
    /// The session's CSRF token (sessions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// Body of `POST /api/v1/password`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct PasswordChange {
    /// The password now.
    pub current_password: String,
    /// The new one (at least 12 characters, not a common password).
    pub new_password: String,
}

/// Body of `POST /api/v1/password/reset`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct PasswordWithCode {
    /// Username (any case).
    pub username: String,
    /// The one-time code from a team lead.
    pub code: String,
    /// The new password (at least 12 characters, not a common password).
    pub new_password: String,
}

#[utoipa::path(post, path = "/api/v1/login", tag = "session", request_body = LoginRequest, responses((status = 200, description = "Signed in; also sets the HttpOnly session cookie", body = LoginResponse), (status = 401, description = "Wrong username or password", body = ErrorBody), (status = 403, description = "A browser's cross-site request (login CSRF), or a disabled account", body = ErrorBody), (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorBody)))]
async fn login(
    State(core): State<Arc<Core>>,
    ClientIp(client): ClientIp,
    method: Method,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    // A browser's cross-site post is refused (login CSRF), as on the sign-in page.
    super::cross_site::check(&method, &headers)
        .map_err(|e| ApiError::new(StatusCode::FORBIDDEN, e))?;
    let done = match auth::login(&core, &req.username, &req.password, client).await {
        Ok(done) => done,
        Err(e) => return Ok(auth_error_response(e)),
    };
    let body = LoginResponse {
        token: done.session.token.clone(),
        csrf_token: done.session.csrf_token,
        username: done.user.username,
        role: done.user.role,
        display_name: done.user.display_name,
        expires_at: done.session.expires_at,
    };
    Ok((
        [(
            header::SET_COOKIE,
            session_cookie(&core, &done.session.token),
        )],
        Json(body),
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/logout", tag = "session", responses((status = 204, description = "Session ended"), (status = 401, description = "Not signed in", body = ErrorBody)))]
async fn logout(State(core): State<Arc<Core>>, caller: Caller) -> Result<Response, ApiError> {
    let Some(id) = caller.session_id.as_deref() else {
        return Err(ApiError::bad_request(
            "an API token is not a session: revoke it with DELETE /api/v1/tokens/{id}",
        ));
    };
    auth::logout(&core, &caller.username, id).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear_session_cookie(&core))],
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/session", tag = "session", responses((status = 200, description = "The signed-in user", body = SessionInfo), (status = 401, description = "Not signed in", body = ErrorBody)))]
async fn session_info(caller: Caller) -> Json<SessionInfo> {
    Json(SessionInfo {
        username: caller.username,
        display_name: caller.display_name,
        role: caller.role,
        via: caller.via,
        csrf_token: caller.csrf_token,
    })
}

#[utoipa::path(post, path = "/api/v1/password", tag = "session", request_body = PasswordChange, responses((status = 204, description = "Changed; other sessions and all API tokens ended"), (status = 400, description = "Malformed request, or a weak or common new password", body = ErrorBody), (status = 401, description = "Not signed in", body = ErrorBody), (status = 403, description = "Wrong current password (audited)", body = ErrorBody), (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorBody)))]
async fn change_password(
    State(core): State<Arc<Core>>,
    ClientIp(client): ClientIp,
    caller: Caller,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Response {
    match users::change_password(
        &core,
        &caller.username,
        &req.current_password,
        &req.new_password,
        caller.session_id.as_deref(),
        client,
    )
    .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => auth_error_response(e),
    }
}

#[utoipa::path(post, path = "/api/v1/password/reset", tag = "session", request_body = PasswordWithCode, responses((status = 204, description = "The new password is set; every session and API token of the user ended"), (status = 400, description = "Malformed request, or a weak or common new password", body = ErrorBody), (status = 401, description = "Wrong, used or expired code, or no such user (audited)", body = ErrorBody), (status = 403, description = "A browser's cross-site request", body = ErrorBody), (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorBody)))]
async fn set_password_with_code(
    State(core): State<Arc<Core>>,
    ClientIp(client): ClientIp,
    method: Method,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PasswordWithCode>,
) -> Result<Response, ApiError> {
    super::cross_site::check(&method, &headers)
        .map_err(|e| ApiError::new(StatusCode::FORBIDDEN, e))?;
    Ok(
        match reset::redeem_code(&core, &req.username, &req.code, &req.new_password, client).await {
            Ok(_) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => auth_error_response(e),
        },
    )
}

/// The sign-in routes (full paths under `/api/v1`).
pub fn routes() -> OpenApiRouter<Arc<Core>> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(session_info))
        .routes(routes!(change_password))
        .routes(routes!(set_password_with_code))
}
