//! Issue 14, rows 1 and 3: strangers and members attacking a node through its QUIC port and
//! the directory. Every attacker here is built from the project's own transport (a
//! [`Transport`] with real TLS and an ed25519 key, random for a stranger, a member's own for
//! a member) and writes frames by hand on the streams it opens. The assertions read the
//! transport's counters ([`lotse_node::transport::limits::TransportStats`]: bytes reserved
//! and buffered, refusals) and what the attacker is told, never wall-clock times or RSS.
//!
//! Each test fails without the protection it names (see `docs/security-tests.md`).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use lotse_node::core::Core;
use lotse_node::directory::authority;
use lotse_node::transport::Transport;
use lotse_node::transport::frame::{self, RequestKind, Response, Status};
use lotse_node::transport::limits::MAX_JOIN_REQUEST_BYTES;
use lotse_node::transport::tls::PeerPolicy;
use lotse_protocol::directory::{AgencyKind, AgencyProfile};
use lotse_protocol::envelope::{self, Address};
use lotse_protocol::payload::Payload;
use lotse_protocol::{MessageId, NodeId, NodeKey, limits};
use lotse_tests::hostile::{fill_to, join_request, profile, service, services_of_size};
use lotse_tests::{RecordingApplier, TestNet, TestNode, wait_for};

#[derive(Debug)]
struct Anyone;
impl PeerPolicy for Anyone {
    fn may_connect(&self, _: &NodeId) -> bool {
        true
    }
}

fn transport(key: Arc<NodeKey>) -> Transport {
    Transport::bind("127.0.0.1:0".parse().unwrap(), key, Arc::new(Anyone)).unwrap()
}

fn addresses(node: &TestNode) -> Vec<String> {
    vec![node.running().quic_addr.to_string()]
}

/// A stranger's connection to `node`: a new random key, the real handshake.
async fn stranger(node: &TestNode) -> (Transport, quinn::Connection) {
    let t = transport(Arc::new(NodeKey::generate()));
    let conn = t.connect(node.id, &addresses(node)).await.unwrap();
    (t, conn)
}

/// Writes `head` and `body` on a new stream of `conn` and reads the answer.
async fn exchange(conn: &quinn::Connection, kind: u8, len: u32, body: &[u8]) -> Response {
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&frame::encode_head(kind, len))
        .await
        .unwrap();
    let _ = send.write_all(body).await;
    frame::read_response(&mut recv).await.unwrap()
}

/// Waits until the node closes `conn`; returns the reason it gave.
async fn closed_reason(conn: &quinn::Connection) -> String {
    tokio::time::timeout(Duration::from_secs(30), conn.closed())
        .await
        .expect("the node closes the connection")
        .to_string()
}

