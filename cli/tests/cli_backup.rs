//! `lotse backup key|create|check|restore` as an admin runs them: a round trip with a backup
//! key on a stopped node and one with a passphrase on a running node, and a clear error for
//! every wrong flag and file.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

mod common;
use common::{Running, free_http, s, text};

/// Runs `lotse` and returns success, standard output and standard error.
fn lotse(args: &[&str]) -> (bool, String, String) {
    let out = common::lotse(args, None);
    let (stdout, stderr) = text(&out);
    (out.status.success(), stdout, stderr)
}

fn ok(args: &[&str]) -> String {
    let (success, stdout, stderr) = lotse(args);
    assert!(success, "lotse {args:?}: {stdout}{stderr}");
    stdout
}

/// Fails with an error that contains `expected`; returns it.
fn refused(args: &[&str], expected: &str) -> String {
    let (success, stdout, stderr) = lotse(args);
    assert!(!success, "lotse {args:?} should fail: {stdout}");
    assert!(stderr.contains(expected), "lotse {args:?}: {stderr}");
    stderr
}

/// Creates an agency node named `name` in `dir`; returns its HTTP address.
fn init(dir: &Path, name: &str) -> String {
    let http = free_http();
    ok(&[
        "init",
        "--data-dir",
        s(dir),
        "--name",
        name,
        "--quic",
        "127.0.0.1:0",
        "--http",
        &http,
    ]);
    http
}

#[test]
fn a_node_is_backed_up_and_restored_with_a_key_or_a_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let node = tmp.path().join("node");
    let http = init(&node, "Jugendmigrationsdienst Teststadt");
    let key_file = tmp.path().join("backup.key");
    let out = ok(&["backup", "key", "--out", s(&key_file)]);
    let recipient = out
        .split_whitespace()
        .find(|w| w.starts_with("age1"))
        .unwrap()
        .to_string();
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let backup = tmp.path().join("node.backup");
    let out = ok(&[
        "backup",
        "create",
        "--data-dir",
        s(&node),
        "--to",
        s(&backup),
        "--recipient",
        &recipient,
    ]);
    assert!(
        out.contains("Backup of the stopped node written to"),
        "{out}"
    );
    let out = ok(&[
        "backup",
        "check",
        "--from",
        s(&backup),
        "--identity",
        s(&key_file),
    ]);
    assert!(
        out.contains("complete and readable") && out.contains("Jugendmigrationsdienst"),
        "{out}"
    );
    let restored = tmp.path().join("restored");
    let out = ok(&[
        "backup",
        "restore",
        "--from",
        s(&backup),
        "--identity",
        s(&key_file),
        "--data-dir",
        s(&restored),
    ]);
    assert!(
        out.contains("consent was withdrawn after that time"),
        "{out}"
    );
    // The restored node is whole: its users and its audit log.
    assert!(ok(&["user", "list", "--data-dir", s(&restored)]).contains("admin"));
    ok(&["audit", "verify", "--data-dir", s(&restored)]);
    let log = ok(&["audit", "list", "--data-dir", s(&restored), "--limit", "2"]);
    assert!(
        log.contains("backup.restore") && log.contains("backup.export"),
        "{log}"
    );

    // The same with a passphrase from a file, while the node runs: through its admin API.
    let pass = tmp.path().join("pass");
    std::fs::write(&pass, "ein langer Satz als Passwort\n").unwrap();
    let second = tmp.path().join("second.backup");
    let running = Running::start(&node, &http);
    let out = ok(&[
        "backup",
        "create",
        "--data-dir",
        s(&node),
        "--to",
        s(&second),
        "--passphrase-file",
        s(&pass),
    ]);
    assert!(
        out.contains("Backup of the running node written to"),
        "{out}"
    );
    refused(
        &[
            "backup",
            "create",
            "--data-dir",
            s(&node),
            "--to",
            s(&second),
            "--passphrase-file",
            s(&pass),
        ],
        "already exists",
    );
    drop(running);
    ok(&[
        "backup",
        "restore",
        "--from",
        s(&second),
        "--passphrase-file",
        s(&pass),
        "--data-dir",
        s(&tmp.path().join("restored-2")),
    ]);
    refused(
        &[
            "backup",
            "check",
            "--from",
            s(&second),
            "--identity",
            s(&key_file),
        ],
        "made with a passphrase",
    );
}

