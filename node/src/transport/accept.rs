//! The accepting side of the transport: who may connect, how many streams and bytes each
//! peer gets, and how long it may take.
//!
//! Invariant (issue 14, row 1): nothing costs a peer that is not an active member more
//! than a few kilobytes. In order, for every incoming connection:
//!
//! 1. At the door, before the handshake: the connection takes a slot of its IP address
//!    (`connections_per_address`) and of the stranger pool (`stranger_connections`), or is
//!    refused. The handshake must finish within `handshake_timeout_ms`.
//! 2. After the handshake the peer key is known: it takes a slot of its key
//!    (`connections_per_key`) or the connection is closed.
//! 3. An active member ([`Handler::admit`]) gives its stranger slot back and gets
//!    `member_streams` streams and a [`MEMBER_RECEIVE_WINDOW`]. Until then every
//!    connection has one stream and a [`STRANGER_RECEIVE_WINDOW`] (the server's QUIC
//!    transport parameters, [`super::tls`]), no unidirectional streams, no datagrams.
//! 4. A stranger at a node that takes joins ([`Handler::accepts_joins`], the KI) may send
//!    exactly one request within `request_read_timeout_ms`: a join of at most
//!    [`MAX_JOIN_REQUEST_BYTES`]. Any other kind is answered "not an active member" without
//!    reading its body. After the answer the connection is closed. Elsewhere a stranger's
//!    connection is closed at once.
//!
//! Every request, a member's too, must arrive whole within `request_read_timeout_ms` of
//! its stream opening; its body's length is reserved in the [`Budget`] before the body is
//! read (waiting at most [`BUDGET_WAIT`], then "busy, try later" and the stream is stopped,
//! so its unread bytes do not hold the connection's window), and its buffer grows with what
//! arrived ([`frame::read_body`]).

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};

use super::frame::{self, FrameError, RequestKind, Response};
use super::limits::{
    Budget, Gate, Limits, MAX_JOIN_REQUEST_BYTES, MEMBER_RECEIVE_WINDOW, Reservation, StrangerSlot,
};
use super::{Handler, SERVE_GRACE, tls};

/// How long a request waits for its bytes in the budget before it is told to retry.
const BUDGET_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// What a stranger is told when it asks for anything but a join.
pub const NOT_A_MEMBER: &str =
    "not an active member of the network: a node that is not a member may only send a join request";

/// Application close codes (the reason text says the same in words).
mod close {
    pub(super) const NO_IDENTITY: u32 = 1;
    pub(super) const NOT_A_MEMBER: u32 = 2;
    pub(super) const REFUSED: u32 = 3;
    pub(super) const JOIN_ANSWERED: u32 = 4;
    pub(super) const TOO_SLOW: u32 = 5;
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) limits: Limits,
    pub(crate) budget: Arc<Budget>,
    pub(crate) gate: Arc<Gate>,
}

/// Accepts connections until `shutdown` turns true; then requests under way get
/// [`SERVE_GRACE`] to finish and whatever is left is stopped.
pub(crate) async fn serve(
    endpoint: &quinn::Endpoint,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => i,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = shutdown.changed() => break,
        };
        let Some(incoming) = incoming else { break };
        let ip = incoming.remote_address().ip();
        let slot = match shared.gate.enter(ip, &shared.limits) {
            Ok(slot) => slot,
            Err(refusal) => {
                tracing::debug!(%ip, %refusal, "connection refused at the door");
                incoming.refuse();
                continue;
            }
        };
        connections.spawn(connection(incoming, slot, shared.clone()));
    }
    let drained = tokio::time::timeout(SERVE_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "requests still under way at shutdown were stopped"
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

async fn connection(incoming: quinn::Incoming, slot: StrangerSlot, shared: Arc<Shared>) {
    let connecting = match incoming.accept() {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "incoming connection failed");
            return;
        }
    };
    // Dropping an unfinished handshake closes it.
    let conn = match timeout(shared.limits.handshake_timeout(), connecting).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("handshake did not finish in time");
            return;
        }
    };
    let Some(peer) = tls::peer_id(&conn) else {
        conn.close(close::NO_IDENTITY.into(), b"no identity");
        return;
    };
    let _key = match shared.gate.key(peer, &shared.limits) {
        Ok(k) => k,
        Err(refusal) => {
            tracing::info!(peer = %peer.fingerprint(), %refusal, "connection closed");
            conn.close(close::REFUSED.into(), refusal.to_string().as_bytes());
            return;
        }
    };
    if shared.handler.admit(&peer) {
        drop(slot);
        conn.set_receive_window(MEMBER_RECEIVE_WINDOW.into());
        conn.set_max_concurrent_bi_streams(shared.limits.member_streams.into());
        member(conn, peer, shared).await;
    } else if shared.handler.accepts_joins() {
        stranger(&conn, peer, &shared).await;
        drop(slot);
    } else {
        conn.close(close::NOT_A_MEMBER.into(), b"not a member");
    }
}

