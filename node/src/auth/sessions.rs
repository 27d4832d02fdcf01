//! Browser sessions and API tokens, in [`Space::Sessions`].
//!
//! Both are 256-bit random secrets handed to the client once; the store keeps only their
//! SHA-256 (`s/<hash>` for sessions, `t/<hash>` for API tokens), so a copy of the data
//! directory does not let anyone sign in.
//!
//! A session ends after [`SESSION_IDLE_MS`] (4 hours) without a request, or
//! [`SESSION_ABSOLUTE_MS`] (12 hours, a long working day) after sign-in, whichever comes
//! first; at sign-out; when the password is reset; and when the user is disabled. Each
//! session has its own CSRF token, which cookie-authenticated changes must send back.
//!
//! API tokens (for scripts and integrations) start with [`API_TOKEN_PREFIX`], do not
//! expire, and are revoked explicitly or when their user is disabled. Every lookup re-reads
//! the user record, so a disabled user's credentials stop working at once.

use lotse_protocol::Timestamp;
use serde::{Deserialize, Serialize};

use super::users::{self, UserView};
use super::{AuthError, random_secret, secret_hash};
use crate::audit;
use crate::core::Core;
use crate::store::{Batch, Space, StoreError, from_json, to_json};

/// A session ends after this long without a request (4 hours).
pub const SESSION_IDLE_MS: u64 = 4 * 3600 * 1000;
/// A session ends this long after sign-in, however active (12 hours).
pub const SESSION_ABSOLUTE_MS: u64 = 12 * 3600 * 1000;
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

impl SessionRecord {
    /// When this session ends if no request comes.
    pub fn expires_at(&self) -> Timestamp {
        let idle = self.last_seen_at.plus_millis(SESSION_IDLE_MS);
        let absolute = self.created_at.plus_millis(SESSION_ABSOLUTE_MS);
        idle.min(absolute)
    }

    /// True if the session still works at `now`.
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        now < self.expires_at()
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

/// A valid session and its user, as found by [`lookup_session`].
#[derive(Debug, Clone)]
pub struct Session {
    /// The stored id (hash of the token), for [`delete_session`].
    pub id: String,
    /// The record.
    pub record: SessionRecord,
    /// The (enabled) user.
    pub user: UserView,
}

/// An API token as stored (under the hash of the token).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenRecord {
    id: String,
    name: String,
    username: String,
    created_at: Timestamp,
    last_used_at: Option<Timestamp>,
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
}

