//! Row 1 of issue 14, measured: strangers (random ed25519 keys, the project's own QUIC
//! transport with real TLS) open request streams on the KI's directory node, announce large
//! frames and send as much as the node takes, while this program samples the node's
//! resident memory (`VmRSS` in `/proc/<pid>/status` of the `lotse run` child process)
//! before, during and after the attack.
//!
//! ```sh
//! cargo build --release -p lotse -p lotse-tests
//! target/release/memory-attack --bin target/release/lotse          # 1 key, 32 streams x 15 MiB
//! target/release/memory-attack --bin target/release/lotse --connections 64
//! ```
//!
//! Options: `--connections N` (strangers, each its own key and connection; default 1),
//! `--streams N` (per connection; default 32), `--mib N` (announced per stream; default 15),
//! `--hold-secs N` (how long the strangers keep sending and stay connected; default 10),
//! `--kind join` (announce a join of the largest size a stranger may send, 4 KiB, send all
//! but its last byte and hold it; default `batch`: a 15 MiB batch, sent as fast as taken),
//! `--per-address N` (the KI's `transport.connections_per_address`, so that one loopback
//! address can fill the whole stranger pool; default: the production value). The KI runs
//! with its production defaults otherwise. Results go to `docs/security.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lotse_node::transport::Transport;
use lotse_node::transport::frame::RequestKind;
use lotse_node::transport::tls::PeerPolicy;
use lotse_protocol::{NodeId, NodeKey};
use lotse_tests::torture::{NodeProcess, lotse_ok};

#[derive(Debug)]
struct Anyone;
impl PeerPolicy for Anyone {
    fn may_connect(&self, _: &NodeId) -> bool {
        true
    }
}

struct Options {
    bin: PathBuf,
    join: bool,
    per_address: Option<usize>,
    connections: usize,
    streams: usize,
    mib: usize,
    hold: Duration,
}

fn options() -> Options {
    let mut o = Options {
        bin: PathBuf::from("target/release/lotse"),
        join: false,
        per_address: None,
        connections: 1,
        streams: 32,
        mib: 15,
        hold: Duration::from_secs(10),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or_default();
        let number = || -> usize {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{} needs a number, not {value:?}", pair[0]))
        };
        match pair[0].as_str() {
            "--bin" => o.bin = PathBuf::from(value),
            "--connections" => o.connections = number(),
            "--streams" => o.streams = number(),
            "--mib" => o.mib = number(),
            "--hold-secs" => o.hold = Duration::from_secs(number() as u64),
            "--kind" => o.join = value == "join",
            "--per-address" => o.per_address = Some(number()),
            other => panic!(
                "unknown option {other}; use --bin, --connections, --streams, --mib, --hold-secs, --kind, --per-address"
            ),
        }
    }
    o
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Samples the node's RSS every 50 ms until `stop`; returns the highest value seen.
fn sampler(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(rss_kib(pid));
            std::thread::sleep(Duration::from_millis(50));
        }
        peak
    })
}

