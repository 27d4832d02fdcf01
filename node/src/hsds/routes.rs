//! The `/hsds/` endpoints: read-only, paged, answering from the node's verified directory.
//!
//! Who may read: any signed-in user of this node (session cookie or bearer token, any
//! role), and, on the KI's node with `[hsds] public = true`, anyone. Every answer is built
//! from [`super::mapping`] over the current signed directory, so it holds directory data
//! only, never anything about referrals. Bad parameters get a 400 naming the parameter,
//! unknown ids a 404 naming where to find the valid ones.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use lotse_protocol::directory::Directory;

use super::ids::HsdsId;
use super::mapping::{self, Depth, Entry};
use super::model::{ApiInfo, Organization, Service, TaxonomyTerm};
use super::paging::{Page, Params, QueryError, matches_search};
use super::taxonomy::Taxonomy;
use crate::auth::Caller;
use crate::core::Core;
use crate::http::ApiError;

/// The HSDS OpenAPI document this API follows (a subset of it: see the profile).
pub const OPENAPI_URL: &str =
    "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/openapi.json";

/// The profile document (`docs/hsds.md`), served at `/hsds/profile`.
const PROFILE: &str = include_str!("../../../docs/hsds.md");

/// The routes, with their full paths (merged into the node's router).
pub fn router() -> Router<Arc<Core>> {
    Router::new()
        .route("/hsds", get(info))
        .route("/hsds/", get(info))
        .route("/hsds/profile", get(profile))
        .route("/hsds/services", get(services))
        .route("/hsds/services/{id}", get(service_by_id))
        .route("/hsds/organizations", get(organizations))
        .route("/hsds/organizations/{id}", get(organization_by_id))
        .route("/hsds/taxonomies", get(taxonomies))
        .route("/hsds/taxonomies/{id}", get(taxonomy_by_id))
        .route("/hsds/taxonomy_terms", get(taxonomy_terms))
        .route("/hsds/taxonomy_terms/{id}", get(taxonomy_term_by_id))
}

/// True if this node serves its feed to anyone: the KI's node with `[hsds] public = true`
/// (the configuration refuses the setting on other nodes; this checks again).
pub fn is_public(core: &Core) -> bool {
    core.config.hsds.public && core.is_directory_node()
}

/// A request that may read the feed.
struct Reader;

impl FromRequestParts<Arc<Core>> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, core: &Arc<Core>) -> Result<Self, ApiError> {
        // A wrong token is refused even on a public feed: the caller meant to sign in.
        let caller =
            <Caller as OptionalFromRequestParts<Arc<Core>>>::from_request_parts(parts, core)
                .await?;
        if caller.is_some() || is_public(core) {
            return Ok(Reader);
        }
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "the HSDS feed of this node is for its signed-in users: sign in (POST /api/v1/login) and send the token as `Authorization: Bearer <token>`; the KI's node can publish its feed with `[hsds] public = true`",
        ))
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::bad_request(e)
    }
}

type Q = Result<Query<Vec<(String, String)>>, QueryRejection>;

fn params(q: Q, allowed: &[&str]) -> Result<Params, ApiError> {
    let Query(pairs) = q.map_err(|e| QueryError::Malformed(e.body_text()))?;
    Ok(Params::new(pairs, allowed)?)
}

fn path_id(text: &str, what: &str) -> Result<HsdsId, ApiError> {
    text.parse()
        .map_err(|e| ApiError::bad_request(format!("the {what} id is not valid: {e}")))
}

fn not_found(what: &str, id: HsdsId, list: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no {what} with id {id} in this node's directory; the ones there are listed at {list}"
        ),
    )
}

const LIST: &[&str] = &["page", "per_page", "search", "format"];

