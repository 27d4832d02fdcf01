//! Backup and restore of a real agency node with a received referral: a running node is
//! backed up while referrals arrive, whole and consistent; the backup file never
//! shows case content, the restored node holds exactly what was backed up, a referral
//! erased after the backup comes back and is erased again on request, and the restored
//! node takes the old one's place in the network and receives what is sent to it next.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use age::secrecy::SecretString;
use lotse_node::auth::Role;
use lotse_node::backup::{self, BackupError, Protection, Unlock};
use lotse_node::core::Core;
use lotse_node::datadir::DataDir;
use lotse_node::referrals::erasure::{ErasedHere, erase_here};
use lotse_node::referrals::{self, Erasure, ReferralRecord};
use lotse_node::store::{Space, Store};
use lotse_protocol::ReferralId;
use lotse_tests::{TestNet, TestNode, files_containing, send_referral, sign_in_new_user, wait_for};
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

/// Waits until the running agency `i` holds referral `id` and `done` holds for it.
async fn wait_at(
    net: &TestNet,
    i: usize,
    id: ReferralId,
    what: &str,
    done: fn(&ReferralRecord) -> bool,
) {
    let core = net.agency(i).core().clone();
    wait_for(what, 30, || {
        let core = core.clone();
        async move {
            referrals::load(&core, &id)
                .unwrap()
                .is_some_and(|(r, _)| done(&r))
        }
    })
    .await;
}

/// POSTs `body` to the admin API of the running `node`, as the CLI does; the status and
/// the body's bytes.
async fn admin_post(node: &TestNode, path: &str, body: serde_json::Value) -> (u16, Vec<u8>) {
    let url = format!("{}{path}", node.url());
    let token = node.dir.load_token().unwrap();
    tokio::task::spawn_blocking(move || {
        let answer = ureq::post(&url)
            .set("Authorization", &format!("Bearer {token}"))
            .send_json(body);
        let (code, r) = match answer {
            Ok(r) => (r.status(), r),
            Err(ureq::Error::Status(code, r)) => (code, r),
            Err(e) => panic!("{e}"),
        };
        let mut bytes = Vec::new();
        r.into_reader().read_to_end(&mut bytes).unwrap();
        (code, bytes)
    })
    .await
    .unwrap()
}

