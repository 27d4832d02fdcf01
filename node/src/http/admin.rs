//! The local admin API: what `lotse` CLI commands call while the node runs.
//!
//! Authenticated by the token in `DATA_DIR/admin.token` (mode 0600) as a bearer token,
//! compared in constant time: whoever can read the data directory is the node's operator.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use lotse_protocol::NodeId;
use lotse_protocol::directory::{AgencyKind, Service};
use serde::{Deserialize, Serialize};

use super::ApiError;
use crate::auth::secret::constant_time_eq;
use crate::backup;
use crate::core::Core;
use crate::directory::authority::{self, AuthorityError};
use crate::outbox::{self, OutboxRecord};

/// One member as listed by the admin API.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberView {
    /// Node id.
    pub node_id: String,
    /// Fingerprint.
    pub fingerprint: String,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: AgencyKind,
    /// Addresses.
    pub addresses: Vec<String>,
    /// Services.
    pub services: Vec<Service>,
}

/// The directory as listed by the admin API.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectoryView {
    /// Serial.
    pub serial: u64,
    /// Members.
    pub members: Vec<MemberView>,
    /// Revoked node ids.
    pub revoked: Vec<String>,
}

/// Builds the directory view.
pub fn directory_view(core: &Core) -> DirectoryView {
    let Some(dir) = core.directory.current() else {
        return DirectoryView {
            serial: 0,
            members: vec![],
            revoked: vec![],
        };
    };
    DirectoryView {
        serial: dir.serial,
        members: dir
            .active_members()
            .into_iter()
            .map(|m| MemberView {
                node_id: m.member.node_id.to_string(),
                fingerprint: m.member.node_id.fingerprint().to_string(),
                name: m.member.name.clone(),
                kind: m.member.kind,
                addresses: m.profile.addresses.clone(),
                services: m.profile.services.clone(),
            })
            .collect(),
        revoked: dir.revoked.iter().map(|n| n.to_string()).collect(),
    }
}

/// Request body of `POST /invitations`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// Agency name.
    pub agency_name: String,
    /// Agency kind.
    pub agency_kind: AgencyKind,
    /// Validity in hours.
    pub valid_hours: u64,
}

/// Answer of `POST /invitations`.
#[derive(Debug, Serialize, Deserialize)]
pub struct InviteResponse {
    /// The token.
    pub token: String,
    /// Expiry (RFC 3339).
    pub expires_at: String,
}

/// Request body of `POST /revocations`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// The node to revoke.
    pub node_id: String,
}

/// Answer of directory changes.
#[derive(Debug, Serialize, Deserialize)]
pub struct SerialResponse {
    /// The new serial.
    pub serial: u64,
}

fn authority_error(e: AuthorityError) -> ApiError {
    match e {
        AuthorityError::NotDirectoryNode => ApiError::new(StatusCode::FORBIDDEN, e),
        AuthorityError::UnknownMember(_) => ApiError::new(StatusCode::NOT_FOUND, e),
        AuthorityError::Store(_) | AuthorityError::Accept(_) => ApiError::internal(e),
        _ => ApiError::bad_request(e),
    }
}

async fn require_token(
    State(core): State<Arc<Core>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let expected = core.datadir.load_token().map_err(ApiError::internal)?;
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong admin token (see admin.token in the data directory)",
        ));
    }
    Ok(next.run(req).await)
}

async fn get_directory(State(core): State<Arc<Core>>) -> Json<DirectoryView> {
    Json(directory_view(&core))
}

async fn post_invitation(
    State(core): State<Arc<Core>>,
    Json(req): Json<InviteRequest>,
) -> Result<Json<InviteResponse>, ApiError> {
    if req.valid_hours == 0 || req.valid_hours > 24 * 90 {
        return Err(ApiError::bad_request(
            "valid_hours must be between 1 and 2160 (90 days)",
        ));
    }
    let inv = authority::create_invitation(
        &core,
        &req.agency_name,
        req.agency_kind,
        req.valid_hours * 3600 * 1000,
    )
    .await
    .map_err(authority_error)?;
    Ok(Json(InviteResponse {
        token: inv.to_token(),
        expires_at: inv.expires_at.to_rfc3339(),
    }))
}

async fn list_invitations(
    State(core): State<Arc<Core>>,
) -> Result<Json<Vec<authority::InvitationRecord>>, ApiError> {
    Ok(Json(
        authority::list_invitations(&core).map_err(authority_error)?,
    ))
}

async fn post_revocation(
    State(core): State<Arc<Core>>,
    Json(req): Json<RevokeRequest>,
) -> Result<Json<SerialResponse>, ApiError> {
    let node: NodeId = req
        .node_id
        .parse()
        .map_err(|e| ApiError::bad_request(format!("node_id: {e}")))?;
    let signed = authority::revoke(&core, node)
        .await
        .map_err(authority_error)?;
    let _ = signed;
    Ok(Json(SerialResponse {
        serial: core.directory.serial(),
    }))
}

