//! The security suite of issue 6: what an attacker on the wire or at the HTTP port can try,
//! beyond the scenarios `network.rs`, `referrals.rs` and `auth.rs` already cover (which
//! `docs/security-tests.md` maps, so nothing is tested twice).
//!
//! - Wire: frames announcing more than the limit (refused before any buffer is made),
//!   unknown frame kinds, truncated frames; a member gone rogue that serves forged, old,
//!   tampered or garbage directory snapshots; a replay after the receiver restarted.
//! - HTTP: every API route, taken from one list that must match the served OpenAPI
//!   document, without a session (401), with the wrong role (403), on another user's
//!   referral (404), and with the session cookie but no CSRF token (403); bodies over the
//!   limits (413); attachment names that look like paths stay data.
//!
//! The invitation token checks through the real `lotse init --join` are in
//! `cli/tests/join_tokens.rs` (they need the binary).

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lotse_node::auth::Role;
use lotse_node::core::Core;
use lotse_node::outbox;
use lotse_node::store::{Batch, Space};
use lotse_node::transport::frame::{self, RequestKind, Response, Status};
use lotse_node::transport::tls::PeerPolicy;
use lotse_node::transport::{Handler, Transport};
use lotse_protocol::directory::SignedDirectory;
use lotse_protocol::payload::Payload;
use lotse_protocol::{AuthorityKey, NodeId, ReferralId, codec, limits};
use lotse_tests::{Http, TestNet, TestNode, sign_in_new_user, wait_for};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Wire

#[derive(Debug)]
struct Anyone;
impl PeerPolicy for Anyone {
    fn may_connect(&self, _: &NodeId) -> bool {
        true
    }
}

fn raw_transport(core: &Core) -> Transport {
    let key = core.datadir.load_keys().unwrap().node;
    Transport::bind(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(key),
        Arc::new(Anyone),
    )
    .unwrap()
}

fn addresses(core: &Core, node: &NodeId) -> Vec<String> {
    core.directory.member(node).unwrap().profile.addresses
}

/// Sends raw bytes on one stream of `conn` and reads the framed answer.
async fn raw_exchange(conn: &quinn::Connection, bytes: &[u8]) -> Result<Response, String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(bytes).await.map_err(|e| e.to_string())?;
    let _ = send.finish();
    tokio::time::timeout(Duration::from_secs(5), frame::read_response(&mut recv))
        .await
        .map_err(|_| "no answer within 5 s".to_string())?
        .map_err(|e| e.to_string())
}

