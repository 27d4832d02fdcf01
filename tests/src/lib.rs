//! `lotse-tests`: helpers for tests that run real Lotse nodes on loopback.
//!
//! [`TestNet`] starts a KI directory node and `n` agency nodes, each in its own temporary
//! data directory with a real sled store, talking real QUIC on 127.0.0.1. Ports are chosen
//! by the OS (port 0) on first start and kept for restarts, so a stopped node comes back at
//! the same address. Timings (backoff, directory sync) are shortened so tests run fast;
//! nothing else differs from production.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lotse_node::core::Core;
use lotse_node::datadir::DataDir;
use lotse_node::init::{InitOptions, init};
use lotse_node::node::RunningNode;
use lotse_protocol::NodeId;
use lotse_protocol::directory::AgencyKind;

/// Waits until `check` is true, polling every 20 ms, failing after `secs` seconds.
pub async fn wait_for<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {secs}s waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn retry_pause(_cause: lotse_node::transport::TransportError) {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Builds the HTTP routes merged into each node (the JSON API, the UI).
pub type RoutesFn = Arc<dyn Fn(Arc<Core>) -> axum::Router + Send + Sync>;

/// One node of a test network.
pub struct TestNode {
    /// Name.
    pub name: String,
    /// Data directory.
    pub dir: DataDir,
    /// Node id.
    pub id: NodeId,
    running: Option<RunningNode>,
    routes: RoutesFn,
}

impl TestNode {
    /// The running node's shared state.
    pub fn core(&self) -> &Arc<Core> {
        &self.running().core
    }

    /// The running node.
    pub fn running(&self) -> &RunningNode {
        self.running
            .as_ref()
            .unwrap_or_else(|| panic!("node {} is not running", self.name))
    }

    /// True while running.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.running().http_addr)
    }

    /// Starts the node.
    pub async fn start(&mut self) {
        assert!(self.running.is_none(), "{} already runs", self.name);
        // After an in-process stop, quinn may hold the UDP port until its closed
        // connections have drained; a real restart (a new process) never waits for this.
        let mut tries = 0;
        let node = loop {
            let core = Core::open(self.dir.clone()).expect("open node");
            let routes = (self.routes)(core.clone());
            match lotse_node::node::start(core, routes).await {
                Ok(node) => break node,
                Err(lotse_node::node::StartError::Transport(e)) if tries < 100 => {
                    tries += 1;
                    retry_pause(e).await;
                }
                Err(e) => panic!("start {}: {e}", self.name),
            }
        };
        // Keep the port chosen on first start, so restarts come back at the same address.
        let mut config = self.dir.load_config().expect("config");
        let quic = node.quic_addr;
        if config.network.quic_listen.port() == 0 {
            config.network.quic_listen = quic;
            config.network.public_addresses = vec![quic.to_string()];
            self.dir.save_config(&config).expect("save config");
        }
        self.running = Some(node);
    }

    /// Stops the node gracefully.
    pub async fn stop(&mut self) {
        if let Some(node) = self.running.take() {
            node.shutdown().await;
        }
    }
}

/// A KI directory node and agency nodes on loopback.
pub struct TestNet {
    /// The temporary directory holding every node.
    pub root: tempfile::TempDir,
    /// The KI's directory node.
    pub ki: TestNode,
    /// The agencies.
    pub agencies: Vec<TestNode>,
}

const AGENCY_KINDS: [AgencyKind; 3] = [AgencyKind::Mbe, AgencyKind::Jmd, AgencyKind::JobCentre];
const AGENCY_NAMES: [&str; 3] = [
    "Migrationsberatung Caritas",
    "Jugendmigrationsdienst AWO",
    "Jobcenter Musterstadt",
];

fn fast_timings(dir: &DataDir) {
    let mut config = dir.load_config().expect("config");
    config.delivery.backoff_initial_ms = 50;
    config.delivery.backoff_max_ms = 400;
    config.delivery.directory_sync_ms = 150;
    dir.save_config(&config).expect("save config");
}