fn list_params(extra: &[&'static str]) -> Vec<&'static str> {
    LIST.iter().chain(extra).copied().collect()
}

/// The base URL the caller reached this node at, for absolute links in `/hsds/`.
fn base_url(core: &Core, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .map(str::to_string)
        .unwrap_or_else(|| core.config.network.http_listen.to_string());
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

async fn info(
    State(core): State<Arc<Core>>,
    _r: Reader,
    headers: HeaderMap,
    q: Q,
) -> Result<Json<ApiInfo>, ApiError> {
    params(q, &["format"])?;
    Ok(Json(ApiInfo {
        version: super::HSDS_VERSION.into(),
        profile: format!("{}/hsds/profile", base_url(&core, &headers)),
        openapi_url: OPENAPI_URL.into(),
    }))
}

async fn profile(_r: Reader) -> Response {
    (
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        PROFILE,
    )
        .into_response()
}

fn directory(core: &Core) -> Option<Arc<Directory>> {
    core.directory.current()
}

fn search_texts(e: &Entry<'_>, taxonomy: &Taxonomy) -> String {
    let s = e.service;
    let fields: Vec<&str> = s
        .fields
        .iter()
        .filter_map(|f| taxonomy.term_of(*f))
        .map(|t| t.label_de.as_str())
        .collect();
    let languages: Vec<String> = s
        .languages
        .iter()
        .map(|l| super::languages::display_name(l))
        .collect();
    [
        s.name.as_str(),
        &s.description,
        &s.target_group,
        &s.area,
        &e.member.member.name,
        &fields.join(" "),
        &languages.join(" "),
        &s.languages.join(" "),
    ]
    .join("\n")
}

async fn services(
    State(core): State<Arc<Core>>,
    _r: Reader,
    q: Q,
) -> Result<Json<Page<Service>>, ApiError> {
    let p = params(
        q,
        &list_params(&[
            "taxonomy_term_id",
            "taxonomy_id",
            "organization_id",
            "modified_after",
            "full",
        ]),
    )?;
    let paging = p.paging()?;
    let words = p.search()?;
    let depth = if p.flag("full")? {
        Depth::Full
    } else {
        Depth::Flat
    };
    let modified_after = p.modified_after()?;
    let dir = directory(&core);
    let taxonomy = Taxonomy::of_directory(dir.as_deref());
    let term = match p.id("taxonomy_term_id")? {
        Some(id) => Some(taxonomy.by_id(id).ok_or_else(|| {
            ApiError::bad_request(format!("taxonomy_term_id={id} is not a term of this directory; the terms are listed at /hsds/taxonomy_terms"))
        })?),
        None => None,
    };
    if let Some(id) = p.id("taxonomy_id")?
        && id != taxonomy.id
    {
        return Err(ApiError::bad_request(format!(
            "taxonomy_id={id} is not a taxonomy of this directory; the taxonomies are listed at /hsds/taxonomies"
        )));
    }
    let with_terms = p.id("taxonomy_id")?.is_some();
    let organization = match (p.id("organization_id")?, dir.as_deref()) {
        (Some(id), Some(d)) => Some(mapping::member_by_organization(d, id).map(|m| m.member.node_id).ok_or_else(|| {
            ApiError::bad_request(format!("organization_id={id} is not an organization of this directory; they are listed at /hsds/organizations"))
        })?),
        (Some(id), None) => {
            return Err(ApiError::bad_request(format!(
                "organization_id={id} is not an organization of this directory: this node has no directory yet"
            )));
        }
        (None, _) => None,
    };
    let found: Vec<Service> = dir
        .as_deref()
        .map(mapping::entries)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| term.is_none_or(|t| e.service.fields.contains(&t.field)))
        .filter(|e| !with_terms || !e.service.fields.is_empty())
        .filter(|e| organization.is_none_or(|n| e.member.member.node_id == n))
        .filter(|e| modified_after.is_none_or(|t| e.member.profile.updated_at.millis() >= t))
        .filter(|e| matches_search(&words, &[&search_texts(e, &taxonomy)]))
        .map(|e| mapping::service(e, &taxonomy, depth))
        .collect();
    Ok(Json(paging.page(found)?))
}

async fn service_by_id(
    State(core): State<Arc<Core>>,
    _r: Reader,
    Path(id): Path<String>,
    q: Q,
) -> Result<Json<Service>, ApiError> {
    params(q, &["format"])?;
    let id = path_id(&id, "service")?;
    let dir = directory(&core);
    let taxonomy = Taxonomy::of_directory(dir.as_deref());
    dir.as_deref()
        .map(mapping::entries)
        .unwrap_or_default()
        .into_iter()
        .find(|e| e.id() == id)
        .map(|e| Json(mapping::service(e, &taxonomy, Depth::Full)))
        .ok_or_else(|| not_found("service", id, "/hsds/services"))
}

fn organization_with_services(
    dir: &Directory,
    member: &lotse_protocol::directory::VerifiedMember,
    taxonomy: &Taxonomy,
    depth: Depth,
) -> Organization {
    let mut org = mapping::organization(member);
    org.services = Some(
        mapping::entries(dir)
            .into_iter()
            .filter(|e| e.member.member.node_id == member.member.node_id)
            .map(|e| {
                let mut s = mapping::service(e, taxonomy, depth);
                s.organization = None; // it is the enclosing object
                s
            })
            .collect(),
    );
    org
}

async fn organizations(
    State(core): State<Arc<Core>>,
    _r: Reader,
    q: Q,
) -> Result<Json<Page<Organization>>, ApiError> {
    let p = params(q, &list_params(&["full", "full_service"]))?;
    let paging = p.paging()?;
    let words = p.search()?;
    let full_service = p.flag("full_service")?;
    let full = p.flag("full")? || full_service;
    let depth = if full_service {
        Depth::Full
    } else {
        Depth::Flat
    };
    let dir = directory(&core);
    let taxonomy = Taxonomy::of_directory(dir.as_deref());
    let found: Vec<Organization> = match dir.as_deref() {
        None => Vec::new(),
        Some(d) => d
            .active_members()
            .into_iter()
            .map(|m| {
                if full {
                    organization_with_services(d, m, &taxonomy, depth)
                } else {
                    mapping::organization(m)
                }
            })
            .filter(|o| matches_search(&words, &[&o.name, &o.description]))
            .collect(),
    };
    Ok(Json(paging.page(found)?))
}

async fn organization_by_id(
    State(core): State<Arc<Core>>,
    _r: Reader,
    Path(id): Path<String>,
    q: Q,
) -> Result<Json<Organization>, ApiError> {
    let p = params(q, &["format", "full_service"])?;
    let depth = if p.flag("full_service")? {
        Depth::Full
    } else {
        Depth::Flat
    };
    let id = path_id(&id, "organization")?;
    let dir =
        directory(&core).ok_or_else(|| not_found("organization", id, "/hsds/organizations"))?;
    let taxonomy = Taxonomy::of_directory(Some(&dir));
    let member = mapping::member_by_organization(&dir, id)
        .ok_or_else(|| not_found("organization", id, "/hsds/organizations"))?;
    Ok(Json(organization_with_services(
        &dir, member, &taxonomy, depth,
    )))
}

async fn taxonomies(
    State(core): State<Arc<Core>>,
    _r: Reader,
    q: Q,
) -> Result<Json<Page<super::model::Taxonomy>>, ApiError> {
    let p = params(q, LIST)?;
    let paging = p.paging()?;
    let words = p.search()?;
    let t = mapping::taxonomy(&Taxonomy::of_directory(directory(&core).as_deref()));
    let found = if matches_search(&words, &[&t.name, &t.description]) {
        vec![t]
    } else {
        Vec::new()
    };
    Ok(Json(paging.page(found)?))
}

async fn taxonomy_by_id(
    State(core): State<Arc<Core>>,
    _r: Reader,
    Path(id): Path<String>,
    q: Q,
) -> Result<Json<super::model::Taxonomy>, ApiError> {
    params(q, &["format"])?;
    let id = path_id(&id, "taxonomy")?;
    let t = Taxonomy::of_directory(directory(&core).as_deref());
    if t.id != id {
        return Err(not_found("taxonomy", id, "/hsds/taxonomies"));
    }
    Ok(Json(mapping::taxonomy(&t)))
}

async fn taxonomy_terms(
    State(core): State<Arc<Core>>,
    _r: Reader,
    q: Q,
) -> Result<Json<Page<TaxonomyTerm>>, ApiError> {
    let p = params(q, &list_params(&["taxonomy_id", "top_only", "parent_id"]))?;
    let paging = p.paging()?;
    let words = p.search()?;
    // The terms are flat: every term is a top term, and none has children.
    p.flag("top_only")?;
    let t = Taxonomy::of_directory(directory(&core).as_deref());
    if let Some(id) = p.id("taxonomy_id")?
        && id != t.id
    {
        return Err(ApiError::bad_request(format!(
            "taxonomy_id={id} is not a taxonomy of this directory; the taxonomies are listed at /hsds/taxonomies"
        )));
    }
    let parent = p.id("parent_id")?;
    if let Some(id) = parent
        && t.by_id(id).is_none()
    {
        return Err(ApiError::bad_request(format!(
            "parent_id={id} is not a term of this directory; the terms are listed at /hsds/taxonomy_terms"
        )));
    }
    let found: Vec<TaxonomyTerm> = t
        .terms
        .iter()
        .filter(|_| parent.is_none())
        .filter(|term| matches_search(&words, &[&term.label_de, &term.key]))
        .map(|term| mapping::taxonomy_term(&t, term))
        .collect();
    Ok(Json(paging.page(found)?))
}

async fn taxonomy_term_by_id(
    State(core): State<Arc<Core>>,
    _r: Reader,
    Path(id): Path<String>,
    q: Q,
) -> Result<Json<TaxonomyTerm>, ApiError> {
    params(q, &["format"])?;
    let id = path_id(&id, "taxonomy term")?;
    let t = Taxonomy::of_directory(directory(&core).as_deref());
    let term = t
        .by_id(id)
        .ok_or_else(|| not_found("taxonomy term", id, "/hsds/taxonomy_terms"))?;
    Ok(Json(mapping::taxonomy_term(&t, term)))
}
