//! Figures for social planning: an agency reports its received referrals to the KI as sums
//! by field of action, counts from 1 to 4 suppressed; the KI keeps them and nothing of a
//! single case; the KI refuses small counts and damaged reports over QUIC, and only the
//! KI takes reports; a node reports on its own schedule.

#![allow(clippy::unwrap_used)]

use lotse_node::auth::Role;
use lotse_node::statistics;
use lotse_node::transport::frame::{RequestKind, Status};
use lotse_protocol::client::FieldOfAction;
use lotse_protocol::codec;
use lotse_protocol::statistics::{Count, FieldFigures, StatisticsReport, YearFigures};
use lotse_protocol::{ReferralId, Timestamp};
use lotse_tests::{TestNet, TestNode, files_containing, send_referral, sign_in_new_user, wait_for};
use serde_json::json;

const CLIENT: &str = "Leyla Statistik-Probe";

/// Sends `body` as a `ReportStatistics` request from `from` to `to`; the answer's status
/// and reason.
async fn report_raw(from: &TestNode, to: &TestNode, body: &[u8]) -> (Status, String) {
    let to_node = to.running();
    let answer = from
        .running()
        .transport
        .request(
            to.id,
            &[to_node.quic_addr.to_string()],
            RequestKind::ReportStatistics,
            body,
        )
        .await
        .unwrap();
    (answer.status, answer.reason().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agencies_report_sums_with_small_counts_suppressed() {
    let mut net = TestNet::new(2).await;
    let sender = sign_in_new_user(net.agency(0), "berger", "Frau Berger", Role::CaseManager).await;
    let receiver =
        sign_in_new_user(net.agency(1), "okafor", "Herr Okafor", Role::CaseManager).await;
    let recipient = net.agency(1).id.to_string();

    // Seven referrals (needs in "Arbeit"): five taken on, one declined, one waiting.
    let mut ids: Vec<ReferralId> = Vec::new();
    for _ in 0..7 {
        ids.push(send_referral(&sender, &recipient, CLIENT, "Arbeitssuche").await);
    }
    let core = net.agency(1).core().clone();
    wait_for("the referrals at the recipient", 30, || {
        let (core, ids) = (core.clone(), ids.clone());
        async move {
            ids.iter()
                .all(|id| lotse_node::referrals::load(&core, id).unwrap().is_some())
        }
    })
    .await;
    for (i, id) in ids.iter().enumerate() {
        let events = format!("/api/v1/referrals/{id}/events");
        let answer = match i {
            0..5 => json!({"type": "accept"}),
            5 => json!({"type": "decline", "reason": "no_capacity", "note": "Warteliste voll"}),
            _ => continue,
        };
        let (code, body) = receiver
            .post(&events, json!({"type": "assign", "user": "okafor"}))
            .await;
        assert_eq!(code, 200, "{body}");
        let (code, body) = receiver.post(&events, answer).await;
        assert_eq!(code, 200, "{body}");
    }

    // What the recipient would report: this year's referrals, exact where 0 or at least 5,
    // "few" otherwise.
    let report = statistics::report(net.agency(1).core()).unwrap();
    assert_eq!(report.years.len(), 1, "{report:?}");
    let this_year = time::OffsetDateTime::now_utc().year();
    assert_eq!(i32::from(report.years[0].year), this_year);
    assert_eq!(report.years[0].fields.len(), 1, "{report:?}");
    let work = &report.years[0].fields[0];
    assert_eq!(work.field, FieldOfAction::Work);
    assert_eq!(work.received, Count::Exact(7));
    assert_eq!(work.taken_on, Count::Exact(5));
    assert_eq!(work.declined_no_capacity, Count::Few);
    assert_eq!(work.declined_not_responsible, Count::Exact(0));
    assert_eq!(work.waiting, Count::Few);
    assert!(work.median_hours_to_accept.is_some());
    // The sender counts nothing: each referral is counted once, where it was received.
    assert!(
        statistics::report(net.agency(0).core())
            .unwrap()
            .years
            .is_empty()
    );

    // It goes to the KI, which keeps the latest report per member.
    let (core, transport) = (net.agency(1).core(), &net.agency(1).running().transport);
    statistics::send(core, transport).await.unwrap();
    let kept = statistics::reports(net.ki.core()).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].node, net.agency(1).id);
    assert_eq!(kept[0].report.years, report.years);

    // The KI holds nothing of a single case: no client name, no referral id.
    net.ki.core().store.flush().await.unwrap();
    assert!(files_containing(net.ki.dir.root(), CLIENT.as_bytes()).is_empty());
    for id in &ids {
        assert!(
            files_containing(net.ki.dir.root(), id.as_bytes()).is_empty(),
            "referral {id} at the KI"
        );
    }

    // The KI refuses small numbers, medians over few acceptances and damaged reports,
    // and keeps the last good report.
    let row = |received: Count, median| FieldFigures {
        field: FieldOfAction::Housing,
        received,
        taken_on: Count::Exact(0),
        declined_no_capacity: Count::Exact(0),
        declined_not_responsible: Count::Exact(0),
        declined_by_client: Count::Exact(0),
        declined_other: Count::Exact(0),
        waiting: received,
        median_hours_to_accept: median,
    };
    let bad = |fields| {
        codec::encode(&StatisticsReport {
            taken_at: Timestamp(1),
            years: vec![YearFigures { year: 2026, fields }],
        })
    };
    let (a, ki) = (net.agency(1), &net.ki);
    let cases = [
        (bad(vec![row(Count::Exact(2), None)]), "must be suppressed"),
        (bad(vec![row(Count::Exact(9), Some(3))]), "fewer than 5"),
        (
            bad(vec![row(Count::Few, None), row(Count::Few, None)]),
            "twice",
        ),
        (b"\x01\xff\xff".to_vec(), "statistics report"),
        (vec![0u8; 9000], "exceeds the limit of 8192 bytes"),
    ];
    for (body, expected) in cases {
        let (status, reason) = report_raw(a, ki, &body).await;
        assert_eq!(status, Status::Rejected, "{expected}: {reason}");
        assert!(reason.contains(expected), "{expected}: {reason}");
    }
    assert_eq!(
        statistics::reports(net.ki.core()).unwrap()[0].report.years,
        report.years
    );
    // Only the KI takes reports.
    let good = codec::encode(&report);
    let (status, reason) = report_raw(net.agency(0), net.agency(1), &good).await;
    assert_eq!(status, Status::Rejected);
    assert!(reason.contains("not the KI's directory node"), "{reason}");

    // A node reports on its own schedule (`statistics.report_ms`).
    net.agencies[0].stop().await;
    let mut config = net.agencies[0].dir.load_config().unwrap();
    config.statistics.report_ms = 100;
    net.agencies[0].dir.save_config(&config).unwrap();
    net.agencies[0].start().await;
    let ki = net.ki.core().clone();
    wait_for("the scheduled report of the sender", 30, || {
        let ki = ki.clone();
        async move { statistics::reports(&ki).unwrap().len() == 2 }
    })
    .await;
    net.shutdown().await;
}