async fn init_node(root: &std::path::Path, name: &str, directory: bool) -> (DataDir, NodeId) {
    let dir = DataDir::new(root.join(name.replace(' ', "-")));
    let report = init(
        &dir,
        &InitOptions {
            name: name.to_string(),
            directory,
            quic_listen: "127.0.0.1:0".parse().expect("addr"),
            http_listen: "127.0.0.1:0".parse().expect("addr"),
            public_addresses: vec![],
        },
    )
    .await
    .expect("init");
    fast_timings(&dir);
    (dir, report.node_id)
}

impl TestNet {
    /// A network of the KI and `agencies` agencies (at most 3 named ones, then numbered),
    /// all started, joined, and seeing each other in the directory.
    pub async fn new(agencies: usize) -> TestNet {
        Self::with_routes(agencies, Arc::new(|_| axum::Router::new())).await
    }

    /// Like [`TestNet::new`], with extra HTTP routes on every node.
    pub async fn with_routes(agencies: usize, routes: RoutesFn) -> TestNet {
        let root = tempfile::tempdir().expect("tempdir");
        let (ki_dir, ki_id) = init_node(root.path(), "KI Musterstadt", true).await;
        let mut ki = TestNode {
            name: "KI Musterstadt".into(),
            dir: ki_dir,
            id: ki_id,
            running: None,
            routes: routes.clone(),
        };
        ki.start().await;
        let mut net = TestNet {
            root,
            ki,
            agencies: Vec::new(),
        };
        for i in 0..agencies {
            let name = AGENCY_NAMES
                .get(i)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("Agentur {i}"));
            let kind = AGENCY_KINDS.get(i).copied().unwrap_or(AgencyKind::Other);
            let node = net.add_agency(&name, kind, routes.clone()).await;
            net.agencies.push(node);
        }
        net.wait_until_converged().await;
        net
    }

    /// Invites, initialises, joins and starts one agency.
    pub async fn add_agency(&mut self, name: &str, kind: AgencyKind, routes: RoutesFn) -> TestNode {
        let invitation = lotse_node::directory::authority::create_invitation(
            self.ki.core(),
            name,
            kind,
            3_600_000,
        )
        .await
        .expect("invite");
        let (dir, id) = init_node(self.root.path(), name, false).await;
        {
            let core = Core::open(dir.clone()).expect("open");
            lotse_node::join::join(&core, &invitation)
                .await
                .expect("join");
        }
        let mut node = TestNode {
            name: name.to_string(),
            dir,
            id,
            running: None,
            routes,
        };
        node.start().await;
        node
    }

    /// Every running node's directory lists every node with its current address.
    pub async fn wait_until_converged(&self) {
        let nodes: Vec<&TestNode> = std::iter::once(&self.ki)
            .chain(self.agencies.iter())
            .filter(|n| n.is_running())
            .collect();
        let expected: Vec<(NodeId, String)> = nodes
            .iter()
            .map(|n| (n.id, n.running().quic_addr.to_string()))
            .collect();
        for node in &nodes {
            let core = node.core().clone();
            let expected = expected.clone();
            wait_for(&format!("{} to see all members", node.name), 20, || {
                let core = core.clone();
                let expected = expected.clone();
                async move {
                    expected.iter().all(|(id, addr)| {
                        core.directory
                            .member(id)
                            .is_some_and(|m| m.profile.addresses.contains(addr))
                    })
                }
            })
            .await;
        }
    }

    /// Agency `i`.
    pub fn agency(&self, i: usize) -> &TestNode {
        &self.agencies[i]
    }

    /// Stops every node.
    pub async fn shutdown(mut self) {
        for a in &mut self.agencies {
            a.stop().await;
        }
        self.ki.stop().await;
    }
}