fn head(kind: u8, len: u32) -> Vec<u8> {
    let mut h = vec![kind];
    h.extend_from_slice(&len.to_be_bytes());
    h
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_malformed_and_truncated_frames_are_refused_and_the_node_carries_on() {
    let net = TestNet::recording(2).await;
    let (a, b) = (net.agency(0).core().clone(), net.agency(1).core().clone());
    let raw = raw_transport(&a);
    let conn = raw.connect(b.id, &addresses(&a, &b.id)).await.unwrap();
    let hwm_before = vm_hwm_kib();

    // A Deliver frame announcing 4 GiB: refused at once, without waiting for the body
    // and without making a buffer of that size.
    let began = Instant::now();
    let r = raw_exchange(&conn, &head(RequestKind::Deliver as u8, u32::MAX))
        .await
        .unwrap();
    assert_eq!(r.status, Status::Rejected);
    assert!(r.reason().contains("exceeds the limit"), "{}", r.reason());
    assert!(began.elapsed() < Duration::from_secs(2));
    // One byte over the envelope limit is as bad as four gigabytes.
    let just_over = u32::try_from(limits::MAX_ENVELOPE_BYTES + 1).unwrap();
    let r = raw_exchange(&conn, &head(RequestKind::Deliver as u8, just_over))
        .await
        .unwrap();
    assert!(r.reason().contains("exceeds the limit"), "{}", r.reason());
    // A batch has its own, larger limit, and it too is checked first.
    let batch_over = u32::try_from(limits::MAX_BATCH_BYTES + 1).unwrap();
    let r = raw_exchange(&conn, &head(RequestKind::DeliverBatch as u8, batch_over))
        .await
        .unwrap();
    assert!(r.reason().contains("exceeds the limit"), "{}", r.reason());
    // Each kind has its own limit: a directory request carries 8 bytes, not 9.
    let mut nine = head(RequestKind::FetchDirectory as u8, 9);
    nine.extend_from_slice(&[0; 9]);
    let r = raw_exchange(&conn, &nine).await.unwrap();
    assert!(r.reason().contains("exceeds the limit"), "{}", r.reason());
    assert!(
        vm_hwm_kib().saturating_sub(hwm_before) < 256 * 1024,
        "peak memory grew by more than 256 MiB"
    );

    // Unknown request kinds.
    for kind in [0u8, 7, 0x7f, 0xff] {
        let mut bytes = head(kind, 3);
        bytes.extend_from_slice(b"abc");
        let r = raw_exchange(&conn, &bytes).await.unwrap();
        assert_eq!(r.status, Status::Rejected);
        assert!(
            r.reason().contains(&format!("unknown frame type {kind}")),
            "{}",
            r.reason()
        );
    }
    // Truncated: the head promises 100 bytes, 10 come, then the stream ends.
    let mut short = head(RequestKind::Deliver as u8, 100);
    short.extend_from_slice(&[7; 10]);
    let r = raw_exchange(&conn, &short).await.unwrap();
    assert_eq!(r.status, Status::Rejected);
    // Half a head.
    let r = raw_exchange(&conn, &[RequestKind::Deliver as u8, 0]).await;
    assert!(
        matches!(&r, Ok(resp) if resp.status == Status::Rejected) || r.is_err(),
        "{r:?}"
    );

    // B still works: a real message from A arrives once.
    let msg = outbox::send(
        &a,
        b.id,
        Some(ReferralId::random()),
        &Payload::Note("danach".into()),
        Batch::new(),
    )
    .await
    .unwrap();
    let b2 = b.clone();
    wait_for("delivery after the attack", 20, || {
        let b2 = b2.clone();
        async move { lotse_tests::applied_count(&b2, msg.message_id) == 1 }
    })
    .await;
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_envelope_after_the_receiver_restarted_is_applied_once() {
    let mut net = TestNet::recording(2).await;
    let b_id = net.agency(1).id;
    // Capture the sealed bytes while B is away.
    net.agencies[1].stop().await;
    let a = net.agency(0).core().clone();
    let rec = outbox::send(
        &a,
        b_id,
        Some(ReferralId::random()),
        &Payload::Note("einmal".into()),
        Batch::new(),
    )
    .await
    .unwrap();
    let bytes = a
        .store
        .get(Space::OutboxPending, rec.message_id.as_bytes())
        .unwrap()
        .unwrap();
    net.agencies[1].start().await;
    {
        let b = net.agency(1).core().clone();
        wait_for("first delivery", 30, || {
            let b = b.clone();
            async move { lotse_tests::applied_count(&b, rec.message_id) == 1 }
        })
        .await;
    }
    // B restarts: the record of what it has seen is durable, so the replay is answered
    // with the stored receipt and not applied again.
    net.agencies[1].stop().await;
    net.agencies[1].start().await;
    let b = net.agency(1).core().clone();
    let raw = raw_transport(&a);
    let again = raw
        .request(b_id, &addresses(&a, &b_id), RequestKind::Deliver, &bytes)
        .await
        .unwrap();
    assert_eq!(again.status, Status::Ok);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lotse_tests::applied_count(&b, rec.message_id), 1);
    net.shutdown().await;
}

/// A member gone rogue: it answers directory requests with whatever it was given.
struct RogueDirectory {
    answer: std::sync::Mutex<Vec<u8>>,
}

impl Handler for RogueDirectory {
    fn admit(&self, _: &NodeId) -> bool {
        true
    }

    fn handle(
        &self,
        _peer: NodeId,
        kind: RequestKind,
        _body: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Response> + Send + '_>> {
        let body = self.answer.lock().unwrap().clone();
        Box::pin(async move {
            match kind {
                RequestKind::FetchDirectory => Response::ok(body),
                _ => Response::rejected("no"),
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rogue_member_cannot_push_forged_old_or_tampered_snapshots() {
    let mut net = TestNet::recording(2).await;
    let a = net.agency(0).core().clone();
    let a_transport = net.agency(0).running().transport.clone();
    let ki = net.ki.core().clone();
    let old = ki.directory.current().unwrap().signed.clone();
    // Something newer, so that `old` is a replay.
    lotse_node::services::publish(&ki, vec![]).await.unwrap();
    let current = ki.directory.serial();
    let a2 = a.clone();
    wait_for("A has the newest serial", 20, || {
        let a2 = a2.clone();
        async move { a2.directory.serial() == current }
    })
    .await;

    // Agency B's node goes rogue: its key now serves a handler that lies.
    let rogue_id = net.agency(1).id;
    let rogue_key = net.agency(1).dir.load_keys().unwrap().node;
    net.agencies[1].stop().await;
    let rogue = Arc::new(
        Transport::bind(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(rogue_key),
            Arc::new(Anyone),
        )
        .unwrap(),
    );
    let rogue_addr = vec![rogue.local_addr().unwrap().to_string()];
    let handler = Arc::new(RogueDirectory {
        answer: std::sync::Mutex::new(vec![]),
    });
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    {
        let (rogue, handler) = (rogue.clone(), handler.clone());
        tokio::spawn(async move { rogue.serve(handler, stop_rx).await });
    }

    let forged = {
        let mut content = a.directory.current().unwrap().content();
        content.serial += 10;
        codec::encode(&content.sign(&AuthorityKey::generate()))
    };
    let tampered = {
        let mut signed: SignedDirectory = a.directory.current().unwrap().signed.clone();
        let last = signed.bytes.len() - 1;
        signed.bytes[last] ^= 1;
        codec::encode(&signed)
    };
    let cases: [(&str, Vec<u8>); 4] = [
        ("signed by another authority", forged),
        ("an older genuine snapshot", codec::encode(&old)),
        ("a tampered snapshot", tampered),
        ("garbage", vec![0xAB; 4096]),
    ];
    for (what, bytes) in cases {
        *handler.answer.lock().unwrap() = bytes;
        let changed =
            lotse_node::directory::sync::fetch_from(&a, &a_transport, rogue_id, &rogue_addr).await;
        assert!(!changed, "A took {what}");
        assert_eq!(a.directory.serial(), current, "after {what}");
        assert!(a.directory.is_active(&net.ki.id));
    }
    // What A stored is still the genuine snapshot: loading it again verifies it against
    // the pinned authority, as a restart would.
    let _ = stop.send(true);
    rogue.close().await;
    let reloaded = lotse_node::directory::DirectoryState::load(
        a.store.as_ref(),
        a.directory.authority(),
        false,
    )
    .unwrap();
    assert_eq!(reloaded.serial(), current);
    net.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// HTTP

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Anyone (signing in).
    Public,
    /// Any signed-in user.
    Anyone,
    /// Admins only.
    Admin,
    /// Admins and coordinators.
    AuditReader,
    /// Case managers and team leads.
    CaseWorker,
    /// Team leads (four eyes on case access).
    TeamLead,
    /// Case workers with access to this referral.
    ReferralOwner,
}

/// Every route of the JSON API. The test checks this list against the OpenAPI document
/// the node serves, so a new route cannot slip by without an access rule here.
const ROUTES: &[(&str, &str, Access)] = &[
    ("POST", "/api/v1/login", Access::Public),
    ("POST", "/api/v1/logout", Access::Anyone),
    ("GET", "/api/v1/session", Access::Anyone),
    ("POST", "/api/v1/password", Access::Anyone),
    ("POST", "/api/v1/password/reset", Access::Public),
    ("GET", "/api/v1/users", Access::Admin),
    ("POST", "/api/v1/users", Access::Admin),
    ("POST", "/api/v1/users/{username}/disable", Access::Admin),
    ("POST", "/api/v1/users/{username}/enable", Access::Admin),
    ("POST", "/api/v1/users/{username}/role", Access::Admin),
    (
        "POST",
        "/api/v1/users/{username}/reset-password",
        Access::Admin,
    ),
    ("GET", "/api/v1/account-changes", Access::TeamLead),
    (
        "POST",
        "/api/v1/account-changes/{username}/confirm",
        Access::TeamLead,
    ),
    (
        "POST",
        "/api/v1/account-changes/{username}/refuse",
        Access::TeamLead,
    ),
    (
        "POST",
        "/api/v1/account-changes/{username}/code",
        Access::TeamLead,
    ),
    ("GET", "/api/v1/tokens", Access::Anyone),
    ("POST", "/api/v1/tokens", Access::Anyone),
    ("DELETE", "/api/v1/tokens/{id}", Access::Anyone),
    ("GET", "/api/v1/audit", Access::AuditReader),
    ("GET", "/api/v1/directory", Access::Anyone),
    ("GET", "/api/v1/referrals", Access::CaseWorker),
    ("POST", "/api/v1/referrals", Access::CaseWorker),
    ("GET", "/api/v1/due", Access::CaseWorker),
    ("GET", "/api/v1/disclosure", Access::CaseWorker),
    ("GET", "/api/v1/referrals/{id}", Access::ReferralOwner),
    (
        "POST",
        "/api/v1/referrals/{id}/events",
        Access::ReferralOwner,
    ),
];

/// The local admin API (behind admin.token): a user's session never opens it.
const ADMIN_API: &[(&str, &str)] = &[
    ("GET", "/api/v1/admin/directory"),
    ("POST", "/api/v1/admin/invitations"),
    ("GET", "/api/v1/admin/invitations"),
    ("POST", "/api/v1/admin/revocations"),
    ("GET", "/api/v1/admin/outbox"),
    ("GET", "/api/v1/admin/status"),
    ("PUT", "/api/v1/admin/services"),
    ("GET", "/api/v1/admin/users"),
    ("POST", "/api/v1/admin/users"),
    ("POST", "/api/v1/admin/users/x/disable"),
    ("POST", "/api/v1/admin/users/x/enable"),
    ("POST", "/api/v1/admin/users/x/role"),
    ("POST", "/api/v1/admin/users/x/reset-password"),
    ("GET", "/api/v1/admin/audit"),
    ("GET", "/api/v1/admin/audit/verify"),
    ("POST", "/api/v1/admin/referrals/x/erase"),
    ("POST", "/api/v1/admin/backup"),
];

#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    set_cookie: Option<String>,
}

/// One raw request with chosen headers.
async fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: Vec<(String, String)>,
    body: Option<String>,
) -> Answer {
    let url = format!("{base}{path}");
    let method = method.to_string();
    tokio::task::spawn_blocking(move || {
        let mut req = ureq::request(&method, &url);
        for (k, v) in &headers {
            req = req.set(k, v);
        }
        let result = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(&b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {url}: {e}"),
        };
        let status = resp.status();
        let set_cookie = resp.header("set-cookie").map(str::to_string);
        let text = resp.into_string().unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            set_cookie,
        }
    })
    .await
    .unwrap()
}

/// POSTs a body of `len` bytes the way a careful client does (`Expect: 100-continue`), so
/// the server can refuse by its size before any of it is sent; returns the final status.
async fn post_oversized(base: &str, path: &str, token: &str, len: usize) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let addr = base.trim_start_matches("http://").to_string();
    let (path, token) = (path.to_string(), token.to_string());
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nExpect: 100-continue\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let status: u16 = line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("no status line: {line:?}"));
            if status != 100 {
                return status;
            }
            // The server wants the body after all: send it (it must then refuse it).
            let mut rest = String::new();
            reader.read_line(&mut rest).unwrap();
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent < len {
                let n = chunk.len().min(len - sent);
                if stream.write_all(&chunk[..n]).is_err() {
                    break;
                }
                sent += n;
            }
        }
    })
    .await
    .unwrap()
}

