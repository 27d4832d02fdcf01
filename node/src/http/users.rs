//! User and API-token administration over HTTP.
//!
//! For signed-in users ([`routes`]):
//! - `GET /api/v1/users`, `POST /api/v1/users` `{username, display_name, role, password?}`,
//!   `POST /api/v1/users/{username}/disable|enable|reset-password` (role admin).
//! - `POST /api/v1/tokens` `{name}` (the token is shown once), `GET /api/v1/tokens`,
//!   `DELETE /api/v1/tokens/{id}`: each user manages their own API tokens; an admin sees
//!   and may revoke everyone's.
//!
//! For the `lotse` CLI ([`admin_routes`], mounted under `/api/v1/admin` behind the
//! admin.token check): the same user operations, recorded in the audit log as `cli`.

use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::json::ApiJson;
use super::{ApiError, ErrorBody};
use crate::audit;
use crate::auth::sessions::{self, NewApiToken, TokenView};
use crate::auth::users::{self, NewUser, UserView};
use crate::auth::{Caller, Role};
use crate::core::Core;

/// Body of `POST .../users`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct AddUserRequest {
    /// Username (1-64 of a-z 0-9 . _ -; stored lowercase).
    pub username: String,
    /// Name shown in the UI (defaults to the username).
    #[serde(default)]
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Password (at least 10 characters); generated and returned once if absent.
    #[serde(default)]
    pub password: Option<String>,
}

/// Body of `POST .../users/{username}/reset-password` (may be empty).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct ResetPasswordRequest {
    /// The new password; generated and returned once if absent.
    #[serde(default)]
    pub password: Option<String>,
}

/// Answer of a password reset.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResetPasswordResponse {
    /// The user.
    pub user: UserView,
    /// The generated password, if none was given (shown once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct CreateTokenRequest {
    /// What the token is for.
    pub name: String,
}

const ADMIN: &[Role] = &[Role::Admin];

// The operations, shared by both route sets; `actor` goes to the audit log.

async fn add(core: &Core, actor: &str, req: AddUserRequest) -> Result<Json<NewUser>, ApiError> {
    Ok(Json(
        users::add_user(
            core,
            actor,
            &req.username,
            &req.display_name,
            req.role,
            req.password,
        )
        .await?,
    ))
}

async fn reset(
    core: &Core,
    actor: &str,
    username: &str,
    req: Option<ApiJson<ResetPasswordRequest>>,
) -> Result<Json<ResetPasswordResponse>, ApiError> {
    let password = req.and_then(|ApiJson(r)| r.password);
    let (user, password) = users::reset_password(core, actor, username, password).await?;
    Ok(Json(ResetPasswordResponse { user, password }))
}

// Routes for signed-in admins.

#[utoipa::path(get, path = "/api/v1/users", tag = "users", responses((status = 200, body = Vec<UserView>), (status = 403, description = "Admins only", body = ErrorBody)))]
async fn list_users(
    State(core): State<Arc<Core>>,
    caller: Caller,
) -> Result<Json<Vec<UserView>>, ApiError> {
    caller.require_role(ADMIN)?;
    Ok(Json(users::list_users(&core)?))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = AddUserRequest, responses((status = 200, description = "Created; a generated password is shown once", body = NewUser), (status = 403, description = "Admins only", body = ErrorBody), (status = 400, description = "Malformed request", body = ErrorBody), (status = 401, description = "Not signed in", body = ErrorBody)))]
async fn add_user(
    State(core): State<Arc<Core>>,
    caller: Caller,
    ApiJson(req): ApiJson<AddUserRequest>,
) -> Result<Json<NewUser>, ApiError> {
    caller.require_role(ADMIN)?;
    add(&core, &caller.username, req).await
}

#[utoipa::path(post, path = "/api/v1/users/{username}/disable", tag = "users", params(("username" = String, Path)), responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn disable_user(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    caller.require_role(ADMIN)?;
    Ok(Json(
        users::disable_user(&core, &caller.username, &username).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/users/{username}/enable", tag = "users", params(("username" = String, Path)), responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn enable_user(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    caller.require_role(ADMIN)?;
    Ok(Json(
        users::enable_user(&core, &caller.username, &username).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/users/{username}/reset-password", tag = "users", params(("username" = String, Path)), request_body(content = Option<ResetPasswordRequest>), responses((status = 200, body = ResetPasswordResponse), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn reset_password(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(username): Path<String>,
    req: Option<ApiJson<ResetPasswordRequest>>,
) -> Result<Json<ResetPasswordResponse>, ApiError> {
    caller.require_role(ADMIN)?;
    reset(&core, &caller.username, &username, req).await
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "users", request_body = CreateTokenRequest, responses((status = 200, description = "The token, shown once", body = NewApiToken), (status = 400, description = "Malformed request", body = ErrorBody), (status = 401, description = "Not signed in", body = ErrorBody)))]
async fn create_token(
    State(core): State<Arc<Core>>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> Result<Json<NewApiToken>, ApiError> {
    Ok(Json(
        sessions::create_api_token(&core, &caller.username, &req.name).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "users", responses((status = 200, body = Vec<TokenView>), (status = 401, body = ErrorBody)))]
async fn list_tokens(
    State(core): State<Arc<Core>>,
    caller: Caller,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let owner = (caller.role != Role::Admin).then_some(caller.username.as_str());
    Ok(Json(sessions::list_api_tokens(&core, owner)?))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "users", params(("id" = String, Path)), responses((status = 204, description = "Revoked"), (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let owner = (caller.role != Role::Admin).then_some(caller.username.as_str());
    sessions::revoke_api_token(&core, &caller.username, &id, owner).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Routes for signed-in users (full paths under `/api/v1`).
pub fn routes() -> OpenApiRouter<Arc<Core>> {
    OpenApiRouter::new()
        .routes(routes!(list_users, add_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(reset_password))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

// Routes for the CLI (behind the admin token).

async fn cli_list_users(State(core): State<Arc<Core>>) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(users::list_users(&core)?))
}

async fn cli_add_user(
    State(core): State<Arc<Core>>,
    ApiJson(req): ApiJson<AddUserRequest>,
) -> Result<Json<NewUser>, ApiError> {
    add(&core, audit::CLI, req).await
}

async fn cli_disable_user(
    State(core): State<Arc<Core>>,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(
        users::disable_user(&core, audit::CLI, &username).await?,
    ))
}

async fn cli_enable_user(
    State(core): State<Arc<Core>>,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(
        users::enable_user(&core, audit::CLI, &username).await?,
    ))
}

async fn cli_reset_password(
    State(core): State<Arc<Core>>,
    Path(username): Path<String>,
    req: Option<ApiJson<ResetPasswordRequest>>,
) -> Result<Json<ResetPasswordResponse>, ApiError> {
    reset(&core, audit::CLI, &username, req).await
}

/// User routes of the local admin API (relative; mounted under `/api/v1/admin`).
pub fn admin_routes() -> Router<Arc<Core>> {
    Router::new()
        .route("/users", get(cli_list_users).post(cli_add_user))
        .route("/users/{username}/disable", post(cli_disable_user))
        .route("/users/{username}/enable", post(cli_enable_user))
        .route("/users/{username}/reset-password", post(cli_reset_password))
}