/// The actions of the last `n` entries of `core`'s audit log, newest first.
fn last_actions(core: &Core, n: usize) -> Vec<String> {
    lotse_node::audit::list(core.store.as_ref(), None, n)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

/// Every referral id in `core`'s store.
fn referral_ids(core: &Core) -> BTreeSet<ReferralId> {
    core.store
        .scan(Space::Referrals, b"", usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(key, _)| ReferralId(key.try_into().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_agency_is_backed_up_while_referrals_arrive() {
    let client = "Amir Online-Sicherung";
    let net = TestNet::new(2).await;
    let sender = sign_in_new_user(net.agency(0), "berger", "Frau Berger", Role::CaseManager).await;
    let recipient = net.agency(1).id.to_string();
    let first = send_referral(&sender, &recipient, client, "Beratung").await;
    wait_at(
        &net,
        1,
        first,
        "the first referral at the recipient",
        |_| true,
    )
    .await;

    // Referrals keep arriving at the recipient while it is backed up.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (sender, recipient, stop) = (sender.clone(), recipient.clone(), stop.clone());
        tokio::spawn(async move {
            let mut sent = vec![first];
            while !stop.load(Ordering::SeqCst) {
                sent.push(send_referral(&sender, &recipient, client, "Beratung").await);
            }
            sent
        })
    };
    wait_for("referrals arriving during the backup", 30, || {
        let core = net.agency(1).core().clone();
        async move { referral_ids(&core).len() >= 5 }
    })
    .await;
    let before = referral_ids(net.agency(1).core());

    // A wrong transfer key is refused with the reason.
    let (code, body) = admin_post(
        net.agency(1),
        "/api/v1/admin/backup",
        json!({"transfer_key": "age1nichtgueltig"}),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        String::from_utf8_lossy(&body).contains("transfer_key is not an age public key"),
        "{}",
        String::from_utf8_lossy(&body)
    );

    // What `lotse backup create` does with a running node.
    let transfer = age::x25519::Identity::generate();
    let (code, sealed) = admin_post(
        net.agency(1),
        "/api/v1/admin/backup",
        json!({"transfer_key": transfer.to_public().to_string()}),
    )
    .await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&sealed));
    stop.store(true, Ordering::SeqCst);
    let sent = traffic.await.unwrap();
    // Encrypted on the connection: the client's name is not in what the node sent.
    assert!(!sealed.windows(client.len()).any(|w| w == client.as_bytes()));
    let other = Unlock::Identity(age::x25519::Identity::generate());
    assert!(matches!(
        backup::receive(&sealed, &other),
        Err(BackupError::Decrypt(_))
    ));
    let (plain, summary) = backup::receive(&sealed, &Unlock::Identity(transfer)).unwrap();
    assert_eq!(summary.node_id, net.agency(1).id.to_string());
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("online.backup");
    let key = age::x25519::Identity::generate();
    backup::seal_to_file(
        &plain,
        &file,
        &Protection::Recipients(vec![key.to_public()]),
    )
    .unwrap();
    let again = backup::seal_to_file(
        &plain,
        &file,
        &Protection::Recipients(vec![key.to_public()]),
    );
    assert!(
        matches!(again, Err(BackupError::TargetExists(_))),
        "{again:?}"
    );

    // The node went on working: everything sent during the backup arrives.
    for id in &sent {
        wait_at(&net, 1, *id, "a referral sent during the backup", |_| true).await;
    }

    // The restore opens and its audit log verifies (`restore` checks both). It holds every
    // referral that had arrived before the backup, each whole: its data decrypts.
    let restored = work.path().join("restored");
    backup::restore(&file, &restored, &Unlock::Identity(key))
        .await
        .unwrap();
    let copy = Core::open(DataDir::new(&restored)).unwrap();
    let held = referral_ids(&copy);
    assert!(
        held.is_superset(&before),
        "{} of {}",
        held.len(),
        before.len()
    );
    assert!(held.len() <= sent.len());
    for id in &held {
        let case = referrals::case(&copy, id).unwrap();
        assert_eq!(case.client.name.as_deref(), Some(client));
    }
    // The export is in the backup's audit log, with the messages applied before the copy.
    let actions = last_actions(&copy, usize::MAX);
    assert_eq!(actions[0], "backup.restore");
    assert_eq!(actions.iter().filter(|a| *a == "backup.export").count(), 1);
    println!(
        "online backup: {} of {} referrals held, {} entries",
        held.len(),
        sent.len(),
        summary.entries
    );
    drop(copy);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_agency_holds_its_referrals_erases_again_and_takes_its_place() {
    let mut net = TestNet::new(2).await;
    let sender = sign_in_new_user(net.agency(0), "berger", "Frau Berger", Role::CaseManager).await;
    let recipient = net.agency(1).id.to_string();
    let id = send_referral(&sender, &recipient, CLIENT, "Vermittlung in Ausbildung").await;
    wait_at(&net, 1, id, "the referral at the recipient", |_| true).await;

    // Read directly, the data directory of a running node is refused (it is locked); the
    // CLI asks the running node instead (the test above).
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("agency.backup");
    let passphrase = Protection::Passphrase(SecretString::from("lang genug, wirklich".to_owned()));
    let refused = backup::create(&net.agency(1).dir, &file, &passphrase).await;
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
    {
        let original = Core::open(net.agency(1).dir.clone()).unwrap();
        let copy = Core::open(DataDir::new(&restored)).unwrap();
        assert_eq!(copy.id, original.id);
        assert_eq!(
            contents(copy.store.as_ref()),
            contents(original.store.as_ref())
        );
        // The restore is in the restored node's audit log, after the export.
        assert_eq!(last_actions(&copy, 2), ["backup.restore", "backup.export"]);
    }

    // The old node runs on; the client withdraws consent, and it erases.
    net.agencies[1].start().await;
    let (status, body) = sender
        .post(
            &format!("/api/v1/referrals/{id}/events"),
            json!({"type": "withdraw_consent"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    wait_at(&net, 1, id, "the erasure at the recipient", |r| {
        r.erasure != Erasure::None
    })
    .await;
    net.agencies[1].stop().await;

    // Its disk is lost; the backup comes back, and with it the erased client's data.
    net.agencies[1].dir = DataDir::new(&restored);
    {
        let copy = Core::open(net.agency(1).dir.clone()).unwrap();
        assert_eq!(
            referrals::case(&copy, &id).unwrap().client.name.as_deref(),
            Some(CLIENT)
        );
        // The admin erases it again, as docs/operations.md says.
        let reason = "vor der Wiederherstellung bereits gelöscht";
        assert_eq!(
            erase_here(&copy, &id, reason).await.unwrap(),
            ErasedHere::Now
        );
        assert!(matches!(
            referrals::case(&copy, &id),
            Err(referrals::WorkflowError::Erased)
        ));
        assert!(!copy.vault.has(&id));
        let (record, _) = referrals::load(&copy, &id).unwrap().unwrap();
        assert!(matches!(record.erasure, Erasure::Erased { .. }));
        let last = lotse_node::audit::list(copy.store.as_ref(), None, 1).unwrap();
        assert_eq!(last[0].action, "referral.erase");
        assert!(last[0].detail.contains(reason), "{}", last[0].detail);
        assert_eq!(
            erase_here(&copy, &id, reason).await.unwrap(),
            ErasedHere::Already
        );
        let unknown = erase_here(&copy, &ReferralId([7; 16]), reason).await;
        assert!(matches!(unknown, Err(referrals::WorkflowError::NotFound)));
        copy.store.flush().await.unwrap();
    }
    // The restored directory takes the node's place and receives what comes next.
    net.agencies[1].start().await;
    let next = send_referral(&sender, &recipient, CLIENT, "Vermittlung in Ausbildung").await;
    wait_at(&net, 1, next, "a new referral at the restored node", |_| {
        true
    })
    .await;

    // While a node runs, `lotse referral erase` goes through its admin API.
    let erase = |id: String, reason: &'static str| {
        let node = &net.agencies[1];
        async move {
            let path = format!("/api/v1/admin/referrals/{id}/erase");
            let (code, body) = admin_post(node, &path, json!({ "reason": reason })).await;
            (
                code,
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            )
        }
    };
    let (code, body) = erase(next.to_string(), "Aufbewahrungsfrist abgelaufen").await;
    assert_eq!((code, &body["erased_now"]), (200, &json!(true)), "{body}");
    let (code, body) = erase(next.to_string(), "noch einmal").await;
    assert_eq!((code, &body["erased_now"]), (200, &json!(false)), "{body}");
    let (code, body) = erase("kein-id".into(), "x").await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("is not a referral id")
    );
    let (code, body) = erase(next.to_string(), "   ").await;
    assert_eq!(code, 400, "{body}");
    let (code, _) = erase(ReferralId([9; 16]).to_string(), "x").await;
    assert_eq!(code, 404);
    assert!(!net.agency(1).core().vault.has(&next));
    net.shutdown().await;
}