/// One stranger: connects with a new random key and, on each stream, announces `len`
/// bytes and sends them until `until`. Counts the bytes the node took.
async fn stranger(
    ki: NodeId,
    addr: String,
    streams: usize,
    (kind, len): (RequestKind, u32),
    until: Instant,
    sent: Arc<AtomicU64>,
    opened: Arc<AtomicU64>,
) -> Option<Transport> {
    let transport = Transport::bind(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(NodeKey::generate()),
        Arc::new(Anyone),
    )
    .unwrap();
    let conn = match transport.connect(ki, &[addr]).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("connection refused: {e}");
            return Some(transport);
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..streams {
        let (conn, sent, opened) = (conn.clone(), sent.clone(), opened.clone());
        tasks.spawn(async move {
            let left = until.saturating_duration_since(Instant::now());
            let Ok(Ok((mut send, _recv))) = tokio::time::timeout(left, conn.open_bi()).await else {
                return;
            };
            opened.fetch_add(1, Ordering::Relaxed);
            let head = lotse_node::transport::frame::encode_head(kind as u8, len);
            if send.write_all(&head).await.is_err() {
                return;
            }
            let chunk = vec![0x5a_u8; 64 * 1024];
            // Everything but the last byte: the node waits for it.
            let sending = len as usize - 1;
            let mut written = 0usize;
            while written < sending {
                let n = chunk.len().min(sending - written);
                let left = until.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, send.write_all(&chunk[..n])).await {
                    Ok(Ok(())) => {
                        written += n;
                        sent.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    _ => break,
                }
            }
            // Stay on the stream (connected) until the end of the attack.
            tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
            drop(_recv);
        });
    }
    while tasks.join_next().await.is_some() {}
    Some(transport)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = options();
    let root = tempfile::tempdir().expect("temporary directory");
    let mut ki = NodeProcess::new(&o.bin, root.path(), "ki");
    let created = lotse_ok(
        &o.bin,
        &[
            "init",
            "--data-dir",
            &ki.dir_str(),
            "--name",
            "KI Messstadt",
            "--directory",
            "--quic",
            &ki.quic.to_string(),
            "--http",
            &ki.http.to_string(),
        ],
        None,
    );
    let ki_id: NodeId = created
        .lines()
        .find_map(|l| l.trim().strip_prefix("node id:"))
        .map(|s| s.trim().parse().expect("node id"))
        .expect("lotse init prints the node id");
    if let Some(n) = o.per_address {
        let dir = lotse_node::datadir::DataDir::new(&ki.dir);
        let mut config = dir.load_config().expect("the KI's config");
        config.transport.connections_per_address = n;
        dir.save_config(&config).expect("save the KI's config");
    }
    ki.start();
    let pid = ki.pid().expect("the KI runs");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss_kib(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let during = sampler(pid, stop.clone());
    let (sent, opened) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let request = if o.join {
        let len = lotse_node::transport::limits::MAX_JOIN_REQUEST_BYTES;
        (RequestKind::Join, u32::try_from(len).expect("4 KiB"))
    } else {
        let len = u32::try_from(o.mib * 1024 * 1024).expect("at most 4095 MiB");
        (RequestKind::DeliverBatch, len)
    };
    let until = Instant::now() + o.hold;
    let began = Instant::now();
    let mut attackers = tokio::task::JoinSet::new();
    for _ in 0..o.connections {
        attackers.spawn(stranger(
            ki_id,
            ki.quic.to_string(),
            o.streams,
            request,
            until,
            sent.clone(),
            opened.clone(),
        ));
    }
    let mut transports = Vec::new();
    while let Some(t) = attackers.join_next().await {
        transports.extend(t.ok().flatten());
    }
    let at_end = rss_kib(pid);
    stop.store(true, Ordering::Relaxed);
    let peak = during.join().expect("sampler");
    for t in &transports {
        t.close().await;
    }
    drop(transports);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(pid);
    let healthy = lotse_tests::torture::wait_healthy(ki.http, Duration::from_secs(5));
    ki.stop();
    println!(
        "strangers: {} connection(s) x {} streams announcing {} ({}) each, for {:.0} s",
        o.connections,
        o.streams,
        if o.join {
            "4 KiB".to_string()
        } else {
            format!("{} MiB", o.mib)
        },
        if o.join { "join" } else { "batch" },
        began.elapsed().as_secs_f64()
    );
    println!(
        "streams the KI let open: {}; bytes the KI took: {:.1} MiB",
        opened.load(Ordering::Relaxed),
        sent.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
    );
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "KI VmRSS: before {:.1} MiB, peak during {:.1} MiB, at the end of the attack {:.1} MiB, 3 s after {:.1} MiB; /healthz afterwards: {}",
        mib(before),
        mib(peak),
        mib(at_end),
        mib(after),
        if healthy { "ok" } else { "no answer" }
    );
}
