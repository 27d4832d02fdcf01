//! The directory in Open Referral's Human Services Data Specification (HSDS) 3.0.
//!
//! Municipal service guides speak HSDS; Lotse's directory holds the same kind of data,
//! signed by each agency. This module is the translation both ways: [`routes`] serves the
//! node's current directory read-only under `/hsds/` (paged as HSDS's `Page`), and
//! [`import`] reads an HSDS export into an agency's services file. The invariant: only
//! directory data crosses here, never anything about referrals, users or keys. The spec is
//! HSDS 3.0 (`schema/compiled/*.json` of openreferral/specification, branch 3.0), plus
//! HSDS 3.1's `service_capacity` for capacity; `docs/hsds.md` is the profile: the mapping
//! table, ids, the opening-hours grammar, and what is left out.

pub mod ids;
pub mod import;
pub mod languages;
pub mod mapping;
pub mod model;
pub mod paging;
pub mod routes;
pub mod schedule;
pub mod tabular;
pub mod taxonomy;

pub use routes::router;

/// The HSDS version served.
pub const HSDS_VERSION: &str = "3.0";
