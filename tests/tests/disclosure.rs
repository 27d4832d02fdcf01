//! "What was shared about me, with whom?" (DOMAIN.md: the client can ask): a case manager
//! finds a client's referrals by name through the API, with the agency, date, data
//! categories and consent of each; others' clients, erased referrals and non-case roles get
//! nothing, and every search is audited without the name.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use lotse_node::auth::Role;
use lotse_node::referrals;
use lotse_tests::{Http, TestNet, send_referral, sign_in_new_user, wait_for};
use serde_json::{Value, json};

async fn search(http: &Http, query: &str) -> (u16, Value) {
    http.get(&format!("/api/v1/disclosure?{query}")).await
}

fn ids(found: &Value) -> BTreeSet<String> {
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["referral_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_manager_tells_a_client_what_was_shared_with_whom() {
    let net = TestNet::new(3).await;
    let a_cm = sign_in_new_user(net.agency(0), "berger", "Frau Berger", Role::CaseManager).await;
    let a_other = sign_in_new_user(net.agency(0), "meyer", "Herr Meyer", Role::CaseManager).await;
    let a_admin = sign_in_new_user(net.agency(0), "technik", "Technik", Role::Admin).await;
    let b_lead = sign_in_new_user(net.agency(1), "lehmann", "Frau Lehmann", Role::TeamLead).await;
    let (b, c) = (net.agency(1).id.to_string(), net.agency(2).id.to_string());
    let housing = send_referral(&a_cm, &b, "Amina Yilmaz", "Wohnungssuche").await;
    let language = send_referral(&a_cm, &c, "Amina Yilmaz", "Sprachkurs").await;
    let other = send_referral(&a_cm, &b, "Karl Beispiel", "Arbeit").await;

    // Words in any order and case; each answer names agency, date, data and consent.
    let (code, found) = search(&a_cm, "name=yilmaz%20AMINA").await;
    assert_eq!(code, 200, "{found}");
    assert_eq!(
        ids(&found),
        [housing, language].map(|i| i.to_string()).into()
    );
    let first = &found.as_array().unwrap()[0];
    assert_eq!(first["side"], "sender");
    assert!(!first["peer_name"].as_str().unwrap().is_empty());
    assert_eq!(
        first["categories"],
        json!(["name", "languages", "needs", "summary"])
    );
    assert_eq!(first["consent_form"], "written");
    let purposes: BTreeSet<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["purpose"].as_str().unwrap())
        .collect();
    assert_eq!(purposes, ["Sprachkurs", "Wohnungssuche"].into());
    let (_, karl) = search(&a_cm, "name=Karl").await;
    assert_eq!(ids(&karl), [other.to_string()].into());
    // A date of birth tells people of the same name apart (none was recorded here).
    let (code, none) = search(&a_cm, "name=Amina&born=1990-05-01").await;
    assert_eq!((code, none.as_array().unwrap().len()), (200, 0), "{none}");
    // Another case manager's clients are not theirs to see.
    let (code, none) = search(&a_other, "name=Amina").await;
    assert_eq!((code, none.as_array().unwrap().len()), (200, 0), "{none}");

    // The receiving team lead finds what came in.
    let receiving = net.agency(1).core().clone();
    wait_for("both referrals at B", 30, || {
        let core = receiving.clone();
        async move {
            [housing, other]
                .iter()
                .all(|id| referrals::load(&core, id).unwrap().is_some())
        }
    })
    .await;
    drop(receiving);
    let (code, found) = search(&b_lead, "name=amina").await;
    assert_eq!(code, 200, "{found}");
    assert_eq!(ids(&found), [housing.to_string()].into());
    assert_eq!(found[0]["side"], "receiver");

    // Wrong input and wrong roles.
    let (code, body) = search(&a_cm, "name=%20A%20").await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("client's name"),
        "{body}"
    );
    let (code, _) = search(&a_cm, "born=1990-05-01").await;
    assert_eq!(code, 422);
    let (code, _) = search(&a_cm, "name=Amina&born=gestern").await;
    assert_eq!(code, 400);
    let (code, _) = search(&a_admin, "name=Amina").await;
    assert_eq!(code, 403);

    // After consent is withdrawn the data is erased: the referral is no longer found.
    let (code, body) = a_cm
        .post(
            &format!("/api/v1/referrals/{housing}/events"),
            json!({"type": "withdraw_consent"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let (_, found) = search(&a_cm, "name=Amina").await;
    assert_eq!(ids(&found), [language.to_string()].into());

    // Every search is in the audit log, and no name is.
    let log = lotse_node::audit::list(net.agency(0).core().store.as_ref(), None, 1000).unwrap();
    let searches: Vec<_> = log
        .iter()
        .filter(|e| e.action == "client.disclosure")
        .collect();
    assert!(searches.len() >= 5, "{searches:?}");
    assert!(
        log.iter()
            .all(|e| !e.detail.contains("Amina") && !e.detail.contains("Karl")),
        "a name in the audit log"
    );
    net.shutdown().await;
}
