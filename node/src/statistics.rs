//! Figures for the municipality's social planning: each agency node counts the referrals
//! it received, by year and field of action, and sends only those aggregates to the KI, with
//! counts from 1 to 4 suppressed (`lotse_protocol::statistics`). The KI keeps the latest
//! report of each member and shows them on its "Netzwerk in Zahlen" page.
//!
//! Counting happens on the receiving side, so a referral is counted once in the network.
//! A report names no referral, client, user or date of a single case; the KI refuses one
//! that carries a small count, whatever the sender's version.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lotse_protocol::client::FieldOfAction;
use lotse_protocol::referral::{DeclineReason, ReferralState, Side};
use lotse_protocol::statistics::{
    Count, FieldFigures, MAX_REPORT_BYTES, MAX_YEARS, MIN_COUNT, StatisticsReport, YearFigures,
};
use lotse_protocol::{NodeId, Timestamp, codec};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::core::Core;
use crate::referrals::{self, ReferralRecord};
use crate::store::{Batch, Space, StoreError, from_json, to_json};
use crate::transport::Transport;
use crate::transport::frame::{RequestKind, Response, Status};

/// Where the KI keeps a member's latest report: this prefix and the node id.
const REPORT_PREFIX: &[u8] = b"statistics/";
/// The first report after a start waits at most this long (the directory comes first).
const FIRST_REPORT_MAX: Duration = Duration::from_secs(30);

/// A member's latest report, as the KI keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReport {
    /// The reporting node.
    pub node: NodeId,
    /// When the KI received it.
    pub received_at: Timestamp,
    /// The figures.
    pub report: StatisticsReport,
}

/// Exact counts of one field of action, before suppression.
#[derive(Default)]
struct Tally {
    received: u32,
    taken_on: u32,
    declined: [u32; 4],
    waiting: u32,
    hours_to_accept: Vec<u32>,
}

impl Tally {
    fn add(&mut self, record: &ReferralRecord, accepted_at: Option<Timestamp>) {
        self.received += 1;
        if let Some(at) = accepted_at {
            self.taken_on += 1;
            let ms = at.millis().saturating_sub(record.created_at.millis());
            self.hours_to_accept
                .push(u32::try_from(ms / 3_600_000).unwrap_or(u32::MAX));
        }
        match record.state {
            ReferralState::Declined(reason) => {
                let i = match reason {
                    DeclineReason::NoCapacity => 0,
                    DeclineReason::NotResponsible => 1,
                    DeclineReason::ClientDeclined => 2,
                    DeclineReason::Other => 3,
                };
                self.declined[i] += 1;
            }
            ReferralState::Delivered => self.waiting += 1,
            _ => {}
        }
    }

    fn figures(mut self, field: FieldOfAction) -> FieldFigures {
        let median = (self.taken_on >= MIN_COUNT).then(|| {
            self.hours_to_accept.sort_unstable();
            self.hours_to_accept[self.hours_to_accept.len() / 2]
        });
        FieldFigures {
            field,
            received: Count::of(self.received),
            taken_on: Count::of(self.taken_on),
            declined_no_capacity: Count::of(self.declined[0]),
            declined_not_responsible: Count::of(self.declined[1]),
            declined_by_client: Count::of(self.declined[2]),
            declined_other: Count::of(self.declined[3]),
            waiting: Count::of(self.waiting),
            median_hours_to_accept: median,
        }
    }
}

