//! `lotse-tests`: helpers for tests that run real Lotse nodes on loopback.
//!
//! [`TestNet`] starts a KI directory node and `n` agency nodes, each in its own temporary
//! data directory with a real sled store, talking real QUIC on 127.0.0.1. Ports are chosen
//! by the OS (port 0) on first start and kept for restarts, so a stopped node comes back at
//! the same address. Timings (backoff, directory sync) are shortened so tests run fast;
//! nothing else differs from production.

pub mod browser;
pub mod hostile;
pub mod store_crash;
pub mod torture;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lotse_node::auth::Role;
use lotse_node::core::Core;
use lotse_node::datadir::DataDir;
use lotse_node::inbox::Applier;
use lotse_node::init::{InitOptions, init};
use lotse_node::node::RunningNode;
use lotse_node::store::{Batch, Space};
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

/// A blocking JSON client for a node's HTTP API, signed in as one user.
#[derive(Clone)]
pub struct Http {
    /// Base URL.
    pub base: String,
    /// Bearer token, once signed in.
    pub token: Option<String>,
}

impl Http {
    /// A client for `node`, not signed in.
    pub fn new(node: &TestNode) -> Http {
        Http {
            base: node.url(),
            token: None,
        }
    }

    /// Sends a request; returns the status and the JSON body (Null if none).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.send_raw(method, path, body.map(|b| b.to_string()))
            .await
    }

    /// Sends a raw body (for malformed JSON).
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.base);
        let token = self.token.clone();
        let method = method.to_string();
        tokio::task::spawn_blocking(move || {
            let mut req = ureq::request(&method, &url);
            if let Some(t) = token {
                req = req.set("Authorization", &format!("Bearer {t}"));
            }
            let result = match body {
                Some(b) => req.set("Content-Type", "application/json").send_string(&b),
                None => req.call(),
            };
            let resp = match result {
                Ok(r) => r,
                Err(ureq::Error::Status(_, r)) => r,
                Err(e) => panic!("request to {url} failed: {e}"),
            };
            let status = resp.status();
            let text = resp.into_string().unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
            )
        })
        .await
        .expect("request task")
    }

    /// GET.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.send("GET", path, None).await
    }

    /// POST.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.send("POST", path, Some(body)).await
    }
}

/// Creates `username` with `role` on `node` ([`add_account`]: through the four-eyes path)
/// and returns a client signed in as them.
pub async fn sign_in_new_user(node: &TestNode, username: &str, display: &str, role: Role) -> Http {
    let password = format!("{username}-Passwort-123");
    add_account(node.core(), username, display, role, &password).await;
    let mut http = Http::new(node);
    let (status, body) = http
        .post(
            "/api/v1/login",
            serde_json::json!({"username": username, "password": password}),
        )
        .await;
    assert_eq!(status, 200, "login: {body}");
    http.token = Some(body["token"].as_str().expect("token").to_string());
    http
}

/// Sends a referral about the client `client` from `sender`'s agency to the node
/// `recipient`, with written consent for name, languages, needs and summary for `purpose`;
/// returns its id.
pub async fn send_referral(
    sender: &Http,
    recipient: &str,
    client: &str,
    purpose: &str,
) -> lotse_protocol::ReferralId {
    let today = time::OffsetDateTime::now_utc().date();
    let (status, body) = sender
        .post(
            "/api/v1/referrals",
            serde_json::json!({
                "recipient": recipient,
                "client": {
                    "name": client,
                    "languages": ["Arabisch"],
                    "needs": [{"field": "work", "description": "Sucht eine Ausbildung"}],
                    "summary": "Seit einem Jahr in der Stadt",
                },
                "consent": {
                    "recipient": recipient,
                    "purpose": purpose,
                    "categories": ["name", "languages", "needs", "summary"],
                    "form": "written",
                    "given_on": today.to_string(),
                    "valid_until": (today + time::Duration::days(365)).to_string(),
                    "recorded_by": "Frau Berger",
                },
            }),
        )
        .await;
    assert_eq!(status, 201, "new referral: {body}");
    body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("the new referral's id")
}

/// Every file under `dir` whose raw bytes contain `needle`.
pub fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(path);
            }
        }
    }
    found
}

/// Builds the HTTP routes merged into each node (the JSON API, the UI).
pub type RoutesFn = Arc<dyn Fn(Arc<Core>) -> axum::Router + Send + Sync>;

/// A received message as recorded by [`RecordingApplier`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppliedMessage {
    /// Message id.
    pub message_id: lotse_protocol::MessageId,
    /// Sender.
    pub sender: NodeId,
    /// Sequence.
    pub sequence: u64,
}

/// How often `message` was applied at `core` under [`RecordingApplier`].
pub fn applied_count(core: &Core, message: lotse_protocol::MessageId) -> usize {
    core.store
        .scan(Space::Events, b"", usize::MAX)
        .expect("scan events")
        .iter()
        .filter(|(_, v)| {
            lotse_node::store::from_json::<AppliedMessage>(Space::Events, v)
                .expect("applied message record")
                .message_id
                == message
        })
        .count()
}

/// An application layer for transport tests: records every applied referral message in
/// the `Events` space, so a test can count how often each was applied.
pub struct RecordingApplier;

