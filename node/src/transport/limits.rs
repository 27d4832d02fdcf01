//! What a peer may cost this node before and after it is known: the `[transport]` section
//! of `lotse.toml`, the byte budget for request bodies in flight, and the connection caps.
//!
//! Invariant (issue 14, row 1): a peer that is not an active member costs at most one
//! connection slot of its address and of the stranger pool, one stream, a QUIC receive
//! window of [`STRANGER_RECEIVE_WINDOW`] bytes and one join request of at most
//! [`MAX_JOIN_REQUEST_BYTES`], for at most the handshake and request timeouts. Every
//! request body, a member's or a stranger's, is reserved in the [`Budget`] before it is
//! read, and its buffer grows with the bytes that arrived, never with the length the frame
//! announced; so the bodies in flight never hold more than `request_budget_bytes`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lotse_protocol::{NodeId, limits};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// Largest join request a stranger may send: a sealed `join_request` envelope whose profile
/// lists addresses but no services yet (a new node publishes its services once it is a
/// member). Sealed, such a request is under 3 KiB.
pub const MAX_JOIN_REQUEST_BYTES: usize = 4 * 1024;

/// How many bytes a stranger may have in flight on its connection (QUIC flow control):
/// one frame head and one join request, rounded up.
pub const STRANGER_RECEIVE_WINDOW: u32 = 8 * 1024;

/// How many bytes a member may have in flight on one connection before this node reads
/// them (QUIC flow control); bodies being read are also reserved in the [`Budget`].
pub const MEMBER_RECEIVE_WINDOW: u32 = 4 * 1024 * 1024;

/// How many bytes one stream may carry ahead of what this node has read.
pub const STREAM_RECEIVE_WINDOW: u32 = 1024 * 1024;

/// The `[transport]` section: timeouts, stream and connection caps, the request budget.
/// The defaults suit production; tests shorten the timeouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// A connection must finish its TLS handshake within this time.
    pub handshake_timeout_ms: u64,
    /// A request must arrive whole within this time of its stream opening; a stranger must
    /// send its join request within this time of connecting.
    pub request_read_timeout_ms: u64,
    /// A connection without any traffic (keep-alives included) ends after this time.
    pub idle_timeout_ms: u64,
    /// Request streams a member may have open at once on one connection (a stranger: 1).
    pub member_streams: u32,
    /// Connections at once with the same peer key.
    pub connections_per_key: usize,
    /// Connections at once from one IP address that are not a member's (still in the
    /// handshake, or a stranger that may only join).
    pub connections_per_address: usize,
    /// Connections at once that are not a member's, from all addresses together.
    pub stranger_connections: usize,
    /// Bytes of request bodies in flight at once, over all peers. At least the largest
    /// request (a 16 MiB batch).
    pub request_budget_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            handshake_timeout_ms: 10_000,
            request_read_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            member_streams: 64,
            connections_per_key: 4,
            connections_per_address: 8,
            stranger_connections: 64,
            request_budget_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A `[transport]` value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    /// A timeout or count is zero.
    #[error("transport.{0} must be greater than 0")]
    Zero(&'static str),
    /// The budget cannot hold the largest request.
    #[error(
        "transport.request_budget_bytes is {0}; it must be at least {min} (the largest request, a batch)",
        min = min_budget()
    )]
    BudgetTooSmall(usize),
}

/// The smallest useful request budget: the largest request body any kind allows.
pub fn min_budget() -> usize {
    limits::MAX_BATCH_BYTES
}

impl Limits {
    /// Checks that every value can work.
    pub fn check(&self) -> Result<(), LimitsError> {
        let counts = [
            ("handshake_timeout_ms", self.handshake_timeout_ms as usize),
            (
                "request_read_timeout_ms",
                self.request_read_timeout_ms as usize,
            ),
            ("idle_timeout_ms", self.idle_timeout_ms as usize),
            ("member_streams", self.member_streams as usize),
            ("connections_per_key", self.connections_per_key),
            ("connections_per_address", self.connections_per_address),
            ("stranger_connections", self.stranger_connections),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, v)| *v == 0) {
            return Err(LimitsError::Zero(name));
        }
        if self.request_budget_bytes < min_budget() {
            return Err(LimitsError::BudgetTooSmall(self.request_budget_bytes));
        }
        Ok(())
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }

    /// The request read timeout.
    pub fn request_read_timeout(&self) -> Duration {
        Duration::from_millis(self.request_read_timeout_ms)
    }

    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
}

/// What the transport has spent and refused, for tests, `/metrics` and the status page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Bytes reserved for request bodies now.
    pub budget_reserved: usize,
    /// The most bytes ever reserved at once (see [`Budget::take_peaks`]).
    pub budget_peak: usize,
    /// The most bytes ever reserved at once for strangers' requests.
    pub stranger_peak: usize,
    /// Bytes of request buffers allocated now (they grow with the bytes that arrived).
    pub buffered: usize,
    /// The most bytes of request buffers ever allocated at once.
    pub buffered_peak: usize,
    /// Connections now that are not a member's.
    pub strangers: usize,
    /// Connections refused at the door (address or stranger cap) or closed for the key cap.
    pub connections_refused: u64,
    /// Requests cut off because they did not arrive within the read timeout.
    pub requests_timed_out: u64,
    /// Requests refused because the budget stayed full until the read timeout.
    pub requests_over_budget: u64,
}

