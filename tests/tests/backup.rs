//! Backup and restore of a real agency node with a received referral: the backup file never
//! shows case content, the restored node holds exactly what was backed up, reads its case
//! data, takes the old node's place in the network and receives what is sent to it next.

#![allow(clippy::unwrap_used)]

use std::str::FromStr;

use age::secrecy::SecretString;
use lotse_node::auth::Role;
use lotse_node::backup::{self, BackupError, Protection, Unlock};
use lotse_node::core::Core;
use lotse_node::datadir::DataDir;
use lotse_node::referrals;
use lotse_node::store::{Space, Store};
use lotse_protocol::ReferralId;
use lotse_tests::{TestNet, files_containing, sign_in_new_user, wait_for};
use serde_json::json;

const CLIENT: &str = "Samira Haddad-Sicherung";

/// Every entry of every space, except the audit log (a restore adds its own entry).
fn contents(store: &dyn Store) -> Vec<(Space, Vec<u8>, Vec<u8>)> {
    let mut all = Vec::new();
    for space in Space::ALL {
        if space == Space::Audit {
            continue;
        }
        for (k, v) in store.scan(space, b"", usize::MAX).unwrap() {
            if space == Space::Meta && k.starts_with(b"audit") {
                continue;
            }
            all.push((space, k, v));
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_agency_holds_its_referrals_and_takes_its_place_in_the_network() {
    let mut net = TestNet::new(2).await;
    let sender = sign_in_new_user(net.agency(0), "berger", "Frau Berger", Role::CaseManager).await;
    let recipient = net.agency(1).id.to_string();
    let today = time::OffsetDateTime::now_utc().date();
    let (status, body) = sender
        .post(
            "/api/v1/referrals",
            json!({
                "recipient": recipient,
                "client": {
                    "name": CLIENT,
                    "languages": ["Arabisch"],
                    "needs": [{"field": "work", "description": "Sucht eine Ausbildung"}],
                    "summary": "Seit einem Jahr in der Stadt",
                },
                "consent": {
                    "recipient": recipient,
                    "purpose": "Vermittlung in Ausbildung",
                    "categories": ["name", "languages", "needs", "summary"],
                    "form": "written",
                    "given_on": today.to_string(),
                    "valid_until": (today + time::Duration::days(365)).to_string(),
                    "recorded_by": "Frau Berger",
                },
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = ReferralId::from_str(body["id"].as_str().unwrap()).unwrap();
    let receiving = net.agency(1).core().clone();
    wait_for("the referral at the recipient", 30, || {
        let core = receiving.clone();
        async move { referrals::load(&core, &id).unwrap().is_some() }
    })
    .await;
    drop(receiving);

    // A backup needs the node stopped.
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("agency.backup");
    let passphrase =
        || Protection::Passphrase(SecretString::from("lang genug, wirklich".to_owned()));
    let refused = backup::create(&net.agency(1).dir, &file, &passphrase()).await;
    assert!(
        matches!(refused, Err(BackupError::NodeRunning)),
        "{refused:?}"
    );
    assert!(!file.exists());
    net.agencies[1].stop().await;

    let key = age::x25519::Identity::generate();
    let made = backup::create(
        &net.agency(1).dir,
        &file,
        &Protection::Recipients(vec![key.to_public()]),
    )
    .await
    .unwrap();
    assert_eq!(made.node_id, net.agency(1).id.to_string());
    // Encrypted: the client's name is nowhere in the backup's bytes.
    assert!(files_containing(work.path(), CLIENT.as_bytes()).is_empty());

    let restored = work.path().join("restored");
    let summary = backup::restore(&file, &restored, &Unlock::Identity(key))
        .await
        .unwrap();
    assert_eq!(summary, made);

    let original = Core::open(net.agency(1).dir.clone()).unwrap();
    let copy = Core::open(DataDir::new(&restored)).unwrap();
    assert_eq!(copy.id, original.id);
    assert_eq!(
        contents(copy.store.as_ref()),
        contents(original.store.as_ref())
    );
    assert_eq!(
        referrals::case(&copy, &id).unwrap().client.name.as_deref(),
        Some(CLIENT)
    );
    // The restore is in the restored node's audit log, after the export.
    let actions: Vec<String> = lotse_node::audit::list(copy.store.as_ref(), None, 2)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["backup.restore", "backup.export"]);
    drop((original, copy));

    // The restored directory takes the node's place and receives what comes next.
    net.agencies[1].dir = DataDir::new(&restored);
    net.agencies[1].start().await;
    let (status, body) = sender
        .post(
            &format!("/api/v1/referrals/{id}/events"),
            json!({"type": "withdraw", "note": "Ausbildungsplatz gefunden"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let restarted = net.agency(1).core().clone();
    wait_for("the withdrawal at the restored node", 30, || {
        let core = restarted.clone();
        async move {
            referrals::load(&core, &id)
                .unwrap()
                .is_some_and(|(record, _)| record.state.name() == "withdrawn")
        }
    })
    .await;
    drop(restarted);
    net.shutdown().await;
}
