//! Nodes talk: real QUIC between real nodes with real sled stores on loopback.
//!
//! Scenarios from issue 3: joining, delivery, store-and-forward while a node is down,
//! the network without the KI, revocation, unknown keys, restarts with queued messages,
//! tampered / replayed / re-addressed envelopes, stale and forged snapshots, and invitation
//! tokens that work once and not after expiry.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use lotse_node::core::Core;
use lotse_node::directory::AcceptError;
use lotse_node::outbox::{self, DeliveryState, OutboxRecord, SendError};
use lotse_node::store::{Batch, Space};
use lotse_node::transport::Transport;
use lotse_node::transport::frame::{self, RequestKind, Status};
use lotse_node::transport::tls::PeerPolicy;
use lotse_protocol::codec;
use lotse_protocol::directory::AgencyKind;
use lotse_protocol::payload::Payload;
use lotse_protocol::receipt;
use lotse_protocol::{AuthorityKey, MessageId, NodeId, NodeKey, ReferralId};
use lotse_tests::{TestNet, wait_for};

async fn send_note(from: &Arc<Core>, to: NodeId, referral: ReferralId, text: &str) -> OutboxRecord {
    outbox::send(
        from,
        to,
        Some(referral),
        &Payload::Note(text.into()),
        Batch::new(),
    )
    .await
    .expect("queue note")
}

fn state(core: &Core, message: MessageId) -> DeliveryState {
    outbox::get(core, &message).unwrap().unwrap().state
}

async fn wait_delivered(core: &Arc<Core>, message: MessageId) {
    let c = core.clone();
    wait_for("message delivered", 30, || {
        let c = c.clone();
        async move { matches!(state(&c, message), DeliveryState::Delivered { .. }) }
    })
    .await;
}

async fn wait_applied(core: &Arc<Core>, message: MessageId) {
    let c = core.clone();
    wait_for("message applied", 30, || {
        let c = c.clone();
        async move { lotse_tests::applied_count(&c, message) >= 1 }
    })
    .await;
}

#[derive(Debug)]
struct Anyone;
impl PeerPolicy for Anyone {
    fn may_connect(&self, _: &NodeId) -> bool {
        true
    }
}

