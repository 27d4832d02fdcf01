//! User and API-token administration over HTTP, and the team leads' side of four eyes.
//!
//! For signed-in users ([`routes`]):
//! - Admins: `GET /api/v1/users`, `POST /api/v1/users` `{username, display_name, role,
//!   password?}`, `POST /api/v1/users/{username}/disable|enable|reset-password`,
//!   `POST /api/v1/users/{username}/role` `{role}`. Giving an account case access (a new
//!   case manager or team lead, enabling one, raising a role) waits for a team lead; the
//!   answer shows the account with `pending`. A reset of an account with case access
//!   answers without a password: a team lead hands the user a one-time code.
//! - Team leads: `GET /api/v1/account-changes` (what waits, open resets, accounts that got
//!   case access on the server, recent account changes), `POST
//!   /api/v1/account-changes/{username}/confirm|refuse`, and `POST
//!   /api/v1/account-changes/{username}/code` (a one-time code, shown once).
//! - Everyone: `POST /api/v1/tokens` `{name, valid_days?}` (the token is shown once),
//!   `GET /api/v1/tokens`, `DELETE /api/v1/tokens/{id}`: each user manages their own API
//!   tokens; an admin sees and may revoke everyone's.
//!
//! For the `lotse` CLI ([`admin_routes`], mounted under `/api/v1/admin` behind the
//! admin.token check): the same user operations, as the operator on the server
//! ([`Requester::Server`]), recorded in the audit log as `cli`.

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
use crate::auth::four_eyes::{self, AccountChanges, Confirmed};
use crate::auth::reset::{self, OneTimeCode};
use crate::auth::sessions::{self, NewApiToken, TokenView};
use crate::auth::users::{self, NewUser, Requester, UserView};
use crate::auth::{self, Caller, Role};
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
    /// Password (at least 12 characters, not a common one); generated and returned once if
    /// absent. Not accepted for accounts with case access: their users set their own.
    #[serde(default)]
    pub password: Option<String>,
}

/// Body of `POST .../users/{username}/reset-password` (may be empty).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct ResetPasswordRequest {
    /// The new password; generated and returned once if absent. Not accepted for accounts
    /// with case access.
    #[serde(default)]
    pub password: Option<String>,
}

/// Answer of a password reset.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResetPasswordResponse {
    /// The user.
    pub user: UserView,
    /// The new password, for accounts without case access if none was given (shown once).
    /// Absent for accounts with case access: a team lead hands the user a one-time code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Body of `POST .../users/{username}/role`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct RoleRequest {
    /// The new role.
    pub role: Role,
}

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct CreateTokenRequest {
    /// What the token is for.
    pub name: String,
    /// Days until it expires (default and most: the node's `auth.api_token_lifetime_secs`,
    /// 90 days unless configured).
    #[serde(default)]
    pub valid_days: Option<u32>,
}

const ADMIN: &[Role] = &[Role::Admin];
const TEAM_LEAD: &[Role] = &[Role::TeamLead];

// The operations, shared by both route sets.

async fn add(
    core: &Core,
    by: Requester<'_>,
    req: AddUserRequest,
) -> Result<Json<NewUser>, ApiError> {
    Ok(Json(
        users::add_user(
            core,
            by,
            &req.username,
            &req.display_name,
            req.role,
            req.password,
        )
        .await?,
    ))
}

async fn reset_op(
    core: &Core,
    by: Requester<'_>,
    username: &str,
    req: Option<ApiJson<ResetPasswordRequest>>,
) -> Result<Json<ResetPasswordResponse>, ApiError> {
    let password = req.and_then(|ApiJson(r)| r.password);
    let done = reset::reset_password(core, by, username, password).await?;
    Ok(Json(ResetPasswordResponse {
        user: done.user,
        password: done.password,
    }))
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

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = AddUserRequest, responses((status = 200, description = "Created; an account with case access waits for a team lead (`pending`); a generated password is shown once", body = NewUser), (status = 403, description = "Admins only", body = ErrorBody), (status = 400, description = "Malformed request, a weak password, or a password for an account with case access", body = ErrorBody), (status = 401, description = "Not signed in", body = ErrorBody)))]
async fn add_user(
    State(core): State<Arc<Core>>,
    caller: Caller,
    ApiJson(req): ApiJson<AddUserRequest>,
) -> Result<Json<NewUser>, ApiError> {
    caller.require_role(ADMIN)?;
    add(&core, Requester::Admin(&caller.username), req).await
}

