//! Referrals end to end, through the HTTP API of real nodes: the warm handover, decline,
//! withdrawal, consent withdrawal with erasure, access rules, deadlines, and every kind of
//! bad input (each a clear 4xx, with nothing stored or sent).

#![allow(clippy::unwrap_used)]

use std::str::FromStr;

use lotse_node::auth::Role;
use lotse_node::outbox;
use lotse_node::store::Space;
use lotse_protocol::ReferralId;
use lotse_tests::{Http, TestNet, files_containing, sign_in_new_user, wait_for};
use serde_json::{Value, json};

const CLIENT: &str = "Amina Yilmaz-Testfall";

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

fn in_days(days: i64) -> String {
    (time::OffsetDateTime::now_utc().date() + time::Duration::days(days)).to_string()
}

fn consent(recipient: &str, categories: &[&str]) -> Value {
    json!({
        "recipient": recipient,
        "purpose": "Unterstützung bei der Wohnungssuche",
        "categories": categories,
        "form": "written",
        "given_on": today(),
        "valid_until": in_days(365),
        "recorded_by": "Frau Berger",
    })
}

fn referral(recipient: &str) -> Value {
    json!({
        "recipient": recipient,
        "client": {
            "name": CLIENT,
            "languages": ["Türkisch", "Deutsch"],
            "needs": [{"field": "housing", "description": "Sucht eine Wohnung für 3 Personen"}],
            "summary": "Familie, seit 4 Monaten in der Stadt",
        },
        "consent": consent(recipient, &["name", "languages", "needs", "summary"]),
    })
}

struct Scene {
    net: TestNet,
    a_cm: Http,
    b_cm: Http,
    b_lead: Http,
    b_id: String,
}

async fn scene() -> Scene {
    let net = TestNet::new(2).await;
    let a_cm = sign_in_new_user(net.agency(0), "berger", "Frau Berger", Role::CaseManager).await;
    let b_cm = sign_in_new_user(net.agency(1), "okafor", "Herr Okafor", Role::CaseManager).await;
    let b_lead = sign_in_new_user(net.agency(1), "lehmann", "Frau Lehmann", Role::TeamLead).await;
    let b_id = net.agency(1).id.to_string();
    Scene {
        net,
        a_cm,
        b_cm,
        b_lead,
        b_id,
    }
}

