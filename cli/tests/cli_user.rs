//! `lotse init`, `lotse user ...` and `lotse audit verify` as an operator runs them, on a
//! stopped node (the commands open the data directory themselves).

// Test helpers panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

mod common;
use common::{Running, free_http, lotse, text};

fn init(dir: &Path) -> String {
    let d = dir.to_str().unwrap();
    let out = lotse(
        &[
            "init",
            "--data-dir",
            d,
            "--name",
            "Migrationsberatung Teststadt",
            "--quic",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("First admin user: admin / password: "))
        .unwrap_or_else(|| panic!("no admin password in: {stdout}"));
    assert!(line.contains("shown once"), "{line}");
    line.trim_start_matches("First admin user: admin / password: ")
        .split(' ')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn init_user_add_list_and_audit_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let d = dir.to_str().unwrap();
    let admin_password = init(&dir);
    assert!(admin_password.len() >= 16, "{admin_password}");

    // A password piped in on stdin is used, and not printed.
    let out = lotse(
        &[
            "user",
            "add",
            "--data-dir",
            d,
            "--username",
            "Anna",
            "--role",
            "coordinator",
            "--display-name",
            "Anna Schmidt",
        ],
        Some("ein-gutes-passwort\n"),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("Added user anna (Anna Schmidt) as coordinator"),
        "{stdout}"
    );
    assert!(!stdout.contains("ein-gutes-passwort"));

    // Without stdin input, a password is generated and shown once (tom is the node's first
    // team lead, which the server may make without a team lead's confirmation).
    let out = lotse(
        &[
            "user",
            "add",
            "--data-dir",
            d,
            "--username",
            "tom",
            "--role",
            "team-lead",
        ],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("Password for tom: "), "{stdout}");

    let out = lotse(&["user", "list", "--data-dir", d], None);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    for name in ["admin", "anna", "tom"] {
        assert!(stdout.contains(name), "{stdout}");
    }
    assert!(stdout.contains("team_lead"), "{stdout}");

    // Bad input: clear errors, exit status 1.
    let out = lotse(
        &[
            "user",
            "add",
            "--data-dir",
            d,
            "--username",
            "x",
            "--role",
            "boss",
        ],
        None,
    );
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("unknown role"), "{stderr}");
    assert!(
        stderr.contains("case_manager, team_lead, admin, coordinator"),
        "{stderr}"
    );
    let out = lotse(
        &[
            "user",
            "add",
            "--data-dir",
            d,
            "--username",
            "kurz",
            "--role",
            "admin",
        ],
        Some("short\n"),
    );
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("at least 12"), "{stderr}");
    let out = lotse(
        &[
            "user",
            "add",
            "--data-dir",
            d,
            "--username",
            "anna",
            "--role",
            "admin",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(text(&out).1.contains("exists already"));

    let out = lotse(
        &["user", "disable", "--data-dir", d, "--username", "tom"],
        None,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let out = lotse(&["user", "list", "--data-dir", d], None);
    assert!(text(&out).0.contains("[disabled]"));
    let out = lotse(
        &[
            "user",
            "reset-password",
            "--data-dir",
            d,
            "--username",
            "anna",
        ],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("Password for anna: "), "{stdout}");

    // Init, two adds, disable, reset.
    let out = lotse(&["audit", "verify", "--data-dir", d], None);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("Audit log intact: 5 entries"), "{stdout}");

    // Change one entry's bytes behind the node's back: verify fails and names it.
    {
        use lotse_node::store::{Batch, Space};
        let core = lotse_node::core::Core::open(lotse_node::datadir::DataDir::new(&dir)).unwrap();
        let key = 1u64.to_be_bytes();
        let raw = core.store.get(Space::Audit, &key).unwrap().unwrap();
        let changed = String::from_utf8(raw).unwrap().replace("anna", "anne");
        let mut b = Batch::new();
        b.put(Space::Audit, key.to_vec(), changed.into_bytes());
        core.store.commit(b).unwrap();
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(core.store.flush())
            .unwrap();
    }
    let out = lotse(&["audit", "verify", "--data-dir", d], None);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("audit entry 1 was changed"), "{stderr}");
}

#[test]
fn user_commands_go_through_the_running_node() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let d = dir.to_str().unwrap();
    let http = free_http();
    let out = lotse(
        &[
            "init",
            "--data-dir",
            d,
            "--name",
            "Jobcenter",
            "--quic",
            "127.0.0.1:0",
            "--http",
            &http,
        ],
        None,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let node = Running::start(&dir, &http);

    let out = lotse(
        &[
            "user",
            "add",
            "--data-dir",
            d,
            "--username",
            "lena",
            "--role",
            "coordinator",
        ],
        None,
    );
    let (stdout, stderr) = text(&out);
    let added = out.status.success() && stdout.contains("Password for lena: ");
    let out = lotse(
        &[
            "user",
            "reset-password",
            "--data-dir",
            d,
            "--username",
            "lena",
        ],
        Some("neues-passwort-1\n"),
    );
    let (stdout2, stderr2) = text(&out);
    let reset = out.status.success() && !stdout2.contains("Password for");
    let out = lotse(
        &["user", "disable", "--data-dir", d, "--username", "admin"],
        None,
    );
    let (_, stderr3) = text(&out);
    let last_admin = !out.status.success() && stderr3.contains("last enabled admin");
    let out = lotse(&["audit", "verify", "--data-dir", d], None);
    let (stdout4, stderr4) = text(&out);
    let verified = out.status.success() && stdout4.contains("Audit log intact: 3 entries");

    drop(node);
    assert!(added, "{stdout}{stderr}");
    assert!(reset, "{stdout2}{stderr2}");
    assert!(last_admin, "{stderr3}");
    assert!(verified, "{stdout4}{stderr4}");
}
