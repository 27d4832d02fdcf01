//! Browser sessions and API tokens, in [`Space::Sessions`].
//!
//! Both are 256-bit random secrets handed to the client once; the store keeps only their
//! SHA-256 (`s/<hash>` for sessions, `t/<hash>` for API tokens), so a copy of the data
//! directory does not let anyone sign in.
//!
//! A session ends after `auth.session_idle_secs` (default 4 hours) without a request, or
//! `auth.session_absolute_secs` (default 12 hours, a long working day) after sign-in,
//! whichever comes first; at sign-out; and when the password is changed or reset, the
//! role changes, or the user is disabled. Each session has its own CSRF token, which
//! cookie-authenticated changes must send back.
//!
//! API tokens (for scripts and integrations) start with [`API_TOKEN_PREFIX`] and expire
//! `auth.api_token_lifetime_secs` (default 90 days) after they were made, or sooner if
//! asked; they are revoked explicitly, and on the same events as sessions.
//!
//! This module keeps the records only. Whether their user may still act (enabled, role)
//! is checked by the caller on every request ([`super::authenticate_session`]), so it
//! needs nothing from the accounts module, which uses it.

use lotse_protocol::Timestamp;
use serde::{Deserialize, Serialize};

use super::error::AuthError;
use super::secret::{random_secret, secret_hash};
use crate::audit;
use crate::config::AuthConfig;
use crate::core::Core;
use crate::store::{Batch, Space, StoreError, from_json, to_json};
/// `last_seen_at` is written at most this often, to keep reads from writing each time.
const TOUCH_EVERY_MS: u64 = 60 * 1000;
/// Sessions one user may have at once; signing in again ends the oldest.
pub const MAX_SESSIONS_PER_USER: usize = 20;
/// API tokens one user may have.
pub const MAX_TOKENS_PER_USER: usize = 20;
/// The visible start of every API token (tells it apart from a session token).
pub const API_TOKEN_PREFIX: &str = "lotse_api_";
/// The most sessions or tokens a scan reads.
const MAX_SCAN: usize = 1_000_000;

const SESSION_PREFIX: &[u8] = b"s/";
const TOKEN_PREFIX: &[u8] = b"t/";

/// A session as stored (under the hash of its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Whose session.
    pub username: String,
    /// The token cookie-authenticated changes must echo in `X-CSRF-Token`.
    pub csrf_token: String,
    /// Sign-in time.
    pub created_at: Timestamp,
    /// Last request (updated at most once a minute).
    pub last_seen_at: Timestamp,
}

/// How long sessions and API tokens live, from `[auth]` in `lotse.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Without a request, a session ends after this many milliseconds.
    pub session_idle_ms: u64,
    /// After sign-in, a session ends after this many milliseconds.
    pub session_absolute_ms: u64,
    /// An API token lives at most this many milliseconds.
    pub api_token_ms: u64,
}

impl Lifetimes {
    /// The lifetimes configured for `core`.
    pub fn of(core: &Core) -> Lifetimes {
        Self::from_config(&core.config.auth)
    }

    /// The lifetimes of a configuration.
    pub fn from_config(c: &AuthConfig) -> Lifetimes {
        Lifetimes {
            session_idle_ms: c.session_idle_secs.saturating_mul(1000),
            session_absolute_ms: c.session_absolute_secs.saturating_mul(1000),
            api_token_ms: c.api_token_lifetime_secs.saturating_mul(1000),
        }
    }
}

impl SessionRecord {
    /// When this session ends if no request comes.
    pub fn expires_at(&self, life: &Lifetimes) -> Timestamp {
        let idle = self.last_seen_at.plus_millis(life.session_idle_ms);
        let absolute = self.created_at.plus_millis(life.session_absolute_ms);
        idle.min(absolute)
    }

    /// True if the session still works at `now`.
    pub fn is_valid_at(&self, now: Timestamp, life: &Lifetimes) -> bool {
        now < self.expires_at(life)
    }
}

