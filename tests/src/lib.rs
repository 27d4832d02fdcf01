//! `lotse-tests`: helpers for tests that run real Lotse nodes on loopback.
