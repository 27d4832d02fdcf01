//! Crash torture with real `lotse run` processes killed by SIGKILL (issue 6, invariant 3).
//!
//! The harness lives in `lotse_tests::torture`; it needs the `lotse` binary, which Cargo
//! builds for this crate's integration tests and names in `CARGO_BIN_EXE_lotse`.
//!
//! - Short run (part of `cargo test --workspace`): about 20 kills, a few hundred messages.
//! - Long run: `LOTSE_TORTURE=long cargo test -p lotse --release --test torture -- --nocapture`
//!   (10,000 messages, 200 kills).
//! - Replay a schedule: `LOTSE_TORTURE_SEED=<seed printed by a run>`.

use std::path::Path;

use lotse_tests::torture::{TortureConfig, run};

#[test]
fn acknowledged_messages_survive_sigkill_exactly_once() {
    let config = TortureConfig::from_env();
    let report = run(Path::new(env!("CARGO_BIN_EXE_lotse")), &config);
    assert!(report.kills >= config.kills, "{report:?}");
    assert!(report.acknowledged >= config.target_messages, "{report:?}");
}
