//! `lotse bench`: how fast Lotse moves referrals between two nodes on this machine, and how
//! that compares with the floors the machine sets (network round trip, crypto, durable
//! write).
//!
//! The load runs in this process: a KI directory node and two agencies, created in a
//! temporary directory and started on 127.0.0.1 exactly as `lotse run` starts them (real
//! QUIC, real stores, durability on). The load is driven through the workflow library
//! (`referrals::actions::create` and `act`, what the HTTP handlers call), not through HTTP,
//! so the figures are the node's, not an HTTP client's. A message's latency runs from the
//! call that submits it to the moment the signed receipt is stored at the sender; it is
//! split into the API part (submitted → accepted, durable in the outbox) and the delivery
//! part (accepted → receipt stored). Throughput counts until the receiver has applied
//! every message, which it does after its receipt. The nodes share this process, so CPU
//! time and peak RSS of the load are for all three together; idle RSS and start-to-ready
//! time are measured on a separate `lotse run` child process. After the load, the receiver
//! is backed up online as the admin API does it, to show how long its commits wait.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use lotse_node::backup::{self, Protection};
use lotse_node::core::Core;
use lotse_node::datadir::DataDir;
use lotse_node::delivery::Delivered;
use lotse_node::init::{InitOptions, init};
use lotse_node::node::RunningNode;
use lotse_node::referrals::access::{Actor, UserRole};
use lotse_node::referrals::{Action, NewReferral, actions};
use lotse_node::store::{Batch, SledStore, Space, Store};
use lotse_node::transport::frame::{RequestKind, Response};
use lotse_node::transport::tls::PeerPolicy;
use lotse_node::transport::{Handler, Transport};
use lotse_protocol::directory::AgencyKind;
use lotse_protocol::envelope::{self, Address};
use lotse_protocol::payload::{MessageKind, Payload};
use lotse_protocol::{EncryptionIdentity, MessageId, NodeId, NodeKey, ReferralId};
use serde::Serialize;
use serde_json::json;

use crate::target::runtime;

/// Arguments of `lotse bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Referrals to send from agency A to agency B.
    #[arg(long, default_value_t = 2000)]
    referrals: usize,
    /// Follow-up messages (notes) per referral after it was sent.
    #[arg(long, default_value_t = 0)]
    updates_per_referral: usize,
    /// Size of each referral's client data in bytes (a summary up to 16 KiB, an
    /// attachment above).
    #[arg(long, default_value_t = 1024)]
    payload_bytes: usize,
    /// Referrals in flight at once (closed loop).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Offered load in referrals per second (open loop); 0 runs as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// With --rate: run this many seconds (overrides --referrals).
    #[arg(long)]
    duration: Option<f64>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Skip the floor measurements.
    #[arg(long)]
    no_floors: bool,
    /// Skip the child-process measurements (idle RSS, start to ready).
    #[arg(long)]
    no_process: bool,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Percentiles {
    fn of(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort();
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[i].as_secs_f64() * 1000.0
        };
        Self {
            count: samples.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// The load run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    /// Referrals sent.
    pub referrals: usize,
    /// Messages sent (referrals and updates).
    pub messages: usize,
    /// Offered rate (referrals/s), 0 for closed loop.
    pub offered_rate: f64,
    /// Concurrency.
    pub concurrency: usize,
    /// Payload bytes per referral.
    pub payload_bytes: usize,
    /// Wall time from the first submission to the last receipt.
    pub wall_secs: f64,
    /// Referrals delivered per second (receipts stored at the sender).
    pub referrals_per_sec: f64,
    /// Wall time from the first submission until the receiver had applied every message
    /// (its inbox empty): received messages are applied after the receipt is sent.
    pub applied_secs: f64,
    /// Referrals delivered and applied at the receiver per second: what the two nodes
    /// sustain together.
    pub applied_referrals_per_sec: f64,
    /// Referrals found at the receiver after the run (checked: all of them).
    pub applied_referrals: usize,
    /// Messages delivered per second.
    pub messages_per_sec: f64,
    /// Submitted → receipt stored at the sender.
    pub end_to_end: Percentiles,
    /// Submitted → accepted (durable in the outbox).
    pub api: Percentiles,
    /// Accepted → receipt stored.
    pub delivery: Percentiles,
    /// CPU seconds of this process (all three nodes) during the load.
    pub cpu_secs: f64,
    /// CPU milliseconds per message.
    pub cpu_ms_per_message: f64,
    /// Peak RSS of this process (all three nodes), MiB.
    pub peak_rss_mib: f64,
    /// Bytes this process (all three nodes) wrote to its files during the load, KiB per
    /// message, from /proc/self/io (absent where the kernel does not count it).
    pub disk_write_kib_per_message: Option<f64>,
}

/// The floors on this machine.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Floors {
    /// QUIC round trip (request of the payload size, small answer), same TLS setup.
    pub quic_rtt: Percentiles,
    /// QUIC round trips per second with the same concurrency.
    pub quic_per_sec: f64,
    /// Seal + open of an envelope of the payload size.
    pub crypto: Percentiles,
    /// One commit of the envelope size plus flush, one writer.
    pub durable_write: Percentiles,
    /// Durable writes per second with the same concurrency (flushes grouped).
    pub durable_writes_per_sec: f64,
    /// Handing one referral its case key from the pool of keys written and synced ahead
    /// (in bulk, on a background thread when the pool runs low).
    pub case_key_create: Percentiles,
}

