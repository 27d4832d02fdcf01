//! The node's HTTP listener: `/healthz`, and the local admin API the CLI uses while the
//! node runs. Later layers (the JSON API for case work, the web UI) are merged into the
//! same router by the caller.

pub mod admin;
pub mod audit;
pub mod json;
pub mod referrals;
pub mod session;
pub mod users;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::core::Core;

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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: String,
        }
        (
            self.status,
            Json(Body {
                error: self.message,
            }),
        )
            .into_response()
    }
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

/// The base router: health and the admin API.
pub fn router(core: Arc<Core>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .nest("/api/v1/admin", admin::router(core.clone()))
        .merge(session::routes())
        .merge(users::routes())
        .merge(audit::routes())
        .merge(referrals::router())
        .with_state(core)
}