impl From<&TokenRecord> for TokenView {
    fn from(r: &TokenRecord) -> Self {
        TokenView {
            id: r.id.clone(),
            name: r.name.clone(),
            username: r.username.clone(),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
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

/// The user if they exist and are enabled.
fn active_user(core: &Core, username: &str) -> Result<Option<UserView>, StoreError> {
    Ok(users::get_user(core, username)?.filter(|u| !u.disabled))
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
        if !s.is_valid_at(now) {
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
        expires_at: record.expires_at(),
        token,
        csrf_token: record.csrf_token,
    })
}

/// The session for `token`, if it is valid and its user enabled. An expired session is
/// deleted; an active one has its `last_seen_at` moved (at most once a minute, unflushed:
/// losing that write only shortens the session).
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
    if !record.is_valid_at(now) {
        let mut batch = Batch::new();
        batch.delete(Space::Sessions, key);
        core.store.commit(batch)?;
        return Ok(None);
    }
    let Some(user) = active_user(core, &record.username)? else {
        return Ok(None);
    };
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
    Ok(Some(Session { id, record, user }))
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

/// Makes an API token for `username` (who must exist and be enabled).
pub async fn create_api_token(
    core: &Core,
    username: &str,
    name: &str,
) -> Result<NewApiToken, AuthError> {
    let name = validate_token_name(name)?;
    let user =
        active_user(core, username)?.ok_or_else(|| AuthError::UnknownUser(username.to_string()))?;
    let count = tokens(core)?
        .iter()
        .filter(|(_, t)| t.username == user.username)
        .count();
    if count >= MAX_TOKENS_PER_USER {
        return Err(AuthError::TooManyTokens(user.username));
    }
    let token = format!("{API_TOKEN_PREFIX}{}", random_secret());
    let record = TokenRecord {
        id: data_encoding::HEXLOWER.encode(&rand::random::<[u8; 8]>()),
        name,
        username: user.username.clone(),
        created_at: core.clock.now(),
        last_used_at: None,
    };
    let mut batch = Batch::new();
    batch.put(
        Space::Sessions,
        token_key(&secret_hash(&token)),
        to_json(&record),
    );
    let detail = format!("token {} ({:?})", record.id, record.name);
    audit::commit_with(core, batch, &user.username, "token.create", None, &detail).await?;
    Ok(NewApiToken {
        view: TokenView::from(&record),
        token,
    })
}

/// API tokens of `username`, or of everyone with `None`.
pub fn list_api_tokens(core: &Core, username: Option<&str>) -> Result<Vec<TokenView>, StoreError> {
    let mut out: Vec<TokenView> = tokens(core)?
        .iter()
        .filter(|(_, t)| username.is_none_or(|u| t.username == u))
        .map(|(_, t)| TokenView::from(t))
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
    Ok(TokenView::from(&record))
}

/// The user behind an API token, if the token exists and its user is enabled.
pub fn lookup_api_token(
    core: &Core,
    token: &str,
) -> Result<Option<(TokenView, UserView)>, StoreError> {
    if !token.starts_with(API_TOKEN_PREFIX) || token.len() > 128 {
        return Ok(None);
    }
    let key = token_key(&secret_hash(token));
    let Some(raw) = core.store.get(Space::Sessions, &key)? else {
        return Ok(None);
    };
    let mut record: TokenRecord = from_json(Space::Sessions, &raw)?;
    let Some(user) = active_user(core, &record.username)? else {
        return Ok(None);
    };
    let now = core.clock.now();
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
    Ok(Some((TokenView::from(&record), user)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Role, testutil};

    #[test]
    fn expiry_is_idle_or_absolute() {
        let s = SessionRecord {
            username: "a".into(),
            csrf_token: "c".into(),
            created_at: Timestamp(0),
            last_seen_at: Timestamp(0),
        };
        assert!(s.is_valid_at(Timestamp(SESSION_IDLE_MS - 1)));
        assert!(!s.is_valid_at(Timestamp(SESSION_IDLE_MS)));
        let active = SessionRecord {
            last_seen_at: Timestamp(SESSION_ABSOLUTE_MS - 1000),
            ..s
        };
        assert!(active.is_valid_at(Timestamp(SESSION_ABSOLUTE_MS - 1)));
        assert!(!active.is_valid_at(Timestamp(SESSION_ABSOLUTE_MS)));
    }

    async fn user(core: &Core, name: &str) {
        users::add_user(core, "admin", name, "", Role::CaseManager, None)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn sessions_are_stored_hashed_and_expire() {
        let (_t, core) = testutil::core().await;
        user(&core, "fritz").await;
        let s = create_session(&core, "fritz").await.unwrap();
        let found = lookup_session(&core, &s.token).unwrap().unwrap();
        assert_eq!(found.user.username, "fritz");
        assert_eq!(found.record.csrf_token, s.csrf_token);
        // Only the hash is stored.
        for (k, v) in core.store.scan(Space::Sessions, b"", 100).unwrap() {
            let all = [k, v].concat();
            let text = String::from_utf8_lossy(&all);
            assert!(!text.contains(&s.token));
        }
        assert!(lookup_session(&core, "nonsense").unwrap().is_none());

        // Active requests keep it alive past the idle limit...
        core.clock.set_offset_ms((SESSION_IDLE_MS - 60_000) as i64);
        assert!(lookup_session(&core, &s.token).unwrap().is_some());
        core.clock.set_offset_ms((SESSION_IDLE_MS + 60_000) as i64);
        assert!(lookup_session(&core, &s.token).unwrap().is_some());
        // ...but not past the absolute one.
        core.clock.set_offset_ms(SESSION_ABSOLUTE_MS as i64);
        assert!(lookup_session(&core, &s.token).unwrap().is_none());
        assert!(
            sessions(&core).unwrap().is_empty(),
            "expired session deleted"
        );
    }

    #[tokio::test]
    async fn idle_sessions_end() {
        let (_t, core) = testutil::core().await;
        user(&core, "gerd").await;
        let s = create_session(&core, "gerd").await.unwrap();
        core.clock.set_offset_ms(SESSION_IDLE_MS as i64 + 1);
        assert!(lookup_session(&core, &s.token).unwrap().is_none());
    }

    #[tokio::test]
    async fn logout_disable_and_reset_end_sessions() {
        let (_t, core) = testutil::core().await;
        user(&core, "hanna").await;
        let a = create_session(&core, "hanna").await.unwrap();
        let b = create_session(&core, "hanna").await.unwrap();
        let id = lookup_session(&core, &a.token).unwrap().unwrap().id;
        delete_session(&core, &id).await.unwrap();
        assert!(lookup_session(&core, &a.token).unwrap().is_none());
        assert!(lookup_session(&core, &b.token).unwrap().is_some());
        users::reset_password(&core, "admin", "hanna", None)
            .await
            .unwrap();
        assert!(lookup_session(&core, &b.token).unwrap().is_none());
        let c = create_session(&core, "hanna").await.unwrap();
        let t = create_api_token(&core, "hanna", "script").await.unwrap();
        users::disable_user(&core, "admin", "hanna").await.unwrap();
        assert!(lookup_session(&core, &c.token).unwrap().is_none());
        assert!(lookup_api_token(&core, &t.token).unwrap().is_none());
    }

    #[tokio::test]
    async fn sessions_per_user_are_bounded() {
        let (_t, core) = testutil::core().await;
        user(&core, "ida").await;
        let first = create_session(&core, "ida").await.unwrap();
        // Sessions are ordered by creation time in milliseconds: make "first" the oldest
        // without a tie, which a loaded machine could otherwise produce.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        for _ in 0..MAX_SESSIONS_PER_USER {
            create_session(&core, "ida").await.unwrap();
        }
        assert_eq!(sessions(&core).unwrap().len(), MAX_SESSIONS_PER_USER);
        assert!(lookup_session(&core, &first.token).unwrap().is_none());
    }

    #[tokio::test]
    async fn api_tokens_create_list_revoke() {
        let (_t, core) = testutil::core().await;
        user(&core, "jan").await;
        user(&core, "kai").await;
        let t = create_api_token(&core, "jan", "Fachverfahren")
            .await
            .unwrap();
        assert!(t.token.starts_with(API_TOKEN_PREFIX));
        let (view, u) = lookup_api_token(&core, &t.token).unwrap().unwrap();
        assert_eq!(
            (view.id.as_str(), u.username.as_str()),
            (t.view.id.as_str(), "jan")
        );
        assert!(view.last_used_at.is_some());
        assert_eq!(list_api_tokens(&core, Some("jan")).unwrap().len(), 1);
        assert!(list_api_tokens(&core, Some("kai")).unwrap().is_empty());
        assert!(matches!(
            create_api_token(&core, "jan", " ").await,
            Err(AuthError::InvalidTokenName)
        ));
        // Someone else cannot revoke it.
        assert!(matches!(
            revoke_api_token(&core, "kai", &t.view.id, Some("kai")).await,
            Err(AuthError::UnknownToken(_))
        ));
        revoke_api_token(&core, "jan", &t.view.id, Some("jan"))
            .await
            .unwrap();
        assert!(lookup_api_token(&core, &t.token).unwrap().is_none());
        assert!(
            lookup_api_token(&core, "lotse_api_nonsense")
                .unwrap()
                .is_none()
        );
    }
}
