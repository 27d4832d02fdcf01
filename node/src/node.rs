//! Starting and stopping a node: QUIC listener, delivery and directory tasks, HTTP
//! listener, and a graceful shutdown that keeps undelivered messages for the next start.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::core::{Core, OpenError};
use crate::directory::authority;
use crate::server::NodeHandler;
use crate::transport::{Transport, TransportError};
use crate::{delivery, directory, inbox};

/// Starting failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Opening failed.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// QUIC failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// HTTP bind failed.
    #[error("cannot listen for HTTP on {addr}: {source}")]
    Http {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// Recovery failed.
    #[error("could not recover received messages: {0}")]
    Recover(#[from] crate::store::StoreError),
}

/// A running node.
pub struct RunningNode {
    /// Shared state.
    pub core: Arc<Core>,
    /// The QUIC endpoint.
    pub transport: Arc<Transport>,
    /// Where QUIC listens.
    pub quic_addr: SocketAddr,
    /// Where HTTP listens.
    pub http_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts `core` with the HTTP routes of `extra` merged in (the JSON API, the web UI).
pub async fn start(core: Arc<Core>, extra: Router) -> Result<RunningNode, StartError> {
    let transport = Arc::new(Transport::bind_with(
        core.config.network.quic_listen,
        core.node_key.clone(),
        core.directory.clone(),
        core.config.transport.clone(),
    )?);
    let quic_addr = transport
        .local_addr()
        .unwrap_or(core.config.network.quic_listen);
    let addrs = published_addresses(&core, quic_addr);
    if core.is_directory_node() {
        if let Err(e) = authority::refresh_own_entry(&core, addrs).await {
            tracing::warn!(error = %e, "could not update the KI's own directory entry");
        }
    } else if let Err(e) = crate::services::refresh_addresses(&core, addrs).await {
        tracing::warn!(error = %e, "could not publish this node's new address");
    }
    let recovered = inbox::recover(&core).await?;
    if recovered > 0 {
        tracing::info!(
            count = recovered,
            "applied messages received before the restart"
        );
    }
    let (shutdown, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let handler = Arc::new(NodeHandler { core: core.clone() });
    {
        let (t, rx) = (transport.clone(), rx.clone());
        tasks.push(tokio::spawn(async move { t.serve(handler, rx).await }));
    }
    tasks.push(tokio::spawn(delivery::run(
        core.clone(),
        transport.clone(),
        rx.clone(),
    )));
    tasks.push(tokio::spawn(directory::sync::run(
        core.clone(),
        transport.clone(),
        rx.clone(),
    )));
    tasks.push(tokio::spawn(crate::referrals::deadlines::run(
        core.clone(),
        rx.clone(),
    )));
    tasks.push(tokio::spawn(crate::statistics::run(
        core.clone(),
        transport.clone(),
        rx.clone(),
    )));

    let listener = tokio::net::TcpListener::bind(core.config.network.http_listen)
        .await
        .map_err(|source| StartError::Http {
            addr: core.config.network.http_listen,
            source,
        })?;
    let http_addr = listener.local_addr().map_err(|source| StartError::Http {
        addr: core.config.network.http_listen,
        source,
    })?;
    // Connect info gives handlers the peer address (login rate limiting per address).
    let app =
        crate::http::app(core.clone(), extra).into_make_service_with_connect_info::<SocketAddr>();
    let mut http_rx = rx.clone();
    tasks.push(tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = http_rx.changed().await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP server failed");
        }
    }));
    tracing::info!(name = %core.config.name, node = %core.id, fingerprint = %core.id.fingerprint(), %quic_addr, %http_addr, "node started");
    Ok(RunningNode {
        core,
        transport,
        quic_addr,
        http_addr,
        shutdown,
        tasks,
    })
}

/// The addresses to publish: the configured ones, with a port 0 replaced by the bound port.
fn published_addresses(core: &Core, bound: SocketAddr) -> Vec<String> {
    core.config
        .network
        .public_addresses
        .iter()
        .map(|a| match a.parse::<SocketAddr>() {
            Ok(mut s) if s.port() == 0 => {
                s.set_port(bound.port());
                s.to_string()
            }
            _ => a.clone(),
        })
        .collect()
}

impl RunningNode {
    /// Stops all tasks, closes connections and flushes the store.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.transport.close().await;
        for mut t in self.tasks {
            if tokio::time::timeout(std::time::Duration::from_secs(5), &mut t)
                .await
                .is_err()
            {
                tracing::warn!("a task did not stop in time; aborting it");
                t.abort();
                let _ = t.await;
            }
        }
        if let Err(e) = self.core.store.flush().await {
            tracing::error!(error = %e, "final flush failed");
        }
        let vault = self.core.vault.clone();
        let _ = tokio::task::spawn_blocking(move || vault.wait_for_refill()).await;
        // Short-lived tasks (a connection being torn down) may still hold the endpoint;
        // wait until they let go, so a restart in the same process finds the port free.
        let transport = self.transport;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while Arc::strong_count(&transport) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        tracing::info!("node stopped");
    }
}