/// This node's report: the referrals it received, by year of receipt (the latest
/// [`MAX_YEARS`]) and field of action, small counts suppressed.
pub fn report(core: &Core) -> Result<StatisticsReport, StoreError> {
    let mut tallies: BTreeMap<u16, BTreeMap<FieldOfAction, Tally>> = BTreeMap::new();
    for (_, bytes) in core.store.scan(Space::Referrals, b"", usize::MAX)? {
        let record: ReferralRecord = from_json(Space::Referrals, &bytes)?;
        if record.side != Side::Receiver {
            continue;
        }
        let accepted_at = referrals::events(core, &record.id)?
            .into_iter()
            .find(|e| e.kind == "accept")
            .map(|e| e.at);
        let year = u16::try_from(record.created_at.date().year()).unwrap_or(0);
        let fields = tallies.entry(year).or_default();
        for field in &record.fields {
            fields.entry(*field).or_default().add(&record, accepted_at);
        }
    }
    let skip = tallies.len().saturating_sub(MAX_YEARS);
    Ok(StatisticsReport {
        taken_at: core.clock.now(),
        years: tallies
            .into_iter()
            .skip(skip)
            .map(|(year, fields)| YearFigures {
                year,
                fields: fields
                    .into_iter()
                    .map(|(field, tally)| tally.figures(field))
                    .collect(),
            })
            .collect(),
    })
}

/// Sends this node's report to the KI.
pub async fn send(core: &Arc<Core>, transport: &Transport) -> Result<(), String> {
    let ki = core
        .directory
        .ki()
        .ok_or("no KI in the directory yet; the report waits for the directory")?;
    // Reading every received referral's timeline is store work: off the async workers.
    let counting = core.clone();
    let report = tokio::task::spawn_blocking(move || report(&counting))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let body = codec::encode(&report);
    let response = transport
        .request(
            ki.member.node_id,
            &ki.profile.addresses,
            RequestKind::ReportStatistics,
            &body,
        )
        .await
        .map_err(|e| e.to_string())?;
    match response.status {
        Status::Ok => Ok(()),
        _ => Err(format!("the KI refused the report: {}", response.reason())),
    }
}

/// Sends a report every `statistics.report_ms` (the first soon after the start) until
/// shutdown. The KI's node and a node configured with 0 send none.
pub async fn run(core: Arc<Core>, transport: Arc<Transport>, mut shutdown: watch::Receiver<bool>) {
    let period = core.config.statistics.report_ms;
    if core.is_directory_node() || period == 0 {
        return;
    }
    let period = Duration::from_millis(period);
    let mut wait = period.min(FIRST_REPORT_MAX);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        tokio::select! {
            sent = send(&core, &transport) => match sent {
                Ok(()) => tracing::debug!("statistics reported to the KI"),
                Err(e) => tracing::info!(error = %e, "statistics not reported; trying again later"),
            },
            _ = shutdown.changed() => return,
        }
        wait = period;
    }
}

/// The KI: takes a member's report (`ReportStatistics`), checks the suppression rules and
/// keeps it as the member's latest.
pub async fn take_report(core: &Core, peer: NodeId, body: &[u8]) -> Response {
    if !core.is_directory_node() {
        return Response::rejected(
            "this node is not the KI's directory node; statistics go to the KI",
        );
    }
    let report: StatisticsReport = match codec::decode("statistics report", body, MAX_REPORT_BYTES)
    {
        Ok(r) => r,
        Err(e) => return Response::rejected(e),
    };
    if let Err(e) = report.check() {
        tracing::warn!(peer = %peer.fingerprint(), error = %e, "refused a statistics report");
        return Response::rejected(e);
    }
    let stored = StoredReport {
        node: peer,
        received_at: core.clock.now(),
        report,
    };
    let mut batch = Batch::new();
    batch.put(Space::Meta, report_key(&peer), to_json(&stored));
    let kept = match core.store.commit(batch) {
        Ok(()) => core.store.flush().await,
        Err(e) => Err(e),
    };
    match kept {
        Ok(()) => Response::ok(Vec::new()),
        Err(e) => Response::unavailable(e),
    }
}

fn report_key(node: &NodeId) -> Vec<u8> {
    [REPORT_PREFIX, node.as_bytes()].concat()
}

/// The KI: every member's latest report, of members still active.
pub fn reports(core: &Core) -> Result<Vec<StoredReport>, StoreError> {
    let mut all = Vec::new();
    for (_, bytes) in core.store.scan(Space::Meta, REPORT_PREFIX, usize::MAX)? {
        let stored: StoredReport = from_json(Space::Meta, &bytes)?;
        if core.directory.is_active(&stored.node) {
            all.push(stored);
        }
    }
    Ok(all)
}