fn today_plus(days: i64) -> String {
    (time::OffsetDateTime::now_utc().date() + time::Duration::days(days)).to_string()
}

fn referral_with(recipient: &str, attachments: Value) -> Value {
    json!({
        "recipient": recipient,
        "client": {
            "name": "Testklient Sicherheit",
            "needs": [{"field": "housing", "description": "Wohnung"}],
            "attachments": attachments,
        },
        "consent": {
            "recipient": recipient,
            "purpose": "Wohnungssuche",
            "categories": ["name", "needs", "attachments"],
            "form": "written",
            "given_on": today_plus(0),
            "valid_until": today_plus(30),
            "recorded_by": "Frau Berger",
        },
    })
}

/// A valid body for each route (so that only access decides the answer).
fn body_for(method: &str, path: &str, recipient: &str) -> Option<Value> {
    if method == "GET" || method == "DELETE" {
        return None;
    }
    Some(match path {
        "/api/v1/login" => json!({"username": "x", "password": "y"}),
        "/api/v1/password" => {
            json!({"current_password": "falsch-falsch-1", "new_password": "neu-neu-neu-1"})
        }
        "/api/v1/users" => json!({"username": "neu", "role": "case_manager"}),
        "/api/v1/users/{username}/role" => json!({"role": "coordinator"}),
        "/api/v1/password/reset" => {
            json!({"username": "x", "code": "falsch", "new_password": "neu-neu-neu-1"})
        }
        "/api/v1/tokens" => json!({"name": "Skript"}),
        "/api/v1/referrals" => referral_with(recipient, json!([])),
        p if p.ends_with("/events") => json!({"type": "note", "text": "Hallo"}),
        _ => json!({}),
    })
}