fn raw_transport(key: NodeKey) -> Transport {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agencies_join_and_deliver_exactly_once() {
    let net = TestNet::recording(3).await;
    let (a, b) = (net.agency(0).core().clone(), net.agency(1).core().clone());
    for node in [&a, &b, net.agency(2).core()] {
        assert_eq!(node.directory.current().unwrap().active_members().len(), 4);
    }
    let referral = ReferralId::random();
    let first = send_note(&a, b.id, referral, "eins").await;
    let second = send_note(&a, b.id, referral, "zwei").await;
    assert_eq!((first.sequence, second.sequence), (1, 2));
    wait_delivered(&a, second.message_id).await;
    wait_applied(&b, second.message_id).await;
    assert_eq!(lotse_tests::applied_count(&b, first.message_id), 1);
    assert_eq!(lotse_tests::applied_count(&b, second.message_id), 1);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_then_back_gets_it_exactly_once() {
    let mut net = TestNet::recording(2).await;
    let a = net.agency(0).core().clone();
    let b_id = net.agency(1).id;
    net.agencies[1].stop().await;
    let msg = send_note(&a, b_id, ReferralId::random(), "warte").await;
    let c = a.clone();
    wait_for("a failed attempt recorded", 20, || {
        let c = c.clone();
        async move {
            matches!(state(&c, msg.message_id), DeliveryState::Queued { attempts, last_error: Some(_), .. } if attempts >= 2)
        }
    })
    .await;
    net.agencies[1].start().await;
    let b = net.agency(1).core().clone();
    wait_delivered(&a, msg.message_id).await;
    wait_applied(&b, msg.message_id).await;
    // Give any duplicate a chance to show up.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(lotse_tests::applied_count(&b, msg.message_id), 1);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_exchange_while_the_ki_is_down() {
    let mut net = TestNet::recording(2).await;
    net.ki.stop().await;
    let (a, b) = (net.agency(0).core().clone(), net.agency(1).core().clone());
    let msg = send_note(&a, b.id, ReferralId::random(), "ohne KI").await;
    wait_delivered(&a, msg.message_id).await;
    wait_applied(&b, msg.message_id).await;
    let back = send_note(&b, a.id, ReferralId::random(), "zurück").await;
    wait_delivered(&b, back.message_id).await;
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_restart_delivers_queued_messages() {
    let mut net = TestNet::recording(2).await;
    let b_id = net.agency(1).id;
    net.agencies[1].stop().await;
    let a = net.agency(0).core().clone();
    let msg = send_note(&a, b_id, ReferralId::random(), "überlebt Neustart").await;
    drop(a);
    net.agencies[0].stop().await;
    net.agencies[1].start().await;
    net.agencies[0].start().await;
    let (a, b) = (net.agency(0).core().clone(), net.agency(1).core().clone());
    wait_delivered(&a, msg.message_id).await;
    wait_applied(&b, msg.message_id).await;
    assert_eq!(lotse_tests::applied_count(&b, msg.message_id), 1);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_member_can_neither_connect_nor_deliver() {
    let net = TestNet::recording(3).await;
    let (a, c) = (net.agency(0).core().clone(), net.agency(2).core().clone());
    let serial_before = a.directory.serial();
    lotse_node::directory::authority::revoke(net.ki.core(), c.id)
        .await
        .unwrap();
    let a2 = a.clone();
    wait_for("A learns of the revocation", 20, || {
        let a2 = a2.clone();
        async move { a2.directory.serial() > serial_before }
    })
    .await;
    assert!(!a.directory.is_active(&c.id));
    // A refuses to send to C.
    let err = outbox::send(
        &a,
        c.id,
        Some(ReferralId::random()),
        &Payload::Note("x".into()),
        Batch::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SendError::UnknownRecipient(_)), "{err}");
    // C, still believing in its old directory, cannot get anything to A.
    let c_key = c.datadir.load_keys().unwrap().node;
    let raw = raw_transport(c_key);
    let result = raw
        .request(
            a.id,
            &addresses(&a, &a.id),
            RequestKind::FetchDirectory,
            &0u64.to_be_bytes(),
        )
        .await;
    assert!(
        result.is_err(),
        "a revoked node must not complete a handshake: {result:?}"
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ki_pushes_a_revocation_to_every_member_at_once() {
    let mut net = TestNet::recording(3).await;
    // The members poll once an hour: only the KI's push can bring the news in time.
    for node in &mut net.agencies {
        node.stop().await;
        let mut config = node.dir.load_config().unwrap();
        config.delivery.directory_sync_ms = 3_600_000;
        node.dir.save_config(&config).unwrap();
        node.start().await;
    }
    let (a, b, c) = (
        net.agency(0).core().clone(),
        net.agency(1).core().clone(),
        net.agency(2).core().clone(),
    );
    let serial = a.directory.serial();
    lotse_node::directory::authority::revoke(net.ki.core(), c.id)
        .await
        .unwrap();
    for (name, node) in [("A", &a), ("B", &b), ("C (the revoked one)", &c)] {
        let node = node.clone();
        wait_for(&format!("{name} has the new snapshot"), 10, move || {
            let node = node.clone();
            async move { node.directory.serial() > serial }
        })
        .await;
    }
    assert!(!a.directory.is_active(&c.id));
    assert!(!c.directory.is_active(&c.id), "C knows it was revoked");

    // Offers that are not newer, forged or malformed change nothing.
    let a_raw = raw_transport(a.datadir.load_keys().unwrap().node);
    let current = b.directory.current().unwrap().signed.clone();
    let serial_now = b.directory.serial();
    let offer = |body: Vec<u8>| {
        let (a_raw, b_id, addrs) = (&a_raw, b.id, addresses(&a, &b.id));
        async move {
            a_raw
                .request(b_id, &addrs, RequestKind::OfferDirectory, &body)
                .await
                .unwrap()
        }
    };
    let same = offer(codec::encode(&current)).await;
    assert_eq!(same.status, Status::NotNewer);
    let mut forged = current.clone();
    let last = forged.bytes.len() - 1;
    forged.bytes[last] ^= 0x01;
    let r = offer(codec::encode(&forged)).await;
    assert_eq!(r.status, Status::Rejected);
    assert!(r.reason().contains("signature"), "{}", r.reason());
    let r = offer(b"no directory".to_vec()).await;
    assert_eq!(r.status, Status::Rejected);
    assert_eq!(b.directory.serial(), serial_now);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_not_in_the_directory_is_refused() {
    let net = TestNet::recording(1).await;
    let a = net.agency(0).core().clone();
    let stranger = raw_transport(NodeKey::generate());
    let result = stranger
        .request(
            a.id,
            &addresses(&a, &a.id),
            RequestKind::FetchDirectory,
            &0u64.to_be_bytes(),
        )
        .await;
    assert!(result.is_err(), "{result:?}");
    // The KI lets strangers finish the handshake (they may join) but answers nothing else.
    let ki = net.ki.core().clone();
    let answer = stranger
        .request(
            ki.id,
            &addresses(&ki, &ki.id),
            RequestKind::FetchDirectory,
            &0u64.to_be_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, Status::Rejected);
    assert!(answer.reason().contains("not an active member"));
    net.shutdown().await;
}

/// Captures the sealed bytes of a queued message (the receiver being down).
async fn sealed_bytes(net: &mut TestNet, from: usize, to: usize) -> (Vec<u8>, OutboxRecord) {
    net.agencies[to].stop().await;
    let a = net.agency(from).core().clone();
    let to_id = net.agencies[to].id;
    let rec = send_note(&a, to_id, ReferralId::random(), "Original").await;
    let bytes = a
        .store
        .get(Space::OutboxPending, rec.message_id.as_bytes())
        .unwrap()
        .unwrap();
    net.agencies[to].start().await;
    (bytes, rec)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_replayed_and_readdressed_envelopes_are_rejected() {
    let mut net = TestNet::recording(3).await;
    let (bytes, rec) = sealed_bytes(&mut net, 0, 1).await;
    let (a, b, c) = (
        net.agency(0).core().clone(),
        net.agency(1).core().clone(),
        net.agency(2).core().clone(),
    );
    wait_delivered(&a, rec.message_id).await;
    wait_applied(&b, rec.message_id).await;

    // The sender's own retry of the same bytes: the stored receipt again, applied once.
    let a_raw = raw_transport(a.datadir.load_keys().unwrap().node);
    let again = a_raw
        .request(b.id, &addresses(&a, &b.id), RequestKind::Deliver, &bytes)
        .await
        .unwrap();
    assert_eq!(again.status, Status::Ok);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(lotse_tests::applied_count(&b, rec.message_id), 1);

    // A third member replays A's envelope to B: the signer is not the connected peer.
    let c_raw = raw_transport(c.datadir.load_keys().unwrap().node);
    let replay = c_raw
        .request(b.id, &addresses(&c, &b.id), RequestKind::Deliver, &bytes)
        .await
        .unwrap();
    assert_eq!(replay.status, Status::Rejected);
    assert!(
        replay.reason().contains("signed by another node"),
        "{}",
        replay.reason()
    );

    // Tampered: one byte of the ciphertext changed.
    let mut tampered = bytes.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 0x40;
    let t = a_raw
        .request(b.id, &addresses(&a, &b.id), RequestKind::Deliver, &tampered)
        .await
        .unwrap();
    assert_eq!(t.status, Status::Rejected);
    assert!(t.reason().contains("signature"), "{}", t.reason());

    // Re-addressed: A's envelope for B, with the recipient changed to C, sent by A to C.
    let mut readdressed = bytes.clone();
    readdressed[54..86].copy_from_slice(c.id.as_bytes());
    let r = a_raw
        .request(
            c.id,
            &addresses(&a, &c.id),
            RequestKind::Deliver,
            &readdressed,
        )
        .await
        .unwrap();
    assert_eq!(r.status, Status::Rejected);
    assert!(r.reason().contains("signature"), "{}", r.reason());
    // Unchanged but sent to the wrong node: refused as addressed elsewhere.
    let w = a_raw
        .request(c.id, &addresses(&a, &c.id), RequestKind::Deliver, &bytes)
        .await
        .unwrap();
    assert_eq!(w.status, Status::Rejected);
    assert!(w.reason().contains("addressed to"), "{}", w.reason());
    assert_eq!(lotse_tests::applied_count(&c, rec.message_id), 0);

    // Oversized and malformed frames.
    let junk = a_raw
        .request(
            b.id,
            &addresses(&a, &b.id),
            RequestKind::Deliver,
            b"not an envelope",
        )
        .await
        .unwrap();
    assert_eq!(junk.status, Status::Rejected);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stores_the_good_refuses_the_bad_and_stores_nothing_twice() {
    let mut net = TestNet::recording(3).await;
    let (first, rec1) = sealed_bytes(&mut net, 0, 1).await;
    let (second, rec2) = sealed_bytes(&mut net, 0, 1).await;
    let (a, b, c) = (
        net.agency(0).core().clone(),
        net.agency(1).core().clone(),
        net.agency(2).core().clone(),
    );
    let mut tampered = second.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 0x01;
    let items: Vec<&[u8]> = vec![&first, &tampered, &first, &second];
    let a_raw = raw_transport(a.datadir.load_keys().unwrap().node);
    let answer = a_raw
        .request(
            b.id,
            &addresses(&a, &b.id),
            RequestKind::DeliverBatch,
            &frame::encode_batch(items.into_iter()),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, Status::Ok, "{}", answer.reason());
    let receipt = receipt::verify(&answer.body, &b.id, &a.id).expect("signed by the recipient");
    // The copy of the first is confirmed again; the tampered envelope is refused by
    // position, with the reason.
    assert_eq!(
        receipt.stored,
        vec![rec1.message_id, rec1.message_id, rec2.message_id]
    );
    assert_eq!(receipt.refused.len(), 1);
    assert_eq!(receipt.refused[0].index, 1);
    assert!(
        receipt.refused[0].reason.contains("signature"),
        "{}",
        receipt.refused[0].reason
    );
    // Each applied exactly once (the sender's own delivery task may also have sent them).
    for id in [rec1.message_id, rec2.message_id] {
        let b = b.clone();
        wait_for("applied", 30, move || {
            let b = b.clone();
            async move { lotse_tests::applied_count(&b, id) == 1 }
        })
        .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(lotse_tests::applied_count(&b, rec1.message_id), 1);

    // Another member relaying A's envelopes in a batch: refused, as the signer is not the
    // connected peer.
    let c_raw = raw_transport(c.datadir.load_keys().unwrap().node);
    let relayed = c_raw
        .request(
            b.id,
            &addresses(&c, &b.id),
            RequestKind::DeliverBatch,
            &frame::encode_batch([first.as_slice()].into_iter()),
        )
        .await
        .unwrap();
    assert_eq!(relayed.status, Status::Ok);
    let receipt = receipt::verify(&relayed.body, &b.id, &c.id).unwrap();
    assert!(receipt.stored.is_empty());
    assert!(receipt.refused[0].reason.contains("signed by another node"));

    // A malformed batch body: refused as a whole, with the reason.
    for (body, needle) in [
        (b"xyz".to_vec(), "ends inside its count"),
        (0u32.to_be_bytes().to_vec(), "1 to 256"),
        (
            [1u32.to_be_bytes(), 9u32.to_be_bytes()].concat(),
            "announces 9 bytes",
        ),
    ] {
        let r = a_raw
            .request(
                b.id,
                &addresses(&a, &b.id),
                RequestKind::DeliverBatch,
                &body,
            )
            .await
            .unwrap();
        assert_eq!(r.status, Status::Rejected);
        assert!(r.reason().contains("malformed batch"), "{}", r.reason());
        assert!(r.reason().contains(needle), "{}", r.reason());
    }
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_and_forged_snapshots_are_ignored() {
    let net = TestNet::recording(1).await;
    let ki = net.ki.core().clone();
    let a = net.agency(0).core().clone();
    let old = ki.directory.current().unwrap().signed.clone();
    lotse_node::directory::authority::create_invitation(&ki, "X", AgencyKind::Other, 1000)
        .await
        .unwrap();
    // Publish something newer: a services update by the KI itself.
    lotse_node::services::publish(&ki, vec![]).await.unwrap();
    let current = ki.directory.serial();
    let a2 = a.clone();
    wait_for("A has the newest serial", 20, || {
        let a2 = a2.clone();
        async move { a2.directory.serial() == current }
    })
    .await;
    let err = a
        .directory
        .accept(a.store.as_ref(), &old)
        .await
        .unwrap_err();
    assert!(matches!(err, AcceptError::NotNewer { .. }), "{err}");
    // A snapshot signed by another authority, with a higher serial.
    let mut content = a.directory.current().unwrap().content();
    content.serial += 10;
    let forged = content.sign(&AuthorityKey::generate());
    let err = a
        .directory
        .accept(a.store.as_ref(), &forged)
        .await
        .unwrap_err();
    assert!(matches!(err, AcceptError::Invalid(_)), "{err}");
    assert_eq!(a.directory.serial(), current);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_works_once_and_not_after_expiry() {
    let net = TestNet::recording(0).await;
    let ki = net.ki.core().clone();
    let root = net.root.path().to_path_buf();
    let new_node = |name: &'static str| {
        let root = root.clone();
        async move {
            let dir = lotse_node::datadir::DataDir::new(root.join(name));
            lotse_node::init::init(
                &dir,
                &lotse_node::init::InitOptions {
                    name: name.into(),
                    directory: false,
                    quic_listen: "127.0.0.1:0".parse().unwrap(),
                    http_listen: "127.0.0.1:0".parse().unwrap(),
                    public_addresses: vec!["127.0.0.1:9".into()],
                },
            )
            .await
            .unwrap();
            Core::open(dir).unwrap()
        }
    };
    let inv =
        lotse_node::directory::authority::create_invitation(&ki, "Erste", AgencyKind::Mbe, 60_000)
            .await
            .unwrap();
    let first = new_node("first").await;
    lotse_node::join::join(&first, &inv).await.unwrap();
    let second = new_node("second").await;
    let err = lotse_node::join::join(&second, &inv).await.unwrap_err();
    assert!(err.to_string().contains("already been used"), "{err}");

    let short =
        lotse_node::directory::authority::create_invitation(&ki, "Spät", AgencyKind::Jmd, 1)
            .await
            .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let late = new_node("late").await;
    let err = lotse_node::join::join(&late, &short).await.unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    // The KI checks expiry too, not only the joining node: skew the joiner's clock back.
    late.clock.set_offset_ms(-60_000);
    let err = lotse_node::join::join(&late, &short).await.unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    net.shutdown().await;
}