impl Applier for RecordingApplier {
    fn apply(
        &self,
        _core: &Core,
        opened: &lotse_protocol::envelope::Opened,
        batch: &mut Batch,
    ) -> Result<(), String> {
        let h = &opened.header;
        let referral = h.referral_id.ok_or("not a referral message")?;
        let mut key = referral.0.to_vec();
        key.extend_from_slice(h.sender.as_bytes());
        key.extend_from_slice(&h.sequence.to_be_bytes());
        let record = AppliedMessage {
            message_id: h.message_id,
            sender: h.sender,
            sequence: h.sequence,
        };
        batch.put(
            Space::Events,
            key,
            serde_json::to_vec(&record).map_err(|e| e.to_string())?,
        );
        Ok(())
    }
}

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
    applier: Arc<dyn Applier>,
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
            let core = Core::open_with(self.dir.clone(), self.applier.clone()).expect("open node");
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
    // Tests that need statistics reports send them when they want them.
    config.statistics.report_ms = 0;
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
    /// all started, joined, and seeing each other in the directory, running the referral
    /// workflow.
    pub async fn new(agencies: usize) -> TestNet {
        Self::build(
            agencies,
            Arc::new(|_| axum::Router::new()),
            Arc::new(lotse_node::referrals::Workflow),
        )
        .await
    }

    /// Like [`TestNet::new`], with [`RecordingApplier`] instead of the workflow.
    pub async fn recording(agencies: usize) -> TestNet {
        Self::build(
            agencies,
            Arc::new(|_| axum::Router::new()),
            Arc::new(RecordingApplier),
        )
        .await
    }

    /// Like [`TestNet::new`], with extra HTTP routes on every node.
    pub async fn with_routes(agencies: usize, routes: RoutesFn) -> TestNet {
        Self::build(agencies, routes, Arc::new(lotse_node::referrals::Workflow)).await
    }

    async fn build(agencies: usize, routes: RoutesFn, applier: Arc<dyn Applier>) -> TestNet {
        let root = tempfile::tempdir().expect("tempdir");
        let (ki_dir, ki_id) = init_node(root.path(), "KI Musterstadt", true).await;
        let mut ki = TestNode {
            name: "KI Musterstadt".into(),
            dir: ki_dir,
            id: ki_id,
            running: None,
            routes: routes.clone(),
            applier: applier.clone(),
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
            let node = net
                .add_agency(&name, kind, routes.clone(), applier.clone())
                .await;
            net.agencies.push(node);
        }
        net.wait_until_converged().await;
        net
    }

    /// Invites, initialises, joins and starts one agency.
    pub async fn add_agency(
        &mut self,
        name: &str,
        kind: AgencyKind,
        routes: RoutesFn,
        applier: Arc<dyn Applier>,
    ) -> TestNode {
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
            applier,
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

/// Publishes the demo services of each agency's kind (`lotse_admin_ui::demo::services`) and
/// waits until every running node's directory lists them.
pub async fn publish_demo_services(net: &TestNet) {
    for a in &net.agencies {
        let kind = net
            .ki
            .core()
            .directory
            .member(&a.id)
            .map(|m| m.member.kind)
            .unwrap_or(AgencyKind::Other);
        lotse_node::services::publish(a.core(), lotse_admin_ui::demo::services(kind))
            .await
            .expect("publish services");
    }
    let expected: Vec<(NodeId, usize)> = net
        .agencies
        .iter()
        .map(|a| {
            let kind = net.ki.core().directory.member(&a.id).map(|m| m.member.kind);
            (
                a.id,
                kind.map(|k| lotse_admin_ui::demo::services(k).len())
                    .unwrap_or(0),
            )
        })
        .collect();
    for node in std::iter::once(&net.ki).chain(net.agencies.iter()) {
        let core = node.core().clone();
        let expected = expected.clone();
        wait_for(&format!("{} to see the services", node.name), 20, || {
            let core = core.clone();
            let expected = expected.clone();
            async move {
                expected.iter().all(|(id, n)| {
                    core.directory
                        .member(id)
                        .is_some_and(|m| m.profile.services.len() == *n)
                })
            }
        })
        .await;
    }
}

/// The team lead [`add_account`] creates on a node that has none when it needs one.
pub const TEST_TEAM_LEAD: &str = "teamleitung";

/// Creates `username` with `role` and `password` on the node `core` the way an agency's
/// accounts come to be (`lotse_admin_ui::demo::add_account`): made on the server, and one
/// with case access confirmed by a team lead, who hands over the one-time code with which
/// the user sets `password`. A node without a team lead first gets one,
/// [`TEST_TEAM_LEAD`], made on the server as `lotse user add` makes the first team lead.
/// Nothing here goes around the four-eyes rule.
pub async fn add_account(core: &Core, username: &str, display: &str, role: Role, password: &str) {
    let has_lead = lotse_node::auth::users::list_users(core)
        .expect("list users")
        .iter()
        .any(|u| u.role == Role::TeamLead && u.is_active());
    if role == Role::CaseManager && !has_lead {
        lotse_admin_ui::demo::add_account(
            core,
            TEST_TEAM_LEAD,
            "Teamleitung (Test)",
            Role::TeamLead,
            "teamleitung-Passwort-123",
        )
        .await
        .expect("the first team lead");
    }
    lotse_admin_ui::demo::add_account(core, username, display, role, password)
        .await
        .unwrap_or_else(|e| panic!("add {username}: {e}"));
}

impl TestNode {
    /// Stops the node, changes its `lotse.toml` with `change` (e.g. shorter transport
    /// timeouts for a test), and starts it again at the same address.
    pub async fn restart_with(&mut self, change: impl FnOnce(&mut lotse_node::config::Config)) {
        self.stop().await;
        let mut config = self.dir.load_config().expect("config");
        change(&mut config);
        self.dir.save_config(&config).expect("save config");
        self.start().await;
    }
}