/// An online backup of the receiving node after the load, as `lotse backup create` asks
/// a running node for one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackupFigures {
    /// Store entries in it.
    pub entries: u64,
    /// Its plaintext, MiB.
    pub mib: f64,
    /// How long commits waited while the entries were copied, ms.
    pub commits_waited_ms: f64,
    /// The whole export (audit entry, entries, files), ms.
    pub export_ms: f64,
    /// Encrypting it for the transfer, ms.
    pub seal_ms: f64,
}

/// Backs up the running receiver as the admin API does, and times it.
async fn backup_figures(net: &Net) -> Result<BackupFigures> {
    let started = Instant::now();
    let export = backup::export(&net.b.core, "benchmark: an online backup after the load").await?;
    let export_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    let to = Protection::Recipients(vec![age::x25519::Identity::generate().to_public()]);
    let sealed = tokio::task::block_in_place(|| {
        backup::seal(&export.plain, &to, Vec::new(), Path::new("the benchmark"))
    })?;
    let seal_ms = started.elapsed().as_secs_f64() * 1000.0;
    drop(sealed);
    Ok(BackupFigures {
        entries: export.summary.entries,
        mib: export.plain.len() as f64 / (1024.0 * 1024.0),
        commits_waited_ms: export.commits_waited.as_secs_f64() * 1000.0,
        export_ms,
        seal_ms,
    })
}

/// A `lotse run` child process.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcessReport {
    /// Spawn to the first `/healthz` answer, ms (the KI directory node).
    pub start_to_ready_ms: f64,
    /// Same for a joined agency node.
    pub agency_start_to_ready_ms: f64,
    /// Resident memory of the idle agency node after a few seconds, MiB.
    pub idle_rss_mib: f64,
    /// Its peak RSS, MiB.
    pub idle_peak_rss_mib: f64,
    /// Its CPU use while idle (5 s, default timings), percent of one CPU.
    pub idle_cpu_percent: f64,
}

/// Everything `lotse bench` measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BenchReport {
    /// The machine.
    pub machine: Machine,
    /// The load.
    pub load: LoadReport,
    /// The floors (absent with --no-floors).
    pub floors: Option<Floors>,
    /// Lotse's figures as multiples of the floors.
    pub ratios: HashMap<String, f64>,
    /// An online backup of the receiver after the load.
    pub backup: BackupFigures,
    /// Child process figures (absent with --no-process).
    pub process: Option<ProcessReport>,
    /// The targets of issue 6 and whether they were met.
    pub targets: Vec<Target>,
}

/// One target.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What.
    pub what: String,
    /// The goal.
    pub goal: String,
    /// Measured.
    pub measured: String,
    /// Met? (None if this run did not measure it.)
    pub met: Option<bool>,
}

/// Where it ran.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// Build profile.
    pub profile: String,
}

// ---------------------------------------------------------------------------------------
// Process figures

fn proc_status_kib(pid: Option<u32>, field: &str) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".into(),
    };
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Bytes this process has caused to be written to storage, from /proc/self/io.
fn disk_write_bytes() -> Option<u64> {
    std::fs::read_to_string("/proc/self/io")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// CPU seconds (user + system) of this process, from /proc/self/stat.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line, 11 and 12 after ')'.
    (ticks(11) + ticks(12)) / 100.0
}

fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    Machine {
        cpu,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        profile: if cfg!(debug_assertions) {
            "debug".into()
        } else {
            "release".into()
        },
    }
}

// ---------------------------------------------------------------------------------------
// The network under test

struct Net {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ki: RunningNode,
    a: RunningNode,
    b: RunningNode,
}

