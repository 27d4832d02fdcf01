//! The child process of `tests/tests/store_crash.rs`: writes numbered batches into a store
//! until it is killed, and prints `durable <n>` each time a flush has made batches up to
//! `n` durable.
//!
//! ```sh
//! store-writer <data-dir>
//! ```
//!
//! Batch `n` (counting on from what the store holds) is one commit: the value of `n` under
//! key `n` in the outbox, inbox and seen spaces, the removal of key `n - 3` from the seen
//! space, and meta `last` = `n`, guarded on meta `last` being `n - 1`. It flushes every
//! [`FLUSH_EVERY`] batches; in between, sled writes its 512 KiB log buffers as they fill, so
//! a kill often leaves part of a batch on disk.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lotse_node::store::{Batch, Expect, SledStore, Space, Store};
use lotse_tests::store_crash::{FLUSH_EVERY, LAST, key, value};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: store-writer <data-dir>");
    let store = SledStore::open(std::path::Path::new(&dir)).expect("open the store");
    let mut last = store
        .get(Space::Meta, LAST)
        .expect("read the last batch number")
        .map_or(0, |v| {
            u64::from_be_bytes(v.try_into().expect("the last batch number is 8 bytes"))
        });
    loop {
        let n = last + 1;
        let mut batch = Batch::new();
        batch.guard(
            Space::Meta,
            LAST.to_vec(),
            match last {
                0 => Expect::Absent,
                l => Expect::Value(l.to_be_bytes().to_vec()),
            },
        );
        for space in [Space::Outbox, Space::Inbox, Space::Seen] {
            batch.put(space, key(n), value(n));
        }
        if n > 3 {
            batch.delete(Space::Seen, key(n - 3));
        }
        batch.put(Space::Meta, LAST.to_vec(), n.to_be_bytes().to_vec());
        store.commit(batch).expect("commit");
        last = n;
        if n.is_multiple_of(FLUSH_EVERY) {
            store.flush().await.expect("flush");
            println!("durable {n}");
        }
    }
}
