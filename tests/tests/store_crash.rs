//! The store under SIGKILL, on its own: a child process writes numbered multi-space batches
//! (`src/bin/store-writer.rs`) and is killed at random moments; after each kill the store
//! must open and hold exactly the batches up to some number, each one whole, and at least
//! every batch a flush had confirmed. This is the atomicity the redo record gives batches
//! in place of sled's transactions (docs/storage.md, finding 4); the node-level torture
//! (`cli/tests/torture.rs`) checks the same through the whole system.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lotse_node::store::{SledStore, Space, Store};
use lotse_tests::store_crash::{FLUSH_EVERY, LAST, key, value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const KILLS: usize = 8;

/// Checks the store after a kill; returns the number of the last batch it holds.
fn check(dir: &std::path::Path, confirmed: u64) -> u64 {
    let store = SledStore::open(dir).unwrap();
    let last = store
        .get(Space::Meta, LAST)
        .unwrap()
        .map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap()));
    assert!(
        last >= confirmed,
        "batch {confirmed} was confirmed durable, the store holds up to {last}"
    );
    for n in 1..=last {
        for space in [Space::Outbox, Space::Inbox] {
            let got = store.get(space, &key(n)).unwrap();
            assert!(got == Some(value(n)), "batch {n} is not whole in {space:?}");
        }
        let seen = store.get(Space::Seen, &key(n)).unwrap();
        if n + 3 > last {
            assert!(seen == Some(value(n)), "batch {n} is not whole in seen");
        } else {
            assert!(seen.is_none(), "batch {}'s removal of {n} is lost", n + 3);
        }
    }
    // Nothing of a batch after the last one.
    for space in [Space::Outbox, Space::Inbox, Space::Seen] {
        let keys = store.scan(space, b"", usize::MAX).unwrap();
        assert!(
            keys.iter()
                .all(|(k, _)| k.as_slice() <= key(last).as_slice()),
            "{space:?} holds part of a batch after {last}"
        );
    }
    last
}

#[test]
fn a_killed_writer_leaves_whole_batches_and_loses_no_confirmed_one() {
    let seed: u64 = std::env::var("LOTSE_STORE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("store crash: seed {seed} (replay with LOTSE_STORE_CRASH_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut last = 0;
    for kill in 0..KILLS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_store-writer"))
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("durable ") {
                    let _ = tx.send(n.parse::<u64>().unwrap());
                }
            }
        });
        // Let it get past where the last one stopped, then kill it at a random moment.
        let started = Instant::now();
        let mut confirmed = last;
        while confirmed < last + FLUSH_EVERY {
            confirmed = rx.recv_timeout(Duration::from_secs(30)).unwrap();
            assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..100)));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        confirmed = confirmed.max(rx.try_iter().max().unwrap_or(0));
        let held = check(&dir, confirmed);
        println!("store crash: kill {kill}: {confirmed} confirmed, {held} held");
        last = held;
    }
    assert!(last >= FLUSH_EVERY * KILLS as u64);
}
