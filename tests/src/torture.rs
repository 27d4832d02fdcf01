//! Crash torture: real `lotse run` processes, killed with SIGKILL at random moments while
//! referrals and their updates flow between two agencies through the HTTP API.
//!
//! This is the proof of invariant 3 of DESIGN.md ("an acknowledged message is never lost,
//! and never applied twice, across crashes, restarts and network faults"). The harness
//! builds a network exactly as an operator would, with the `lotse` binary: `lotse init
//! --directory` for the KI, `lotse invite`, `lotse init --join` for two agencies, `lotse
//! user add` for their staff. Then worker threads drive the JSON API (sign in, create
//! referrals at agency A, accept them and report progress at agency B, add notes at A)
//! while a chaos thread kills A and B (and, every tenth round, the KI) with SIGKILL at
//! random moments and restarts them.
//!
//! Every API call is recorded as acknowledged (a 2xx answer), refused (nothing was sent:
//! connection refused, or a 4xx that writes nothing) or unknown (the request went out and
//! no answer came: the node died under it). After a quiet period every node is stopped
//! and checked: `lotse audit verify` must pass, and every store is opened offline with
//! [`Core::open`] to check that
//! - every acknowledged referral, acceptance, status update and note exists exactly once
//!   at its recipient and exactly once at its sender;
//! - no message exists twice anywhere (unknown calls included: at most once);
//! - every outbox entry is delivered, nothing waits in an inbox or the pending queue;
//! - both ends agree on every referral's status;
//! - the KI's directory still lists both agencies as active members.
//!
//! The schedule comes from a seeded RNG; the seed is printed, and `LOTSE_TORTURE_SEED`
//! replays a schedule (the same kill gaps and victims; the operating system's timing still
//! varies). `LOTSE_TORTURE=long` selects the long run (10,000 messages, 200 kills).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lotse_node::core::Core;
use lotse_node::datadir::DataDir;
use lotse_node::outbox::{self, DeliveryState};
use lotse_node::referrals::{self, EventDetail, ReferralRecord};
use lotse_node::store::{Space, from_json};
use lotse_protocol::{MessageId, ReferralId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// What one run does.
#[derive(Debug, Clone)]
pub struct TortureConfig {
    /// `short` or `long`.
    pub mode: String,
    /// Seed of the kill schedule.
    pub seed: u64,
    /// Keep going until at least this many messages were acknowledged...
    pub target_messages: usize,
    /// ...and at least this many SIGKILLs were sent.
    pub kills: usize,
    /// Updates per referral after its acceptance (alternating: status update by B, note
    /// by A).
    pub updates_per_referral: usize,
    /// Concurrent API clients.
    pub workers: usize,
    /// Pause between kills, uniformly in this range (ms).
    pub kill_gap_ms: (u64, u64),
    /// How long a killed node stays down, uniformly in this range (ms).
    pub down_ms: (u64, u64),
    /// The whole run must finish within this.
    pub deadline: Duration,
    /// Keep the data directories after a successful run.
    pub keep: bool,
}

fn env_num(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

impl TortureConfig {
    /// The short run: about 20 kills, a few hundred messages, one to two minutes.
    pub fn short(seed: u64) -> Self {
        Self {
            mode: "short".into(),
            seed,
            target_messages: 150,
            kills: 20,
            updates_per_referral: 3,
            workers: 3,
            kill_gap_ms: (800, 2400),
            down_ms: (0, 400),
            deadline: Duration::from_secs(300),
            keep: false,
        }
    }

    /// The long run: 10,000 messages and 200 kills.
    pub fn long(seed: u64) -> Self {
        Self {
            mode: "long".into(),
            seed,
            target_messages: 10_000,
            kills: 200,
            updates_per_referral: 8,
            workers: 6,
            kill_gap_ms: (500, 3000),
            down_ms: (0, 1000),
            deadline: Duration::from_secs(3 * 3600),
            keep: false,
        }
    }

    /// From the environment: `LOTSE_TORTURE=long|short`, `LOTSE_TORTURE_SEED`,
    /// `LOTSE_TORTURE_KILLS`, `LOTSE_TORTURE_MESSAGES`, `LOTSE_TORTURE_KEEP=1`.
    pub fn from_env() -> Self {
        let seed = env_num("LOTSE_TORTURE_SEED").unwrap_or_else(rand::random);
        let mut config = match std::env::var("LOTSE_TORTURE").as_deref() {
            Ok("long") => Self::long(seed),
            _ => Self::short(seed),
        };
        if let Some(k) = env_num("LOTSE_TORTURE_KILLS") {
            config.kills = k as usize;
        }
        if let Some(m) = env_num("LOTSE_TORTURE_MESSAGES") {
            config.target_messages = m as usize;
        }
        config.keep = std::env::var("LOTSE_TORTURE_KEEP").is_ok_and(|v| v == "1");
        config
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct TortureReport {
    /// SIGKILLs sent.
    pub kills: usize,
    /// Messages acknowledged by the API.
    pub acknowledged: usize,
    /// Calls whose outcome was unknown (the node died under them).
    pub unknown: usize,
    /// Referrals created (acknowledged).
    pub referrals: usize,
    /// Wall time of the load phase.
    pub load_secs: f64,
    /// Wall time in total.
    pub total_secs: f64,
    /// Slowest restart (spawn to healthy), ms.
    pub slowest_restart_ms: u128,
}

// ---------------------------------------------------------------------------------------
// Processes

/// A free port on 127.0.0.1 for TCP and one for UDP (bound and released: a small race
/// with other programs is accepted in a test).
fn free_ports() -> (u16, u16) {
    let tcp = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free TCP port: {e}"));
    let udp = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free UDP port: {e}"));
    (tcp, udp)
}

/// Runs the `lotse` binary to completion, with `stdin` piped in.
pub fn lotse(bin: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    if let (Some(mut input), Some(text)) = (child.stdin.take(), stdin) {
        let _ = input.write_all(text.as_bytes());
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("lotse {args:?}: {e}"))
}

/// Runs `lotse` and panics with its output unless it succeeds; returns stdout.
pub fn lotse_ok(bin: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = lotse(bin, args, stdin);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "lotse {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// One node run as a `lotse run` child process.
pub struct NodeProcess {
    /// Name (for messages).
    pub name: String,
    /// Data directory.
    pub dir: PathBuf,
    /// HTTP address.
    pub http: SocketAddr,
    /// QUIC address.
    pub quic: SocketAddr,
    bin: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// Polls `http://addr/healthz` until it answers 200 or `limit` passes.
pub fn wait_healthy(addr: SocketAddr, limit: Duration) -> bool {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_millis(500))
        .max_idle_connections(0)
        .build();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if agent
            .get(&format!("http://{addr}/healthz"))
            .call()
            .is_ok_and(|r| r.status() == 200)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

impl NodeProcess {
    /// A node named `name` in `root/name`, with free loopback ports, not started.
    pub fn new(bin: &Path, root: &Path, name: &str) -> Self {
        let (http, quic) = free_ports();
        Self {
            name: name.to_string(),
            dir: root.join(name),
            http: SocketAddr::from(([127, 0, 0, 1], http)),
            quic: SocketAddr::from(([127, 0, 0, 1], quic)),
            bin: bin.to_path_buf(),
            log: root.join(format!("{name}.log")),
            child: None,
        }
    }

    /// The process id of the running `lotse run`, if it runs (to read its memory use).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The data directory as text, for command lines.
    pub fn dir_str(&self) -> String {
        self.dir.display().to_string()
    }

    /// Starts `lotse run` and waits until `/healthz` answers; returns the time that took.
    pub fn start(&mut self) -> Duration {
        assert!(self.child.is_none(), "{} runs already", self.name);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("log file: {e}"));
        let err = log.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
        let began = Instant::now();
        let child = Command::new(&self.bin)
            .args(["run", "--data-dir", &self.dir_str()])
            .env("RUST_LOG", "info,quinn=warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if wait_healthy(self.http, Duration::from_millis(200)) {
                return began.elapsed();
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!(
                    "{} exited during start ({status}); log {}:\n{}",
                    self.name,
                    self.log.display(),
                    tail(&self.log, 40)
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "{} did not become healthy in 60 s; log:\n{}",
                    self.name,
                    tail(&self.log, 40)
                );
            }
        }
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // `Child::kill` sends SIGKILL on Unix.
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for the graceful shutdown (SIGKILL after 20 s).
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        // SIGTERM through kill(1): the workspace forbids unsafe code, so no libc::kill.
        // Without kill(1) there is no graceful stop to wait for; SIGKILL at once.
        let signalled = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let wait = if signalled { 20 } else { 0 };
        let deadline = Instant::now() + Duration::from_secs(wait);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// The node's admin token (for the local admin API).
    pub fn admin_token(&self) -> String {
        DataDir::new(&self.dir)
            .load_token()
            .unwrap_or_else(|e| panic!("admin token of {}: {e}", self.name))
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Shortens retry and directory sync timings, as the in-process TestNet does.
fn fast_timings(dir: &Path) {
    let dir = DataDir::new(dir);
    let mut config = dir.load_config().unwrap_or_else(|e| panic!("config: {e}"));
    config.delivery.backoff_initial_ms = 50;
    config.delivery.backoff_max_ms = 500;
    config.delivery.directory_sync_ms = 200;
    dir.save_config(&config)
        .unwrap_or_else(|e| panic!("config: {e}"));
}

/// A KI and two agencies, created and joined with the CLI, each with its staff.
pub struct CliNetwork {
    /// The KI's directory node.
    pub ki: NodeProcess,
    /// Agency A (sends referrals).
    pub a: NodeProcess,
    /// Agency B (receives them).
    pub b: NodeProcess,
    /// A's node id (hex).
    pub a_id: String,
    /// B's node id (hex).
    pub b_id: String,
}

/// The staff every agency of a [`CliNetwork`] gets (username, role, password).
pub const STAFF: [(&str, &str, &str); 2] = [
    ("fall", "case_manager", "fall-Passwort-123"),
    ("leitung", "team_lead", "leitung-Passwort-123"),
];

fn node_id_of(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("node id:"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("no node id in: {stdout}"))
}

impl CliNetwork {
    /// Builds the network in `root` with the `lotse` binary `bin`, all nodes running.
    pub fn create(bin: &Path, root: &Path) -> Self {
        let mut ki = NodeProcess::new(bin, root, "ki");
        let (ki_quic, ki_http) = (ki.quic.to_string(), ki.http.to_string());
        lotse_ok(
            bin,
            &[
                "init",
                "--data-dir",
                &ki.dir_str(),
                "--name",
                "KI Folterstadt",
                "--directory",
                "--quic",
                &ki_quic,
                "--http",
                &ki_http,
            ],
            None,
        );
        fast_timings(&ki.dir);
        ki.start();
        let mut agencies = Vec::new();
        for (name, kind) in [("a", "mbe"), ("b", "jmd")] {
            let node = NodeProcess::new(bin, root, name);
            let invite = lotse_ok(
                bin,
                &[
                    "invite",
                    "--data-dir",
                    &ki.dir_str(),
                    "--agency",
                    &format!("Agentur {}", name.to_uppercase()),
                    "--kind",
                    kind,
                ],
                None,
            );
            let token = invite.lines().last().unwrap_or_default().trim().to_string();
            let (quic, http) = (node.quic.to_string(), node.http.to_string());
            let created = lotse_ok(
                bin,
                &[
                    "init",
                    "--data-dir",
                    &node.dir_str(),
                    "--name",
                    &format!("Agentur {}", name.to_uppercase()),
                    "--quic",
                    &quic,
                    "--http",
                    &http,
                    "--join",
                    &token,
                ],
                None,
            );
            fast_timings(&node.dir);
            // The team lead first: `lotse user add` makes a node's first one directly. The
            // case manager then takes the four-eyes path (on the stopped node, as `lotse
            // user add` does): confirmed by the team lead, password set with the code.
            for (user, role, password) in STAFF.iter().rev() {
                if *role != "case_manager" {
                    lotse_ok(
                        bin,
                        &[
                            "user",
                            "add",
                            "--data-dir",
                            &node.dir_str(),
                            "--username",
                            user,
                            "--role",
                            role,
                        ],
                        Some(&format!("{password}\n")),
                    );
                    continue;
                }
                let core = Core::open(DataDir::new(&node.dir)).expect("open the stopped node");
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(crate::add_account(
                        &core,
                        user,
                        user,
                        lotse_node::auth::Role::CaseManager,
                        password,
                    ));
                let vault = core.vault.clone();
                drop(core);
                vault.wait_for_refill();
            }
            agencies.push((node, node_id_of(&created)));
        }
        let (mut b, b_id) = agencies.pop().unwrap_or_else(|| unreachable!());
        let (mut a, a_id) = agencies.pop().unwrap_or_else(|| unreachable!());
        a.start();
        b.start();
        let net = CliNetwork {
            ki,
            a,
            b,
            a_id,
            b_id,
        };
        net.wait_until_members_see_each_other();
        net
    }

    fn wait_until_members_see_each_other(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for (node, other) in [(&self.a, &self.b_id), (&self.b, &self.a_id)] {
            let admin = AdminApi::new(node);
            loop {
                let seen = admin
                    .get("/api/v1/admin/directory")
                    .map(|d| d.to_string().contains(other.as_str()))
                    .unwrap_or(false);
                if seen {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} never saw the other agency in its directory",
                    node.name
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Stops every node gracefully.
    pub fn stop_all(&mut self) {
        self.a.stop();
        self.b.stop();
        self.ki.stop();
    }
}

// ---------------------------------------------------------------------------------------
// HTTP

/// How a call went.
#[derive(Debug, Clone)]
pub enum Call {
    /// An HTTP answer.
    Answer(u16, Value),
    /// Nothing was sent: the connection was refused (the node is down).
    Refused,
    /// The request may have been sent; no answer came (the node died under it).
    Lost(String),
}

fn agent() -> ureq::Agent {
    // No pooled connections: a fresh connection per call makes "refused" mean "not sent".
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(2))
        .timeout(Duration::from_secs(30))
        .max_idle_connections(0)
        .build()
}

fn raw_call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> Call {
    let mut req = agent.request(method, url);
    if let Some(a) = auth {
        req = req.set("Authorization", &format!("Bearer {a}"));
    }
    let result = match body {
        Some(b) => req
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(t)) => {
            return if t.kind() == ureq::ErrorKind::ConnectionFailed {
                Call::Refused
            } else {
                Call::Lost(t.to_string())
            };
        }
    };
    let status = resp.status();
    match resp.into_string() {
        Ok(text) => Call::Answer(status, serde_json::from_str(&text).unwrap_or(Value::Null)),
        Err(e) => Call::Lost(format!("answer cut off: {e}")),
    }
}

/// The local admin API of a node (admin.token).
struct AdminApi {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl AdminApi {
    fn new(node: &NodeProcess) -> Self {
        Self {
            agent: agent(),
            base: format!("http://{}", node.http),
            token: node.admin_token(),
        }
    }

    fn get(&self, path: &str) -> Option<Value> {
        match raw_call(
            &self.agent,
            "GET",
            &format!("{}{path}", self.base),
            Some(&self.token),
            None,
        ) {
            Call::Answer(200, v) => Some(v),
            _ => None,
        }
    }
}

/// A signed-in user of one node's JSON API, signing in again when the session is gone.
pub struct UserApi {
    agent: ureq::Agent,
    base: String,
    username: String,
    password: String,
    token: Mutex<Option<String>>,
}

impl UserApi {
    /// A client for `username` at `http`.
    pub fn new(http: SocketAddr, username: &str, password: &str) -> Self {
        Self {
            agent: agent(),
            base: format!("http://{http}"),
            username: username.into(),
            password: password.into(),
            token: Mutex::new(None),
        }
    }

    fn login(&self) -> Option<String> {
        let body = json!({"username": self.username, "password": self.password});
        match raw_call(
            &self.agent,
            "POST",
            &format!("{}/api/v1/login", self.base),
            None,
            Some(&body),
        ) {
            Call::Answer(200, v) => v["token"].as_str().map(str::to_string),
            Call::Answer(code, v) if code != 429 => {
                panic!("{} cannot sign in: {code} {v}", self.username)
            }
            _ => None,
        }
    }

    /// One call; a missing or lost session (401) is renewed and the call repeated, since a
    /// 401 means nothing was done.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Call {
        for _ in 0..3 {
            let token = {
                let mut t = self.token.lock().unwrap_or_else(|p| p.into_inner());
                if t.is_none() {
                    *t = self.login();
                }
                t.clone()
            };
            let Some(token) = token else {
                return Call::Refused;
            };
            let url = format!("{}{path}", self.base);
            match raw_call(&self.agent, method, &url, Some(&token), body) {
                Call::Answer(401, _) => {
                    *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                other => return other,
            }
        }
        Call::Refused
    }
}

// ---------------------------------------------------------------------------------------
// The ledger of what the API acknowledged

/// How a call that sends a message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// 2xx: the node promised to deliver it.
    Acked,
    /// No answer: it may or may not exist, but never twice.
    Unknown,
}

#[derive(Debug, Clone)]
struct Update {
    text: String,
    /// True for a note by A (the sender side), false for a status update by B.
    by_sender: bool,
    ack: Ack,
}

#[derive(Debug, Clone)]
struct Case {
    client: String,
    id: Option<String>,
    create: Ack,
    accept: Option<Ack>,
    updates: Vec<Update>,
}

#[derive(Default)]
struct Ledger {
    cases: Vec<Case>,
    anomalies: Vec<String>,
}

struct Shared {
    config: TortureConfig,
    sender: UserApi,
    receiver: UserApi,
    b_id: String,
    ledger: Mutex<Ledger>,
    acked: AtomicUsize,
    unknown: AtomicUsize,
    kills: AtomicUsize,
    next_case: AtomicUsize,
    chaos_done: AtomicBool,
    deadline: Instant,
}

impl Shared {
    fn more_work_wanted(&self) -> bool {
        Instant::now() < self.deadline
            && (self.acked.load(Ordering::SeqCst) < self.config.target_messages
                || !self.chaos_done.load(Ordering::SeqCst))
    }

    fn anomaly(&self, what: String) {
        eprintln!("torture: anomaly: {what}");
        self.ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .anomalies
            .push(what);
    }

    fn count(&self, ack: Ack) {
        match ack {
            Ack::Acked => self.acked.fetch_add(1, Ordering::SeqCst),
            Ack::Unknown => self.unknown.fetch_add(1, Ordering::SeqCst),
        };
    }
}

fn today_plus(days: i64) -> String {
    (time::OffsetDateTime::now_utc().date() + time::Duration::days(days)).to_string()
}

fn new_referral(recipient: &str, client: &str) -> Value {
    json!({
        "recipient": recipient,
        "client": {
            "name": client,
            "languages": ["Arabisch"],
            "needs": [{"field": "housing", "description": "Sucht eine Wohnung"}],
        },
        "consent": {
            "recipient": recipient,
            "purpose": "Unterstützung bei der Wohnungssuche",
            "categories": ["name", "languages", "needs"],
            "form": "written",
            "given_on": today_plus(0),
            "valid_until": today_plus(365),
            "recorded_by": "Torture",
        },
    })
}

/// A 409 that says the referral changed at the same moment: nothing was written, retry.
fn is_busy(code: u16, body: &Value) -> bool {
    code == 409
        && body["error"]
            .as_str()
            .is_some_and(|e| e.contains("same moment"))
}

const PAUSE: Duration = Duration::from_millis(30);

/// Sends one message-producing call until it is acknowledged, lost, or refused for good.
/// Returns the answer body when acknowledged.
fn send_message(
    shared: &Shared,
    api: &UserApi,
    path: &str,
    body: &Value,
    what: &str,
) -> Option<(Ack, Value)> {
    loop {
        if Instant::now() > shared.deadline {
            return None;
        }
        match api.call("POST", path, Some(body)) {
            Call::Answer(200 | 201, v) => return Some((Ack::Acked, v)),
            Call::Answer(code, v) if is_busy(code, &v) => std::thread::sleep(PAUSE),
            Call::Answer(code, v) if code >= 500 || code == 429 => {
                // A 5xx may come from a node that is shutting down under the kill; it
                // promises nothing, but it also does not say nothing was written.
                shared.anomaly(format!("{what}: {code} {v}"));
                return Some((Ack::Unknown, Value::Null));
            }
            Call::Answer(code, v) => {
                shared.anomaly(format!("{what}: unexpected {code} {v}"));
                return None;
            }
            Call::Refused => std::thread::sleep(PAUSE),
            Call::Lost(_) => return Some((Ack::Unknown, Value::Null)),
        }
    }
}

/// B's view of a referral's status, once it is there.
fn status_at_receiver(shared: &Shared, id: &str) -> Option<String> {
    match shared
        .receiver
        .call("GET", &format!("/api/v1/referrals/{id}"), None)
    {
        Call::Answer(200, v) => v["status"].as_str().map(str::to_string),
        _ => None,
    }
}

/// One referral's whole life: create at A, accept at B, then updates from both sides.
fn run_case(shared: &Shared, n: usize) {
    let seed = shared.config.seed;
    let client = format!("Klient {seed}-{n}");
    let created = send_message(
        shared,
        &shared.sender,
        "/api/v1/referrals",
        &new_referral(&shared.b_id, &client),
        "create",
    );
    let Some((ack, body)) = created else { return };
    shared.count(ack);
    let id = body["id"].as_str().map(str::to_string);
    let index = {
        let mut l = shared.ledger.lock().unwrap_or_else(|p| p.into_inner());
        l.cases.push(Case {
            client,
            id: id.clone(),
            create: ack,
            accept: None,
            updates: vec![],
        });
        l.cases.len() - 1
    };
    let set = |f: &dyn Fn(&mut Case)| {
        let mut l = shared.ledger.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut l.cases[index]);
    };
    // An unknown create has no id to continue with; the offline check finds it by name.
    let Some(id) = id else { return };

    // B accepts once the referral has arrived.
    let events = format!("/api/v1/referrals/{id}/events");
    loop {
        if Instant::now() > shared.deadline {
            return;
        }
        match status_at_receiver(shared, &id).as_deref() {
            Some("delivered") => {}
            Some("accepted") => break, // an earlier unknown accept went through
            Some(other) => {
                shared.anomaly(format!("referral {id} is {other} at B before acceptance"));
                return;
            }
            None => {
                std::thread::sleep(PAUSE);
                continue;
            }
        }
        let accepted = send_message(
            shared,
            &shared.receiver,
            &events,
            &json!({"type": "accept"}),
            "accept",
        );
        match accepted {
            Some((ack, _)) => {
                shared.count(ack);
                set(&|c| c.accept = Some(ack));
                if ack == Ack::Acked {
                    break;
                }
            }
            None => return,
        }
    }

    for j in 0..shared.config.updates_per_referral {
        let by_sender = j % 2 == 1;
        let text = format!(
            "{} {seed}-{n}-{j}",
            if by_sender { "Notiz" } else { "Stand" }
        );
        let (api, body) = if by_sender {
            (&shared.sender, json!({"type": "note", "text": text}))
        } else {
            (
                &shared.receiver,
                json!({"type": "status_update", "note": text}),
            )
        };
        let Some((ack, _)) = send_message(shared, api, &events, &body, "update") else {
            return;
        };
        shared.count(ack);
        set(&|c| {
            c.updates.push(Update {
                text: text.clone(),
                by_sender,
                ack,
            })
        });
    }
}

fn worker(shared: Arc<Shared>) {
    while shared.more_work_wanted() {
        let n = shared.next_case.fetch_add(1, Ordering::SeqCst);
        run_case(&shared, n);
    }
}

// ---------------------------------------------------------------------------------------
// Chaos

struct Chaos {
    kills: usize,
    slowest_restart: Duration,
}

fn chaos(
    shared: &Shared,
    ki: &Mutex<NodeProcess>,
    a: &Mutex<NodeProcess>,
    b: &Mutex<NodeProcess>,
) -> Chaos {
    let config = &shared.config;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut kills = 0;
    let mut round = 0u32;
    let mut slowest = Duration::ZERO;
    while kills < config.kills && Instant::now() < shared.deadline {
        let gap = rng.gen_range(config.kill_gap_ms.0..=config.kill_gap_ms.1);
        std::thread::sleep(Duration::from_millis(gap));
        let roll = rng.gen_range(0..100);
        // Every tenth round (the 5th, 15th, ...) kills the KI: it holds no case data, but
        // its directory must survive too, and the agencies must carry on without it.
        round += 1;
        let victims: Vec<&Mutex<NodeProcess>> = match roll {
            _ if round % 10 == 5 => vec![ki],
            0..45 => vec![a],
            45..90 => vec![b],
            _ => vec![a, b],
        };
        let down = rng.gen_range(config.down_ms.0..=config.down_ms.1);
        for v in &victims {
            v.lock().unwrap_or_else(|p| p.into_inner()).kill();
            kills += 1;
        }
        shared.kills.store(kills, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(down));
        for v in &victims {
            let took = v.lock().unwrap_or_else(|p| p.into_inner()).start();
            slowest = slowest.max(took);
        }
        if kills % 10 == 0 || kills == config.kills {
            eprintln!(
                "torture: {kills} kills, {} messages acknowledged, {} unknown",
                shared.acked.load(Ordering::SeqCst),
                shared.unknown.load(Ordering::SeqCst)
            );
        }
    }
    shared.chaos_done.store(true, Ordering::SeqCst);
    Chaos {
        kills,
        slowest_restart: slowest,
    }
}

/// Messages not yet delivered or applied in the stopped node at `dir`.
fn unsettled(dir: &Path) -> usize {
    let core = Core::open(DataDir::new(dir))
        .unwrap_or_else(|e| panic!("{} does not open: {e}", dir.display()));
    let count = |space| {
        core.store
            .scan(space, b"", usize::MAX)
            .map(|v| v.len())
            .unwrap_or(usize::MAX)
    };
    count(Space::OutboxPending) + count(Space::Inbox)
}

/// The quiet period: lets the agencies deliver what is queued, then stops them and looks
/// into their stores; if anything is still pending, starts them again and repeats, for at
/// most `limit`. Returns true when both stores have nothing left to deliver or apply.
fn settle(a: &mut NodeProcess, b: &mut NodeProcess, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let quiet_until = Instant::now() + Duration::from_secs(10);
        let (admin_a, admin_b) = (AdminApi::new(a), AdminApi::new(b));
        let queued = |admin: &AdminApi| {
            admin
                .get("/api/v1/admin/outbox")
                .and_then(|v| v.as_array().cloned())
                .map(|v| v.iter().filter(|r| r["state"]["state"] == "queued").count())
                .unwrap_or(usize::MAX)
        };
        while Instant::now() < quiet_until && (queued(&admin_a) > 0 || queued(&admin_b) > 0) {
            std::thread::sleep(Duration::from_millis(100));
        }
        // Receipts and in-order application may still be under way.
        std::thread::sleep(Duration::from_millis(500));
        a.stop();
        b.stop();
        let left = unsettled(&a.dir) + unsettled(&b.dir);
        if left == 0 {
            return true;
        }
        if Instant::now() > deadline {
            eprintln!("torture: {left} messages still unsettled after the quiet period");
            return false;
        }
        eprintln!("torture: {left} messages still unsettled; running the agencies longer");
        a.start();
        b.start();
    }
}

// ---------------------------------------------------------------------------------------
// The offline check

/// A timeline event as the check sees it: kind, note, message id, outgoing.
type EventView = (String, Option<String>, Option<MessageId>, bool);

/// One node's stored messages, decrypted where needed.
struct NodeView {
    records: HashMap<ReferralId, ReferralRecord>,
    /// Per referral: (kind, note, message id, outgoing).
    events: HashMap<ReferralId, Vec<EventView>>,
    clients: HashMap<String, Vec<ReferralId>>,
    outbox: Vec<outbox::OutboxRecord>,
    pending: usize,
    inbox: usize,
}

fn view(core: &Core, failures: &mut Vec<String>, name: &str) -> NodeView {
    let mut records = HashMap::new();
    let mut events = HashMap::new();
    let mut clients: HashMap<String, Vec<ReferralId>> = HashMap::new();
    let vault = referrals::vault(core);
    let scanned = core
        .store
        .scan(Space::Referrals, b"", usize::MAX)
        .unwrap_or_else(|e| panic!("{name}: scan referrals: {e}"));
    for (_, bytes) in scanned {
        let record: ReferralRecord = match from_json(Space::Referrals, &bytes) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: unreadable referral record: {e}"));
                continue;
            }
        };
        let id = record.id;
        match referrals::case(core, &id) {
            Ok(case) => clients
                .entry(case.client.name.unwrap_or_default())
                .or_default()
                .push(id),
            Err(e) => failures.push(format!("{name}: case file of {id} unreadable: {e}")),
        }
        let mut list = Vec::new();
        match referrals::events(core, &id) {
            Ok(evs) => {
                for e in evs {
                    let note = e
                        .sealed_detail
                        .as_ref()
                        .and_then(|s| match vault.open(&id, s) {
                            Ok(plain) => from_json::<EventDetail>(Space::Events, &plain)
                                .ok()
                                .and_then(|d| d.note),
                            Err(err) => {
                                failures.push(format!(
                                    "{name}: event detail of {id} unreadable: {err}"
                                ));
                                None
                            }
                        });
                    list.push((e.kind, note, e.message_id, e.outgoing));
                }
            }
            Err(e) => failures.push(format!("{name}: events of {id} unreadable: {e}")),
        }
        events.insert(id, list);
        records.insert(id, record);
    }
    let outbox = outbox::list(core, usize::MAX).unwrap_or_else(|e| panic!("{name}: outbox: {e}"));
    let pending = core
        .store
        .scan(Space::OutboxPending, b"", usize::MAX)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    let inbox = core
        .store
        .scan(Space::Inbox, b"", usize::MAX)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    NodeView {
        records,
        events,
        clients,
        outbox,
        pending,
        inbox,
    }
}

/// Every message `from` sent (its outbox, referral messages) arrived at `to` exactly once,
/// and `to` has nothing from `from` that `from` did not send.
fn check_pair(from: &NodeView, to: &NodeView, names: (&str, &str), failures: &mut Vec<String>) {
    let (fname, tname) = names;
    let sent: HashSet<MessageId> = from
        .outbox
        .iter()
        .filter(|r| r.referral_id.is_some())
        .map(|r| r.message_id)
        .collect();
    let mut received: HashMap<MessageId, usize> = HashMap::new();
    for list in to.events.values() {
        for (_, _, id, outgoing) in list {
            if let (Some(id), false) = (id, outgoing) {
                *received.entry(*id).or_default() += 1;
            }
        }
    }
    for id in &sent {
        match received.get(id).copied().unwrap_or(0) {
            1 => {}
            n => failures.push(format!(
                "message {id} from {fname} applied {n} times at {tname}"
            )),
        }
    }
    for (id, n) in &received {
        if !sent.contains(id) {
            failures.push(format!(
                "{tname} applied message {id} ({n}x) that {fname}'s outbox does not hold"
            ));
        }
    }
}

fn count_notes(view: &NodeView, id: &ReferralId, text: &str, outgoing: bool) -> usize {
    view.events.get(id).map_or(0, |l| {
        l.iter()
            .filter(|(_, note, _, out)| note.as_deref() == Some(text) && *out == outgoing)
            .count()
    })
}

fn count_kind(view: &NodeView, id: &ReferralId, kind: &str, outgoing: bool) -> usize {
    view.events.get(id).map_or(0, |l| {
        l.iter()
            .filter(|(k, _, _, out)| k == kind && *out == outgoing)
            .count()
    })
}

fn check_ledger(ledger: &Ledger, a: &NodeView, b: &NodeView, failures: &mut Vec<String>) {
    for case in &ledger.cases {
        let at_a = a.clients.get(&case.client).map_or(0, Vec::len);
        let ok_counts: &[usize] = match case.create {
            Ack::Acked => &[1],
            Ack::Unknown => &[0, 1],
        };
        if !ok_counts.contains(&at_a) {
            failures.push(format!(
                "referral for {:?} ({:?}) exists {at_a} times at A",
                case.client, case.create
            ));
            continue;
        }
        let Some(id) = a.clients.get(&case.client).and_then(|v| v.first()).copied() else {
            continue;
        };
        if let Some(text) = &case.id
            && text != &id.to_string()
        {
            failures.push(format!("the API answered id {text}, A stores {id}"));
        }
        let at_b = b.clients.get(&case.client).map_or(0, Vec::len);
        if at_b != 1 || count_kind(b, &id, "received", false) != 1 {
            failures.push(format!(
                "referral {id} is {at_b} times at B with {} 'received' events",
                count_kind(b, &id, "received", false)
            ));
        }
        if let Some(ack) = case.accept {
            let (out, inc) = (
                count_kind(b, &id, "accept", true),
                count_kind(a, &id, "accept", false),
            );
            let fine = match ack {
                Ack::Acked => out == 1 && inc == 1,
                Ack::Unknown => out <= 1 && inc == out,
            };
            if !fine {
                failures.push(format!(
                    "acceptance of {id} ({ack:?}): {out} at B, {inc} at A"
                ));
            }
        }
        for u in &case.updates {
            let (sender, recipient, names) = if u.by_sender {
                (a, b, ("A", "B"))
            } else {
                (b, a, ("B", "A"))
            };
            let out = count_notes(sender, &id, &u.text, true);
            let inc = count_notes(recipient, &id, &u.text, false);
            let fine = match u.ack {
                Ack::Acked => out == 1 && inc == 1,
                Ack::Unknown => out <= 1 && inc == out,
            };
            if !fine {
                failures.push(format!(
                    "{:?} ({:?}) of {id}: {out} times at {}, {inc} times at {}",
                    u.text, u.ack, names.0, names.1
                ));
            }
        }
    }
}

fn check_stores(a: &NodeView, b: &NodeView, failures: &mut Vec<String>) {
    for (name, v) in [("A", a), ("B", b)] {
        for r in &v.outbox {
            if !matches!(r.state, DeliveryState::Delivered { .. }) {
                failures.push(format!(
                    "{name}: outbox message {} ({:?}) is {}: {:?}",
                    r.message_id,
                    r.kind,
                    r.state.name(),
                    r.state
                ));
            }
        }
        if v.pending != 0 {
            failures.push(format!("{name}: {} envelopes still pending", v.pending));
        }
        if v.inbox != 0 {
            failures.push(format!(
                "{name}: {} received envelopes not applied",
                v.inbox
            ));
        }
        for (client, ids) in &v.clients {
            if ids.len() > 1 {
                failures.push(format!("{name}: {client:?} has {} referrals", ids.len()));
            }
        }
    }
    for (id, ra) in &a.records {
        match b.records.get(id) {
            None => failures.push(format!("referral {id} exists at A but not at B")),
            Some(rb) if rb.state != ra.state => failures.push(format!(
                "referral {id}: A says {}, B says {}",
                ra.state.name(),
                rb.state.name()
            )),
            Some(_) => {}
        }
    }
    for id in b.records.keys() {
        if !a.records.contains_key(id) {
            failures.push(format!("referral {id} exists at B but not at A"));
        }
    }
    check_pair(a, b, ("A", "B"), failures);
    check_pair(b, a, ("B", "A"), failures);
}

// ---------------------------------------------------------------------------------------
// The run

/// Runs the torture with the `lotse` binary `bin`. Panics with every violation found.
pub fn run(bin: &Path, config: &TortureConfig) -> TortureReport {
    let began = Instant::now();
    eprintln!(
        "torture: mode {}, seed {} (replay with LOTSE_TORTURE_SEED={}), target {} messages and {} kills",
        config.mode, config.seed, config.seed, config.target_messages, config.kills
    );
    let tmp = tempfile::Builder::new()
        .prefix("lotse-torture-")
        .tempdir()
        .unwrap_or_else(|e| panic!("tempdir: {e}"));
    let root = tmp.path().to_path_buf();
    let net = CliNetwork::create(bin, &root);
    eprintln!(
        "torture: network up in {:.1} s ({})",
        began.elapsed().as_secs_f64(),
        root.display()
    );
    let CliNetwork { ki, a, b, b_id, .. } = net;
    let shared = Arc::new(Shared {
        config: config.clone(),
        sender: UserApi::new(a.http, STAFF[0].0, STAFF[0].2),
        receiver: UserApi::new(b.http, STAFF[1].0, STAFF[1].2),
        b_id,
        ledger: Mutex::new(Ledger::default()),
        acked: AtomicUsize::new(0),
        unknown: AtomicUsize::new(0),
        kills: AtomicUsize::new(0),
        next_case: AtomicUsize::new(0),
        chaos_done: AtomicBool::new(false),
        deadline: began + config.deadline,
    });
    let (ki, a, b) = (Mutex::new(ki), Mutex::new(a), Mutex::new(b));
    let load_began = Instant::now();
    let chaos_result = std::thread::scope(|s| {
        for _ in 0..config.workers {
            let shared = shared.clone();
            s.spawn(move || worker(shared));
        }
        chaos(&shared, &ki, &a, &b)
    });
    let load_secs = load_began.elapsed().as_secs_f64();
    let (mut ki, mut a, mut b) = (
        ki.into_inner().unwrap_or_else(|p| p.into_inner()),
        a.into_inner().unwrap_or_else(|p| p.into_inner()),
        b.into_inner().unwrap_or_else(|p| p.into_inner()),
    );
    eprintln!(
        "torture: load done in {load_secs:.1} s: {} kills, {} acknowledged, {} unknown; waiting for quiet",
        chaos_result.kills,
        shared.acked.load(Ordering::SeqCst),
        shared.unknown.load(Ordering::SeqCst)
    );
    settle(&mut a, &mut b, Duration::from_secs(120));
    ki.stop();

    let mut failures = Vec::new();
    for node in [&ki, &a, &b] {
        let out = lotse(
            bin,
            &["audit", "verify", "--data-dir", &node.dir_str()],
            None,
        );
        if !out.status.success() {
            failures.push(format!(
                "lotse audit verify on {}: {}{}",
                node.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let open = |node: &NodeProcess| {
        Core::open(DataDir::new(&node.dir))
            .unwrap_or_else(|e| panic!("{} does not open after the torture: {e}", node.name))
    };
    let (core_ki, core_a, core_b) = (open(&ki), open(&a), open(&b));
    // The KI's directory survived its kills: both agencies are still active members.
    for (name, core) in [("A", &core_a), ("B", &core_b)] {
        if !core_ki.directory.is_active(&core.id) {
            failures.push(format!(
                "the KI's directory lost agency {name} (serial {})",
                core_ki.directory.serial()
            ));
        }
    }
    drop(core_ki);
    let (view_a, view_b) = (
        view(&core_a, &mut failures, "A"),
        view(&core_b, &mut failures, "B"),
    );
    let ledger = shared.ledger.lock().unwrap_or_else(|p| p.into_inner());
    failures.extend(ledger.anomalies.iter().cloned());
    check_ledger(&ledger, &view_a, &view_b, &mut failures);
    check_stores(&view_a, &view_b, &mut failures);
    if chaos_result.kills < config.kills {
        failures.push(format!(
            "only {} of {} kills happened before the deadline",
            chaos_result.kills, config.kills
        ));
    }
    let acked = shared.acked.load(Ordering::SeqCst);
    if acked < config.target_messages {
        failures.push(format!(
            "only {acked} of {} messages were acknowledged before the deadline",
            config.target_messages
        ));
    }
    let report = TortureReport {
        kills: chaos_result.kills,
        acknowledged: acked,
        unknown: shared.unknown.load(Ordering::SeqCst),
        referrals: ledger
            .cases
            .iter()
            .filter(|c| c.create == Ack::Acked)
            .count(),
        load_secs,
        total_secs: began.elapsed().as_secs_f64(),
        slowest_restart_ms: chaos_result.slowest_restart.as_millis(),
    };
    let by_kind: BTreeMap<String, usize> =
        view_a
            .outbox
            .iter()
            .chain(&view_b.outbox)
            .fold(BTreeMap::new(), |mut m, r| {
                *m.entry(format!("{:?}", r.kind)).or_default() += 1;
                m
            });
    eprintln!("torture: {report:?}; messages stored by kind: {by_kind:?}");
    if !failures.is_empty() {
        let kept = tmp.keep();
        let shown: Vec<&String> = failures.iter().take(60).collect();
        panic!(
            "torture (seed {}) found {} violations; data kept in {}:\n{}",
            config.seed,
            failures.len(),
            kept.display(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    if config.keep {
        eprintln!("torture: data kept in {}", tmp.keep().display());
    }
    report
}
