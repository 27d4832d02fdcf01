//! The audit log over HTTP.
//!
//! - `GET /api/v1/audit?limit=&before=` (role admin or coordinator): entries newest first,
//!   at most 1000 per page; `next_before` continues with older ones.
//! - Under `/api/v1/admin` for the CLI: `GET /audit` (same listing) and
//!   `GET /audit/verify` (`lotse audit verify` while the node runs).

use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{ApiError, ErrorBody};
use crate::audit::{self, AuditEntry};
use crate::auth::{Caller, Role};
use crate::core::Core;

/// Query of `GET /api/v1/audit`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries per page (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only entries with a smaller sequence number (for the next page).
    #[serde(default)]
    pub before: Option<u64>,
}

/// A page of the audit log.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Entries, newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next, older page; absent at the start of the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<u64>,
}

/// Answer of `GET /api/v1/admin/audit/verify`.
#[derive(Debug, Serialize, Deserialize)]
pub struct VerifyReport {
    /// True if the log is complete and unchanged.
    pub intact: bool,
    /// Number of entries (when intact).
    pub entries: usize,
    /// The last entry's hash (note it down to compare later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
    /// What is wrong (when not intact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Checks the log of `core` and reports.
pub fn verify_report(core: &Core) -> VerifyReport {
    let store = core.store.as_ref();
    match audit::verify(store) {
        Ok(entries) => VerifyReport {
            intact: true,
            entries,
            head_hash: audit::head(store).ok().flatten().map(|h| h.hash),
            error: None,
        },
        Err(e) => VerifyReport {
            intact: false,
            entries: 0,
            head_hash: None,
            error: Some(e.to_string()),
        },
    }
}

fn page(core: &Core, q: Result<Query<AuditQuery>, QueryRejection>) -> Result<AuditPage, ApiError> {
    let Query(q) = q.map_err(|e| {
        ApiError::bad_request(format!(
            "{}; use ?limit=N&before=SEQ with whole numbers",
            e.body_text()
        ))
    })?;
    let limit = q.limit.unwrap_or(100).clamp(1, audit::MAX_LIST);
    let entries = audit::list(core.store.as_ref(), q.before, limit).map_err(ApiError::internal)?;
    let next_before = entries
        .last()
        .filter(|e| e.seq > 0 && entries.len() == limit)
        .map(|e| e.seq);
    Ok(AuditPage {
        entries,
        next_before,
    })
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery), responses((status = 200, body = AuditPage), (status = 403, description = "Admins and coordinators only", body = ErrorBody)))]
async fn get_audit(
    State(core): State<Arc<Core>>,
    caller: Caller,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.require_role(&[Role::Admin, Role::Coordinator])?;
    Ok(Json(page(&core, q)?))
}

/// Routes for signed-in users (full paths).
pub fn routes() -> OpenApiRouter<Arc<Core>> {
    OpenApiRouter::new().routes(routes!(get_audit))
}

async fn cli_get_audit(
    State(core): State<Arc<Core>>,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(page(&core, q)?))
}

async fn cli_verify(State(core): State<Arc<Core>>) -> Json<VerifyReport> {
    Json(verify_report(&core))
}

/// Audit routes of the local admin API (relative; mounted under `/api/v1/admin`).
pub fn admin_routes() -> Router<Arc<Core>> {
    Router::new()
        .route("/audit", get(cli_get_audit))
        .route("/audit/verify", get(cli_verify))
}