#[utoipa::path(post, path = "/api/v1/users/{username}/disable", tag = "users", params(("username" = String, Path)), responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn disable_user(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    caller.require_role(ADMIN)?;
    Ok(Json(
        users::disable_user(&core, Requester::Admin(&caller.username), &username).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/users/{username}/enable", tag = "users", params(("username" = String, Path)), responses((status = 200, description = "Enabled, or (accounts with case access) waiting for a team lead", body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn enable_user(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    caller.require_role(ADMIN)?;
    Ok(Json(
        users::enable_user(&core, Requester::Admin(&caller.username), &username).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/users/{username}/role", tag = "users", params(("username" = String, Path)), request_body = RoleRequest, responses((status = 200, description = "Changed (sessions and API tokens ended), or a raise of case access waiting for a team lead", body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "The last enabled admin", body = ErrorBody)))]
async fn set_role(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(username): Path<String>,
    ApiJson(req): ApiJson<RoleRequest>,
) -> Result<Json<UserView>, ApiError> {
    caller.require_role(ADMIN)?;
    Ok(Json(
        users::set_role(
            &core,
            Requester::Admin(&caller.username),
            &username,
            req.role,
        )
        .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/users/{username}/reset-password", tag = "users", params(("username" = String, Path)), request_body(content = Option<ResetPasswordRequest>), responses((status = 200, body = ResetPasswordResponse), (status = 400, description = "A password given for an account with case access", body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn reset_password(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(username): Path<String>,
    req: Option<ApiJson<ResetPasswordRequest>>,
) -> Result<Json<ResetPasswordResponse>, ApiError> {
    caller.require_role(ADMIN)?;
    reset_op(&core, Requester::Admin(&caller.username), &username, req).await
}

// Routes for team leads.

#[utoipa::path(get, path = "/api/v1/account-changes", tag = "users", responses((status = 200, body = AccountChanges), (status = 403, description = "Team leads only", body = ErrorBody)))]
async fn account_changes(
    State(core): State<Arc<Core>>,
    caller: Caller,
) -> Result<Json<AccountChanges>, ApiError> {
    caller.require_role(TEAM_LEAD)?;
    Ok(Json(four_eyes::account_changes(&core)?))
}

#[utoipa::path(post, path = "/api/v1/account-changes/{username}/confirm", tag = "users", params(("username" = String, Path)), responses((status = 200, description = "Confirmed; for an account that got case access from none, a one-time code for its user (shown once)", body = Confirmed), (status = 403, description = "Team leads only; not for one's own account", body = ErrorBody), (status = 409, description = "Nothing waits for this account", body = ErrorBody)))]
async fn confirm_change(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Json<Confirmed>, ApiError> {
    caller.require_role(TEAM_LEAD)?;
    Ok(Json(
        four_eyes::confirm(&core, &caller.username, &username).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/account-changes/{username}/refuse", tag = "users", params(("username" = String, Path)), responses((status = 204, description = "Refused; a refused new account is removed"), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn refuse_change(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_role(TEAM_LEAD)?;
    four_eyes::refuse(&core, &caller.username, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/account-changes/{username}/code", tag = "users", params(("username" = String, Path)), responses((status = 200, description = "A one-time code for the user's open reset, shown once; an earlier code stops working", body = OneTimeCode), (status = 403, body = ErrorBody), (status = 409, description = "No reset is open", body = ErrorBody)))]
async fn reset_code(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Json<OneTimeCode>, ApiError> {
    caller.require_role(TEAM_LEAD)?;
    Ok(Json(
        reset::issue_code(&core, &caller.username, &username).await?,
    ))
}

// Routes for everyone.

#[utoipa::path(post, path = "/api/v1/tokens", tag = "users", request_body = CreateTokenRequest, responses((status = 200, description = "The token, shown once", body = NewApiToken), (status = 400, description = "Malformed request, or a lifetime longer than the node allows", body = ErrorBody), (status = 401, description = "Not signed in", body = ErrorBody)))]
async fn create_token(
    State(core): State<Arc<Core>>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> Result<Json<NewApiToken>, ApiError> {
    let lifetime = req
        .valid_days
        .map(|d| u64::from(d).saturating_mul(24 * 3600 * 1000));
    Ok(Json(
        auth::create_api_token(&core, &caller.username, &req.name, lifetime).await?,
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
        .routes(routes!(set_role))
        .routes(routes!(reset_password))
        .routes(routes!(account_changes))
        .routes(routes!(confirm_change))
        .routes(routes!(refuse_change))
        .routes(routes!(reset_code))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

// Routes for the CLI (behind the admin token): the operator on the server.

async fn cli_list_users(State(core): State<Arc<Core>>) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(users::list_users(&core)?))
}

async fn cli_add_user(
    State(core): State<Arc<Core>>,
    ApiJson(req): ApiJson<AddUserRequest>,
) -> Result<Json<NewUser>, ApiError> {
    add(&core, Requester::Server, req).await
}

async fn cli_disable_user(
    State(core): State<Arc<Core>>,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(
        users::disable_user(&core, Requester::Server, &username).await?,
    ))
}

async fn cli_enable_user(
    State(core): State<Arc<Core>>,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(
        users::enable_user(&core, Requester::Server, &username).await?,
    ))
}

async fn cli_set_role(
    State(core): State<Arc<Core>>,
    Path(username): Path<String>,
    ApiJson(req): ApiJson<RoleRequest>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(
        users::set_role(&core, Requester::Server, &username, req.role).await?,
    ))
}

async fn cli_reset_password(
    State(core): State<Arc<Core>>,
    Path(username): Path<String>,
    req: Option<ApiJson<ResetPasswordRequest>>,
) -> Result<Json<ResetPasswordResponse>, ApiError> {
    reset_op(&core, Requester::Server, &username, req).await
}

/// User routes of the local admin API (relative; mounted under `/api/v1/admin`).
pub fn admin_routes() -> Router<Arc<Core>> {
    Router::new()
        .route("/users", get(cli_list_users).post(cli_add_user))
        .route("/users/{username}/disable", post(cli_disable_user))
        .route("/users/{username}/enable", post(cli_enable_user))
        .route("/users/{username}/role", post(cli_set_role))
        .route("/users/{username}/reset-password", post(cli_reset_password))
}