struct Staff {
    node_base: String,
    admin: Http,
    coordinator: Http,
    owner: Http,
    colleague: Http,
    referral: String,
    recipient: String,
}

async fn staff(net: &TestNet) -> Staff {
    let node: &TestNode = net.agency(0);
    let admin = sign_in_new_user(node, "it", "IT", Role::Admin).await;
    let coordinator = sign_in_new_user(node, "koord", "Koordination", Role::Coordinator).await;
    let owner = sign_in_new_user(node, "berger", "Frau Berger", Role::CaseManager).await;
    let colleague = sign_in_new_user(node, "schmidt", "Herr Schmidt", Role::CaseManager).await;
    let recipient = net.agency(1).id.to_string();
    let (code, body) = owner
        .post("/api/v1/referrals", referral_with(&recipient, json!([])))
        .await;
    assert_eq!(code, 201, "{body}");
    Staff {
        node_base: node.url(),
        admin,
        coordinator,
        owner,
        colleague,
        referral: body["id"].as_str().unwrap().to_string(),
        recipient,
    }
}

fn concrete(path: &str, referral: &str) -> String {
    path.replace("{id}", referral)
        .replace("{username}", "schmidt")
}

fn bearer(http: &Http) -> Vec<(String, String)> {
    vec![(
        "Authorization".into(),
        format!("Bearer {}", http.token.clone().unwrap()),
    )]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_checks_session_role_and_ownership() {
    let net = TestNet::new(2).await;
    // The list above is the whole API: compare with the served document.
    let doc = serde_json::to_value(lotse_node::http::openapi()).unwrap();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    for (method, path) in &documented {
        assert!(
            ROUTES.iter().any(|(m, p, _)| m == method && p == path),
            "{method} {path} is served but has no access rule in ROUTES"
        );
    }
    for (m, p, _) in ROUTES {
        assert!(
            documented.iter().any(|(dm, dp)| dm == m && dp == p),
            "{m} {p} is in ROUTES but not served"
        );
    }

    let s = staff(&net).await;
    let base = s.node_base.clone();
    for &(method, path, access) in ROUTES {
        let url_path = concrete(path, &s.referral);
        let body = body_for(method, path, &s.recipient).map(|b| b.to_string());
        // 1. No session: 401 (except signing in itself); a made-up token is no better.
        if access != Access::Public {
            for headers in [
                vec![],
                vec![("Authorization".to_string(), "Bearer erfunden".to_string())],
                vec![("Cookie".to_string(), "lotse_session=erfunden".to_string())],
            ] {
                let a = request(&base, method, &url_path, headers, body.clone()).await;
                assert_eq!(a.status, 401, "{method} {path} without a session: {a:?}");
            }
        }
        // 2. The wrong role: 403.
        let wrong: Vec<&Http> = match access {
            Access::Admin => vec![&s.owner, &s.coordinator],
            Access::AuditReader => vec![&s.owner],
            Access::CaseWorker | Access::ReferralOwner => vec![&s.admin, &s.coordinator],
            Access::TeamLead => vec![&s.owner, &s.admin, &s.coordinator],
            Access::Public | Access::Anyone => vec![],
        };
        for who in wrong {
            let a = request(&base, method, &url_path, bearer(who), body.clone()).await;
            assert!(
                a.status == 403,
                "{method} {path} with the wrong role: {a:?}"
            );
        }
        // 3. Someone else's referral: 404, as if it did not exist.
        if access == Access::ReferralOwner {
            let a = request(&base, method, &url_path, bearer(&s.colleague), body.clone()).await;
            assert_eq!(a.status, 404, "{method} {path} by a colleague: {a:?}");
        }
    }
    // The admin API answers only to admin.token.
    for &(method, path) in ADMIN_API {
        for headers in [vec![], bearer(&s.admin)] {
            let body = (method != "GET").then(|| "{}".to_string());
            let a = request(&base, method, path, headers, body).await;
            assert_eq!(a.status, 401, "{method} {path}: {a:?}");
        }
    }
    // The owner's referral was not changed by any of it.
    let (code, detail) = s
        .owner
        .get(&format!("/api/v1/referrals/{}", s.referral))
        .await;
    assert_eq!(code, 200);
    assert_eq!(detail["timeline"].as_array().unwrap().len(), 1, "{detail}");
    net.shutdown().await;
}

/// Signs in `username` and returns the session cookie (name=value) and the CSRF token.
async fn cookie_session(base: &str, username: &str) -> (String, String) {
    let a = request(
        base,
        "POST",
        "/api/v1/login",
        vec![],
        Some(
            json!({"username": username, "password": format!("{username}-Passwort-123")})
                .to_string(),
        ),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let cookie = a.set_cookie.unwrap().split(';').next().unwrap().to_string();
    (cookie, a.body["csrf_token"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_by_cookie_needs_the_csrf_token() {
    let net = TestNet::new(2).await;
    let s = staff(&net).await;
    let base = s.node_base.clone();
    let (owner_cookie, owner_csrf) = cookie_session(&base, "berger").await;
    let (admin_cookie, _) = cookie_session(&base, "it").await;
    // The team lead the test helpers made to confirm the case managers.
    let (lead_cookie, _) = cookie_session(&base, lotse_tests::TEST_TEAM_LEAD).await;
    let mut checked = 0;
    for &(method, path, access) in ROUTES {
        if method == "GET" || access == Access::Public {
            continue;
        }
        // Someone who could make the change, so only the missing token stops it.
        let cookie = match access {
            Access::Admin | Access::AuditReader => &admin_cookie,
            Access::TeamLead => &lead_cookie,
            _ => &owner_cookie,
        };
        let url_path = concrete(path, &s.referral);
        let body = body_for(method, path, &s.recipient).map(|b| b.to_string());
        for extra in [vec![], vec![("X-CSRF-Token".to_string(), "0".repeat(43))]] {
            let mut headers = vec![("Cookie".to_string(), cookie.clone())];
            headers.extend(extra);
            let a = request(&base, method, &url_path, headers, body.clone()).await;
            assert_eq!(
                a.status, 403,
                "{method} {path} by cookie without CSRF: {a:?}"
            );
            assert!(
                a.body["error"].as_str().unwrap_or("").contains("CSRF"),
                "{method} {path}: {a:?}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} changing routes");
    // With the token the same cookie works (the check is not simply "cookies refused").
    let a = request(
        &base,
        "POST",
        &format!("/api/v1/referrals/{}/events", s.referral),
        vec![
            ("Cookie".to_string(), owner_cookie.clone()),
            ("X-CSRF-Token".to_string(), owner_csrf),
        ],
        Some(json!({"type": "note", "text": "mit Token"}).to_string()),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_and_attachment_names_stay_data() {
    let net = TestNet::new(2).await;
    let s = staff(&net).await;
    let base = s.node_base.clone();
    let auth = bearer(&s.owner);

    // A JSON body over the 16 MiB limit of referral creation.
    let token = s.owner.token.clone().unwrap();
    let over = lotse_node::http::referrals::MAX_BODY_BYTES + 1024;
    assert_eq!(
        post_oversized(&base, "/api/v1/referrals", &token, over).await,
        413
    );
    // Other routes keep the small default limit (2 MiB).
    assert_eq!(
        post_oversized(&base, "/api/v1/tokens", &token, 3 * 1024 * 1024).await,
        413
    );
    // Five attachments where four are allowed.
    let one = json!({"file_name": "a.pdf", "media_type": "application/pdf", "content": "QUJD"});
    let a = request(
        &base,
        "POST",
        "/api/v1/referrals",
        auth.clone(),
        Some(referral_with(&s.recipient, json!([one, one, one, one, one])).to_string()),
    )
    .await;
    assert!(
        a.status == 413 || a.status == 422,
        "five attachments: {a:?}"
    );

    // Names that look like paths are stored and delivered as names, never used as paths.
    let marker = format!("lotse-traversal-{}", std::process::id());
    let names = [
        format!("../../../../../../tmp/{marker}"),
        format!("..\\..\\..\\{marker}.exe"),
        format!("/etc/{marker}"),
    ];
    let attachments: Vec<Value> = names
        .iter()
        .map(|n| {
            json!({"file_name": n, "media_type": "application/pdf",
                "content": data_encoding::BASE64.encode(b"%PDF-1.4 Einwilligung")})
        })
        .collect();
    let a = request(
        &base,
        "POST",
        "/api/v1/referrals",
        auth.clone(),
        Some(referral_with(&s.recipient, json!(attachments)).to_string()),
    )
    .await;
    assert_eq!(a.status, 201, "{a:?}");
    let id = a.body["id"].as_str().unwrap().to_string();
    let b_lead = sign_in_new_user(net.agency(1), "lehmann", "Frau Lehmann", Role::TeamLead).await;
    let mut delivered = Value::Null;
    for _ in 0..400 {
        let (code, body) = b_lead.get(&format!("/api/v1/referrals/{id}")).await;
        if code == 200 {
            delivered = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let got: Vec<&str> = delivered["case"]["client"]["attachments"]
        .as_array()
        .unwrap_or_else(|| panic!("no attachments in {delivered}"))
        .iter()
        .map(|a| a["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(got, names.iter().map(String::as_str).collect::<Vec<_>>());
    // Nothing was written under those names, inside or outside the data directories.
    assert!(!std::path::Path::new(&format!("/tmp/{marker}")).exists());
    assert!(!std::path::Path::new(&format!("/etc/{marker}")).exists());
    let mut stack = vec![net.root.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                !name.contains(&marker),
                "a file named after an attachment: {name}"
            );
            if entry.path().is_dir() {
                stack.push(entry.path());
            }
        }
    }
    net.shutdown().await;
}
