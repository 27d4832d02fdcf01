//! Invitation tokens through the real `lotse init --join`, against a running KI process
//! (issue 6, security suite): a token works once, an expired one is refused, a malformed
//! one creates nothing. Each refusal exits non-zero with a message that says what to do.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use lotse_node::core::Core;
use lotse_node::datadir::DataDir;
use lotse_protocol::directory::AgencyKind;
use lotse_tests::torture::{NodeProcess, lotse, lotse_ok};

fn join(bin: &Path, root: &Path, name: &str, token: &str) -> (bool, String) {
    let dir = root.join(name);
    let out = lotse(
        bin,
        &[
            "init",
            "--data-dir",
            &dir.display().to_string(),
            "--name",
            name,
            "--quic",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--join",
            token,
        ],
        None,
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn an_invitation_joins_once_and_never_after_expiry() {
    let bin = Path::new(env!("CARGO_BIN_EXE_lotse"));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut ki = NodeProcess::new(bin, root, "ki");
    lotse_ok(
        bin,
        &[
            "init",
            "--data-dir",
            &ki.dir_str(),
            "--name",
            "KI Teststadt",
            "--directory",
            "--quic",
            &ki.quic.to_string(),
            "--http",
            &ki.http.to_string(),
        ],
        None,
    );
    // An invitation that expires at once, made on the stopped KI.
    let expired = {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let core = Core::open(DataDir::new(&ki.dir)).unwrap();
        let inv = rt
            .block_on(lotse_node::directory::authority::create_invitation(
                &core,
                "Zu spät",
                AgencyKind::Other,
                1,
            ))
            .unwrap();
        inv.to_token()
    };
    ki.start();
    let invite = lotse_ok(
        bin,
        &[
            "invite",
            "--data-dir",
            &ki.dir_str(),
            "--agency",
            "MBE Teststadt",
            "--kind",
            "mbe",
        ],
        None,
    );
    let token = invite.lines().last().unwrap().trim().to_string();

    let (ok, text) = join(bin, root, "erste", &token);
    assert!(ok, "{text}");
    assert!(text.contains("Joined the network"), "{text}");

    // The same token again, by another node: refused by the KI.
    let (ok, text) = join(bin, root, "zweite", &token);
    assert!(!ok, "a used token joined again: {text}");
    assert!(text.contains("already been used"), "{text}");
    assert!(text.contains("lotse join"), "says how to go on: {text}");

    // An expired token.
    let (ok, text) = join(bin, root, "spaete", &expired);
    assert!(!ok, "an expired token joined: {text}");
    assert!(text.contains("expired"), "{text}");

    // A damaged token: refused before anything is created.
    let mut damaged = token.clone();
    damaged.truncate(token.len() / 2);
    let (ok, text) = join(bin, root, "kaputt", &damaged);
    assert!(!ok, "{text}");
    assert!(text.contains("--join"), "{text}");
    assert!(
        !root.join("kaputt").exists(),
        "a damaged token left a node behind"
    );
    ki.stop();
}
