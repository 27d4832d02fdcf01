//! `lotse demo`: a whole network on this machine, to try Lotse in the browser.
//!
//! Starts the KI's directory node and three agencies (migration counselling, youth
//! migration service, job centre) in this process, on 127.0.0.1 only, each with its own
//! data directory in a temporary directory that is removed on exit (or in `--dir`, kept
//! and reused on the next start). It joins them through real invitations, creates demo
//! accounts and services, waits until every node sees every other one, prints the
//! addresses with the sign-ins, and stops everything on Ctrl-C.
//!
//! Each node uses one port number for both HTTP (TCP) and QUIC (UDP), counting up from
//! `--base-port`, so a kept demo comes back at the same addresses. Each node's web UI also
//! gets its own loopback address (127.0.0.1, 127.0.0.2, ...): browsers keep cookies per
//! host name, not per port, so this way signing in at one agency does not sign you out at
//! another.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use lotse_admin_ui::demo::{self, DemoUser};
use lotse_node::auth::Role;
use lotse_node::auth::reset;
use lotse_node::auth::users::Requester;
use lotse_node::core::Core;
use lotse_node::datadir::DataDir;
use lotse_node::init::{InitOptions, init};
use lotse_node::node::RunningNode;
use lotse_protocol::NodeId;
use lotse_protocol::directory::AgencyKind;
use tracing_subscriber::EnvFilter;

use crate::target::runtime;

/// Arguments of `lotse demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// First port: the KI listens on it, the agencies on the next three (HTTP and QUIC).
    #[arg(long, default_value_t = 8080)]
    base_port: u16,
    /// Keep the nodes' data in this directory (reused on the next start) instead of a
    /// temporary directory that is removed on exit.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// One node of the demo.
struct DemoNode {
    name: String,
    dir: DataDir,
    index: u8,
    port: u16,
    users: Vec<DemoUser>,
    kind: AgencyKind,
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// QUIC: all on 127.0.0.1.
fn quic_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// HTTP: node `index` on 127.0.0.(index + 1).
fn http_addr(index: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, index + 1], port))
}

/// Short timings, so the demo converges in seconds.
fn demo_timings(dir: &DataDir) -> Result<()> {
    let mut config = dir.load_config()?;
    config.delivery.directory_sync_ms = 1000;
    config.delivery.backoff_initial_ms = 200;
    config.delivery.backoff_max_ms = 5000;
    // The KI's figures follow what is clicked in the demo within a few seconds.
    config.statistics.report_ms = 5000;
    dir.save_config(&config)?;
    Ok(())
}

async fn create(root: &Path, node: &DemoNode, directory: bool) -> Result<DataDir> {
    let (name, port) = (&node.name, node.port);
    let dir = DataDir::new(root.join(slug(name)));
    init(
        &dir,
        &InitOptions {
            name: name.to_string(),
            directory,
            quic_listen: quic_addr(port),
            http_listen: http_addr(node.index, port),
            public_addresses: vec![],
        },
    )
    .await
    .with_context(|| format!("creating the node {name:?}"))?;
    demo_timings(&dir)?;
    Ok(dir)
}

async fn start(node: &DemoNode) -> Result<RunningNode> {
    let core = Core::open(node.dir.clone())?;
    lotse_node::node::start(core.clone(), lotse_admin_ui::router(core))
        .await
        .with_context(|| {
            format!(
                "starting {:?} on port {}: is the port in use? Try `lotse demo --base-port 9080`",
                node.name, node.port
            )
        })
}

/// Demo accounts, services and the admin's password; run once, on a new demo.
async fn populate(node: &DemoNode, running: &RunningNode) -> Result<()> {
    let core = &running.core;
    // Team leads first: the first is made on the server, and confirms the others.
    let mut accounts = node.users.clone();
    accounts.sort_by_key(|u| u.role != Role::TeamLead);
    for u in &accounts {
        demo::add_account(core, u.username, u.display_name, u.role, demo::PASSWORD)
            .await
            .with_context(|| format!("creating the demo user {}", u.username))?;
    }
    reset::reset_password(
        core,
        Requester::Server,
        demo::ADMIN,
        Some(demo::PASSWORD.into()),
    )
    .await?;
    let services = demo::services(node.kind);
    if !services.is_empty() {
        lotse_node::services::publish(core, services).await?;
    }
    Ok(())
}