const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_announcing_large_frames_is_cut_off_before_it_costs_memory() {
    let net = TestNet::recording(1).await;
    let ki = net.ki.running().transport.clone();
    ki.take_peaks();

    // Anything but a join: refused without reading the body, and the connection closed.
    let (_t, conn) = stranger(&net.ki).await;
    let r = exchange(
        &conn,
        RequestKind::Deliver as u8,
        15 * MIB as u32,
        &[0; 1024],
    )
    .await;
    assert_eq!(r.status, Status::Rejected);
    assert!(
        r.reason().contains("not an active member"),
        "{}",
        r.reason()
    );
    assert!(
        closed_reason(&conn)
            .await
            .contains("one join request per connection")
    );

    // A join announcing 15 MiB: refused by its own, small limit.
    let (_t, conn) = stranger(&net.ki).await;
    let r = exchange(&conn, RequestKind::Join as u8, 15 * MIB as u32, &[0; 1024]).await;
    assert!(
        r.reason().contains(&format!(
            "exceeds the limit of {MAX_JOIN_REQUEST_BYTES} bytes"
        )),
        "{}",
        r.reason()
    );

    // The reproduction of issue 14: one key, 32 streams announcing 15 MiB each, sending.
    let (_t, conn) = stranger(&net.ki).await;
    let mut streams = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let conn = conn.clone();
        streams.spawn(async move {
            let Ok((mut send, _recv)) = conn.open_bi().await else {
                return false;
            };
            let head = frame::encode_head(RequestKind::DeliverBatch as u8, 15 * MIB as u32);
            let _ = send.write_all(&head).await;
            let chunk = vec![0x5a; 64 * 1024];
            for _ in 0..16 {
                if send.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            true
        });
    }
    let mut opened = 0;
    while let Some(ok) = streams.join_next().await {
        opened += usize::from(ok.unwrap());
    }
    assert_eq!(opened, 1, "a stranger gets one stream");
    closed_reason(&conn).await;
    let stats = ki.stats();
    assert!(
        stats.stranger_peak <= MAX_JOIN_REQUEST_BYTES,
        "reserved for strangers: {stats:?}"
    );
    assert!(stats.buffered_peak < 64 * 1024, "buffered: {stats:?}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_gets_one_stream_and_one_answer_per_connection() {
    let net = TestNet::recording(0).await;
    let (_t, conn) = stranger(&net.ki).await;
    let mut streams = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let conn = conn.clone();
        streams.spawn(async move {
            let (mut send, mut recv) = conn.open_bi().await.ok()?;
            let head = frame::encode_head(RequestKind::Join as u8, 100);
            send.write_all(&head).await.ok()?;
            send.write_all(&[1; 100]).await.ok()?;
            frame::read_response(&mut recv).await.ok()
        });
    }
    let mut answers = Vec::new();
    while let Some(r) = streams.join_next().await {
        answers.extend(r.unwrap());
    }
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0].status, Status::Rejected, "garbage is no join");
    assert!(closed_reason(&conn).await.contains("one join request"));
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connections_from_one_key_or_one_address_are_refused() {
    let mut net = TestNet::recording(1).await;
    net.ki
        .restart_with(|c| {
            c.transport.connections_per_key = 2;
            c.transport.connections_per_address = 4;
        })
        .await;
    net.wait_until_converged().await;
    let ki = net.ki.running().transport.clone();

    // One key, three connections: the third is closed once the key is known.
    let key = Arc::new(NodeKey::generate());
    let mut same_key = Vec::new();
    for _ in 0..3 {
        let t = transport(key.clone());
        let conn = t.connect(net.ki.id, &addresses(&net.ki)).await.unwrap();
        same_key.push((t, conn));
    }
    wait_for("the node to close one of them", 30, || {
        let closed = same_key.iter().any(|(_, c)| c.close_reason().is_some());
        async move { closed }
    })
    .await;
    let reasons: Vec<String> = same_key
        .iter()
        .filter_map(|(_, c)| c.close_reason().map(|e| e.to_string()))
        .collect();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].contains("too many connections with this node key"),
        "{reasons:?}"
    );
    drop(same_key);
    wait_for("the key's connections to end", 30, || async {
        ki.stats().strangers == 0
    })
    .await;

    // Many keys from one address: four get in, the rest are refused at the door.
    let refused_before = ki.stats().connections_refused;
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..6 {
        let t = transport(Arc::new(NodeKey::generate()));
        match t.connect(net.ki.id, &addresses(&net.ki)).await {
            Ok(conn) => held.push((t, conn)),
            Err(_) => refused += 1,
        }
    }
    assert_eq!((held.len(), refused), (4, 2));
    // (A member reconnecting from the same address meanwhile is refused too.)
    assert!(ki.stats().connections_refused >= refused_before + 2);
    drop(held);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sender_is_cut_off_by_the_read_timeout() {
    let mut net = TestNet::recording(2).await;
    net.agencies[1]
        .restart_with(|c| c.transport.request_read_timeout_ms = 1_000)
        .await;
    net.ki
        .restart_with(|c| c.transport.request_read_timeout_ms = 1_000)
        .await;
    net.wait_until_converged().await;
    let a = net.agency(0).core().clone();
    let b = &net.agencies[1];
    let b_transport = b.running().transport.clone();

    // A member trickles a request: one byte every 100 ms of the 1,000 it announced.
    let raw = transport(a.node_key.clone());
    let conn = raw.connect(b.id, &addresses(b)).await.unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&frame::encode_head(RequestKind::Deliver as u8, 1_000))
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..1_000 {
            if send.write_all(&[0]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let answer = tokio::time::timeout(Duration::from_secs(30), frame::read_response(&mut recv))
        .await
        .expect("the node answers a slow sender")
        .unwrap();
    trickle.abort();
    assert_eq!(answer.status, Status::Rejected);
    assert!(
        answer.reason().contains("did not arrive within 1000 ms"),
        "{}",
        answer.reason()
    );
    assert!(b_transport.stats().requests_timed_out >= 1);
    wait_for("the slow request's bytes to be given back", 10, || async {
        b_transport.stats().budget_reserved == 0
    })
    .await;

    // A stranger that connects to the KI and sends nothing is closed too.
    let (_t, conn) = stranger(&net.ki).await;
    assert!(
        closed_reason(&conn)
            .await
            .contains("no join request in time")
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cannot_hold_more_than_the_request_budget() {
    let mut net = TestNet::recording(2).await;
    let budget = limits::MAX_BATCH_BYTES;
    net.agencies[1]
        .restart_with(|c| c.transport.request_budget_bytes = budget)
        .await;
    net.wait_until_converged().await;
    let a = net.agency(0).core().clone();
    let b = &net.agencies[1];
    let b_transport = b.running().transport.clone();
    b_transport.take_peaks();

    // Eight batches of 4 MiB at once: 32 MiB, twice the budget. Each sends 3 MiB first.
    let raw = transport(a.node_key.clone());
    let conn = raw.connect(b.id, &addresses(b)).await.unwrap();
    let len = 4 * MIB;
    let mut first = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let conn = conn.clone();
        first.spawn(async move {
            let (mut send, recv) = conn.open_bi().await.unwrap();
            let head = frame::encode_head(RequestKind::DeliverBatch as u8, len as u32);
            let mut ok = send.write_all(&head).await.is_ok();
            let chunk = vec![0x5a; 64 * 1024];
            for _ in 0..48 {
                let written = tokio::time::timeout(Duration::from_secs(30), send.write_all(&chunk));
                ok = ok
                    && written
                        .await
                        .expect("the node reads or stops the stream")
                        .is_ok();
            }
            (send, recv, ok)
        });
    }
    let mut streams = Vec::new();
    while let Some(s) = first.join_next().await {
        streams.push(s.unwrap());
    }
    let mut answers = Vec::new();
    for (mut send, mut recv, ok) in streams {
        if ok {
            let rest = vec![0x5a; MIB];
            let written = tokio::time::timeout(Duration::from_secs(30), send.write_all(&rest));
            let _ = written.await.expect("the node reads the rest");
            let _ = send.finish();
        }
        let answer = tokio::time::timeout(Duration::from_secs(30), frame::read_response(&mut recv))
            .await
            .expect("every request is answered")
            .unwrap();
        answers.push(answer);
    }
    let stats = b_transport.stats();
    assert!(stats.budget_peak <= budget, "{stats:?}");
    assert!(stats.buffered_peak <= budget, "{stats:?}");
    let busy = answers
        .iter()
        .filter(|r| r.status == Status::Unavailable && r.reason().contains("busy"))
        .count();
    assert!(busy >= 1, "{answers:?}");
    assert!(stats.requests_over_budget >= 1);
    // The node carries on: A's next message arrives.
    let msg = lotse_node::outbox::send(
        &a,
        b.id,
        Some(lotse_protocol::ReferralId::random()),
        &Payload::Note("danach".into()),
        lotse_node::store::Batch::new(),
    )
    .await
    .unwrap();
    let b_core = b.core().clone();
    wait_for("delivery after the attack", 30, || {
        let b_core = b_core.clone();
        async move { lotse_tests::applied_count(&b_core, msg.message_id) == 1 }
    })
    .await;
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_member_at_the_maximum_profile_size_cannot_block_the_next_join() {
    let mut net = TestNet::recording(1).await;
    let (a, ki) = (net.agency(0).core().clone(), net.ki.core().clone());

    // The largest profile is taken...
    let largest = services_of_size(&a, limits::MAX_PROFILE_BYTES);
    lotse_node::services::publish(&a, largest.clone())
        .await
        .unwrap();
    wait_for("the KI to list the largest profile", 30, || {
        let (ki, a_id, want) = (ki.clone(), a.id, largest.clone());
        async move { ki.directory.member(&a_id).unwrap().profile.services == want }
    })
    .await;
    // ...one byte more is refused where it is made, with the reason.
    let over = services_of_size(&a, limits::MAX_PROFILE_BYTES + 1);
    let e = lotse_node::services::publish(&a, over).await.unwrap_err();
    assert!(
        e.to_string().contains("more than the limit of 12288 bytes"),
        "{e}"
    );

    // The attack of issue 14: a profile that fills the directory to 100 bytes below its
    // cap, signed by the member and sent straight to the KI. The KI refuses it.
    let dir = ki.directory.current().unwrap().signed.bytes.len();
    let own = ki
        .directory
        .member(&a.id)
        .unwrap()
        .member
        .profile
        .bytes
        .len();
    let target = limits::MAX_DIRECTORY_BYTES - 100 - (dir - own);
    let signed = fill_to(profile(&a, vec![]), target).sign(&a.node_key);
    let sealed = envelope::seal(
        &a.node_key,
        Address {
            message_id: MessageId::random(),
            recipient: ki.id,
            created_at: a.clock.now(),
            referral_id: None,
            sequence: 0,
        },
        &ki.encryption.recipient(),
        &Payload::DirectoryUpdateRequest(signed),
    )
    .unwrap();
    let raw = transport(a.node_key.clone());
    let r = raw
        .request(ki.id, &addresses(&net.ki), RequestKind::Deliver, &sealed)
        .await
        .unwrap();
    assert_eq!(r.status, Status::Rejected, "{}", r.reason());
    assert!(r.reason().contains("agency profile"), "{}", r.reason());

    // The next agency joins.
    let next = net
        .add_agency(
            "Wohnungshilfe",
            AgencyKind::Housing,
            Arc::new(|_| axum::Router::new()),
            Arc::new(RecordingApplier),
        )
        .await;
    net.agencies.push(next);
    net.wait_until_converged().await;
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_update_flood_is_rate_limited_and_pushes_are_throttled() {
    let mut net = TestNet::recording(1).await;
    net.ki
        .restart_with(|c| {
            c.directory.profile_update_burst = 2;
            c.directory.profile_update_interval_ms = 500;
            c.directory.push_interval_ms = 1_000;
        })
        .await;
    net.wait_until_converged().await;
    let (a, ki) = (net.agency(0).core().clone(), net.ki.core().clone());

    // Straight at the KI: two in a row, then the third is refused with the time to wait.
    let mut results = Vec::new();
    for i in 0..3 {
        let before = a.clock.now();
        while a.clock.now() == before {
            tokio::task::yield_now().await;
        }
        let p = profile(&a, vec![service(i, "direkt".into())]).sign(&a.node_key);
        results.push(authority::update_profile(&ki, a.id, &p).await);
    }
    assert!(results[0].as_ref().is_ok_and(Option::is_some));
    assert!(results[1].as_ref().is_ok_and(Option::is_some));
    let e = results[2].as_ref().unwrap_err().to_string();
    assert!(
        e.contains("too many profile updates") && e.contains("sent again automatically"),
        "{e}"
    );

    // Ten updates through the member's outbox: refused ones come again by themselves and
    // the last one arrives, at the allowed pace; the pushes go out at theirs.
    let (serial, pushes, began) = (ki.directory.serial(), ki.directory.pushes(), Instant::now());
    for i in 0..10 {
        let before = a.clock.now();
        while a.clock.now() == before {
            tokio::task::yield_now().await;
        }
        lotse_node::services::publish(&a, vec![service(i, format!("Flut {i}"))])
            .await
            .unwrap();
    }
    wait_for("the last update to be listed", 60, || {
        let (ki, a_id) = (ki.clone(), a.id);
        async move {
            ki.directory.member(&a_id).unwrap().profile.services[0].description == "Flut 9"
        }
    })
    .await;
    let ms = began.elapsed().as_millis() as u64;
    let published = ki.directory.serial() - serial;
    let pushed = ki.directory.pushes() - pushes;
    // Tokens: one per 500 ms (none left from the burst above, give or take one).
    assert!(
        published <= ms / 500 + 2,
        "{published} snapshots in {ms} ms"
    );
    assert!(pushed <= ms / 1_000 + 2, "{pushed} pushes in {ms} ms");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_join_keeps_the_invitation() {
    let net = TestNet::recording(0).await;
    let ki = net.ki.core().clone();
    let invitation =
        authority::create_invitation(&ki, "Gesundheitsamt", AgencyKind::Health, 3_600_000)
            .await
            .unwrap();

    // A join whose profile would fill the directory (issue 14: it spent the invitation).
    let key = Arc::new(NodeKey::generate());
    let small = AgencyProfile {
        node_id: key.public(),
        encryption: lotse_protocol::EncryptionIdentity::generate().recipient(),
        addresses: vec!["127.0.0.1:1".into()],
        services: vec![],
        updated_at: ki.clock.now(),
    };
    let huge = fill_to(small, limits::MAX_DIRECTORY_BYTES - 100);
    let raw = transport(key.clone());
    let r = raw
        .request(
            ki.id,
            &addresses(&net.ki),
            RequestKind::Join,
            &join_request(&key, &invitation, huge),
        )
        .await
        .unwrap();
    assert_eq!(r.status, Status::Rejected);
    assert!(
        r.reason().contains("exceeds the limit of 4096 bytes"),
        "{}",
        r.reason()
    );
    // A join that fits the frame but whose profile breaks a bound.
    let nine = AgencyProfile {
        node_id: key.public(),
        encryption: lotse_protocol::EncryptionIdentity::generate().recipient(),
        addresses: vec!["127.0.0.1:1".into(); 9],
        services: vec![],
        updated_at: ki.clock.now(),
    };
    let raw = transport(key.clone());
    let r = raw
        .request(
            ki.id,
            &addresses(&net.ki),
            RequestKind::Join,
            &join_request(&key, &invitation, nine),
        )
        .await
        .unwrap();
    assert!(r.reason().contains("1 to 8 addresses"), "{}", r.reason());

    // The invitation still works for the real node.
    let records = authority::list_invitations(&ki).unwrap();
    assert!(records.iter().all(|r| r.used_by.is_none()), "{records:?}");
    let root = tempfile::tempdir().unwrap();
    let dir = lotse_node::datadir::DataDir::new(root.path().join("neu"));
    lotse_node::init::init(
        &dir,
        &lotse_node::init::InitOptions {
            name: "Gesundheitsamt".into(),
            directory: false,
            quic_listen: "127.0.0.1:0".parse().unwrap(),
            http_listen: "127.0.0.1:0".parse().unwrap(),
            public_addresses: vec![],
        },
    )
    .await
    .unwrap();
    let core = Core::open(dir).unwrap();
    lotse_node::join::join(&core, &invitation).await.unwrap();
    assert!(ki.directory.is_active(&core.id));
    drop(core);
    net.shutdown().await;
}
