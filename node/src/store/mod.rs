//! Durable storage behind a narrow trait, so the engine can be replaced.
//!
//! A [`Store`] is a set of key spaces ([`Space`], one sled tree each) with point reads,
//! prefix scans, atomic multi-space batches with optional guards (compare-and-set), and an
//! explicit [`Store::flush`]. The rule every caller keeps: anything acknowledged to anyone
//! (an API answer, a delivery receipt) is flushed to disk first. Keeping the trait this small
//! is deliberate: DESIGN.md asks that sled can be swapped if the torture test finds it
//! loses data.

mod journal;
mod sled_store;

use std::future::Future;
use std::pin::Pin;

pub use sled_store::SledStore;

/// The key spaces. Each is one tree in the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Space {
    /// Small node-wide values (current directory, counters).
    Meta,
    /// Outgoing envelopes and their delivery state, by message id.
    Outbox,
    /// Message ids of outbox entries still waiting for a receipt.
    OutboxPending,
    /// Received message ids and when they were stored (deduplication).
    Seen,
    /// Received envelopes waiting to be applied in sequence order.
    Inbox,
    /// Per (referral, sender) the next sequence number to apply or assign.
    Sequences,
    /// Invitations (KI only), by secret hash.
    Invitations,
    /// Referral records (metadata, state).
    Referrals,
    /// Referral timeline events.
    Events,
    /// Which slot of the case key file holds each referral's key (the key itself is
    /// outside the store, so erasure can destroy it).
    CaseKeys,
    /// Encrypted case data.
    CaseData,
    /// Local users.
    Users,
    /// Sessions and API tokens.
    Sessions,
    /// The hash-chained audit log.
    Audit,
}

impl Space {
    /// Every space.
    pub const ALL: [Space; 14] = [
        Space::Meta,
        Space::Outbox,
        Space::OutboxPending,
        Space::Seen,
        Space::Inbox,
        Space::Sequences,
        Space::Invitations,
        Space::Referrals,
        Space::Events,
        Space::CaseKeys,
        Space::CaseData,
        Space::Users,
        Space::Sessions,
        Space::Audit,
    ];

    /// The space with this tree name.
    pub fn from_name(name: &str) -> Option<Space> {
        Space::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The tree name.
    pub fn name(self) -> &'static str {
        match self {
            Space::Meta => "meta",
            Space::Outbox => "outbox",
            Space::OutboxPending => "outbox_pending",
            Space::Seen => "seen",
            Space::Inbox => "inbox",
            Space::Sequences => "sequences",
            Space::Invitations => "invitations",
            Space::Referrals => "referrals",
            Space::Events => "events",
            Space::CaseKeys => "case_keys",
            Space::CaseData => "case_data",
            Space::Users => "users",
            Space::Sessions => "sessions",
            Space::Audit => "audit",
        }
    }
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine failed (I/O, corruption).
    #[error("storage error: {0}")]
    Engine(String),
    /// Another process holds the database.
    #[error("the data directory is in use by another process (is `lotse run` running?)")]
    Locked,
    /// A guard of a batch did not hold; nothing was written.
    #[error("the data changed concurrently; nothing was written")]
    Conflict,
}

/// What a guard expects of a key before a batch may commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The key must not exist.
    Absent,
    /// The key must hold exactly this value.
    Value(Vec<u8>),
}

/// An atomic set of writes, applied all or nothing.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub(crate) guards: Vec<(Space, Vec<u8>, Expect)>,
    pub(crate) ops: Vec<(Space, Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, space: Space, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push((space, key.into(), Some(value.into())));
    }

    /// Removes `key`.
    pub fn delete(&mut self, space: Space, key: impl Into<Vec<u8>>) {
        self.ops.push((space, key.into(), None));
    }

    /// Commits only if `key` is as expected when the batch applies.
    pub fn guard(&mut self, space: Space, key: impl Into<Vec<u8>>, expect: Expect) {
        self.guards.push((space, key.into(), expect));
    }

    /// True if the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Appends another batch's guards and writes.
    pub fn extend(&mut self, other: Batch) {
        self.guards.extend(other.guards);
        self.ops.extend(other.ops);
    }
}

/// Key-value pairs from a scan.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// What [`Store::read_all`] hands each entry to: its space, key and value.
pub type Visit<'a> = dyn FnMut(Space, &[u8], &[u8]) + 'a;

/// A boxed future, so the trait stays object safe.
pub type FlushFuture<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// The storage engine.
pub trait Store: Send + Sync + 'static {
    /// Reads one key.
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// All entries whose key starts with `prefix`, in key order, at most `limit`.
    fn scan(&self, space: Space, prefix: &[u8], limit: usize) -> Result<Entries, StoreError>;

    /// Hands every entry of every space to `visit`, space by space in key order, as one
    /// consistent state: no commit lands while it runs (commits wait for it), so `visit`
    /// should only copy. For a backup of a running node.
    fn read_all(&self, visit: &mut Visit<'_>) -> Result<(), StoreError>;

    /// Applies a batch atomically; [`StoreError::Conflict`] if a guard fails.
    fn commit(&self, batch: Batch) -> Result<(), StoreError>;

    /// Makes every commit so far durable.
    fn flush(&self) -> FlushFuture<'_>;

    /// Bytes the store uses on disk.
    fn size_on_disk(&self) -> Result<u64, StoreError>;
}

impl dyn Store {
    /// Reads and decodes a JSON value.
    pub fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        space: Space,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        self.get(space, key)?
            .map(|v| {
                serde_json::from_slice(&v)
                    .map_err(|e| StoreError::Engine(format!("bad record in {}: {e}", space.name())))
            })
            .transpose()
    }
}

/// Encodes a record for storage.
pub fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Our records are plain structs with string keys: serialisation cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Decodes a stored record.
pub fn from_json<T: serde::de::DeserializeOwned>(
    space: Space,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Engine(format!("bad record in {}: {e}", space.name())))
}
