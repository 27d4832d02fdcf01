//! The sled implementation of [`Store`]: one tree per [`Space`], batches made atomic by a
//! redo journal, and `flush_async` for durability.
//!
//! sled 0.34 is single-process; a second open of the same directory fails with a lock
//! error, which we turn into [`StoreError::Locked`] so the CLI can say "the node is
//! running".
//!
//! **Atomic batches without sled transactions.** A sled transaction (and a single-tree
//! `apply_batch`) seals sled's log buffer before and after it, and every sealed buffer is
//! written and synced on its own by a thread of sled's pool: about two syncs and several
//! thread hand-offs per commit, whether or not anyone asked for durability. That defeated
//! grouped flushing and was the largest cost per referral (docs/storage.md, finding 4).
//! Instead, a commit takes the store's writer lock, checks its guards, writes the batch's
//! redo record ([`super::journal`]) over the previous one in the `journal` tree, and
//! applies the writes with plain inserts and removes. sled recovers a prefix of its log (it
//! refuses to recover a log segment whose predecessor was lost), so a crash can cut at
//! most one batch short: the last one whose record survived, since a record is written
//! before its batch's writes and after the previous batch's. [`SledStore::open`] applies
//! that record again before anything else.
//!
//! Reads are not gated: each key is read whole, and a reader may see a batch appear key by
//! key, in the batch's order, while it is applied. State moves do not rely on what a
//! reader saw: each is a commit whose guards are checked under the writer lock. (A gate
//! for point reads was measured: readers then blocked tokio worker threads behind a commit
//! waiting for sled's log buffer, and p99 at 1,000/s showed stalls of 70-120 ms.)
//!
//! Flushes are serialised and grouped: at most one `flush_async` runs at a time, and a
//! caller whose commits were already made durable by a flush that started after them
//! returns without flushing again (group commit). The crash torture (issue 6) found that
//! many concurrent `flush_async` calls next to multi-tree transactions deadlock sled
//! 0.34.7 (docs/storage.md, finding 1); one flush at a time keeps a thread of sled's pool
//! free for the buffer writes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::journal::{self, WriteOp};
use super::{Batch, Entries, Expect, FlushFuture, Space, Store, StoreError, Visit};

/// The tree that holds the redo record of the last batch.
const JOURNAL_TREE: &str = "journal";
/// The journal tree's only key.
const LAST_BATCH: &[u8] = b"last";

/// How often [`SledStore::open`] retries a held lock, 25 ms apart.
const LOCK_WAIT_TRIES: u32 = 80;

/// A sled database with one tree per space.
pub struct SledStore {
    db: sled::Db,
    trees: BTreeMap<Space, sled::Tree>,
    journal: sled::Tree,
    /// Held while a batch's guards are checked and its writes applied.
    writer: Mutex<()>,
    /// Commits so far (a commit's number is the value after its increment).
    commits: AtomicU64,
    /// The highest commit number known to be durable; the lock serialises flushes.
    durable: tokio::sync::Mutex<u64>,
}

fn engine(e: sled::Error) -> StoreError {
    match &e {
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => StoreError::Locked,
        sled::Error::Io(io) if io.to_string().contains("lock") => StoreError::Locked,
        _ => StoreError::Engine(e.to_string()),
    }
}