/// A new session: the secrets are shown to the client once.
#[derive(Clone, Serialize, Deserialize)]
pub struct NewSession {
    /// The session token (cookie value, or bearer token).
    pub token: String,
    /// The CSRF token for cookie-authenticated changes.
    pub csrf_token: String,
    /// When the session ends at the latest.
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for NewSession {
    // Debug output ends up in logs: never the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A valid session, as found by [`lookup_session`].
#[derive(Debug, Clone)]
pub struct Session {
    /// The stored id (hash of the token), for [`delete_session`].
    pub id: String,
    /// The record.
    pub record: SessionRecord,
}

/// An API token as stored (under the hash of the token).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenRecord {
    id: String,
    name: String,
    username: String,
    created_at: Timestamp,
    last_used_at: Option<Timestamp>,
    /// Tokens made before tokens expired have none: they expire the configured lifetime
    /// after they were made.
    #[serde(default)]
    expires_at: Option<Timestamp>,
}

impl TokenRecord {
    fn expires_at(&self, life: &Lifetimes) -> Timestamp {
        self.expires_at
            .unwrap_or_else(|| self.created_at.plus_millis(life.api_token_ms))
    }
}

/// An API token as listed: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenView {
    /// Public id (for revoking).
    pub id: String,
    /// What it is for.
    pub name: String,
    /// Whose it is.
    pub username: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// Last use (to the minute).
    pub last_used_at: Option<Timestamp>,
    /// When it stops working.
    pub expires_at: Timestamp,
}

impl TokenView {
    fn of(r: &TokenRecord, life: &Lifetimes) -> Self {
        TokenView {
            id: r.id.clone(),
            name: r.name.clone(),
            username: r.username.clone(),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at(life),
        }
    }
}

/// A new API token: the secret is shown once.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewApiToken {
    /// The token as listed.
    #[serde(flatten)]
    pub view: TokenView,
    /// The secret, for `Authorization: Bearer`.
    pub token: String,
}

impl std::fmt::Debug for NewApiToken {
    // Debug output ends up in logs: never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiToken")
            .field("view", &self.view)
            .finish_non_exhaustive()
    }
}

fn session_key(id: &str) -> Vec<u8> {
    [SESSION_PREFIX, id.as_bytes()].concat()
}

fn token_key(hash: &str) -> Vec<u8> {
    [TOKEN_PREFIX, hash.as_bytes()].concat()
}

fn sessions(core: &Core) -> Result<Vec<(Vec<u8>, SessionRecord)>, StoreError> {
    core.store
        .scan(Space::Sessions, SESSION_PREFIX, MAX_SCAN)?
        .into_iter()
        .map(|(k, v)| Ok((k, from_json(Space::Sessions, &v)?)))
        .collect()
}

fn tokens(core: &Core) -> Result<Vec<(Vec<u8>, TokenRecord)>, StoreError> {
    core.store
        .scan(Space::Sessions, TOKEN_PREFIX, MAX_SCAN)?
        .into_iter()
        .map(|(k, v)| Ok((k, from_json(Space::Sessions, &v)?)))
        .collect()
}

/// Deletions of every session of `username` (except `keep`, a stored id), for a batch.
pub(crate) fn delete_all_for(
    core: &Core,
    username: &str,
    keep: Option<&str>,
) -> Result<Batch, StoreError> {
    let mut batch = Batch::new();
    let keep = keep.map(session_key);
    for (k, s) in sessions(core)? {
        if s.username == username && Some(&k) != keep.as_ref() {
            batch.delete(Space::Sessions, k);
        }
    }
    Ok(batch)
}

/// Deletions of every API token of `username`, for a batch.
pub(crate) fn delete_tokens_for(core: &Core, username: &str) -> Result<Batch, StoreError> {
    let mut batch = Batch::new();
    for (k, t) in tokens(core)? {
        if t.username == username {
            batch.delete(Space::Sessions, k);
        }
    }
    Ok(batch)
}

