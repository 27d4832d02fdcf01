//! The audit log: who did what when, append-only and hash-chained, without case content.
//!
//! Each entry lives in [`Space::Audit`] under its sequence number (8 bytes, big-endian, so
//! key order is append order). An entry's hash is SHA-256 over a canonical, length-prefixed
//! encoding of its fields and the previous entry's hash; the first entry chains to 32 zero
//! bytes. A head record in [`Space::Meta`] names the last sequence number and its hash, so
//! removing the *last* entry is detected as well as changing or removing any other one.
//!
//! The invariant this module protects: the log only grows, and [`verify`] detects any change
//! or removal made behind the node's back (a hex editor, a restored backup of one tree).
//! Appends are serialised by a guard on the head record (optimistic concurrency): two
//! writers never both claim the same sequence number. What the chain cannot detect is an
//! attacker who rewrites every later entry and the head consistently; `lotse audit verify`
//! prints the head hash so an operator can note it elsewhere and compare later.
//!
//! Entries never carry case content: callers pass a machine action name (`referral.read`,
//! `user.add`), an optional referral id, and a short detail without client data.

use lotse_protocol::{ReferralId, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::Core;
use crate::store::{Batch, Expect, Space, Store, StoreError, from_json, to_json};

/// The actor of entries the node writes by itself.
pub const SYSTEM: &str = "system";
/// The actor of changes made with the `lotse` command (local admin API or offline).
pub const CLI: &str = "cli";

/// The head record's key in [`Space::Meta`].
const HEAD_KEY: &[u8] = b"audit_head";
/// Domain separation for the entry hash.
const HASH_DOMAIN: &[u8] = b"lotse-audit-v1";
/// Bounds on stored text: an audit write never fails because a detail is long.
const MAX_ACTOR: usize = 64;
const MAX_ACTION: usize = 64;
const MAX_DETAIL: usize = 500;
/// How often an append retries after losing a race for the head.
const MAX_ATTEMPTS: usize = 1000;
/// The most entries one [`list`] call returns.
pub const MAX_LIST: usize = 1000;

/// One audit entry, as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Position in the log, from 0.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// Who: a username, or [`SYSTEM`], [`CLI`], `unknown`.
    pub actor: String,
    /// What, as a short machine name (`login.failed`, `referral.read`).
    pub action: String,
    /// The referral concerned, if any.
    pub referral_id: Option<ReferralId>,
    /// A short detail without case content.
    pub detail: String,
    /// Hash of the previous entry (hex), zeros for the first.
    pub prev_hash: String,
    /// Hash of this entry (hex).
    pub hash: String,
}

/// The last entry's position and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Sequence number of the last entry.
    pub seq: u64,
    /// Its hash (hex).
    pub hash: String,
}