/// Waits until every node lists every node with its services.
async fn converge(nodes: &[RunningNode], expected: &[(NodeId, usize)]) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done = nodes.iter().all(|n| {
            expected.iter().all(|(id, services)| {
                n.core
                    .directory
                    .member(id)
                    .is_some_and(|m| m.profile.services.len() == *services)
            })
        });
        if done {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the demo network did not come together within 60 seconds; see the log above");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print_welcome(nodes: &[DemoNode], root: &Path, kept: bool) {
    out!();
    out!("Lotse-Demo läuft: ein KI-Verzeichnisknoten und drei Stellen auf diesem Rechner.");
    out!(
        "Öffnen Sie eine Adresse im Browser und melden Sie sich an (Passwort für alle: {}).",
        demo::PASSWORD
    );
    out!();
    for n in nodes {
        out!("  {:<36} http://{}", n.name, http_addr(n.index, n.port));
        for u in &n.users {
            let role = match u.role {
                lotse_node::auth::Role::CaseManager => "Fallmanagement",
                lotse_node::auth::Role::TeamLead => "Teamleitung",
                lotse_node::auth::Role::Admin => "Administration",
                lotse_node::auth::Role::Coordinator => "Koordination",
            };
            out!("      {role:<16} {}", u.username);
        }
        out!("      {:<16} {}", "Administration", demo::ADMIN);
    }
    out!();
    out!("So probieren Sie es aus:");
    out!(
        "  1. Als berger bei der Migrationsberatung: „Neue Vermittlung“, ein Angebot des JMD wählen,"
    );
    out!("     Einwilligung erfassen, senden.");
    out!(
        "  2. Als okafor beim JMD: im Eingang übernehmen, annehmen, einen Übergabetermin vorschlagen."
    );
    out!("  3. Zurück bei berger: den Termin bestätigen und den Verlauf verfolgen.");
    out!();
    if kept {
        out!("Daten: {} (bleiben erhalten).", root.display());
    } else {
        out!("Daten: {} (werden beim Beenden gelöscht).", root.display());
    }
    out!("Beenden mit Strg+C.");
}

/// `lotse demo`.
pub fn demo(args: DemoArgs) -> Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    if args.base_port > u16::MAX - 3 || args.base_port < 1024 {
        bail!("--base-port must be between 1024 and {}", u16::MAX - 3);
    }
    let temp;
    let (root, kept) = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            (d.clone(), true)
        }
        None => {
            temp = tempfile::Builder::new().prefix("lotse-demo-").tempdir()?;
            (temp.path().to_path_buf(), false)
        }
    };
    runtime()?.block_on(run(&root, args.base_port, kept))
}

async fn run(root: &Path, base_port: u16, kept: bool) -> Result<()> {
    let fresh = !DataDir::new(root.join(slug(demo::KI_NAME))).is_initialised();
    let mut nodes = vec![DemoNode {
        name: demo::KI_NAME.into(),
        dir: DataDir::new(root.join(slug(demo::KI_NAME))),
        index: 0,
        port: base_port,
        users: vec![demo::COORDINATOR],
        kind: AgencyKind::IntegrationCentre,
    }];
    for (i, a) in demo::AGENCIES.iter().enumerate() {
        nodes.push(DemoNode {
            name: a.name.into(),
            dir: DataDir::new(root.join(slug(a.name))),
            index: 1 + i as u8,
            port: base_port + 1 + i as u16,
            users: a.users.to_vec(),
            kind: a.kind,
        });
    }
    if fresh {
        out!("Richte das Demo-Netzwerk ein …");
        create(root, &nodes[0], true).await?;
    }
    let mut running = vec![start(&nodes[0]).await?];
    if fresh {
        populate(&nodes[0], &running[0]).await?;
    }
    for node in &nodes[1..] {
        if fresh {
            let invitation = lotse_node::directory::authority::create_invitation(
                &running[0].core,
                &node.name,
                node.kind,
                3_600_000,
            )
            .await?;
            let dir = create(root, node, false).await?;
            let core = Core::open(dir)?;
            lotse_node::join::join(&core, &invitation)
                .await
                .with_context(|| format!("{} joining the network", node.name))?;
            drop(core);
        }
        let r = start(node).await?;
        if fresh {
            populate(node, &r).await?;
        }
        running.push(r);
    }
    let expected: Vec<(NodeId, usize)> = nodes
        .iter()
        .zip(&running)
        .map(|(n, r)| (r.core.id, demo::services(n.kind).len()))
        .collect();
    let converged = converge(&running, &expected).await;
    if let Err(e) = converged {
        stop(running).await;
        return Err(e);
    }
    print_welcome(&nodes, root, kept);
    super::run::wait_for_signal().await;
    out!();
    out!("Beende die Knoten …");
    stop(running).await;
    Ok(())
}

async fn stop(running: Vec<RunningNode>) {
    for node in running.into_iter().rev() {
        node.shutdown().await;
    }
}
