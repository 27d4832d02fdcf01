//! `lotse bench` from the outside: a small run reports every message it sent, as JSON, and
//! settings that would measure nothing are refused with a message that says what to pass.

// Test helpers panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lotse"))
        .arg("bench")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_small_run_reports_every_message_as_json() {
    let out = bench(&[
        "--referrals",
        "24",
        "--updates-per-referral",
        "1",
        "--concurrency",
        "8",
        "--no-floors",
        "--no-process",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let load = &report["load"];
    assert_eq!(load["referrals"], 24);
    assert_eq!(load["messages"], 48);
    // Every message's receipt came back to the sender and was timed.
    assert_eq!(load["end_to_end"]["count"], 48);
    assert!(load["messages_per_sec"].as_f64().unwrap() > 0.0);
    // The throughput counts until the receiver had applied everything, which is after the
    // last receipt, so it is never above the receipts-only rate.
    assert_eq!(load["applied_referrals"], 24);
    let (wall, applied) = (
        load["wall_secs"].as_f64().unwrap(),
        load["applied_secs"].as_f64().unwrap(),
    );
    assert!(
        applied >= wall,
        "applied after {applied} s, last receipt after {wall} s"
    );
    let rate = load["applied_referrals_per_sec"].as_f64().unwrap();
    assert!(rate > 0.0 && rate <= load["referrals_per_sec"].as_f64().unwrap());
    assert!(load["end_to_end"]["p50_ms"].as_f64().unwrap() > 0.0);
    // Linux counts what a process writes to storage; the bench reports it per message (on
    // a tmpfs it is zero).
    if std::path::Path::new("/proc/self/io").exists() {
        let written = load["disk_write_kib_per_message"].as_f64();
        assert!(written.is_some_and(|kib| kib >= 0.0), "{load}");
    }
    assert!(report["floors"].is_null() && report["process"].is_null());
    // The receiver was backed up online after the load: every referral is in it (a
    // referral alone has several entries), and the commits' wait is part of the export.
    let backup = &report["backup"];
    assert!(backup["entries"].as_u64().unwrap() > 24, "{backup}");
    assert!(backup["mib"].as_f64().unwrap() > 0.0, "{backup}");
    assert!(
        backup["commits_waited_ms"].as_f64().unwrap() <= backup["export_ms"].as_f64().unwrap(),
        "{backup}"
    );
    // Measured targets carry a verdict; the closed loop does not claim the p99 target.
    let targets = report["targets"].as_array().unwrap();
    let verdict = |what: &str| {
        targets
            .iter()
            .find(|t| t["what"].as_str().unwrap().starts_with(what))
            .unwrap()["met"]
            .clone()
    };
    assert!(verdict("sustained referrals/s").is_boolean());
    assert!(verdict("p99 latency at 1000/s").is_null());
}

#[test]
fn settings_that_measure_nothing_are_refused_clearly() {
    let cases: [(&[&str], &str); 7] = [
        (&["--referrals", "0"], "--referrals must be at least 1"),
        (&["--concurrency", "0"], "--concurrency must be at least 1"),
        (&["--rate=-5"], "--rate must be a number"),
        (&["--rate", "NaN"], "--rate must be a number"),
        (&["--duration", "5"], "--duration needs --rate"),
        (
            &["--rate", "100", "--duration", "0"],
            "--duration must be more than 0",
        ),
        (
            &["--payload-bytes", "3000000"],
            "--payload-bytes may be at most 2 MiB",
        ),
    ];
    for (args, message) in cases {
        let out = bench(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed a report");
    }
    let out = bench(&["--referrals", "many"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'many'"));
}
