//! Output into a pipe whose reader has gone (`lotse ... | head`): the command finishes its
//! work and ends quietly, without a panic.

// Test helpers panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lotse"))
        .args([
            "init",
            "--data-dir",
            dir.to_str().unwrap(),
            "--name",
            "Migrationsberatung Nord",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes before anything is written: every write meets a closed pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    // The work itself was done before the output.
    assert!(dir.join("lotse.toml").exists());
}
