//! `lotse-node`: the Lotse node daemon as a library.
//!
//! Layers, bottom up: [`store`] (durable key spaces behind a trait), [`transport`] (QUIC
//! with pinned ed25519 keys), [`outbox`] and [`delivery`] (store-and-forward with receipts),
//! [`inbox`] (deduplication and in-order application), [`directory`] (the signed member
//! list, and on the KI node its administration), [`http`] (health and the local admin API),
//! and [`node`], which starts and stops it all.

pub mod audit;
pub mod auth;
pub mod backup;
pub mod clock;
pub mod config;
pub mod core;
pub mod datadir;
pub mod delivery;
pub mod directory;
pub mod hsds;
pub mod http;
pub mod inbox;
pub mod init;
pub mod join;
pub mod node;
pub mod outbox;
pub mod referrals;
pub mod server;
pub mod services;
pub mod statistics;
pub mod status;
pub mod store;
pub mod transport;
