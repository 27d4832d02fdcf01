//! Signing in and out over the JSON API.
//!
//! - `POST /api/v1/login` `{username, password}` → `{token, csrf_token, ...}` and the
//!   `lotse_session` cookie. 401 for a wrong password and an unknown user alike, 403 for a
//!   disabled account (only with the right password), 429 when rate limited.
//! - `POST /api/v1/logout` → 204; the session ends and the cookie is cleared.
//! - `GET /api/v1/session` → who is signed in (and the CSRF token, for a reloaded page).
//! - `POST /api/v1/password` `{current_password, new_password}` → 204; other sessions end.
//!
//! All of it goes through [`crate::auth`]; this file only maps HTTP to it.

use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lotse_protocol::Timestamp;
use serde::{Deserialize, Serialize};

use super::json::ApiJson;
use super::{ApiError, ErrorBody};
use crate::auth::extract::{clear_session_cookie, session_cookie};
use crate::auth::{self, AuthError, AuthVia, Caller, ClientIp, Role, users};
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
    /// The new one (at least 10 characters).
    pub new_password: String,
}

#[utoipa::path(post, path = "/api/v1/login", tag = "session", request_body = LoginRequest, responses((status = 200, description = "Signed in; also sets the HttpOnly session cookie", body = LoginResponse), (status = 401, description = "Wrong username or password", body = ErrorBody), (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorBody)))]
async fn login(
    State(core): State<Arc<Core>>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let done = match auth::login(&core, &req.username, &req.password, client).await {
        Ok(done) => done,
        Err(AuthError::RateLimited { retry_after_secs }) => {
            let mut resp =
                ApiError::from(AuthError::RateLimited { retry_after_secs }).into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return Ok(resp);
        }
        Err(e) => return Err(e.into()),
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

#[utoipa::path(post, path = "/api/v1/password", tag = "session", request_body = PasswordChange, responses((status = 204, description = "Changed"), (status = 400, description = "Malformed request", body = ErrorBody), (status = 401, description = "Not signed in", body = ErrorBody)))]
async fn change_password(
    State(core): State<Arc<Core>>,
    caller: Caller,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    users::change_password(
        &core,
        &caller.username,
        &req.current_password,
        &req.new_password,
        caller.session_id.as_deref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The sign-in routes (full paths under `/api/v1`).
pub fn routes() -> OpenApiRouter<Arc<Core>> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(session_info))
        .routes(routes!(change_password))
}
