//! The HSDS 3.0 objects Lotse writes and reads, as serde types.
//!
//! Field names and meanings are those of Open Referral's schemas (`schema/*.json`,
//! version 3.0); only the fields Lotse fills or reads are here. Writing skips what is empty,
//! so a list item carries its one-to-one fields only. Reading ignores the fields Lotse does
//! not use (HSDS has many), so any valid HSDS 3.0 export can be read; ids are plain strings
//! there, because other systems' ids need not be UUIDs.

use serde::{Deserialize, Serialize};

fn is_empty<T>(v: &[T]) -> bool {
    v.is_empty()
}

/// `service`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// `id` (UUID).
    #[serde(default)]
    pub id: String,
    /// `organization_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `status`: active, inactive, defunct, temporarily closed.
    #[serde(default)]
    pub status: String,
    /// `eligibility_description`: Lotse's target group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligibility_description: Option<String>,
    /// `minimum_age`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_age: Option<f64>,
    /// `maximum_age`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_age: Option<f64>,
    /// `last_modified` (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// `organization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<Box<Organization>>,
    /// `phones`.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub phones: Vec<Phone>,
    /// `schedules`.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub schedules: Vec<Schedule>,
    /// `service_areas`.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub service_areas: Vec<ServiceArea>,
    /// `languages`.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub languages: Vec<Language>,
    /// `contacts`.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub contacts: Vec<Contact>,
    /// `attributes`: the links to taxonomy terms (Lotse's fields of action).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub attributes: Vec<Attribute>,
    /// `capacities` (HSDS 3.1's `service_capacity`; 3.0 has no such field).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub capacities: Vec<ServiceCapacity>,
}

/// `organization`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    /// `id` (UUID).
    #[serde(default)]
    pub id: String,
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `description`.
    #[serde(default)]
    pub description: String,
    /// `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `website`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// `phones`.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub phones: Vec<Phone>,
    /// `services` (on `/organizations/{id}` and with `full=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<Service>>,
}

/// `phone`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Phone {
    /// `id`.
    #[serde(default)]
    pub id: String,
    /// `number`.
    #[serde(default)]
    pub number: String,
}

/// `schedule`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// `id`.
    #[serde(default)]
    pub id: String,
    /// `service_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// `freq`: WEEKLY or MONTHLY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freq: Option<String>,
    /// `byday`: `MO,TU`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byday: Option<String>,
    /// `opens_at`: `09:00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<String>,
    /// `closes_at`: `12:00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<String>,
    /// `description`: the opening hours as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `attending_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attending_type: Option<String>,
    /// `notes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// `service_area`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceArea {
    /// `id`.
    #[serde(default)]
    pub id: String,
    /// `service_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `language`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Language {
    /// `id`.
    #[serde(default)]
    pub id: String,
    /// `service_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `code`: ISO 639-1 or 639-3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// `contact`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// `id`.
    #[serde(default)]
    pub id: String,
    /// `service_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// `name`: Lotse's contact line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `title`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `department`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `phones`.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub phones: Vec<Phone>,
}

/// `attribute`: links a service to a taxonomy term.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// `id`.
    #[serde(default)]
    pub id: String,
    /// `link_id`: the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_id: Option<String>,
    /// `link_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_type: Option<String>,
    /// `link_entity`: `service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_entity: Option<String>,
    /// `taxonomy_term_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxonomy_term_id: Option<String>,
    /// `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `taxonomy_term`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxonomy_term: Option<TaxonomyTerm>,
}

/// `taxonomy_term`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaxonomyTerm {
    /// `id`.
    #[serde(default)]
    pub id: String,
    /// `code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `description`.
    #[serde(default)]
    pub description: String,
    /// `parent_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// `taxonomy`: the taxonomy's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxonomy: Option<String>,
    /// `language`: of the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// `taxonomy_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxonomy_id: Option<String>,
}

/// `taxonomy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Taxonomy {
    /// `id`.
    #[serde(default)]
    pub id: String,
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `description`.
    #[serde(default)]
    pub description: String,
    /// `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// HSDS 3.1 `service_capacity`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceCapacity {
    /// `id`.
    #[serde(default)]
    pub id: String,
    /// `service_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// `unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
    /// `available`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<f64>,
    /// `maximum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// `description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `updated` (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
}

/// HSDS 3.1 `unit`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// `id`.
    #[serde(default)]
    pub id: String,
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `scheme`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// `identifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
}

/// The answer of `/hsds/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiInfo {
    /// HSDS version: `3.0`.
    pub version: String,
    /// URL of the profile document.
    pub profile: String,
    /// URL of the OpenAPI document the API follows.
    pub openapi_url: String,
}
