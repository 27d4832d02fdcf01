//! The JSON API for case work: the directory, referrals, their events, due follow-ups.
//!
//! Every route needs a signed-in [`Caller`]; access rules live in the workflow
//! (`referrals::access`), and every read or write of case content is audited. Errors are
//! JSON `{"error": "..."}` with the status that says what kind of problem it is: 422 for a
//! referral the consent does not allow (nothing is stored or sent), 409 for a step the
//! referral's state or the caller's side does not allow, 403/404 for access.

use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use lotse_protocol::ReferralId;
use lotse_protocol::client::ClientDataError;
use serde::Serialize;

use super::admin::{DirectoryView, directory_view};
use super::json::ApiJson;
use super::{ApiError, ErrorBody};
use crate::audit;
use crate::auth::Caller;
use crate::core::Core;
use crate::outbox::SendError;
use crate::referrals::access::Actor;
use crate::referrals::query::{self, Detail, Filter, Summary};
use crate::referrals::{Action, NewReferral, WorkflowError, actions};

/// The largest request body: a referral with its attachments, base64-encoded.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

impl From<WorkflowError> for ApiError {
    fn from(e: WorkflowError) -> Self {
        use WorkflowError as W;
        let status = match &e {
            W::NotFound => StatusCode::NOT_FOUND,
            W::Forbidden(_) => StatusCode::FORBIDDEN,
            W::NoConsent | W::Consent(_) | W::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            W::ClientData(ClientDataError::AttachmentTooLarge { .. }) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            W::ClientData(_) => StatusCode::UNPROCESSABLE_ENTITY,
            W::Transition(_) | W::Busy => StatusCode::CONFLICT,
            W::Erased => StatusCode::GONE,
            W::Send(SendError::UnknownRecipient(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            W::Send(SendError::Seal(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            W::Send(_) | W::Store(_) | W::Vault(_) => return ApiError::internal(e),
        };
        ApiError::new(status, e)
    }
}

async fn audit_or_fail(
    core: &Core,
    actor: &Actor,
    action: &str,
    id: Option<ReferralId>,
    detail: &str,
) -> Result<(), ApiError> {
    audit::record(core, &actor.username, action, id, detail)
        .await
        .map_err(ApiError::internal)
}

#[utoipa::path(get, path = "/api/v1/directory", tag = "referrals", responses((status = 200, description = "Members and their services", body = DirectoryView), (status = 401, body = ErrorBody)))]
async fn directory(State(core): State<Arc<Core>>, _caller: Caller) -> Json<DirectoryView> {
    Json(directory_view(&core))
}

/// Answer of `POST /referrals`.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Created {
    /// The new referral's id.
    pub id: ReferralId,
    /// Its status.
    pub status: String,
}

#[utoipa::path(post, path = "/api/v1/referrals", tag = "referrals", request_body = NewReferral, responses((status = 201, description = "Stored and queued for delivery", body = Created), (status = 413, description = "An attachment or the body is too large", body = ErrorBody), (status = 422, description = "No valid consent, unknown recipient or data outside the consent; nothing was stored or sent", body = ErrorBody), (status = 403, body = ErrorBody), (status = 400, description = "Malformed request", body = ErrorBody), (status = 401, description = "Not signed in", body = ErrorBody)))]
async fn create(
    State(core): State<Arc<Core>>,
    caller: Caller,
    ApiJson(new): ApiJson<NewReferral>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let actor = Actor::from_caller(&caller);
    let record = actions::create(&core, &actor, new).await?;
    audit_or_fail(
        &core,
        &actor,
        "referral.create",
        Some(record.id),
        &format!("to {}", record.peer.fingerprint()),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            id: record.id,
            status: record.state.name().into(),
        }),
    ))
}

fn parse_id(text: &str) -> Result<ReferralId, ApiError> {
    text.parse()
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, format!("{e}: no such referral")))
}

