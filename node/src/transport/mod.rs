//! QUIC between nodes: one endpoint per node, cached connections per peer, one
//! bidirectional stream per request.
//!
//! The [`Transport`] dials peers by node id and pins their key ([`tls`]); it accepts
//! connections whose key the [`tls::PeerPolicy`] allows and hands every request stream,
//! together with the authenticated peer id, to a [`Handler`]. Connections are reused, so a
//! message costs one stream, not a handshake. What a peer may cost before and after it is
//! known to be a member ([`limits`]) is enforced on the accepting side ([`accept`]).

pub mod accept;
pub mod frame;
pub mod limits;
pub mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lotse_protocol::{NodeId, NodeKey};
use tokio::sync::watch;

use frame::{FrameError, RequestKind, Response};
use limits::{Budget, Gate, Limits, TransportStats};

/// How long to wait for a connection to be established.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request may take end to end.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long requests under way may take to finish once the node stops serving.
const SERVE_GRACE: Duration = Duration::from_secs(3);

/// A transport failure.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// TLS configuration failed.
    #[error("TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
    /// The peer has no usable address.
    #[error("no reachable address for the peer ({0})")]
    NoAddress(String),
    /// Connection failed.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The request failed on the stream.
    #[error("request failed: {0}")]
    Frame(#[from] FrameError),
    /// Timed out.
    #[error("the peer did not answer in time")]
    Timeout,
}

/// Handles requests from authenticated peers.
pub trait Handler: Send + Sync + 'static {
    /// Is `peer` an active member, which may open `member_streams` streams and send every
    /// kind of request (beyond the TLS policy)?
    fn admit(&self, peer: &NodeId) -> bool;
    /// Does this node take one join request from a peer that is not a member (the KI's
    /// directory node)? Otherwise such a connection is closed at once.
    fn accepts_joins(&self) -> bool {
        false
    }
    /// Answers one request.
    fn handle(
        &self,
        peer: NodeId,
        kind: RequestKind,
        body: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Response> + Send + '_>>;
}

/// One node's QUIC endpoint.
pub struct Transport {
    endpoint: quinn::Endpoint,
    key: Arc<NodeKey>,
    connections: Mutex<HashMap<NodeId, quinn::Connection>>,
    limits: Limits,
    budget: Arc<Budget>,
    gate: Arc<Gate>,
}

impl Transport {
    /// Binds the endpoint on `addr` with the default [`Limits`].
    pub fn bind(
        addr: SocketAddr,
        key: Arc<NodeKey>,
        policy: Arc<dyn tls::PeerPolicy>,
    ) -> Result<Self, TransportError> {
        Self::bind_with(addr, key, policy, Limits::default())
    }

    /// Binds the endpoint on `addr` with `limits` (the node's `[transport]` section).
    pub fn bind_with(
        addr: SocketAddr,
        key: Arc<NodeKey>,
        policy: Arc<dyn tls::PeerPolicy>,
        limits: Limits,
    ) -> Result<Self, TransportError> {
        let server = tls::server_config(&key, policy, &limits)?;
        let endpoint = quinn::Endpoint::server(server, addr)
            .map_err(|source| TransportError::Bind { addr, source })?;
        Ok(Self {
            endpoint,
            key,
            connections: Mutex::new(HashMap::new()),
            budget: Arc::new(Budget::new(limits.request_budget_bytes)),
            gate: Arc::new(Gate::default()),
            limits,
        })
    }

    /// What the accepting side has spent and refused so far.
    pub fn stats(&self) -> TransportStats {
        let (strangers, connections_refused) = self.gate.counts();
        TransportStats {
            strangers,
            connections_refused,
            ..self.budget.stats()
        }
    }

    /// Resets the peak counters of [`Transport::stats`] to the current values.
    pub fn take_peaks(&self) {
        self.budget.take_peaks();
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.endpoint.local_addr().ok()
    }

