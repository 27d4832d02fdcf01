//! Backup and restore of a real agency node with a received referral: the backup file never
//! shows case content, the restored node holds exactly what was backed up, a referral
//! erased after the backup comes back and is erased again on request, and the restored
//! node takes the old one's place in the network and receives what is sent to it next.

#![allow(clippy::unwrap_used)]

use age::secrecy::SecretString;
use lotse_node::auth::Role;
use lotse_node::backup::{self, BackupError, Protection, Unlock};
use lotse_node::core::Core;
use lotse_node::datadir::DataDir;
use lotse_node::referrals::erasure::{ErasedHere, erase_here};
use lotse_node::referrals::{self, Erasure, ReferralRecord};
use lotse_node::store::{Space, Store};
use lotse_protocol::ReferralId;
use lotse_tests::{TestNet, files_containing, send_referral, sign_in_new_user, wait_for};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_agency_holds_its_referrals_erases_again_and_takes_its_place() {
    let mut net = TestNet::new(2).await;
    let sender = sign_in_new_user(net.agency(0), "berger", "Frau Berger", Role::CaseManager).await;
    let recipient = net.agency(1).id.to_string();
    let id = send_referral(&sender, &recipient, CLIENT, "Vermittlung in Ausbildung").await;
    wait_at(&net, 1, id, "the referral at the recipient", |_| true).await;

    // A backup needs the node stopped.
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
        let actions: Vec<String> = lotse_node::audit::list(copy.store.as_ref(), None, 2)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, ["backup.restore", "backup.export"]);
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
    let base = net.agency(1).url();
    let token = net.agency(1).dir.load_token().unwrap();
    let erase = move |id: String, reason: &'static str| {
        let (base, token) = (base.clone(), token.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let answer = ureq::post(&format!("{base}/api/v1/admin/referrals/{id}/erase"))
                    .set("Authorization", &format!("Bearer {token}"))
                    .send_json(json!({ "reason": reason }));
                match answer {
                    Ok(r) => (r.status(), r.into_json::<serde_json::Value>().unwrap()),
                    Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap()),
                    Err(e) => panic!("{e}"),
                }
            })
            .await
            .unwrap()
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