async fn get_status(
    State(core): State<Arc<Core>>,
) -> Result<Json<crate::status::NodeStatus>, ApiError> {
    Ok(Json(crate::status::status(&core)?))
}

async fn get_outbox(State(core): State<Arc<Core>>) -> Result<Json<Vec<OutboxRecord>>, ApiError> {
    Ok(Json(outbox::list(&core, 1000)?))
}

async fn put_services(
    State(core): State<Arc<Core>>,
    Json(services): Json<Vec<Service>>,
) -> Result<StatusCode, ApiError> {
    use crate::services::ServicesError as E;
    crate::services::publish(&core, services)
        .await
        .map_err(|e| match e {
            E::Invalid(_) | E::NotJoined => ApiError::bad_request(e),
            _ => ApiError::internal(e),
        })?;
    Ok(StatusCode::ACCEPTED)
}

/// Why a referral's personal data is erased on request.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EraseRequest {
    /// The reason, for the audit log (not personal data): "restored from a backup",
    /// "retention period ended".
    pub reason: String,
}

/// What an erasure on request did.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EraseResponse {
    /// True if data was erased now, false if nothing was left to erase.
    pub erased_now: bool,
}

/// The longest reason accepted.
const MAX_REASON: usize = 500;

async fn post_erase(
    State(core): State<Arc<Core>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Json(req): Json<EraseRequest>,
) -> Result<Json<EraseResponse>, ApiError> {
    let id = erase_input(&id, &req.reason).map_err(ApiError::bad_request)?;
    use crate::referrals::WorkflowError as W;
    let done = crate::referrals::erasure::erase_here(&core, &id, req.reason.trim())
        .await
        .map_err(|e| match e {
            W::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "this node holds no referral with this id",
            ),
            W::Busy => ApiError::new(StatusCode::CONFLICT, e),
            other => ApiError::internal(other),
        })?;
    Ok(Json(EraseResponse {
        erased_now: done == crate::referrals::erasure::ErasedHere::Now,
    }))
}

/// An erasure request that cannot be carried out as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EraseInputError {
    /// The id is not a referral id.
    #[error("{id:?} is not a referral id ({reason}); copy it from the referral's page address")]
    BadId {
        /// What was given.
        id: String,
        /// Why it is not one.
        reason: String,
    },
    /// The reason is empty or too long.
    #[error("give a reason of 1 to {MAX_REASON} characters (it goes into the audit log)")]
    BadReason,
}

/// Checks an erasure request's referral id and reason.
pub fn erase_input(id: &str, reason: &str) -> Result<lotse_protocol::ReferralId, EraseInputError> {
    let id = id.trim().parse().map_err(|e| EraseInputError::BadId {
        id: id.to_string(),
        reason: format!("{e}"),
    })?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(EraseInputError::BadReason);
    }
    Ok(id)
}

/// A request for a backup of the running node.
#[derive(Debug, Deserialize)]
pub struct BackupRequest {
    /// A one-time age public key of the CLI's (`age1...`): the backup travels encrypted
    /// to it, so it is never in clear on the connection.
    pub transfer_key: String,
}

/// The running node's whole state as a backup, encrypted to the request's transfer key
/// (`lotse backup create` decrypts it, checks it, and encrypts it for keeping).
async fn post_backup(
    State(core): State<Arc<Core>>,
    Json(req): Json<BackupRequest>,
) -> Result<Response, ApiError> {
    let key = age::x25519::Recipient::from_str(req.transfer_key.trim()).map_err(|e| {
        ApiError::bad_request(format!(
            "transfer_key is not an age public key ({e}); `lotse backup create` sends a new one each time"
        ))
    })?;
    let detail =
        "all data exported to an encrypted backup of the running node, through the admin API";
    let export = backup::export(&core, detail)
        .await
        .map_err(ApiError::internal)?;
    let sealed = tokio::task::spawn_blocking(move || {
        backup::seal(
            &export.plain,
            &backup::Protection::Recipients(vec![key]),
            Vec::new(),
            Path::new("the transfer"),
        )
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(([(CONTENT_TYPE, "application/octet-stream")], sealed).into_response())
}

/// The admin routes (mounted under `/api/v1/admin`).
pub fn router(core: Arc<Core>) -> Router<Arc<Core>> {
    Router::new()
        .route("/directory", get(get_directory))
        .route("/invitations", post(post_invitation).get(list_invitations))
        .route("/revocations", post(post_revocation))
        .route("/outbox", get(get_outbox))
        .route("/status", get(get_status))
        .route("/services", put(put_services))
        .route("/referrals/{id}/erase", post(post_erase))
        .route("/backup", post(post_backup))
        .merge(super::users::admin_routes().merge(super::audit::admin_routes()))
        .layer(middleware::from_fn_with_state(core, require_token))
}