/// A member's connection: its requests, each on its own stream, until it ends.
async fn member(conn: quinn::Connection, peer: lotse_protocol::NodeId, shared: Arc<Shared>) {
    // Each request's task belongs to its connection: stopping the connection's task stops
    // them too.
    let mut requests = JoinSet::new();
    loop {
        let (mut send, mut recv) = tokio::select! {
            s = conn.accept_bi() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            Some(_) = requests.join_next(), if !requests.is_empty() => continue,
        };
        let shared = shared.clone();
        requests.spawn(async move {
            let deadline = Instant::now() + shared.limits.request_read_timeout();
            let response = match read_request(&mut recv, &shared, false, deadline).await {
                Ok((kind, body, reservation)) => {
                    let response = shared.handler.handle(peer, kind, body).await;
                    drop(reservation);
                    response
                }
                Err(refused) => {
                    tracing::warn!(peer = %peer.fingerprint(), reason = %refused.reason(), "request refused");
                    let _ = recv.stop(0u32.into());
                    refused
                }
            };
            if let Err(e) = frame::write_response(&mut send, &response).await {
                tracing::debug!(error = %e, "could not send response");
            }
        });
    }
    // The connection is closed: requests under way still finish their work.
    while requests.join_next().await.is_some() {}
}

/// A stranger's connection at a node that takes joins: one request, one answer, closed.
async fn stranger(conn: &quinn::Connection, peer: lotse_protocol::NodeId, shared: &Shared) {
    let deadline = Instant::now() + shared.limits.request_read_timeout();
    let Ok(Ok((mut send, mut recv))) = timeout_at(deadline, conn.accept_bi()).await else {
        conn.close(close::TOO_SLOW.into(), b"no join request in time");
        return;
    };
    // No credit for a second stream, not even once the first is done.
    conn.set_max_concurrent_bi_streams(0u32.into());
    let response = match read_request(&mut recv, shared, true, deadline).await {
        Ok((kind, body, reservation)) => {
            let response = shared.handler.handle(peer, kind, body).await;
            drop(reservation);
            response
        }
        Err(refused) => {
            tracing::info!(peer = %peer.fingerprint(), reason = %refused.reason(), "request from a stranger refused");
            let _ = recv.stop(0u32.into());
            refused
        }
    };
    if frame::write_response(&mut send, &response).await.is_ok() {
        // Let the answer arrive before closing: until the peer has it all or goes away.
        let delivered = async {
            tokio::select! {
                _ = send.stopped() => {}
                _ = conn.closed() => {}
            }
        };
        let _ = timeout(shared.limits.request_read_timeout(), delivered).await;
    }
    conn.close(
        close::JOIN_ANSWERED.into(),
        b"a node that is not a member may send one join request per connection",
    );
}

/// Reads one request within `deadline`: the head, the body's reservation in the budget,
/// the body. A refusal comes back as the response to send.
async fn read_request(
    recv: &mut quinn::RecvStream,
    shared: &Shared,
    stranger: bool,
    deadline: Instant,
) -> Result<(RequestKind, Vec<u8>, Reservation), Response> {
    let budget = &shared.budget;
    let too_slow = || {
        budget
            .timed_out
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Response::rejected(format!(
            "the request did not arrive within {} ms; the stream is closed",
            shared.limits.request_read_timeout_ms
        ))
    };
    let (tag, len) = timeout_at(deadline, frame::read_head(recv))
        .await
        .map_err(|_| too_slow())?
        .map_err(Response::rejected)?;
    let kind = RequestKind::from_byte(tag)
        .ok_or_else(|| Response::rejected(FrameError::UnknownType(tag)))?;
    if stranger && kind != RequestKind::Join {
        return Err(Response::rejected(NOT_A_MEMBER));
    }
    let limit = if stranger {
        MAX_JOIN_REQUEST_BYTES
    } else {
        kind.max_body()
    };
    if len > limit {
        return Err(Response::rejected(FrameError::TooLarge { len, limit }));
    }
    // A request that cannot get its bytes soon is told to come back: its unread data would
    // otherwise hold the connection's flow control window and stall the requests that did.
    let budget_deadline = deadline.min(Instant::now() + BUDGET_WAIT);
    let mut reservation = match timeout_at(budget_deadline, budget.reserve(len, stranger)).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(Response::rejected(FrameError::TooLarge {
                len,
                limit: budget.total(),
            }));
        }
        Err(_) => {
            budget
                .over_budget
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(Response::unavailable(
                "this node is busy receiving other requests; try again later",
            ));
        }
    };
    let body = timeout_at(
        deadline,
        frame::read_body(recv, len, |capacity| reservation.note_capacity(capacity)),
    )
    .await
    .map_err(|_| too_slow())?
    .map_err(Response::rejected)?;
    Ok((kind, body, reservation))
}
