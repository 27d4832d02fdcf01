//! `lotse-admin-ui`: the web UI case managers, admins and the KI coordinator use.
//!
//! Server-rendered German pages, built on the services of `lotse-node`.