async fn init_node(root: &Path, name: &str, directory: bool) -> Result<DataDir> {
    let dir = DataDir::new(root.join(name));
    init(
        &dir,
        &InitOptions {
            name: name.to_string(),
            directory,
            quic_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_addresses: vec![],
        },
    )
    .await
    .with_context(|| format!("init {name}"))?;
    let mut config = dir.load_config()?;
    config.delivery.directory_sync_ms = 200;
    config.delivery.backoff_initial_ms = 50;
    config.delivery.backoff_max_ms = 1000;
    config.statistics.report_ms = 0;
    dir.save_config(&config)?;
    Ok(dir)
}

async fn start(dir: &DataDir) -> Result<RunningNode> {
    let core = Core::open(dir.clone())?;
    Ok(lotse_node::node::start(core, axum::Router::new()).await?)
}

/// Invites, creates and joins an agency; returns its (not started) data directory.
async fn join_agency(ki: &Arc<Core>, root: &Path, name: &str) -> Result<DataDir> {
    let invitation =
        lotse_node::directory::authority::create_invitation(ki, name, AgencyKind::Other, 3_600_000)
            .await?;
    let dir = init_node(root, name, false).await?;
    let core = Core::open(dir.clone())?;
    lotse_node::join::join(&core, &invitation).await?;
    drop(core);
    Ok(dir)
}

