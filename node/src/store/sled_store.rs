//! The sled implementation of [`Store`]: one tree per [`Space`], multi-tree transactions
//! for batches, and `flush_async` for durability.
//!
//! sled 0.34 is single-process; a second open of the same directory fails with a lock
//! error, which we turn into [`StoreError::Locked`] so the CLI can say "the node is
//! running". Transaction closures may re-run, so they only replay the prepared batch.
//!
//! Flushes are serialised and grouped: at most one `flush_async` runs at a time, and a
//! caller whose commits were already made durable by a flush that started after them
//! returns without flushing again (group commit). The crash torture (issue 6) found that
//! many concurrent `flush_async` calls next to multi-tree transactions deadlock sled
//! 0.34.7: each flush holds sled's global concurrency-control read lock while it waits for
//! its log buffer to be written, the transactions queue for the write lock, and the flushes
//! fill sled's I/O thread pool so the buffer writes that would release them never run (see
//! docs/storage.md). One flush at a time keeps a thread free for the writes, and grouping
//! keeps durable throughput up.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{Batch, Entries, Expect, FlushFuture, Space, Store, StoreError};

/// How often [`SledStore::open`] retries a held lock, 25 ms apart.
const LOCK_WAIT_TRIES: u32 = 80;

/// A sled database with one tree per space.
pub struct SledStore {
    db: sled::Db,
    trees: BTreeMap<Space, sled::Tree>,
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
        Ok(Self {
            db,
            trees,
            commits: AtomicU64::new(0),
            durable: tokio::sync::Mutex::new(0),
        })
    }

    fn tree(&self, space: Space) -> &sled::Tree {
        // Every space is opened in `open`.
        &self.trees[&space]
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

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.ops.is_empty() && batch.guards.is_empty() {
            return Ok(());
        }
        let mut spaces: Vec<Space> = batch
            .ops
            .iter()
            .map(|(s, _, _)| *s)
            .chain(batch.guards.iter().map(|(s, _, _)| *s))
            .collect();
        spaces.sort();
        spaces.dedup();
        let trees: Vec<sled::Tree> = spaces.iter().map(|s| self.tree(*s).clone()).collect();
        let index = |s: Space| spaces.iter().position(|x| *x == s).unwrap_or(0);
        let result = sled::Transactional::<()>::transaction(trees.as_slice(), |views| {
            for (space, key, expect) in &batch.guards {
                let current = views[index(*space)].get(key)?;
                let ok = match expect {
                    Expect::Absent => current.is_none(),
                    Expect::Value(v) => current.as_deref() == Some(v.as_slice()),
                };
                if !ok {
                    return Err(ConflictableTransactionError::Abort(()));
                }
            }
            for (space, key, value) in &batch.ops {
                let view = &views[index(*space)];
                match value {
                    Some(v) => {
                        view.insert(key.as_slice(), v.as_slice())?;
                    }
                    None => {
                        view.remove(key.as_slice())?;
                    }
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                self.commits.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Err(TransactionError::Abort(())) => Err(StoreError::Conflict),
            Err(TransactionError::Storage(e)) => Err(engine(e)),
        }
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
