//! Login rate limiting: at most [`USER_FAILURES`] failed sign-ins per username and
//! [`IP_FAILURES`] per client address within [`WINDOW_MS`] (15 minutes); beyond that every
//! attempt is refused, before any password check, until the oldest failure leaves the
//! window. A successful sign-in clears the username's failures.
//!
//! The invariant it protects: an online attacker gets a handful of guesses per account per
//! quarter hour, so guessing even a weak 10-character password is hopeless. The price is
//! that anyone can lock a known username for 15 minutes; the per-address limit keeps one
//! client from doing that to every account at once.
//!
//! The state is in memory, one [`LoginLimiter`] per node id per process ([`for_node`]),
//! shared by the JSON API and the web UI. A restart resets it; that is acceptable, since a
//! restart costs an attacker more time than the window. Memory is bounded: at most
//! [`MAX_TRACKED`] usernames and addresses are tracked; beyond that, stale entries are
//! dropped first and then the oldest.
//!
//! [`for_node`]: LoginLimiter::for_node

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};

use lotse_protocol::{NodeId, Timestamp};

/// Failed sign-ins per username within the window.
pub const USER_FAILURES: usize = 5;
/// Failed sign-ins per client address within the window.
pub const IP_FAILURES: usize = 20;
/// The window (15 minutes).
pub const WINDOW_MS: u64 = 15 * 60 * 1000;
/// Usernames (and separately addresses) tracked at most.
pub const MAX_TRACKED: usize = 10_000;

/// Recent failures per key.
#[derive(Debug)]
struct Failures<K> {
    limit: usize,
    map: HashMap<K, VecDeque<u64>>,
}

impl<K: Hash + Eq + Clone> Failures<K> {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            map: HashMap::new(),
        }
    }

    /// Milliseconds until `key` may try again, if it is blocked now.
    fn blocked(&mut self, key: &K, now: u64) -> Option<u64> {
        let times = self.map.get_mut(key)?;
        while times.front().is_some_and(|t| t + WINDOW_MS <= now) {
            times.pop_front();
        }
        if times.is_empty() {
            self.map.remove(key);
            return None;
        }
        if times.len() < self.limit {
            return None;
        }
        // Blocked until enough failures have aged out to drop below the limit.
        let idx = times.len() - self.limit;
        times
            .get(idx)
            .map(|t| (t + WINDOW_MS).saturating_sub(now).max(1))
    }

    fn fail(&mut self, key: K, now: u64) {
        if !self.map.contains_key(&key) && self.map.len() >= MAX_TRACKED {
            self.prune(now);
        }
        let times = self.map.entry(key).or_default();
        times.push_back(now);
        // Keep only what can matter.
        while times.len() > self.limit {
            times.pop_front();
        }
    }

    fn prune(&mut self, now: u64) {
        self.map
            .retain(|_, t| t.back().is_some_and(|last| last + WINDOW_MS > now));
        if self.map.len() >= MAX_TRACKED {
            // Still full of fresh entries: forget the one whose last failure is oldest.
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, t)| t.back().copied().unwrap_or(0))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.map.remove(&k);
            }
        }
    }
}

#[derive(Debug)]
struct State {
    users: Failures<String>,
    ips: Failures<IpAddr>,
}

/// Counts failed sign-ins and says when to refuse. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct LoginLimiter {
    state: Mutex<State>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                users: Failures::new(USER_FAILURES),
                ips: Failures::new(IP_FAILURES),
            }),
        }
    }
}

/// Usernames longer than this are cut for counting (they cannot exist anyway).
const MAX_KEY: usize = 64;

fn user_key(username: &str) -> String {
    username.chars().take(MAX_KEY).collect()
}

impl LoginLimiter {
    /// The limiter of node `id` in this process (created on first use).
    pub fn for_node(id: NodeId) -> Arc<LoginLimiter> {
        static ALL: OnceLock<Mutex<HashMap<NodeId, Arc<LoginLimiter>>>> = OnceLock::new();
        let all = ALL.get_or_init(Default::default);
        let mut all = all.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(id).or_default().clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters, not broken invariants.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Ok` if a sign-in may be tried now; otherwise the milliseconds to wait.
    pub fn check(&self, username: &str, client: Option<IpAddr>, now: Timestamp) -> Result<(), u64> {
        let mut state = self.state();
        let now = now.millis();
        let user = state.users.blocked(&user_key(username), now);
        let ip = client.and_then(|ip| state.ips.blocked(&ip, now));
        match user.max(ip) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Counts a failed sign-in.
    pub fn record_failure(&self, username: &str, client: Option<IpAddr>, now: Timestamp) {
        let mut state = self.state();
        let now = now.millis();
        state.users.fail(user_key(username), now);
        if let Some(ip) = client {
            state.ips.fail(ip, now);
        }
    }

    /// Clears a username's failures after a successful sign-in.
    pub fn record_success(&self, username: &str) {
        self.state().users.map.remove(&user_key(username));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));

    #[test]
    fn five_failures_block_the_username_for_the_window() {
        let l = LoginLimiter::default();
        for i in 0..USER_FAILURES as u64 {
            assert!(l.check("anna", IP, Timestamp(i)).is_ok());
            l.record_failure("anna", IP, Timestamp(i));
        }
        let wait = l.check("anna", None, Timestamp(10)).unwrap_err();
        assert_eq!(wait, WINDOW_MS - 10);
        // Another user is not affected.
        assert!(l.check("bert", None, Timestamp(10)).is_ok());
        // When the first failure ages out, one more try is allowed.
        assert!(l.check("anna", None, Timestamp(WINDOW_MS)).is_ok());
        l.record_failure("anna", None, Timestamp(WINDOW_MS));
        assert!(l.check("anna", None, Timestamp(WINDOW_MS)).is_err());
    }

    #[test]
    fn success_clears_the_username() {
        let l = LoginLimiter::default();
        for i in 0..(USER_FAILURES - 1) as u64 {
            l.record_failure("anna", None, Timestamp(i));
        }
        l.record_success("anna");
        l.record_failure("anna", None, Timestamp(100));
        assert!(l.check("anna", None, Timestamp(100)).is_ok());
    }

    #[test]
    fn one_address_cannot_try_many_usernames() {
        let l = LoginLimiter::default();
        for i in 0..IP_FAILURES {
            l.record_failure(&format!("user{i}"), IP, Timestamp(i as u64));
        }
        assert!(l.check("fresh", IP, Timestamp(100)).is_err());
        assert!(l.check("fresh", None, Timestamp(100)).is_ok());
    }

    #[test]
    fn memory_is_bounded() {
        let l = LoginLimiter::default();
        for i in 0..(MAX_TRACKED + 100) {
            l.record_failure(&format!("u{i}"), None, Timestamp(i as u64));
        }
        assert!(l.state().users.map.len() <= MAX_TRACKED);
        // Very long usernames are counted under their first 64 characters.
        let long = "x".repeat(1000);
        for _ in 0..USER_FAILURES {
            l.record_failure(&long, None, Timestamp(0));
        }
        assert!(l.check(&"x".repeat(64), None, Timestamp(1)).is_err());
    }

    #[test]
    fn limiters_are_per_node() {
        let a = LoginLimiter::for_node(lotse_protocol::NodeKey::generate().public());
        let id = lotse_protocol::NodeKey::generate().public();
        let b = LoginLimiter::for_node(id);
        assert!(!Arc::ptr_eq(&a, &b));
        assert!(Arc::ptr_eq(&b, &LoginLimiter::for_node(id)));
    }
}