/// A semaphore of bytes for request bodies in flight, with counters.
#[derive(Debug)]
pub struct Budget {
    permits: Semaphore,
    total: usize,
    reserved: AtomicUsize,
    peak: AtomicUsize,
    stranger: AtomicUsize,
    stranger_peak: AtomicUsize,
    buffered: AtomicUsize,
    buffered_peak: AtomicUsize,
    pub(crate) timed_out: AtomicU64,
    pub(crate) over_budget: AtomicU64,
}

fn add(counter: &AtomicUsize, peak: &AtomicUsize, n: usize) {
    let now = counter.fetch_add(n, Ordering::AcqRel) + n;
    peak.fetch_max(now, Ordering::AcqRel);
}

impl Budget {
    /// A budget of `total` bytes.
    pub fn new(total: usize) -> Self {
        Self {
            permits: Semaphore::new(total.min(Semaphore::MAX_PERMITS)),
            total,
            reserved: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            stranger: AtomicUsize::new(0),
            stranger_peak: AtomicUsize::new(0),
            buffered: AtomicUsize::new(0),
            buffered_peak: AtomicUsize::new(0),
            timed_out: AtomicU64::new(0),
            over_budget: AtomicU64::new(0),
        }
    }

    /// The budget's size.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Waits until `bytes` are free and reserves them. `None` if they can never be (more
    /// than the whole budget).
    pub async fn reserve(self: &Arc<Self>, bytes: usize, stranger: bool) -> Option<Reservation> {
        let n = u32::try_from(bytes).ok()?;
        if bytes > self.total {
            return None;
        }
        let permit = self.permits.acquire_many(n).await.ok()?;
        permit.forget();
        add(&self.reserved, &self.peak, bytes);
        if stranger {
            add(&self.stranger, &self.stranger_peak, bytes);
        }
        Some(Reservation {
            budget: self.clone(),
            reserved: bytes,
            allocated: 0,
            stranger,
        })
    }

    /// The counters, with the peaks since the last [`Budget::take_peaks`].
    pub fn stats(&self) -> TransportStats {
        TransportStats {
            budget_reserved: self.reserved.load(Ordering::Acquire),
            budget_peak: self.peak.load(Ordering::Acquire),
            stranger_peak: self.stranger_peak.load(Ordering::Acquire),
            buffered: self.buffered.load(Ordering::Acquire),
            buffered_peak: self.buffered_peak.load(Ordering::Acquire),
            requests_timed_out: self.timed_out.load(Ordering::Acquire),
            requests_over_budget: self.over_budget.load(Ordering::Acquire),
            ..TransportStats::default()
        }
    }

    /// Resets the peaks to the current values (a test measures one attack at a time).
    pub fn take_peaks(&self) {
        for (now, peak) in [
            (&self.reserved, &self.peak),
            (&self.stranger, &self.stranger_peak),
            (&self.buffered, &self.buffered_peak),
        ] {
            peak.store(now.load(Ordering::Acquire), Ordering::Release);
        }
    }
}

/// Bytes reserved for one request body; given back when dropped (after the answer).
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    reserved: usize,
    allocated: usize,
    stranger: bool,
}

impl Reservation {
    /// Records that the request's buffer now holds `capacity` bytes (at most the
    /// reservation: the reader grows it only up to the announced length).
    pub(crate) fn note_capacity(&mut self, capacity: usize) {
        let capacity = capacity.min(self.reserved);
        if capacity > self.allocated {
            add(
                &self.budget.buffered,
                &self.budget.buffered_peak,
                capacity - self.allocated,
            );
            self.allocated = capacity;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget
            .buffered
            .fetch_sub(self.allocated, Ordering::AcqRel);
        self.budget
            .reserved
            .fetch_sub(self.reserved, Ordering::AcqRel);
        if self.stranger {
            self.budget
                .stranger
                .fetch_sub(self.reserved, Ordering::AcqRel);
        }
        // At most `total` permits were taken, so this cannot overflow the semaphore.
        self.budget.permits.add_permits(self.reserved);
    }
}

/// Connections counted per key, per address (not members' only) and in the stranger pool.
#[derive(Debug, Default)]
pub struct Gate {
    state: Mutex<GateState>,
    refused: AtomicU64,
}

#[derive(Debug, Default)]
struct GateState {
    per_key: HashMap<NodeId, usize>,
    per_address: HashMap<IpAddr, usize>,
    strangers: usize,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Too many connections from this address that are not a member's.
    #[error("too many connections from this address")]
    Address,
    /// Too many connections that are not a member's.
    #[error("too many connections from nodes that are not members")]
    Strangers,
    /// Too many connections with this key.
    #[error("too many connections with this node key")]
    Key,
}

impl Gate {
    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a stranger slot for a connection from `ip` (until it is known to be a member).
    pub fn enter(self: &Arc<Self>, ip: IpAddr, limits: &Limits) -> Result<StrangerSlot, Refusal> {
        let mut s = self.state();
        let at_address = s.per_address.get(&ip).copied().unwrap_or(0);
        let refusal = if at_address >= limits.connections_per_address {
            Some(Refusal::Address)
        } else if s.strangers >= limits.stranger_connections {
            Some(Refusal::Strangers)
        } else {
            None
        };
        if let Some(r) = refusal {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(r);
        }
        *s.per_address.entry(ip).or_default() += 1;
        s.strangers += 1;
        Ok(StrangerSlot {
            gate: self.clone(),
            ip,
        })
    }