    fn cached(&self, peer: &NodeId) -> Option<quinn::Connection> {
        let mut map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(peer) {
            Some(c) if c.close_reason().is_none() => Some(c.clone()),
            Some(_) => {
                map.remove(peer);
                None
            }
            None => None,
        }
    }

    /// Closes and forgets the connection to `peer` (e.g. after revocation).
    pub fn disconnect(&self, peer: &NodeId) {
        let mut map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.remove(peer) {
            c.close(0u32.into(), b"no longer a member");
        }
    }

    /// Connects to `peer`, trying each address, reusing a live connection.
    pub async fn connect(
        &self,
        peer: NodeId,
        addresses: &[String],
    ) -> Result<quinn::Connection, TransportError> {
        if let Some(c) = self.cached(&peer) {
            return Ok(c);
        }
        let config = tls::client_config(&self.key, peer, &self.limits)?;
        let mut last = TransportError::NoAddress(peer.fingerprint().to_string());
        for text in addresses {
            let addr = match resolve(text).await {
                Some(a) => a,
                None => {
                    last = TransportError::NoAddress(text.clone());
                    continue;
                }
            };
            let attempt = self
                .endpoint
                .connect_with(config.clone(), addr, "lotse.invalid")
                .map_err(|e| TransportError::Connect(e.to_string()));
            let connecting = match attempt {
                Ok(c) => c,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
                Ok(Ok(conn)) => {
                    let mut map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
                    map.insert(peer, conn.clone());
                    return Ok(conn);
                }
                Ok(Err(e)) => last = TransportError::Connect(format!("{addr}: {e}")),
                Err(_) => last = TransportError::Connect(format!("{addr}: timed out")),
            }
        }
        Err(last)
    }

    /// Sends one request to `peer` and waits for the response.
    pub async fn request(
        &self,
        peer: NodeId,
        addresses: &[String],
        kind: RequestKind,
        body: &[u8],
    ) -> Result<Response, TransportError> {
        let conn = self.connect(peer, addresses).await?;
        let exchange = async {
            let (mut send, mut recv) = conn
                .open_bi()
                .await
                .map_err(|e| TransportError::Connect(e.to_string()))?;
            // A node that refuses a request early (too large, not a member) stops the
            // stream and answers with the reason: read that answer even if the write failed.
            let written = frame::write_request(&mut send, kind, body).await;
            match frame::read_response(&mut recv).await {
                Ok(response) => Ok(response),
                Err(e) => Err(TransportError::Frame(written.err().unwrap_or(e))),
            }
        };
        let result = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .unwrap_or(Err(TransportError::Timeout));
        if result.is_err() {
            // A broken connection is dropped so the next attempt dials afresh.
            self.disconnect_if_dead(&peer);
        }
        result
    }

    fn disconnect_if_dead(&self, peer: &NodeId) {
        let mut map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(peer).is_some_and(|c| c.close_reason().is_some()) {
            map.remove(peer);
        }
    }

    /// Accepts connections until `shutdown` turns true, within the [`Limits`] (see
    /// [`accept`]). Then requests under way get [`SERVE_GRACE`] to finish (the connections
    /// end when [`Transport::close`] closes them) and whatever is left is stopped: no
    /// connection or stream outlives the node, so its UDP port is free for a restart.
    pub async fn serve(&self, handler: Arc<dyn Handler>, shutdown: watch::Receiver<bool>) {
        let shared = Arc::new(accept::Shared {
            handler,
            limits: self.limits.clone(),
            budget: self.budget.clone(),
            gate: self.gate.clone(),
        });
        accept::serve(&self.endpoint, shared, shutdown).await;
    }

    /// Closes every connection and the endpoint, waiting briefly for peers to learn it.
    pub async fn close(&self) {
        self.endpoint.close(0u32.into(), b"shutting down");
        let _ = tokio::time::timeout(Duration::from_millis(500), self.endpoint.wait_idle()).await;
    }
}

async fn resolve(text: &str) -> Option<SocketAddr> {
    if let Ok(a) = text.parse() {
        return Some(a);
    }
    tokio::net::lookup_host(text).await.ok()?.next()
}