/// What [`verify`] found wrong. Each names the first sequence number where it went wrong.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An entry's fields no longer match its hash.
    #[error("audit entry {seq} was changed after it was written (its hash does not match)")]
    Changed {
        /// The entry.
        seq: u64,
    },
    /// An entry cannot be decoded.
    #[error("audit entry {seq} is damaged and cannot be read: {reason}")]
    Unreadable {
        /// The entry.
        seq: u64,
        /// Decoder message.
        reason: String,
    },
    /// An entry between the first and the head is gone.
    #[error("audit entry {seq} is missing (it was removed)")]
    Missing {
        /// The entry.
        seq: u64,
    },
    /// An entry does not chain to its predecessor.
    #[error(
        "audit entry {seq} does not follow entry {prev}: an earlier entry was changed or replaced",
        prev = seq.saturating_sub(1)
    )]
    BrokenChain {
        /// The entry whose `prev_hash` does not match.
        seq: u64,
    },
    /// The head record does not match the last entry.
    #[error(
        "the audit log's head record does not match entry {seq}: the end of the log was changed"
    )]
    HeadMismatch {
        /// The last entry according to the head.
        seq: u64,
    },
    /// Entries exist that the head does not account for.
    #[error("audit entry {seq} exists beyond the recorded end of the log (it was inserted)")]
    Unexpected {
        /// The first entry beyond the head.
        seq: u64,
    },
    /// The head record is gone or damaged while entries exist.
    #[error("the audit log's head record is missing or damaged: {0}")]
    BadHead(String),
}

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// Cuts `s` to at most `max` characters.
fn bounded(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// The entry hash: SHA-256 over the domain tag and each field, length-prefixed, so no two
/// different entries share an encoding.
fn entry_hash(
    seq: u64,
    at: Timestamp,
    actor: &str,
    action: &str,
    referral: Option<ReferralId>,
    detail: &str,
    prev_hash: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(HASH_DOMAIN);
    h.update(seq.to_be_bytes());
    h.update(at.0.to_be_bytes());
    for text in [actor, action] {
        h.update((text.len() as u64).to_be_bytes());
        h.update(text.as_bytes());
    }
    match referral {
        Some(r) => {
            h.update([1u8]);
            h.update(r.as_bytes());
        }
        None => h.update([0u8]),
    }
    for text in [detail, prev_hash] {
        h.update((text.len() as u64).to_be_bytes());
        h.update(text.as_bytes());
    }
    hex(&h.finalize())
}

impl AuditEntry {
    /// Recomputes this entry's hash from its fields.
    fn computed_hash(&self) -> String {
        entry_hash(
            self.seq,
            self.at,
            &self.actor,
            &self.action,
            self.referral_id,
            &self.detail,
            &self.prev_hash,
        )
    }
}

/// Reads the head as raw bytes (for the guard) and decoded.
fn read_head(store: &dyn Store) -> Result<Option<(Vec<u8>, AuditHead)>, AuditError> {
    match store.get(Space::Meta, HEAD_KEY)? {
        None => Ok(None),
        Some(raw) => {
            let head: AuditHead =
                serde_json::from_slice(&raw).map_err(|e| AuditError::BadHead(e.to_string()))?;
            Ok(Some((raw, head)))
        }
    }
}

/// The last entry's position and hash, if the log is not empty.
pub fn head(store: &dyn Store) -> Result<Option<AuditHead>, AuditError> {
    Ok(read_head(store)?.map(|(_, h)| h))
}

/// What to append.
struct NewEntry<'a> {
    at: Timestamp,
    actor: &'a str,
    action: &'a str,
    referral: Option<ReferralId>,
    detail: &'a str,
}

/// Adds the entry's writes and the head guard to `batch`; returns the head bytes it expects.
fn stage(
    store: &dyn Store,
    batch: &mut Batch,
    new: &NewEntry<'_>,
) -> Result<Option<Vec<u8>>, StoreError> {
    let head = read_head(store).map_err(|e| match e {
        AuditError::Store(s) => s,
        other => StoreError::Engine(other.to_string()),
    })?;
    let (seq, prev_hash, guard) = match &head {
        None => (0, hex(&[0u8; 32]), Expect::Absent),
        Some((raw, h)) => (h.seq + 1, h.hash.clone(), Expect::Value(raw.clone())),
    };
    let actor = bounded(new.actor, MAX_ACTOR);
    let action = bounded(new.action, MAX_ACTION);
    let detail = bounded(new.detail, MAX_DETAIL);
    let hash = entry_hash(
        seq,
        new.at,
        &actor,
        &action,
        new.referral,
        &detail,
        &prev_hash,
    );
    let entry = AuditEntry {
        seq,
        at: new.at,
        actor,
        action,
        referral_id: new.referral,
        detail,
        prev_hash,
        hash: hash.clone(),
    };
    batch.guard(Space::Meta, HEAD_KEY.to_vec(), guard);
    batch.guard(Space::Audit, key(seq).to_vec(), Expect::Absent);
    batch.put(Space::Audit, key(seq).to_vec(), to_json(&entry));
    batch.put(
        Space::Meta,
        HEAD_KEY.to_vec(),
        to_json(&AuditHead { seq, hash }),
    );
    Ok(head.map(|(raw, _)| raw))
}