#[utoipa::path(get, path = "/api/v1/referrals", tag = "referrals", params(Filter), responses((status = 200, body = Vec<Summary>), (status = 403, body = ErrorBody)))]
async fn list(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Query(filter): Query<Filter>,
) -> Result<Json<Vec<Summary>>, ApiError> {
    let actor = Actor::from_caller(&caller);
    Ok(Json(query::list(&core, &actor, &filter)?))
}

#[utoipa::path(get, path = "/api/v1/referrals/{id}", tag = "referrals", params(("id" = String, Path)), responses((status = 200, description = "Details and timeline (case content only for the responsible user or a team lead)", body = Detail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn detail(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Detail>, ApiError> {
    let actor = Actor::from_caller(&caller);
    let id = parse_id(&id)?;
    let detail = query::detail(&core, &actor, &id)?;
    if detail.case.is_some() {
        audit_or_fail(&core, &actor, "referral.read", Some(id), "case file").await?;
    }
    Ok(Json(detail))
}

#[utoipa::path(post, path = "/api/v1/referrals/{id}/events", tag = "referrals", params(("id" = String, Path)), request_body = Action, responses((status = 200, body = Detail), (status = 409, description = "Not allowed in this state or for this side", body = ErrorBody), (status = 422, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn event(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(action): ApiJson<Action>,
) -> Result<Json<Detail>, ApiError> {
    let actor = Actor::from_caller(&caller);
    let id = parse_id(&id)?;
    let name = action.name();
    actions::act(&core, &actor, id, action).await?;
    audit_or_fail(&core, &actor, &format!("referral.{name}"), Some(id), "").await?;
    Ok(Json(query::detail(&core, &actor, &id)?))
}

/// Answer of `GET /due`.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Due {
    /// Referrals whose follow-up date has come.
    pub follow_ups: Vec<Summary>,
    /// Incoming referrals nobody has taken yet.
    pub unassigned: Vec<Summary>,
    /// Sent referrals still waiting for an answer.
    pub awaiting_answer: Vec<Summary>,
}

#[utoipa::path(get, path = "/api/v1/due", tag = "referrals", responses((status = 200, body = Due), (status = 403, body = ErrorBody)))]
async fn due(State(core): State<Arc<Core>>, caller: Caller) -> Result<Json<Due>, ApiError> {
    let actor = Actor::from_caller(&caller);
    let all = query::list(&core, &actor, &Filter::default())?;
    Ok(Json(Due {
        follow_ups: query::due(&core, &actor)?,
        unassigned: all.iter().filter(|s| s.unassigned).cloned().collect(),
        awaiting_answer: all
            .into_iter()
            .filter(|s| {
                s.record.side == lotse_protocol::referral::Side::Sender
                    && s.record.state.awaits_answer()
            })
            .collect(),
    }))
}

/// Query of `GET /disclosure`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DisclosureQuery {
    /// The client's name (every word must match a word of the name).
    #[serde(default)]
    pub name: String,
    /// The client's date of birth, to tell people of the same name apart.
    #[serde(default)]
    pub born: Option<::time::Date>,
}

#[utoipa::path(get, path = "/api/v1/disclosure", tag = "referrals", params(DisclosureQuery), responses((status = 200, description = "The client's referrals this user may read: which agency, when, which data, on which consent", body = Vec<query::Disclosure>), (status = 422, description = "No name given", body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn disclosure(
    State(core): State<Arc<Core>>,
    caller: Caller,
    Query(q): Query<DisclosureQuery>,
) -> Result<Json<Vec<query::Disclosure>>, ApiError> {
    let actor = Actor::from_caller(&caller);
    Ok(Json(
        query::disclosure(&core, &actor, &q.name, q.born).await?,
    ))
}

/// The routes (mounted at the root; paths include `/api/v1`).
pub fn router() -> OpenApiRouter<Arc<Core>> {
    OpenApiRouter::new()
        .routes(routes!(directory))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(create, list))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .routes(routes!(detail))
        .routes(routes!(event))
        .routes(routes!(due))
        .routes(routes!(disclosure))
}
