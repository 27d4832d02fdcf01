//! `lotse status` against a stopped node: identity, trust anchor, invitations; and a
//! clear error for a directory that holds no node.

mod common;

fn lotse(args: &[&str]) -> std::process::Output {
    common::lotse(args, None)
}

#[test]
fn status_shows_identity_trust_and_invitations() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ki");
    let dir = dir.to_str().expect("utf-8 path");
    let init = lotse(&[
        "init",
        "--data-dir",
        dir,
        "--name",
        "KI Teststadt",
        "--directory",
        "--quic",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
    ]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let init_out = String::from_utf8_lossy(&init.stdout);
    let fingerprint_line = init_out
        .lines()
        .find(|l| l.contains("authority fingerprint"))
        .expect("init prints the authority fingerprint");
    let fingerprint = fingerprint_line.rsplit(':').next().expect("value").trim();

    let invite = lotse(&[
        "invite",
        "--data-dir",
        dir,
        "--agency",
        "JMD Test",
        "--kind",
        "jmd",
    ]);
    assert!(
        invite.status.success(),
        "{}",
        String::from_utf8_lossy(&invite.stderr)
    );

    let status = lotse(&["status", "--data-dir", dir]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(out.contains("KI Teststadt (stopped)"), "{out}");
    assert!(
        out.contains(fingerprint),
        "status repeats the authority fingerprint: {out}"
    );
    assert!(out.contains("serial 1, 1 active members"), "{out}");
    assert!(out.contains("JMD Test (jmd): open until"), "{out}");

    let json = lotse(&["status", "--data-dir", dir, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(v["role"], "directory");
    assert_eq!(v["invitations"].as_array().map(Vec::len), Some(1));

    let empty = tmp.path().join("nothing");
    let missing = lotse(&["status", "--data-dir", empty.to_str().expect("utf-8")]);
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("not a Lotse data directory") && err.contains("lotse init"),
        "{err}"
    );

    let kind = lotse(&[
        "invite",
        "--data-dir",
        dir,
        "--agency",
        "X",
        "--kind",
        "integration_centre",
    ]);
    assert!(!kind.status.success());
    assert!(String::from_utf8_lossy(&kind.stderr).contains("directory node itself"));
}