#[test]
fn wrong_flags_and_files_get_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let node = tmp.path().join("node");
    init(&node, "Flüchtlingsberatung Teststadt");
    let key_file = tmp.path().join("k");
    ok(&["backup", "key", "--out", s(&key_file)]);
    refused(
        &["backup", "key", "--out", s(&key_file)],
        "never overwritten",
    );
    let short = tmp.path().join("short");
    std::fs::write(&short, "kurz\n").unwrap();
    let to = tmp.path().join("b");
    let create = |extra: &[&str]| {
        let mut args = vec!["backup", "create", "--data-dir", s(&node), "--to", s(&to)];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let check = |args: Vec<String>, expected: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&args, expected);
        assert!(!to.exists(), "no backup file after a refusal");
    };
    check(create(&[]), "say how to encrypt the backup");
    check(
        create(&["--recipient", "age1nonsense"]),
        "is not a backup key",
    );
    check(
        create(&["--recipient", "age1x", "--passphrase-file", s(&short)]),
        "not both",
    );
    check(
        create(&["--passphrase-file", s(&short)]),
        "shorter than 12 characters",
    );
    check(
        create(&["--passphrase-file", s(&tmp.path().join("missing"))]),
        "cannot read the passphrase file",
    );
    let long = tmp.path().join("long");
    std::fs::write(&long, "lang genug für ein Backup").unwrap();
    refused(
        &[
            "backup",
            "create",
            "--data-dir",
            s(&tmp.path().join("nothing")),
            "--to",
            s(&to),
            "--passphrase-file",
            s(&long),
        ],
        "is not a Lotse data directory",
    );

    // A running node (another process holds its store) is refused.
    let recipient = std::fs::read_to_string(&key_file)
        .unwrap()
        .split_whitespace()
        .find(|w| w.starts_with("age1"))
        .unwrap()
        .to_string();
    {
        // This test process stands in for the running node: like every process that opens a
        // data directory, it must create its store files (sled's snapshot) for itself only.
        lotse_node::datadir::private_files();
        let _held = lotse_node::store::SledStore::open(&node.join("store")).unwrap();
        check(create(&["--recipient", &recipient]), "the node is running");
    }
    ok(&create(&["--recipient", &recipient])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    refused(
        &create(&["--recipient", &recipient])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "already exists",
    );

    // Restoring: the decryption must be said, fit, and the target be new.
    let restore = |extra: &[&str], expected: &str| {
        let mut args = vec!["backup", "restore", "--from", s(&to)];
        args.extend_from_slice(extra);
        refused(&args, expected)
    };
    restore(
        &["--data-dir", s(&tmp.path().join("r"))],
        "say how to decrypt the backup",
    );
    restore(
        &[
            "--identity",
            s(&short),
            "--data-dir",
            s(&tmp.path().join("r")),
        ],
        "does not hold a backup key",
    );
    let other = tmp.path().join("other.key");
    ok(&["backup", "key", "--out", s(&other)]);
    restore(
        &[
            "--identity",
            s(&other),
            "--data-dir",
            s(&tmp.path().join("r")),
        ],
        "does not fit this backup",
    );
    restore(
        &["--identity", s(&key_file), "--data-dir", s(&node)],
        "not empty",
    );
    assert!(!tmp.path().join("r").exists());
    let junk = tmp.path().join("junk");
    std::fs::write(&junk, "kein Backup").unwrap();
    refused(
        &[
            "backup",
            "check",
            "--from",
            s(&junk),
            "--identity",
            s(&key_file),
        ],
        "not an age-encrypted file",
    );
}

#[test]
fn referral_erase_says_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let node = tmp.path().join("node");
    init(&node, "Integrationsagentur Teststadt");
    let erase = |id: &str, reason: &str, expected: &str| {
        refused(
            &[
                "referral",
                "erase",
                "--data-dir",
                s(&node),
                "--id",
                id,
                "--reason",
                reason,
            ],
            expected,
        );
    };
    erase("nonsense", "restored", "is not a referral id");
    erase("00112233445566778899aabbccddeeff", " ", "give a reason");
    erase(
        "00112233445566778899aabbccddeeff",
        "restored from a backup",
        "holds no referral with the id",
    );
    refused(
        &["referral", "erase", "--id", "x", "--reason", "y"],
        "--data-dir",
    );
}