/// Starts a session for `username` (already authenticated). Removes expired sessions of
/// everyone, and this user's oldest if they have too many.
pub async fn create_session(core: &Core, username: &str) -> Result<NewSession, AuthError> {
    let now = core.clock.now();
    let life = Lifetimes::of(core);
    let token = random_secret();
    let record = SessionRecord {
        username: username.to_string(),
        csrf_token: random_secret(),
        created_at: now,
        last_seen_at: now,
    };
    let mut batch = Batch::new();
    let mut own = Vec::new();
    for (k, s) in sessions(core)? {
        if !s.is_valid_at(now, &life) {
            batch.delete(Space::Sessions, k);
        } else if s.username == username {
            own.push((s.created_at, k));
        }
    }
    own.sort();
    let excess = (own.len() + 1).saturating_sub(MAX_SESSIONS_PER_USER);
    for (_, k) in own.into_iter().take(excess) {
        batch.delete(Space::Sessions, k);
    }
    batch.put(
        Space::Sessions,
        session_key(&secret_hash(&token)),
        to_json(&record),
    );
    core.store.commit(batch)?;
    core.store.flush().await?;
    Ok(NewSession {
        expires_at: record.expires_at(&life),
        token,
        csrf_token: record.csrf_token,
    })
}

/// The session for `token`, if it is valid (its user is not checked here). An expired
/// session is deleted; an active one has its `last_seen_at` moved (at most once a minute,
/// unflushed: losing that write only shortens the session).
pub fn lookup_session(core: &Core, token: &str) -> Result<Option<Session>, StoreError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let id = secret_hash(token);
    let key = session_key(&id);
    let Some(raw) = core.store.get(Space::Sessions, &key)? else {
        return Ok(None);
    };
    let mut record: SessionRecord = from_json(Space::Sessions, &raw)?;
    let now = core.clock.now();
    if !record.is_valid_at(now, &Lifetimes::of(core)) {
        let mut batch = Batch::new();
        batch.delete(Space::Sessions, key);
        core.store.commit(batch)?;
        return Ok(None);
    }
    if now.millis() >= record.last_seen_at.millis() + TOUCH_EVERY_MS {
        record.last_seen_at = now;
        let mut batch = Batch::new();
        // Only if still there: a concurrent sign-out must not be undone.
        batch.guard(
            Space::Sessions,
            key.clone(),
            crate::store::Expect::Value(raw),
        );
        batch.put(Space::Sessions, key, to_json(&record));
        match core.store.commit(batch) {
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(Session { id, record }))
}

/// Ends a session (sign-out) by its stored id.
pub async fn delete_session(core: &Core, id: &str) -> Result<(), StoreError> {
    let mut batch = Batch::new();
    batch.delete(Space::Sessions, session_key(id));
    core.store.commit(batch)?;
    core.store.flush().await
}

fn validate_token_name(name: &str) -> Result<String, AuthError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AuthError::InvalidTokenName);
    }
    Ok(name.to_string())
}