/// Opening right after a close may find the lock not yet released; retry briefly.
async fn start_retrying(dir: &DataDir) -> Result<RunningNode> {
    let mut last = None;
    for _ in 0..100 {
        match start(dir).await {
            Ok(n) => return Ok(n),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(last.unwrap_or_else(|| anyhow!("could not start")))
}

impl Net {
    async fn create() -> Result<Net> {
        let tmp = tempfile::Builder::new().prefix("lotse-bench-").tempdir()?;
        let root = tmp.path().to_path_buf();
        let ki_dir = init_node(&root, "ki", true).await?;
        let ki = start(&ki_dir).await?;
        let a_dir = join_agency(&ki.core, &root, "a").await?;
        let b_dir = join_agency(&ki.core, &root, "b").await?;
        let a = start_retrying(&a_dir).await?;
        let b = start_retrying(&b_dir).await?;
        let net = Net {
            _tmp: tmp,
            root,
            ki,
            a,
            b,
        };
        // Both agencies know each other at their current addresses.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (a, b) = (&net.a, &net.b);
            let sees = |from: &RunningNode, to: &RunningNode| {
                from.core
                    .directory
                    .member(&to.core.id)
                    .is_some_and(|m| m.profile.addresses.contains(&to.quic_addr.to_string()))
            };
            if sees(a, b) && sees(b, a) {
                break;
            }
            if Instant::now() > deadline {
                bail!("the bench nodes did not see each other in the directory");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(net)
    }

    async fn shutdown(self) {
        let Net {
            _tmp: tmp,
            root,
            ki,
            a,
            b,
        } = self;
        a.shutdown().await;
        b.shutdown().await;
        ki.shutdown().await;
        // sled's background work may still touch its files for a moment after the last
        // handle went: remove the directory once it has let go.
        let _ = tmp.keep();
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if std::fs::remove_dir_all(&root).is_ok() && !root.exists() {
                return;
            }
        }
        tracing::warn!(dir = %root.display(), "could not remove the bench directory");
    }
}

// ---------------------------------------------------------------------------------------
// The load

fn today_plus(days: i64) -> String {
    use std::time::SystemTime;
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64
        + days * 86_400;
    lotse_protocol::Timestamp(secs.max(0) as u64 * 1000)
        .date()
        .to_string()
}

/// A referral whose client data is about `bytes` long.
fn new_referral(recipient: NodeId, bytes: usize, n: usize) -> Result<NewReferral> {
    let mut client = json!({
        "name": format!("Bench {n}"),
        "needs": [{"field": "housing", "description": "Wohnung"}],
    });
    let mut categories = vec!["name", "needs"];
    if bytes <= 16 * 1024 {
        client["summary"] = json!("x".repeat(bytes.max(1)));
        categories.push("summary");
    } else {
        let content = vec![0x42u8; bytes];
        client["attachments"] = json!([{
            "file_name": "formular.pdf",
            "media_type": "application/pdf",
            "content": base64(&content),
        }]);
        categories.push("attachments");
    }
    let value = json!({
        "recipient": recipient.to_string(),
        "client": client,
        "consent": {
            "recipient": recipient.to_string(),
            "purpose": "Benchmark",
            "categories": categories,
            "form": "written",
            "given_on": today_plus(0),
            "valid_until": today_plus(30),
            "recorded_by": "bench",
        },
    });
    serde_json::from_value(value).context("the bench referral")
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Submission and acceptance times per (referral, sequence).
type Submitted = Arc<std::sync::Mutex<HashMap<(ReferralId, u64), (Instant, Instant)>>>;

async fn one_referral(
    core: &Arc<Core>,
    actor: &Actor,
    recipient: NodeId,
    args: &BenchArgs,
    n: usize,
    submitted: &Submitted,
) -> Result<()> {
    let new = new_referral(recipient, args.payload_bytes, n)?;
    let t0 = Instant::now();
    let record = actions::create(core, actor, new).await?;
    let accepted = Instant::now();
    submitted
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((record.id, 1), (t0, accepted));
    for k in 0..args.updates_per_referral {
        let t0 = Instant::now();
        actions::act(
            core,
            actor,
            record.id,
            Action::Note {
                text: format!("Stand {k}"),
            },
        )
        .await?;
        let accepted = Instant::now();
        submitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((record.id, 2 + k as u64), (t0, accepted));
    }
    Ok(())
}

async fn load(net: &Net, args: &BenchArgs) -> Result<LoadReport> {
    let a = net.a.core.clone();
    let recipient = net.b.core.id;
    let actor = Actor {
        username: "bench".into(),
        display_name: "Bench".into(),
        role: UserRole::CaseManager,
    };
    let referrals = match (args.rate > 0.0, args.duration) {
        (true, Some(d)) => ((args.rate * d).ceil() as usize).max(1),
        _ => args.referrals.max(1),
    };
    let messages = referrals * (1 + args.updates_per_referral);
    let submitted: Submitted = Arc::default();
    let mut receipts = a.delivered.subscribe();
    let cpu0 = cpu_secs();
    let written0 = disk_write_bytes();
    let began = Instant::now();
    // Receipts are collected while the load runs.
    let collector = tokio::spawn(async move {
        let mut got: Vec<(Delivered, Instant)> = Vec::with_capacity(messages);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
        while got.len() < messages {
            match tokio::time::timeout_at(deadline, receipts.recv()).await {
                Ok(Ok(d)) if d.referral_id.is_some() => got.push((d, Instant::now())),
                Ok(Ok(_)) => {}
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                    tracing::warn!(missed = n, "bench missed delivery notices");
                }
                Ok(Err(_)) | Err(_) => break,
            }
        }
        got
    });
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    if args.rate > 0.0 {
        // Open loop: one referral every 1/rate seconds, whatever the node does.
        let interval = Duration::from_secs_f64(1.0 / args.rate);
        for n in 0..referrals {
            let due = began + interval.mul_f64(n as f64);
            tokio::time::sleep_until(due.into()).await;
            let (a, actor, args, submitted, failures) = (
                a.clone(),
                actor.clone(),
                args.clone(),
                submitted.clone(),
                failures.clone(),
            );
            tasks.spawn(async move {
                if let Err(e) = one_referral(&a, &actor, recipient, &args, n, &submitted).await {
                    failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "bench referral failed");
                }
            });
        }
    } else {
        for _ in 0..args.concurrency.max(1) {
            let (a, actor, args, submitted, next, failures) = (
                a.clone(),
                actor.clone(),
                args.clone(),
                submitted.clone(),
                next.clone(),
                failures.clone(),
            );
            tasks.spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= referrals {
                        return;
                    }
                    if let Err(e) = one_referral(&a, &actor, recipient, &args, n, &submitted).await
                    {
                        failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, "bench referral failed");
                    }
                }
            });
        }
    }
    while tasks.join_next().await.is_some() {}
    if failures.load(Ordering::Relaxed) > 0 {
        bail!(
            "{} referrals failed; see the log (RUST_LOG=warn)",
            failures.load(Ordering::Relaxed)
        );
    }
    let got = collector.await?;
    let wall = began.elapsed();
    if got.len() < messages {
        bail!(
            "only {} of {messages} messages were delivered within the time limit",
            got.len()
        );
    }
    // The receiver applies what it stored after answering with its receipt; the load is
    // carried only once its inbox is empty again.
    let receiver = &net.b.core;
    while !receiver.store.scan(Space::Inbox, b"", 1)?.is_empty() {
        if began.elapsed() > Duration::from_secs(3600) {
            bail!("the receiver did not apply the delivered messages within an hour");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let applied = began.elapsed();
    let cpu = cpu_secs() - cpu0;
    let written = disk_write_bytes()
        .zip(written0)
        .map(|(now, before)| now.saturating_sub(before));
    let submitted = submitted.lock().unwrap_or_else(|p| p.into_inner());
    let mut referral_ids: Vec<ReferralId> = submitted.keys().map(|(id, _)| *id).collect();
    referral_ids.sort_unstable();
    referral_ids.dedup();
    let mut applied_referrals = 0;
    for id in &referral_ids {
        if lotse_node::referrals::load(receiver, id)?.is_some() {
            applied_referrals += 1;
        }
    }
    if applied_referrals < referrals {
        bail!("the receiver holds only {applied_referrals} of the {referrals} referrals sent");
    }
    let (mut e2e, mut api, mut delivery) = (Vec::new(), Vec::new(), Vec::new());
    for (d, at) in &got {
        let Some(referral) = d.referral_id else {
            continue;
        };
        if let Some((t0, accepted)) = submitted.get(&(referral, d.sequence)) {
            e2e.push(at.saturating_duration_since(*t0));
            api.push(accepted.saturating_duration_since(*t0));
            delivery.push(at.saturating_duration_since(*accepted));
        }
    }
    let secs = wall.as_secs_f64().max(1e-9);
    let applied_secs = applied.as_secs_f64().max(1e-9);
    Ok(LoadReport {
        referrals,
        messages,
        offered_rate: args.rate,
        concurrency: args.concurrency,
        payload_bytes: args.payload_bytes,
        wall_secs: secs,
        referrals_per_sec: referrals as f64 / secs,
        applied_secs,
        applied_referrals_per_sec: referrals as f64 / applied_secs,
        applied_referrals,
        messages_per_sec: messages as f64 / secs,
        end_to_end: Percentiles::of(e2e),
        api: Percentiles::of(api),
        delivery: Percentiles::of(delivery),
        cpu_secs: cpu,
        cpu_ms_per_message: cpu * 1000.0 / messages as f64,
        peak_rss_mib: proc_status_kib(None, "VmHWM:").unwrap_or(0.0) / 1024.0,
        disk_write_kib_per_message: written.map(|b| b as f64 / 1024.0 / messages as f64),
    })
}

// ---------------------------------------------------------------------------------------
// Floors

#[derive(Debug)]
struct AnyPeer;
impl PeerPolicy for AnyPeer {
    fn may_connect(&self, _: &NodeId) -> bool {
        true
    }
}

/// Answers every request with 16 bytes: the size of a small receipt's worth of framing.
struct Echo;
impl Handler for Echo {
    fn admit(&self, _: &NodeId) -> bool {
        true
    }
    fn handle(
        &self,
        _peer: NodeId,
        _kind: RequestKind,
        _body: Vec<u8>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send + '_>> {
        Box::pin(async { Response::ok(vec![0u8; 16]) })
    }
}

async fn quic_floor(size: usize, concurrency: usize) -> Result<(Percentiles, f64)> {
    let server_key = Arc::new(NodeKey::generate());
    let server_id = server_key.public();
    let server = Arc::new(Transport::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        server_key,
        Arc::new(AnyPeer),
    )?);
    let addr = vec![
        server
            .local_addr()
            .ok_or_else(|| anyhow!("no address"))?
            .to_string(),
    ];
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    {
        let server = server.clone();
        tokio::spawn(async move { server.serve(Arc::new(Echo), stop_rx).await });
    }
    let client = Arc::new(Transport::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        Arc::new(NodeKey::generate()),
        Arc::new(AnyPeer),
    )?);
    let body = vec![0x5au8; size];
    // Warm up: the handshake is not part of a round trip (connections are reused).
    client
        .request(server_id, &addr, RequestKind::Deliver, &body)
        .await?;
    let mut samples = Vec::new();
    for _ in 0..500 {
        let t0 = Instant::now();
        client
            .request(server_id, &addr, RequestKind::Deliver, &body)
            .await?;
        samples.push(t0.elapsed());
    }
    let total = 5000;
    let next = Arc::new(AtomicUsize::new(0));
    let began = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, addr, body, next) = (client.clone(), addr.clone(), body.clone(), next.clone());
        tasks.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                if client
                    .request(server_id, &addr, RequestKind::Deliver, &body)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let per_sec = total as f64 / began.elapsed().as_secs_f64();
    let _ = stop.send(true);
    client.close().await;
    server.close().await;
    Ok((Percentiles::of(samples), per_sec))
}