async fn create(http: &Http, body: Value) -> String {
    let (status, body) = http.post("/api/v1/referrals", body).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn act(http: &Http, id: &str, action: Value) -> Value {
    let (status, body) = http
        .post(&format!("/api/v1/referrals/{id}/events"), action)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits until `http` sees referral `id` with `status`.
async fn wait_status(http: &Http, id: &str, status: &str) -> Value {
    let path = format!("/api/v1/referrals/{id}");
    let mut last = Value::Null;
    for _ in 0..600 {
        let (code, body) = http.get(&path).await;
        if code == 200 && body["status"] == status {
            return body;
        }
        last = body;
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("referral {id} never reached {status}; last: {last}");
}

fn slot(ms: u64) -> Value {
    json!({"starts_at": ms, "minutes": 60})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_handover_from_referral_to_closure() {
    let s = scene().await;
    let id = create(&s.a_cm, referral(&s.b_id)).await;

    // B: it waits in the agency inbox; the case manager sees that it exists, not the data.
    let b_view = wait_status(&s.b_lead, &id, "delivered").await;
    assert_eq!(b_view["case"]["client"]["name"], CLIENT);
    let (code, inbox) = s.b_cm.get("/api/v1/referrals?box=inbox").await;
    assert_eq!(code, 200);
    assert_eq!(inbox.as_array().unwrap().len(), 1);
    assert_eq!(inbox[0]["unassigned"], true);
    let (code, _) = s.b_cm.get(&format!("/api/v1/referrals/{id}")).await;
    assert_eq!(code, 200);
    let (_, limited) = s.b_cm.get(&format!("/api/v1/referrals/{id}")).await;
    assert!(limited["case"].is_null(), "unassigned: no client data yet");
    // The case manager takes it.
    act(&s.b_cm, &id, json!({"type": "assign", "user": "okafor"})).await;
    let taken = wait_status(&s.b_cm, &id, "delivered").await;
    assert_eq!(taken["case"]["client"]["name"], CLIENT);

    // A sees "delivered" with the delivery time of its message.
    let a_view = wait_status(&s.a_cm, &id, "delivered").await;
    assert_eq!(a_view["timeline"][0]["delivery"]["state"], "delivered");

    act(
        &s.b_cm,
        &id,
        json!({"type": "accept", "note": "Wir übernehmen", "contact": "Herr Okafor, 0211 123"}),
    )
    .await;
    wait_status(&s.a_cm, &id, "accepted").await;

    let slots = [slot(1_900_000_000_000), slot(1_900_000_360_000)];
    act(
        &s.b_cm,
        &id,
        json!({
            "type": "propose_handover",
            "slots": slots,
            "place": {"mode": "in_person", "detail": "Beratungsstelle, Raum 2"},
            "interpreter": "Türkisch",
        }),
    )
    .await;
    let a_view = wait_status(&s.a_cm, &id, "handover_proposed").await;
    assert_eq!(a_view["current_proposal"]["interpreter"], "Türkisch");

    // The proposer cannot confirm its own proposal.
    let (code, body) = s
        .b_cm
        .post(
            &format!("/api/v1/referrals/{id}/events"),
            json!({"type": "confirm_handover", "slot": slots[0]}),
        )
        .await;
    assert_eq!(code, 409, "{body}");
    act(
        &s.a_cm,
        &id,
        json!({"type": "confirm_handover", "slot": slots[1]}),
    )
    .await;
    wait_status(&s.b_cm, &id, "handover_scheduled").await;

    act(
        &s.b_cm,
        &id,
        json!({"type": "handover_done", "note": "Gespräch hat stattgefunden"}),
    )
    .await;
    wait_status(&s.a_cm, &id, "handover_done").await;
    act(
        &s.b_cm,
        &id,
        json!({"type": "status_update", "note": "Wohnungsbesichtigung am Freitag"}),
    )
    .await;
    let a_view = wait_status(&s.a_cm, &id, "in_progress").await;
    let notes: Vec<&str> = a_view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["note"].as_str())
        .collect();
    assert!(
        notes.contains(&"Wohnungsbesichtigung am Freitag"),
        "{notes:?}"
    );

    act(
        &s.b_cm,
        &id,
        json!({"type": "close", "outcome": "goals_met", "note": "Wohnung gefunden"}),
    )
    .await;
    let a_view = wait_status(&s.a_cm, &id, "closed").await;
    assert_eq!(a_view["state"]["detail"], "goals_met");
    // Every message of A's timeline was delivered.
    for e in a_view["timeline"].as_array().unwrap() {
        if e["delivery"].is_object() && e["side"] == "sender" {
            assert_eq!(e["delivery"]["state"], "delivered", "{e}");
        }
    }
    // Nothing more is possible on a closed referral.
    let (code, _) = s
        .b_cm
        .post(
            &format!("/api/v1/referrals/{id}/events"),
            json!({"type": "status_update", "note": "x"}),
        )
        .await;
    assert_eq!(code, 409);
    s.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_for_no_capacity_and_withdrawal() {
    let s = scene().await;
    let id = create(&s.a_cm, referral(&s.b_id)).await;
    wait_status(&s.b_lead, &id, "delivered").await;
    act(
        &s.b_lead,
        &id,
        json!({"type": "decline", "reason": "no_capacity", "note": "Warteliste voll"}),
    )
    .await;
    let a_view = wait_status(&s.a_cm, &id, "declined").await;
    assert_eq!(a_view["state"]["detail"], "no_capacity");
    // The sender keeps the case and may refer elsewhere; declining again is refused.
    let (code, body) = s
        .b_lead
        .post(
            &format!("/api/v1/referrals/{id}/events"),
            json!({"type": "accept"}),
        )
        .await;
    assert_eq!(code, 409, "{body}");

    let second = create(&s.a_cm, referral(&s.b_id)).await;
    wait_status(&s.b_lead, &second, "delivered").await;
    // Only the sender may withdraw.
    let (code, body) = s
        .b_lead
        .post(
            &format!("/api/v1/referrals/{second}/events"),
            json!({"type": "withdraw"}),
        )
        .await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("sending side"),
        "{body}"
    );
    act(
        &s.a_cm,
        &second,
        json!({"type": "withdraw", "note": "Klientin zieht um"}),
    )
    .await;
    wait_status(&s.b_lead, &second, "withdrawn").await;
    s.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_withdrawal_erases_at_the_recipient_with_a_receipt() {
    let s = scene().await;
    let id = create(&s.a_cm, referral(&s.b_id)).await;
    wait_status(&s.b_lead, &id, "delivered").await;
    act(&s.b_lead, &id, json!({"type": "accept"})).await;
    wait_status(&s.a_cm, &id, "accepted").await;

    // The recipient's case key, as its key file holds it: the slot its store row names.
    let key_file = s.net.agency(1).dir.case_keys_path();
    let raw_id = ReferralId::from_str(&id).unwrap();
    let key_before = {
        let slot = s
            .net
            .agency(1)
            .core()
            .store
            .get(Space::CaseKeys, raw_id.as_bytes())
            .unwrap()
            .expect("the recipient holds a case key");
        let at = u64::from_be_bytes(slot.try_into().unwrap()) as usize * 64;
        let bytes = std::fs::read(&key_file).unwrap();
        let key = bytes[at..at + 32].to_vec();
        assert!(key.iter().any(|b| *b != 0));
        key
    };

    act(&s.a_cm, &id, json!({"type": "withdraw_consent"})).await;
    let b_view = wait_status(&s.b_lead, &id, "consent_withdrawn").await;
    assert!(b_view["case"].is_null());
    assert_eq!(b_view["erasure"]["state"], "erased");
    // The sender shows the recipient's signed receipt.
    let mut confirmed = Value::Null;
    for _ in 0..400 {
        let (_, v) = s.a_cm.get(&format!("/api/v1/referrals/{id}")).await;
        if v["erasure"]["state"] == "confirmed" {
            confirmed = v;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        confirmed["erasure"]["state"], "confirmed",
        "no erasure receipt at the sender"
    );
    assert!(
        confirmed["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "erasure_confirmed")
    );

    // No file of the recipient, the sender or the KI contains the client's name.
    s.net.agency(1).core().store.flush().await.unwrap();
    for node in [s.net.agency(0), s.net.agency(1), &s.net.ki] {
        let hits = files_containing(node.dir.root(), CLIENT.as_bytes());
        assert!(
            hits.is_empty(),
            "{} still holds the client's name in {hits:?}",
            node.name
        );
    }
    // The recipient's case key is gone: from memory and from the key file's bytes.
    assert!(!s.net.agency(1).core().vault.has(&raw_id));
    let bytes = std::fs::read(&key_file).unwrap();
    assert!(!bytes.windows(32).any(|w| w == key_before.as_slice()));
    // The stub remains: ids, dates, status.
    let (code, stub) = s.b_lead.get(&format!("/api/v1/referrals/{id}")).await;
    assert_eq!(code, 200);
    assert_eq!(stub["status"], "consent_withdrawn");
    s.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_rules_hold() {
    let s = scene().await;
    let id = create(&s.a_cm, referral(&s.b_id)).await;
    // The admin manages the node but cannot read cases.
    let a_admin = sign_in_new_user(s.net.agency(0), "it-admin", "IT", Role::Admin).await;
    let (code, body) = a_admin.get(&format!("/api/v1/referrals/{id}")).await;
    assert_eq!(code, 403, "{body}");
    let (code, _) = a_admin.get("/api/v1/referrals").await;
    assert_eq!(code, 403);
    let (code, _) = a_admin.post("/api/v1/referrals", referral(&s.b_id)).await;
    assert_eq!(code, 403);
    // A colleague case manager does not see it at all.
    let colleague = sign_in_new_user(
        s.net.agency(0),
        "schmidt",
        "Herr Schmidt",
        Role::CaseManager,
    )
    .await;
    let (code, _) = colleague.get(&format!("/api/v1/referrals/{id}")).await;
    assert_eq!(code, 404);
    let (_, list) = colleague.get("/api/v1/referrals").await;
    assert_eq!(list.as_array().unwrap().len(), 0);
    // At B, a case manager may take an unassigned referral, not give it to a colleague.
    wait_status(&s.b_lead, &id, "delivered").await;
    let (code, body) = s
        .b_cm
        .post(
            &format!("/api/v1/referrals/{id}/events"),
            json!({"type": "accept"}),
        )
        .await;
    assert_eq!(code, 403, "{body}");
    let (code, _) = s
        .b_cm
        .post(
            &format!("/api/v1/referrals/{id}/events"),
            json!({"type": "assign", "user": "lehmann"}),
        )
        .await;
    assert_eq!(code, 403);
    // Without a session: 401.
    let anonymous = Http::new(s.net.agency(0));
    let (code, _) = anonymous.get("/api/v1/referrals").await;
    assert_eq!(code, 401);
    // The admin reads the audit log: it records the reads, without case content.
    let (code, audit) = a_admin.get("/api/v1/audit").await;
    assert_eq!(code, 200, "{audit}");
    let text = audit.to_string();
    assert!(text.contains("referral.create"));
    assert!(!text.contains(CLIENT));
    s.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_nothing_is_stored_or_sent() {
    let s = scene().await;
    let a = s.net.agency(0).core().clone();
    let before = outbox::list(&a, usize::MAX).unwrap().len();
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            {
                let mut r = referral(&s.b_id);
                r.as_object_mut().unwrap().remove("consent");
                r
            },
            422,
            "consent",
        ),
        (
            {
                let mut r = referral(&s.b_id);
                r["consent"]["valid_until"] = json!(in_days(-1));
                r["consent"]["given_on"] = json!(in_days(-30));
                r
            },
            422,
            "expired",
        ),
        (
            {
                let mut r = referral(&s.b_id);
                r["consent"]["categories"] = json!(["name"]);
                r
            },
            422,
            "did not consent",
        ),
        (
            {
                let mut r = referral(&s.b_id);
                r["consent"]["recipient"] = json!(s.net.agency(0).id.to_string());
                r
            },
            422,
            "another agency",
        ),
        (
            {
                let other = lotse_protocol::NodeKey::generate().public().to_string();
                let mut r = referral(&other);
                r["consent"]["recipient"] = json!(other);
                r
            },
            422,
            "not an active member",
        ),
        (
            {
                let mut r = referral(&s.b_id);
                r["client"]["attachments"] = json!([{"file_name": "pass.pdf", "media_type": "application/pdf",
               "content": data_encoding::BASE64.encode(&vec![0u8; 2 * 1024 * 1024 + 1])}]);
                r["consent"]["categories"] =
                    json!(["name", "languages", "needs", "summary", "attachments"]);
                r
            },
            413,
            "attachment",
        ),
        (
            {
                let mut r = referral(&s.b_id);
                r["client"]["shoe_size"] = json!(42);
                r
            },
            400,
            "shoe_size",
        ),
        (
            {
                let mut r = referral(&s.b_id);
                r["recipient"] = json!("not-a-node");
                r
            },
            400,
            "64",
        ),
    ];
    for (body, status, needle) in cases {
        let (code, answer) = s.a_cm.post("/api/v1/referrals", body).await;
        assert_eq!(code, status, "{answer}");
        let msg = answer["error"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
    }
    let (code, answer) = s
        .a_cm
        .send_raw("POST", "/api/v1/referrals", Some("{\"recipient\": ".into()))
        .await;
    assert_eq!(code, 400, "{answer}");
    assert!(answer["error"].as_str().is_some());
    // Nothing was stored or sent.
    assert_eq!(outbox::list(&a, usize::MAX).unwrap().len(), before);
    let (_, list) = s.a_cm.get("/api/v1/referrals").await;
    assert_eq!(list.as_array().unwrap().len(), 0);
    // No case key was claimed for a referral that does not exist.
    let claimed = a.store.scan(Space::CaseKeys, b"", usize::MAX).unwrap();
    assert!(claimed.is_empty(), "a case key was left behind");

    // A disallowed transition: 409 with the reason, nothing sent.
    let id = create(&s.a_cm, referral(&s.b_id)).await;
    let sent = outbox::list(&a, usize::MAX).unwrap().len();
    let (code, body) = s
        .a_cm
        .post(
            &format!("/api/v1/referrals/{id}/events"),
            json!({"type": "handover_done"}),
        )
        .await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not possible"),
        "{body}"
    );
    let (code, body) = s
        .a_cm
        .post(
            &format!("/api/v1/referrals/{id}/events"),
            json!({"type": "fly_to_moon"}),
        )
        .await;
    assert_eq!(code, 400, "{body}");
    let (code, _) = s.a_cm.get("/api/v1/referrals/0123").await;
    assert_eq!(code, 404);
    assert_eq!(outbox::list(&a, usize::MAX).unwrap().len(), sent);
    s.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_referral_expires_and_the_recipient_is_told() {
    let s = scene().await;
    // Shorten A's answer deadline: restart A with a 1-second deadline.
    let mut net = s.net;
    let dir = net.agencies[0].dir.clone();
    net.agencies[0].stop().await;
    let mut config = dir.load_config().unwrap();
    config.referrals.answer_deadline_secs = 1;
    dir.save_config(&config).unwrap();
    net.agencies[0].start().await;
    let a_cm = sign_in_new_user(net.agency(0), "neu", "Frau Neu", Role::CaseManager).await;
    let id = create(&a_cm, referral(&s.b_id)).await;
    wait_status(&a_cm, &id, "expired").await;
    wait_status(&s.b_lead, &id, "expired").await;
    // Follow-up dates show up as due items.
    let id2 = create(&a_cm, referral(&s.b_id)).await;
    act(
        &a_cm,
        &id2,
        json!({"type": "set_follow_up", "date": today()}),
    )
    .await;
    let (code, due) = a_cm.get("/api/v1/due").await;
    assert_eq!(code, 200);
    assert!(
        due["follow_ups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id2),
        "{due}"
    );
    let b = net.agency(1).core().clone();
    wait_for("B saw the second referral", 20, || {
        let b = b.clone();
        let id2 = id2.clone();
        async move {
            lotse_node::referrals::load(&b, &id2.parse().unwrap())
                .unwrap()
                .is_some()
        }
    })
    .await;
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ki_never_receives_case_content() {
    let s = scene().await;
    let ki_id = s.net.ki.id.to_string();
    // Through the API: refused before anything is stored.
    let mut body = referral(&ki_id);
    body["consent"]["recipient"] = json!(ki_id);
    let (code, answer) = s.a_cm.post("/api/v1/referrals", body).await;
    assert_eq!(code, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("KI"), "{answer}");
    // A node that bypasses its own checks: the KI refuses the envelope at the door.
    let a = s.net.agency(0).core().clone();
    let payload = lotse_protocol::payload::Payload::Referral(Box::new(
        lotse_protocol::payload::ReferralPayload {
            service_id: None,
            client: lotse_protocol::client::ClientData {
                name: Some(CLIENT.into()),
                ..Default::default()
            },
            consent: serde_json::from_value(consent(&ki_id, &["name"])).unwrap(),
            handover: None,
            sender_contact: "x".into(),
        },
    ));
    let rec = outbox::send(
        &a,
        s.net.ki.id,
        Some(lotse_protocol::ReferralId::random()),
        &payload,
        lotse_node::store::Batch::new(),
    )
    .await
    .unwrap();
    let a2 = a.clone();
    wait_for("the KI refused the envelope", 30, || {
        let a2 = a2.clone();
        async move {
            match outbox::get(&a2, &rec.message_id).unwrap().unwrap().state {
                outbox::DeliveryState::Queued {
                    last_error: Some(e),
                    ..
                } => e.contains("accepts no referral"),
                _ => false,
            }
        }
    })
    .await;
    s.net.ki.core().store.flush().await.unwrap();
    assert!(files_containing(s.net.ki.dir.root(), CLIENT.as_bytes()).is_empty());
    assert!(
        lotse_node::referrals::query::list(
            s.net.ki.core(),
            &lotse_node::referrals::access::Actor::system(),
            &Default::default()
        )
        .unwrap()
        .is_empty()
    );
    s.net.shutdown().await;
}