async fn append(store: &dyn Store, batch: Batch, new: NewEntry<'_>) -> Result<(), StoreError> {
    for _ in 0..MAX_ATTEMPTS {
        let mut attempt = batch.clone();
        let before = stage(store, &mut attempt, &new)?;
        match store.commit(attempt) {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict) => {
                // Lost the race for the head: try again on the new head. If the head did
                // not move, one of the caller's own guards failed: that is theirs to handle.
                if store.get(Space::Meta, HEAD_KEY)? == before {
                    return Err(StoreError::Conflict);
                }
                tokio::task::yield_now().await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict)
}

/// Appends one entry and flushes it to disk before returning.
pub async fn record(
    core: &Core,
    actor: &str,
    action: &str,
    referral: Option<ReferralId>,
    detail: &str,
) -> Result<(), StoreError> {
    commit_with(core, Batch::new(), actor, action, referral, detail).await
}

/// Commits `batch` and one audit entry atomically (both or neither), then flushes.
///
/// If another writer appended first, the entry is re-chained and the commit retried. If one
/// of `batch`'s own guards fails, nothing is written and [`StoreError::Conflict`] returns.
pub async fn commit_with(
    core: &Core,
    batch: Batch,
    actor: &str,
    action: &str,
    referral: Option<ReferralId>,
    detail: &str,
) -> Result<(), StoreError> {
    commit_with_unflushed(core, batch, actor, action, referral, detail).await?;
    core.store.flush().await
}

/// Like [`commit_with`], without the flush: the caller flushes once for several of these
/// (the messages of one received batch). A crash before that flush loses the entry together
/// with the writes it records, never one without the other.
pub async fn commit_with_unflushed(
    core: &Core,
    batch: Batch,
    actor: &str,
    action: &str,
    referral: Option<ReferralId>,
    detail: &str,
) -> Result<(), StoreError> {
    let entry = NewEntry {
        at: core.clock.now(),
        actor,
        action,
        referral,
        detail,
    };
    append(core.store.as_ref(), batch, entry).await
}

/// Checks the whole log: every entry present, unchanged and chained, and the head matching
/// the last one. Returns the number of entries, or the first problem found.
pub fn verify(store: &dyn Store) -> Result<usize, AuditError> {
    let Some((_, head)) = read_head(store)? else {
        return match store.scan(Space::Audit, b"", 1)?.first() {
            None => Ok(0),
            Some((k, _)) => Err(AuditError::BadHead(format!(
                "no head record, but entry {} exists",
                seq_of(k)
            ))),
        };
    };
    let mut prev = hex(&[0u8; 32]);
    for seq in 0..=head.seq {
        let raw = store
            .get(Space::Audit, &key(seq))?
            .ok_or(AuditError::Missing { seq })?;
        let entry: AuditEntry =
            serde_json::from_slice(&raw).map_err(|e| AuditError::Unreadable {
                seq,
                reason: e.to_string(),
            })?;
        if entry.seq != seq || entry.computed_hash() != entry.hash {
            return Err(AuditError::Changed { seq });
        }
        if entry.prev_hash != prev {
            return Err(AuditError::BrokenChain { seq });
        }
        prev = entry.hash;
    }
    if prev != head.hash {
        return Err(AuditError::HeadMismatch { seq: head.seq });
    }
    let beyond = head.seq + 1;
    if store.get(Space::Audit, &key(beyond))?.is_some() {
        return Err(AuditError::Unexpected { seq: beyond });
    }
    usize::try_from(beyond).map_err(|_| AuditError::BadHead("too many entries".into()))
}

fn seq_of(k: &[u8]) -> u64 {
    <[u8; 8]>::try_from(k).map(u64::from_be_bytes).unwrap_or(0)
}

/// Up to `limit` (at most [`MAX_LIST`]) entries, newest first, older than `before` if given.
///
/// Entries that are missing or unreadable are skipped here; [`verify`] reports them.
pub fn list(
    store: &dyn Store,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<AuditEntry>, AuditError> {
    let Some(head) = head(store)? else {
        return Ok(vec![]);
    };
    let end = before.unwrap_or(u64::MAX).min(head.seq.saturating_add(1));
    let limit = limit.min(MAX_LIST) as u64;
    let mut out = Vec::new();
    for seq in (end.saturating_sub(limit)..end).rev() {
        if let Some(raw) = store.get(Space::Audit, &key(seq))?
            && let Ok(entry) = from_json::<AuditEntry>(Space::Audit, &raw)
        {
            out.push(entry);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::SledStore;

    fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        (dir, store)
    }

    async fn add(store: &dyn Store, n: u64) {
        for i in 0..n {
            append(
                store,
                Batch::new(),
                NewEntry {
                    at: Timestamp(1_000 + i),
                    actor: "anna",
                    action: "referral.read",
                    referral: Some(ReferralId([i as u8; 16])),
                    detail: &format!("step {i}"),
                },
            )
            .await
            .unwrap();
        }
    }

    fn raw(store: &dyn Store, seq: u64) -> Vec<u8> {
        store.get(Space::Audit, &key(seq)).unwrap().unwrap()
    }

    fn put(store: &dyn Store, space: Space, k: &[u8], v: Option<Vec<u8>>) {
        let mut b = Batch::new();
        match v {
            Some(v) => b.put(space, k.to_vec(), v),
            None => b.delete(space, k.to_vec()),
        }
        store.commit(b).unwrap();
    }

    #[tokio::test]
    async fn append_chains_and_verifies() {
        let (_d, store) = store();
        assert_eq!(verify(store.as_ref()).unwrap(), 0);
        add(store.as_ref(), 5).await;
        assert_eq!(verify(store.as_ref()).unwrap(), 5);
        let listed = list(store.as_ref(), None, 2).unwrap();
        assert_eq!(listed.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 3]);
        assert_eq!(
            listed[1].hash,
            list(store.as_ref(), Some(4), 1).unwrap()[0].hash
        );
        assert_eq!(list(store.as_ref(), Some(0), 10).unwrap(), vec![]);
        let all = list(store.as_ref(), None, 100).unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(all[4].prev_hash, hex(&[0; 32]));
        assert_eq!(all[3].prev_hash, all[4].hash);
    }

    #[tokio::test]
    async fn concurrent_appends_keep_one_chain() {
        let (_d, store) = store();
        let mut tasks = Vec::new();
        for t in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..10 {
                    append(
                        store.as_ref(),
                        Batch::new(),
                        NewEntry {
                            at: Timestamp(i),
                            actor: &format!("user{t}"),
                            action: "x",
                            referral: None,
                            detail: "",
                        },
                    )
                    .await
                    .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(verify(store.as_ref()).unwrap(), 40);
    }

    #[tokio::test]
    async fn a_changed_entry_is_named() {
        let (_d, store) = store();
        add(store.as_ref(), 4).await;
        let text = String::from_utf8(raw(store.as_ref(), 2)).unwrap();
        let changed = text.replace("step 2", "step X");
        assert_ne!(text, changed);
        put(
            store.as_ref(),
            Space::Audit,
            &key(2),
            Some(changed.into_bytes()),
        );
        let err = verify(store.as_ref()).unwrap_err();
        assert!(matches!(err, AuditError::Changed { seq: 2 }), "{err}");
        assert!(err.to_string().contains("entry 2"), "{err}");
    }

    #[tokio::test]
    async fn a_rehashed_entry_breaks_the_chain() {
        let (_d, store) = store();
        add(store.as_ref(), 4).await;
        let mut e: AuditEntry = serde_json::from_slice(&raw(store.as_ref(), 1)).unwrap();
        e.actor = "mallory".into();
        e.hash = e.computed_hash();
        put(store.as_ref(), Space::Audit, &key(1), Some(to_json(&e)));
        let err = verify(store.as_ref()).unwrap_err();
        assert!(matches!(err, AuditError::BrokenChain { seq: 2 }), "{err}");
    }

    #[tokio::test]
    async fn damaged_bytes_are_reported() {
        let (_d, store) = store();
        add(store.as_ref(), 3).await;
        let mut bytes = raw(store.as_ref(), 0);
        bytes[0] = b'#';
        put(store.as_ref(), Space::Audit, &key(0), Some(bytes));
        let err = verify(store.as_ref()).unwrap_err();
        assert!(
            matches!(err, AuditError::Unreadable { seq: 0, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_removed_middle_entry_is_named() {
        let (_d, store) = store();
        add(store.as_ref(), 5).await;
        put(store.as_ref(), Space::Audit, &key(2), None);
        let err = verify(store.as_ref()).unwrap_err();
        assert!(matches!(err, AuditError::Missing { seq: 2 }), "{err}");
    }

    #[tokio::test]
    async fn a_removed_last_entry_is_detected() {
        let (_d, store) = store();
        add(store.as_ref(), 5).await;
        put(store.as_ref(), Space::Audit, &key(4), None);
        let err = verify(store.as_ref()).unwrap_err();
        assert!(matches!(err, AuditError::Missing { seq: 4 }), "{err}");
    }

    #[tokio::test]
    async fn a_rewound_head_or_removed_head_is_detected() {
        let (_d, store) = store();
        add(store.as_ref(), 3).await;
        let entry1: AuditEntry = serde_json::from_slice(&raw(store.as_ref(), 1)).unwrap();
        // Head set back by one while the last entry stays: an entry beyond the head.
        let rewound = to_json(&AuditHead {
            seq: 1,
            hash: entry1.hash,
        });
        put(store.as_ref(), Space::Meta, HEAD_KEY, Some(rewound));
        let err = verify(store.as_ref()).unwrap_err();
        assert!(matches!(err, AuditError::Unexpected { seq: 2 }), "{err}");
        // A head pointing at the right entry with the wrong hash.
        let wrong = to_json(&AuditHead {
            seq: 2,
            hash: hex(&[7; 32]),
        });
        put(store.as_ref(), Space::Meta, HEAD_KEY, Some(wrong));
        let err = verify(store.as_ref()).unwrap_err();
        assert!(matches!(err, AuditError::HeadMismatch { seq: 2 }), "{err}");
        put(store.as_ref(), Space::Meta, HEAD_KEY, None);
        let err = verify(store.as_ref()).unwrap_err();
        assert!(matches!(err, AuditError::BadHead(_)), "{err}");
    }

    #[tokio::test]
    async fn a_failing_caller_guard_writes_nothing() {
        let (_d, store) = store();
        add(store.as_ref(), 1).await;
        let mut b = Batch::new();
        b.guard(Space::Users, b"anna".to_vec(), Expect::Value(b"x".to_vec()));
        b.put(Space::Users, b"anna".to_vec(), b"y".to_vec());
        let r = append(
            store.as_ref(),
            b,
            NewEntry {
                at: Timestamp(1),
                actor: "a",
                action: "b",
                referral: None,
                detail: "",
            },
        )
        .await;
        assert!(matches!(r, Err(StoreError::Conflict)));
        assert_eq!(verify(store.as_ref()).unwrap(), 1);
        assert_eq!(store.get(Space::Users, b"anna").unwrap(), None);
    }

    #[test]
    fn long_text_is_bounded_and_hash_is_field_sensitive() {
        assert_eq!(bounded("äöü", 2), "äö");
        assert_eq!(bounded("ab", 5), "ab");
        let a = entry_hash(0, Timestamp(1), "ab", "c", None, "", "");
        let b = entry_hash(0, Timestamp(1), "a", "bc", None, "", "");
        assert_ne!(a, b);
    }
}