fn crypto_floor(size: usize) -> Result<Percentiles> {
    let sender = NodeKey::generate();
    let receiver = NodeKey::generate();
    let identity = EncryptionIdentity::generate();
    let recipient_key = identity.recipient();
    let me = receiver.public();
    let referral = new_referral(me, size, 0)?;
    let payload = Payload::Referral(Box::new(lotse_protocol::payload::ReferralPayload {
        service_id: None,
        client: referral.client,
        consent: referral
            .consent
            .ok_or_else(|| anyhow!("bench consent missing"))?,
        handover: None,
        sender_contact: "Bench".into(),
    }));
    let sender_id = sender.public();
    let mut samples = Vec::new();
    for _ in 0..200 {
        let t0 = Instant::now();
        let sealed = envelope::seal(
            &sender,
            Address {
                message_id: MessageId::random(),
                recipient: me,
                created_at: lotse_protocol::Timestamp(1),
                referral_id: Some(ReferralId::random()),
                sequence: 1,
            },
            &recipient_key,
            &payload,
        )?;
        envelope::open(&sealed, &me, &identity, &|s, k| {
            *s == sender_id && k == MessageKind::Referral
        })?;
        samples.push(t0.elapsed());
    }
    Ok(Percentiles::of(samples))
}

async fn durable_floor(root: &Path, size: usize, concurrency: usize) -> Result<(Percentiles, f64)> {
    let store = Arc::new(SledStore::open(&root.join("floor-store"))?);
    let value = vec![0x33u8; size];
    let mut samples = Vec::new();
    for i in 0..300u32 {
        let t0 = Instant::now();
        let mut b = Batch::new();
        b.put(Space::Outbox, i.to_be_bytes().to_vec(), value.clone());
        store.commit(b)?;
        store.flush().await?;
        samples.push(t0.elapsed());
    }
    let total = 3000usize;
    let next = Arc::new(AtomicUsize::new(0));
    let began = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (store, value, next) = (store.clone(), value.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return;
                }
                let mut b = Batch::new();
                b.put(
                    Space::Inbox,
                    (i as u64).to_be_bytes().to_vec(),
                    value.clone(),
                );
                if store.commit(b).is_err() || store.flush().await.is_err() {
                    return;
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok((
        Percentiles::of(samples),
        total as f64 / began.elapsed().as_secs_f64(),
    ))
}

fn case_key_floor(root: &Path) -> Result<Percentiles> {
    let store = SledStore::open(&root.join("floor-case-key-store"))?;
    let vault = lotse_node::referrals::vault::Vault::load(&root.join("floor-case-keys"), &store)?;
    let mut samples = Vec::new();
    for _ in 0..1000 {
        let id = ReferralId::random();
        let t0 = Instant::now();
        vault.create(&id, &mut Batch::new())?;
        samples.push(t0.elapsed());
    }
    Ok(Percentiles::of(samples))
}

// ---------------------------------------------------------------------------------------
// A `lotse run` child

/// Spawns `lotse run` on `dir` and waits for `/healthz`; returns the child and the time.
fn spawn_ready(dir: &DataDir) -> Result<(std::process::Child, Duration)> {
    let exe = std::env::current_exe()?;
    let http = dir.load_config()?.network.http_listen;
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_millis(200))
        .build();
    let began = Instant::now();
    let mut child = std::process::Command::new(exe)
        .args(["run", "--data-dir", &dir.root().display().to_string()])
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let deadline = began + Duration::from_secs(30);
    loop {
        if agent
            .get(&format!("http://{http}/healthz"))
            .call()
            .is_ok_and(|r| r.status() == 200)
        {
            return Ok((child, began.elapsed()));
        }
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            let _ = child.kill();
            bail!("lotse run on {} did not become ready", dir.root().display());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn stop_child(mut child: std::process::Child) {
    // SIGTERM through kill(1) (no unsafe code for libc::kill); without it, SIGKILL.
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    for _ in 0..if signalled { 250 } else { 0 } {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Fixed free ports, so the child listens where its configuration says.
fn pin_ports(dir: &DataDir) -> Result<()> {
    let mut config = dir.load_config()?;
    let tcp = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let udp = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
    config.network.http_listen = tcp;
    config.network.quic_listen = udp;
    config.network.public_addresses = vec![udp.to_string()];
    // The default timings, as a real node runs (the bench nodes sync faster to converge).
    config.delivery = lotse_node::config::DeliveryConfig::default();
    dir.save_config(&config)?;
    Ok(())
}

/// CPU seconds used so far by process `pid`.
fn cpu_secs_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

async fn process_figures(net: &Net) -> Result<ProcessReport> {
    // A fresh KI directory node: the bare start.
    let ki_dir = init_node(&net.root, "child-ki", true).await?;
    pin_ports(&ki_dir)?;
    let (ki_child, ki_ready) = tokio::task::block_in_place(|| spawn_ready(&ki_dir))?;
    stop_child(ki_child);
    // An agency joined to the running bench KI, with a directory of four members.
    let dir = join_agency(&net.ki.core, &net.root, "child-agency").await?;
    pin_ports(&dir)?;
    let (child, ready) = tokio::task::block_in_place(|| spawn_ready(&dir))?;
    let pid = child.id();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu0 = cpu_secs_of(pid);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_cpu_percent = (cpu_secs_of(pid) - cpu0) / 5.0 * 100.0;
    let rss = proc_status_kib(Some(pid), "VmRSS:").unwrap_or(0.0) / 1024.0;
    let hwm = proc_status_kib(Some(pid), "VmHWM:").unwrap_or(0.0) / 1024.0;
    tokio::task::block_in_place(|| stop_child(child));
    Ok(ProcessReport {
        start_to_ready_ms: ki_ready.as_secs_f64() * 1000.0,
        agency_start_to_ready_ms: ready.as_secs_f64() * 1000.0,
        idle_rss_mib: rss,
        idle_peak_rss_mib: hwm,
        idle_cpu_percent,
    })
}

// ---------------------------------------------------------------------------------------
// The command

fn targets(report: &BenchReport, args: &BenchArgs) -> Vec<Target> {
    let l = &report.load;
    let closed = args.rate <= 0.0;
    let mut t = vec![
        Target {
            what: "sustained referrals/s between two nodes, durable (delivered and applied)".into(),
            goal: ">= 5000".into(),
            measured: format!("{:.0}", l.applied_referrals_per_sec),
            met: closed.then_some(l.applied_referrals_per_sec >= 5000.0),
        },
        Target {
            what: "p99 latency at 1000/s offered".into(),
            goal: "<= 10 ms".into(),
            measured: if closed {
                format!(
                    "{:.1} ms in the closed loop (measure with --rate 1000 --duration 10)",
                    l.end_to_end.p99_ms
                )
            } else {
                format!(
                    "{:.1} ms at {:.0}/s offered",
                    l.end_to_end.p99_ms, l.offered_rate
                )
            },
            met: ((l.offered_rate - 1000.0).abs() < 1.0).then_some(l.end_to_end.p99_ms <= 10.0),
        },
    ];
    if let Some(p) = &report.process {
        t.push(Target {
            what: "idle node RSS".into(),
            goal: "<= 30 MiB".into(),
            measured: format!("{:.1} MiB", p.idle_rss_mib),
            met: Some(p.idle_rss_mib <= 30.0),
        });
        t.push(Target {
            what: "start to ready".into(),
            goal: "<= 200 ms".into(),
            measured: format!(
                "{:.0} ms (KI), {:.0} ms (agency)",
                p.start_to_ready_ms, p.agency_start_to_ready_ms
            ),
            met: Some(p.start_to_ready_ms.max(p.agency_start_to_ready_ms) <= 200.0),
        });
    }
    t
}

fn print_text(r: &BenchReport) {
    let l = &r.load;
    let pct = |p: &Percentiles| {
        format!(
            "p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms
        )
    };
    out!(
        "Machine: {} ({} CPUs), {} build",
        r.machine.cpu,
        r.machine.cpus,
        r.machine.profile
    );
    let mode = if l.offered_rate > 0.0 {
        format!("open loop at {:.0} referrals/s offered", l.offered_rate)
    } else {
        format!("closed loop, {} in flight", l.concurrency)
    };
    out!(
        "Load: {} referrals ({} messages, {} B client data each), {mode}",
        l.referrals,
        l.messages,
        l.payload_bytes
    );
    out!(
        "  throughput: {:.0} referrals/s delivered and applied ({:.2} s until the receiver had applied all)",
        l.applied_referrals_per_sec,
        l.applied_secs
    );
    out!(
        "    receipts only: {:.0} referrals/s, {:.0} messages/s over {:.2} s",
        l.referrals_per_sec,
        l.messages_per_sec,
        l.wall_secs
    );
    out!(
        "  latency submitted -> receipt stored: {}",
        pct(&l.end_to_end)
    );
    out!("    submitted -> accepted (durable): {}", pct(&l.api));
    out!("    accepted -> receipt stored:      {}", pct(&l.delivery));
    out!(
        "  CPU {:.2} s ({:.3} ms/message), peak RSS {:.1} MiB (KI + two agencies in this process)",
        l.cpu_secs,
        l.cpu_ms_per_message,
        l.peak_rss_mib
    );
    if let Some(kib) = l.disk_write_kib_per_message {
        out!("  written to disk: {kib:.1} KiB per message (the three nodes' stores and key files)");
    }
    let b = &r.backup;
    out!(
        "Online backup of the receiver: {} entries ({:.1} MiB); commits waited {:.1} ms, export {:.1} ms, encryption {:.1} ms",
        b.entries,
        b.mib,
        b.commits_waited_ms,
        b.export_ms,
        b.seal_ms
    );
    if let Some(f) = &r.floors {
        out!("Floors on this machine ({} B):", l.payload_bytes);
        out!(
            "  QUIC round trip (same TLS, reused connection): {}; {:.0}/s at the same concurrency",
            pct(&f.quic_rtt),
            f.quic_per_sec
        );
        out!("  seal + open of the envelope: {}", pct(&f.crypto));
        out!(
            "  durable write (commit + flush): {}; {:.0}/s grouped at the same concurrency",
            pct(&f.durable_write),
            f.durable_writes_per_sec
        );
        out!(
            "  case key from the synced pool (keys written ahead in bulk): {}",
            pct(&f.case_key_create)
        );
        let mut ratios: Vec<_> = r.ratios.iter().collect();
        ratios.sort_by(|a, b| a.0.cmp(b.0));
        out!("Ratios (Lotse / floor):");
        for (k, v) in ratios {
            out!("  {k}: {v:.2}");
        }
    }
    if let Some(p) = &r.process {
        out!(
            "Process (lotse run child): start to ready {:.0} ms (KI), {:.0} ms (agency); idle RSS {:.1} MiB (peak {:.1} MiB), idle CPU {:.1} %",
            p.start_to_ready_ms,
            p.agency_start_to_ready_ms,
            p.idle_rss_mib,
            p.idle_peak_rss_mib,
            p.idle_cpu_percent
        );
    }
    out!("Targets:");
    for t in &r.targets {
        let verdict = match t.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not measured in this run",
        };
        out!(
            "  {}: goal {}, measured {} — {verdict}",
            t.what,
            t.goal,
            t.measured
        );
    }
}

impl BenchArgs {
    /// Refuses settings that would measure nothing or never end, saying what to pass.
    fn check(&self) -> Result<()> {
        if self.payload_bytes > 2 * 1024 * 1024 {
            bail!("--payload-bytes may be at most 2 MiB (the attachment limit)");
        }
        if self.referrals == 0 {
            bail!("--referrals must be at least 1");
        }
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1 (referrals in flight at once)");
        }
        if !self.rate.is_finite() || self.rate < 0.0 {
            bail!("--rate must be a number of referrals per second, 0 or more (0: closed loop)");
        }
        if let Some(d) = self.duration {
            if self.rate == 0.0 {
                bail!("--duration needs --rate (open loop); without it, use --referrals");
            }
            if !d.is_finite() || d <= 0.0 || d > 3600.0 {
                bail!("--duration must be more than 0 and at most 3600 seconds");
            }
        }
        Ok(())
    }
}

/// `lotse bench`.
pub fn bench(args: BenchArgs) -> Result<()> {
    args.check()?;
    // Warnings only (RUST_LOG overrides): the report is the output.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    runtime()?.block_on(async move {
        let net = Net::create().await?;
        let load = load(&net, &args).await?;
        let mut report = BenchReport {
            machine: machine(),
            load,
            backup: backup_figures(&net).await?,
            ..BenchReport::default()
        };
        if !args.no_floors {
            // The envelope around the client data: header, consent, age framing.
            let size = args.payload_bytes + 512;
            let (quic_rtt, quic_per_sec) = quic_floor(size, args.concurrency).await?;
            let crypto = crypto_floor(args.payload_bytes)?;
            let (durable_write, durable_writes_per_sec) =
                durable_floor(&net.root, size, args.concurrency).await?;
            let case_key_create = tokio::task::block_in_place(|| case_key_floor(&net.root))?;
            let l = &report.load;
            let ratios = [
                (
                    "latency p50 / QUIC round trip p50",
                    l.end_to_end.p50_ms / quic_rtt.p50_ms,
                ),
                (
                    "latency p50 / (QUIC + crypto + 2 durable writes) p50",
                    l.end_to_end.p50_ms
                        / (quic_rtt.p50_ms + crypto.p50_ms + 2.0 * durable_write.p50_ms),
                ),
                (
                    "QUIC round trips per s / messages delivered and applied per s",
                    quic_per_sec * l.applied_secs / l.messages as f64,
                ),
                (
                    "grouped durable writes per s / messages delivered and applied per s",
                    durable_writes_per_sec * l.applied_secs / l.messages as f64,
                ),
                (
                    "CPU per message / seal+open p50",
                    l.cpu_ms_per_message / crypto.p50_ms,
                ),
            ];
            report.ratios = ratios.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            report.floors = Some(Floors {
                quic_rtt,
                quic_per_sec,
                crypto,
                durable_write,
                durable_writes_per_sec,
                case_key_create,
            });
        }
        if !args.no_process {
            report.process = Some(process_figures(&net).await?);
        }
        report.targets = targets(&report, &args);
        net.shutdown().await;
        if args.json {
            out!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print_text(&report);
        }
        Ok(())
    })
}