/// Makes an API token for `username` (authenticated and enabled: the caller checks),
/// living `lifetime_ms` (at most, and by default, the configured lifetime).
pub async fn create_api_token(
    core: &Core,
    username: &str,
    name: &str,
    lifetime_ms: Option<u64>,
) -> Result<NewApiToken, AuthError> {
    let name = validate_token_name(name)?;
    let life = Lifetimes::of(core);
    let lifetime = lifetime_ms.unwrap_or(life.api_token_ms);
    if lifetime == 0 || lifetime > life.api_token_ms {
        return Err(AuthError::TokenLifetime {
            max_days: (life.api_token_ms / (24 * 3600 * 1000)).max(1),
        });
    }
    let count = tokens(core)?
        .iter()
        .filter(|(_, t)| t.username == username)
        .count();
    if count >= MAX_TOKENS_PER_USER {
        return Err(AuthError::TooManyTokens {
            username: username.to_string(),
            max: MAX_TOKENS_PER_USER,
        });
    }
    let token = format!("{API_TOKEN_PREFIX}{}", random_secret());
    let now = core.clock.now();
    let record = TokenRecord {
        id: data_encoding::HEXLOWER.encode(&rand::random::<[u8; 8]>()),
        name,
        username: username.to_string(),
        created_at: now,
        last_used_at: None,
        expires_at: Some(now.plus_millis(lifetime)),
    };
    let mut batch = Batch::new();
    batch.put(
        Space::Sessions,
        token_key(&secret_hash(&token)),
        to_json(&record),
    );
    let detail = format!("token {} ({:?})", record.id, record.name);
    audit::commit_with(core, batch, username, "token.create", None, &detail).await?;
    Ok(NewApiToken {
        view: TokenView::of(&record, &life),
        token,
    })
}

/// API tokens of `username`, or of everyone with `None`.
pub fn list_api_tokens(core: &Core, username: Option<&str>) -> Result<Vec<TokenView>, StoreError> {
    let life = Lifetimes::of(core);
    let mut out: Vec<TokenView> = tokens(core)?
        .iter()
        .filter(|(_, t)| username.is_none_or(|u| t.username == u))
        .map(|(_, t)| TokenView::of(t, &life))
        .collect();
    out.sort_by(|a, b| (&a.username, a.created_at).cmp(&(&b.username, b.created_at)));
    Ok(out)
}

/// Revokes token `id`. `owner` limits it to that user's tokens (`None`: any, for admins).
/// `actor` is who does it, for the audit log.
pub async fn revoke_api_token(
    core: &Core,
    actor: &str,
    id: &str,
    owner: Option<&str>,
) -> Result<TokenView, AuthError> {
    let (key, record) = tokens(core)?
        .into_iter()
        .find(|(_, t)| t.id == id && owner.is_none_or(|o| t.username == o))
        .ok_or_else(|| AuthError::UnknownToken(id.to_string()))?;
    let mut batch = Batch::new();
    batch.delete(Space::Sessions, key);
    let detail = format!(
        "token {} ({:?}) of {}",
        record.id, record.name, record.username
    );
    audit::commit_with(core, batch, actor, "token.revoke", None, &detail).await?;
    Ok(TokenView::of(&record, &Lifetimes::of(core)))
}

/// The API token `token`, if it exists and has not expired (an expired one is deleted).
/// Its user is not checked here.
pub fn lookup_api_token(core: &Core, token: &str) -> Result<Option<TokenView>, StoreError> {
    if !token.starts_with(API_TOKEN_PREFIX) || token.len() > 128 {
        return Ok(None);
    }
    let key = token_key(&secret_hash(token));
    let Some(raw) = core.store.get(Space::Sessions, &key)? else {
        return Ok(None);
    };
    let mut record: TokenRecord = from_json(Space::Sessions, &raw)?;
    let life = Lifetimes::of(core);
    let now = core.clock.now();
    if now >= record.expires_at(&life) {
        let mut batch = Batch::new();
        batch.delete(Space::Sessions, key);
        core.store.commit(batch)?;
        return Ok(None);
    }
    let stale = record
        .last_used_at
        .is_none_or(|t| now.millis() >= t.millis() + TOUCH_EVERY_MS);
    if stale {
        record.last_used_at = Some(now);
        let mut batch = Batch::new();
        batch.guard(
            Space::Sessions,
            key.clone(),
            crate::store::Expect::Value(raw),
        );
        batch.put(Space::Sessions, key, to_json(&record));
        match core.store.commit(batch) {
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(TokenView::of(&record, &life)))
}

#[cfg(test)]
#[path = "sessions_tests.rs"]
mod tests;
