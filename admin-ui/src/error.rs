//! [`UiError`]: what a page shows when something goes wrong — a calm German page with a
//! heading, what happened, and a way back; never a stack trace or an English API message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lotse_node::referrals::WorkflowError;
use maud::html;

use crate::layout;
use crate::messages;

/// An error shown as a page.
#[derive(Debug)]
pub(crate) struct UiError {
    /// HTTP status.
    pub(crate) status: StatusCode,
    /// The page heading.
    pub(crate) title: String,
    /// What happened and what to do.
    pub(crate) message: String,
}

impl UiError {
    /// Builds an error page.
    pub(crate) fn new(status: StatusCode, title: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            title: title.to_string(),
            message: message.into(),
        }
    }

    /// 400: the request does not make sense.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Eingabe nicht lesbar", message)
    }

    /// 413.
    pub(crate) fn payload_too_large(message: String) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "Zu große Datei", message)
    }

    /// 403 for a page the role does not allow.
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Kein Zugriff", message)
    }

    /// 404.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Nicht gefunden", message)
    }

    /// 500, logged with its cause; the page says only what the user can do.
    pub(crate) fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "web UI: internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Technischer Fehler",
            "Auf diesem Knoten ist ein technischer Fehler aufgetreten. Bitte versuchen Sie es \
             gleich noch einmal. Wenn der Fehler bleibt, wenden Sie sich an Ihre Administration.",
        )
    }

    /// 403 when a form's CSRF token does not belong to the session.
    pub(crate) fn stale_form() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Formular abgelaufen",
            "Dieses Formular gehört zu einer älteren Anmeldung. Bitte laden Sie die Seite neu \
             und senden Sie es noch einmal.",
        )
    }
}

impl From<WorkflowError> for UiError {
    fn from(e: WorkflowError) -> Self {
        match &e {
            WorkflowError::NotFound => Self::not_found(messages::workflow(&e)),
            WorkflowError::Forbidden(_) => Self::forbidden(
                "Fallinhalte sehen nur Fallmanagerinnen, Fallmanager und Teamleitungen der \
                 beteiligten Stellen. Administration und Koordination verwalten den Knoten und \
                 das Netzwerk, ohne Fälle einzusehen.",
            ),
            WorkflowError::Send(_) | WorkflowError::Store(_) | WorkflowError::Vault(_) => {
                Self::internal(e)
            }
            _ => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Nicht möglich",
                messages::workflow(&e),
            ),
        }
    }
}

impl From<lotse_node::store::StoreError> for UiError {
    fn from(e: lotse_node::store::StoreError) -> Self {
        Self::internal(e)
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let body = html! {
            h1 { (self.title) }
            p.lead { (self.message) }
            p { a.button href="/" { "Zur Übersicht" } }
        };
        (self.status, layout::bare(&self.title, body)).into_response()
    }
}