impl SledStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        // sled releases its file lock when its last internal reference goes, which can be
        // a moment after the `Db` of a closed store was dropped (its background jobs hold
        // one). A reopen in the same process waits briefly for that; another process that
        // holds the lock still gets `Locked` after the wait.
        let mut waited = 0;
        let db = loop {
            match sled::Config::new()
                .path(dir)
                .cache_capacity(16 * 1024 * 1024)
                .flush_every_ms(Some(500))
                .open()
                .map_err(engine)
            {
                Err(StoreError::Locked) if waited < LOCK_WAIT_TRIES => {
                    waited += 1;
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                other => break other?,
            }
        };
        let mut trees = BTreeMap::new();
        for space in Space::ALL {
            trees.insert(space, db.open_tree(space.name()).map_err(engine)?);
        }
        let store = Self {
            journal: db.open_tree(JOURNAL_TREE).map_err(engine)?,
            db,
            trees,
            writer: Mutex::new(()),
            commits: AtomicU64::new(0),
            durable: tokio::sync::Mutex::new(0),
        };
        store.finish_interrupted()?;
        Ok(store)
    }

    /// Applies the last batch again, in case a crash interrupted it, and makes that durable
    /// before the store is used. Writing a batch's values a second time is harmless: no
    /// later batch exists whose writes it could undo.
    fn finish_interrupted(&self) -> Result<(), StoreError> {
        let Some(record) = self.journal.get(LAST_BATCH).map_err(engine)? else {
            return Ok(());
        };
        self.apply(&journal::decode(&record)?)?;
        self.journal.remove(LAST_BATCH).map_err(engine)?;
        self.db.flush().map_err(engine)?;
        Ok(())
    }

    fn tree(&self, space: Space) -> &sled::Tree {
        // Every space is opened in `open`.
        &self.trees[&space]
    }

    fn apply(&self, writes: &[WriteOp]) -> Result<(), StoreError> {
        for (space, key, value) in writes {
            let tree = self.tree(*space);
            match value {
                Some(v) => tree.insert(key.as_slice(), v.as_slice()),
                None => tree.remove(key.as_slice()),
            }
            .map_err(engine)?;
        }
        Ok(())
    }

    fn writer(&self) -> MutexGuard<'_, ()> {
        // The lock guards no data of its own, so a panic elsewhere cannot poison it.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for SledStore {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tree(space)
            .get(key)
            .map_err(engine)?
            .map(|v| v.to_vec()))
    }

    fn scan(&self, space: Space, prefix: &[u8], limit: usize) -> Result<Entries, StoreError> {
        self.tree(space)
            .scan_prefix(prefix)
            .take(limit)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(engine))
            .collect()
    }

    fn read_all(&self, visit: &mut Visit<'_>) -> Result<(), StoreError> {
        // Holding the writer lock keeps every batch whole: none is half applied meanwhile.
        let _writer = self.writer();
        for space in Space::ALL {
            for entry in self.tree(space).iter() {
                let (key, value) = entry.map_err(engine)?;
                visit(space, &key, &value);
            }
        }
        Ok(())
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.ops.is_empty() && batch.guards.is_empty() {
            return Ok(());
        }
        let _writer = self.writer();
        for (space, key, expect) in &batch.guards {
            let current = self.tree(*space).get(key).map_err(engine)?;
            let holds = match expect {
                Expect::Absent => current.is_none(),
                Expect::Value(v) => current.as_deref() == Some(v.as_slice()),
            };
            if !holds {
                return Err(StoreError::Conflict);
            }
        }
        if batch.ops.is_empty() {
            return Ok(());
        }
        // The record replaces the previous batch's: only the last batch can be incomplete.
        // (A batch of one write would not need it, but then an older record would remain.)
        self.journal
            .insert(LAST_BATCH, journal::encode(&batch.ops))
            .map_err(engine)?;
        // An error from here on leaves the batch half applied in memory; its record stays,
        // so the next open completes it.
        self.apply(&batch.ops)?;
        self.commits.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn flush(&self) -> FlushFuture<'_> {
        Box::pin(async move {
            // Everything committed before this call must be durable when it returns.
            let wanted = self.commits.load(Ordering::SeqCst);
            let mut durable = self.durable.lock().await;
            if *durable >= wanted {
                // A flush that started after our commits finished while we waited.
                return Ok(());
            }
            // This flush covers every commit counted so far, ours and later ones.
            let covers = self.commits.load(Ordering::SeqCst);
            self.db.flush_async().await.map_err(engine)?;
            *durable = covers;
            Ok(())
        })
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(engine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_are_atomic_and_guarded() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let mut b = Batch::new();
        b.put(Space::Outbox, b"m1".to_vec(), b"x".to_vec());
        b.put(Space::OutboxPending, b"m1".to_vec(), b"".to_vec());
        store.commit(b).unwrap();
        store.flush().await.unwrap();
        assert_eq!(
            store.get(Space::Outbox, b"m1").unwrap(),
            Some(b"x".to_vec())
        );

        let mut guarded = Batch::new();
        guarded.guard(Space::Outbox, b"m1".to_vec(), Expect::Absent);
        guarded.put(Space::Outbox, b"m1".to_vec(), b"y".to_vec());
        guarded.delete(Space::OutboxPending, b"m1".to_vec());
        assert!(matches!(store.commit(guarded), Err(StoreError::Conflict)));
        // Nothing of the failed batch was applied.
        assert_eq!(
            store.get(Space::Outbox, b"m1").unwrap(),
            Some(b"x".to_vec())
        );
        assert!(store.get(Space::OutboxPending, b"m1").unwrap().is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commits_and_flushes_all_become_durable() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = std::sync::Arc::new(SledStore::open(dir.path()).unwrap());
            let mut tasks = Vec::new();
            for i in 0..64u32 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let mut b = Batch::new();
                    b.put(Space::Outbox, i.to_be_bytes().to_vec(), b"x".to_vec());
                    b.put(
                        Space::OutboxPending,
                        i.to_be_bytes().to_vec(),
                        b"y".to_vec(),
                    );
                    store.commit(b).unwrap();
                    store.flush().await.unwrap();
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(
            store.scan(Space::Outbox, b"", usize::MAX).unwrap().len(),
            64
        );
        assert_eq!(
            store
                .scan(Space::OutboxPending, b"", usize::MAX)
                .unwrap()
                .len(),
            64
        );
    }

    #[test]
    fn a_read_of_everything_sees_whole_batches_while_commits_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(SledStore::open(dir.path()).unwrap());
        // Each batch writes its number under 50 keys in two spaces; a read that saw half
        // a batch would find two numbers.
        let keys: Vec<[u8; 1]> = (0..50u8).map(|k| [k]).collect();
        let writer = {
            let (store, keys) = (store.clone(), keys.clone());
            std::thread::spawn(move || {
                for n in 0..400u32 {
                    let mut b = Batch::new();
                    for k in &keys {
                        b.put(Space::Outbox, k.to_vec(), n.to_be_bytes().to_vec());
                        b.put(Space::Events, k.to_vec(), n.to_be_bytes().to_vec());
                    }
                    store.commit(b).unwrap();
                }
            })
        };
        let mut reads = 0;
        while !writer.is_finished() || reads == 0 {
            let mut seen = std::collections::BTreeSet::new();
            let mut entries = 0;
            store
                .read_all(&mut |space, _, value| {
                    assert!(matches!(space, Space::Outbox | Space::Events), "{space:?}");
                    seen.insert(value.to_vec());
                    entries += 1;
                })
                .unwrap();
            assert!(seen.len() <= 1, "a read saw parts of batches {seen:?}");
            assert!(entries == 0 || entries == 100, "{entries} entries");
            reads += 1;
        }
        writer.join().unwrap();
    }

    #[tokio::test]
    async fn a_batch_cut_short_by_a_crash_is_completed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            let mut first = Batch::new();
            first.put(Space::Outbox, b"a".to_vec(), b"1".to_vec());
            first.put(Space::Seen, b"a".to_vec(), b"1".to_vec());
            store.commit(first).unwrap();
            // What a crash after the record and the first write of the next batch leaves.
            let interrupted = vec![
                (Space::Outbox, b"a".to_vec(), Some(b"2".to_vec())),
                (Space::Inbox, b"b".to_vec(), Some(b"2".to_vec())),
                (Space::Seen, b"a".to_vec(), None),
            ];
            store
                .journal
                .insert(LAST_BATCH, journal::encode(&interrupted))
                .unwrap();
            store.apply(&interrupted[..1]).unwrap();
            store.db.flush().unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.get(Space::Outbox, b"a").unwrap(), Some(b"2".to_vec()));
        assert_eq!(store.get(Space::Inbox, b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(store.get(Space::Seen, b"a").unwrap(), None);
        assert!(store.journal.is_empty(), "the record is done with");
        // Re-applying the last complete batch changes nothing.
        let mut later = Batch::new();
        later.put(Space::Inbox, b"b".to_vec(), b"3".to_vec());
        store.commit(later).unwrap();
        store.flush().await.unwrap();
        drop(store);
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.get(Space::Inbox, b"b").unwrap(), Some(b"3".to_vec()));
        assert_eq!(store.get(Space::Outbox, b"a").unwrap(), Some(b"2".to_vec()));
    }

    #[test]
    fn a_damaged_journal_record_stops_the_open_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            store
                .journal
                .insert(LAST_BATCH, &b"\x01garbage"[..])
                .unwrap();
            store.db.flush().unwrap();
        }
        let err = SledStore::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("journal holds a damaged record"), "{err}");
    }

    #[test]
    fn of_concurrent_commits_with_the_same_guard_exactly_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(SledStore::open(dir.path()).unwrap());
        for round in 0..200u32 {
            let key = round.to_be_bytes().to_vec();
            let start = std::sync::Arc::new(std::sync::Barrier::new(8));
            let threads: Vec<_> = (0..8u8)
                .map(|t| {
                    let (store, key, start) = (store.clone(), key.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        let mut b = Batch::new();
                        b.guard(Space::Referrals, key.clone(), Expect::Absent);
                        b.put(Space::Referrals, key.clone(), vec![t]);
                        b.put(Space::Events, key, vec![t]);
                        store.commit(b)
                    })
                })
                .collect();
            let won = threads
                .into_iter()
                .map(|t| t.join().unwrap())
                .filter(|r| match r {
                    Ok(()) => true,
                    Err(StoreError::Conflict) => false,
                    Err(e) => panic!("{e}"),
                })
                .count();
            assert_eq!(won, 1, "round {round}");
            // The winner's writes are all there, nobody else's.
            assert_eq!(
                store.get(Space::Referrals, &key).unwrap(),
                store.get(Space::Events, &key).unwrap()
            );
        }
    }

    #[tokio::test]
    async fn data_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            let mut b = Batch::new();
            b.put(Space::Meta, b"k".to_vec(), b"v".to_vec());
            store.commit(b).unwrap();
            store.flush().await.unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.get(Space::Meta, b"k").unwrap(), Some(b"v".to_vec()));
        assert_eq!(store.scan(Space::Meta, b"", 10).unwrap().len(), 1);
    }
}