    /// Takes a slot for the key `peer`.
    pub fn key(self: &Arc<Self>, peer: NodeId, limits: &Limits) -> Result<KeySlot, Refusal> {
        let mut s = self.state();
        let count = s.per_key.entry(peer).or_default();
        if *count >= limits.connections_per_key {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Key);
        }
        *count += 1;
        Ok(KeySlot {
            gate: self.clone(),
            peer,
        })
    }

    /// Connections now that are not a member's, and connections refused so far.
    pub fn counts(&self) -> (usize, u64) {
        (self.state().strangers, self.refused.load(Ordering::Relaxed))
    }
}

/// A connection's place in the stranger pool and its address's count; freed on drop
/// (when the peer turns out to be a member, or the connection ends).
#[derive(Debug)]
pub struct StrangerSlot {
    gate: Arc<Gate>,
    ip: IpAddr,
}

impl Drop for StrangerSlot {
    fn drop(&mut self) {
        let mut s = self.gate.state();
        s.strangers = s.strangers.saturating_sub(1);
        if let Some(n) = s.per_address.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.per_address.remove(&self.ip);
            }
        }
    }
}

/// A connection's count under its key; freed on drop.
#[derive(Debug)]
pub struct KeySlot {
    gate: Arc<Gate>,
    peer: NodeId,
}

impl Drop for KeySlot {
    fn drop(&mut self) {
        let mut s = self.gate.state();
        if let Some(n) = s.per_key.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.per_key.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_budget_never_hands_out_more_than_it_has() {
        let budget = Arc::new(Budget::new(100));
        let a = budget.reserve(60, false).await.unwrap();
        assert!(budget.reserve(101, false).await.is_none(), "more than all");
        let waiting = tokio::time::timeout(Duration::from_millis(50), budget.reserve(41, true));
        assert!(waiting.await.is_err(), "41 more must wait while 60 are out");
        let mut b = budget.reserve(40, true).await.unwrap();
        b.note_capacity(1_000);
        let s = budget.stats();
        assert_eq!((s.budget_reserved, s.budget_peak), (100, 100));
        assert_eq!((s.stranger_peak, s.buffered), (40, 40), "capacity capped");
        drop((a, b));
        let s = budget.stats();
        assert_eq!((s.budget_reserved, s.buffered), (0, 0));
        budget.take_peaks();
        assert_eq!(budget.stats().budget_peak, 0);
        assert!(budget.reserve(100, false).await.is_some());
    }

    #[test]
    fn the_gate_counts_addresses_strangers_and_keys() {
        let limits = Limits {
            connections_per_address: 2,
            stranger_connections: 3,
            connections_per_key: 1,
            ..Limits::default()
        };
        let gate = Arc::new(Gate::default());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let one = gate.enter(a, &limits).unwrap();
        let _two = gate.enter(a, &limits).unwrap();
        assert_eq!(gate.enter(a, &limits).unwrap_err(), Refusal::Address);
        let _three = gate.enter(b, &limits).unwrap();
        assert_eq!(gate.enter(b, &limits).unwrap_err(), Refusal::Strangers);
        drop(one);
        assert!(gate.enter(b, &limits).is_ok(), "a freed slot is free again");
        let key = lotse_protocol::NodeKey::generate().public();
        let slot = gate.key(key, &limits).unwrap();
        assert_eq!(gate.key(key, &limits).unwrap_err(), Refusal::Key);
        drop(slot);
        assert!(gate.key(key, &limits).is_ok());
        assert_eq!(gate.counts().1, 3);
    }

    #[test]
    fn limits_that_cannot_work_are_refused() {
        assert_eq!(Limits::default().check(), Ok(()));
        let zero = Limits {
            member_streams: 0,
            ..Limits::default()
        };
        assert_eq!(zero.check(), Err(LimitsError::Zero("member_streams")));
        let small = Limits {
            request_budget_bytes: 1024,
            ..Limits::default()
        };
        assert!(small.check().unwrap_err().to_string().contains("at least"));
    }
}
