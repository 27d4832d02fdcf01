//! Local users and how they prove who they are: accounts with roles and argon2id password
//! hashes ([`users`]), browser sessions and API tokens ([`sessions`]), login rate limiting
//! ([`ratelimit`]), and the request extractors handlers use ([`extract`]).
//!
//! The invariants this module protects:
//! - No secret is stored in a form that lets a reader of the data directory sign in:
//!   passwords as argon2id hashes, session ids and API tokens only as SHA-256 hashes.
//! - A wrong password and an unknown username look the same to the caller (same message,
//!   and an argon2 verification runs in both cases).
//! - A disabled user's sessions and tokens stop working at once (every request re-reads
//!   the user record, and disabling deletes them).
//! - Cookie-authenticated requests that change something carry the session's CSRF token.
//! - Every sign-in, sign-out and account change is written to the [audit log](crate::audit),
//!   without secrets.

pub mod extract;
pub mod ratelimit;
pub mod sessions;
pub mod users;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use extract::{AuthVia, Caller, ClientIp, SessionCaller};
pub use ratelimit::LoginLimiter;
pub use sessions::{NewApiToken, NewSession, TokenView};
pub use users::UserView;

use crate::audit;
use crate::core::Core;
use crate::http::ApiError;
use crate::store::StoreError;

/// What a user may do. Checked per request with [`Caller::require_role`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum Role {
    /// Fallmanager/in: works the referrals they created or were assigned.
    CaseManager,
    /// Teamleitung: sees the team's referrals and assigns incoming ones.
    TeamLead,
    /// Manages the node and its users; cannot read case content.
    Admin,
    /// Koordination on the KI's directory node: members, invitations, statistics.
    Coordinator,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [
        Role::CaseManager,
        Role::TeamLead,
        Role::Admin,
        Role::Coordinator,
    ];

    /// The machine name (as in JSON and on the command line).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::CaseManager => "case_manager",
            Role::TeamLead => "team_lead",
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that does not exist.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown role {0:?}; choose one of case_manager, team_lead, admin, coordinator")]
pub struct UnknownRole(String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == wanted)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// Something about users, sign-in or tokens went wrong.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The username is not acceptable.
    #[error(
        "the username {0:?} is not valid: use 1 to 64 characters from a-z, 0-9, '.', '_' and '-'"
    )]
    InvalidUsername(String),
    /// The username is reserved for audit entries.
    #[error("the username {0:?} is reserved; choose another")]
    ReservedUsername(String),
    /// The display name is not acceptable.
    #[error("the display name must be 1 to 200 characters without control characters")]
    InvalidDisplayName,
    /// The password is too weak or too long.
    #[error(
        "the password must be at least {min} and at most {max} characters long",
        min = users::MIN_PASSWORD_CHARS,
        max = users::MAX_PASSWORD_CHARS
    )]
    WeakPassword,
    /// The user exists already.
    #[error("a user named {0:?} exists already")]
    UserExists(String),
    /// No such user.
    #[error("there is no user named {0:?}; see the user list")]
    UnknownUser(String),
    /// Wrong username or password (deliberately not saying which).
    #[error("wrong username or password")]
    BadCredentials,
    /// The current password given to change it is wrong.
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    /// The account is disabled (only said after a correct password).
    #[error("this account is disabled; ask your node's admin to enable it")]
    Disabled,
    /// Too many failed sign-ins.
    #[error(
        "too many failed sign-ins; try again in {} minute(s)",
        retry_after_secs.div_ceil(60)
    )]
    RateLimited {
        /// Seconds until a new attempt is allowed.
        retry_after_secs: u64,
    },
    /// The last enabled admin cannot be disabled.
    #[error("{0:?} is the last enabled admin; add or enable another admin first")]
    LastAdmin(String),
    /// The token name is not acceptable.
    #[error("the token name must be 1 to 100 characters without control characters")]
    InvalidTokenName,
    /// Too many API tokens.
    #[error("{0:?} has the maximum of {max} API tokens; revoke one first", max = sessions::MAX_TOKENS_PER_USER)]
    TooManyTokens(String),
    /// No such token (or not the caller's).
    #[error("there is no API token with id {0:?}; see the token list")]
    UnknownToken(String),
    /// Hashing failed (should not happen).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        use AuthError as E;
        let status = match &e {
            E::InvalidUsername(_)
            | E::ReservedUsername(_)
            | E::InvalidDisplayName
            | E::WeakPassword
            | E::InvalidTokenName => StatusCode::BAD_REQUEST,
            E::UserExists(_) | E::LastAdmin(_) | E::TooManyTokens(_) => StatusCode::CONFLICT,
            E::UnknownUser(_) | E::UnknownToken(_) => StatusCode::NOT_FOUND,
            E::BadCredentials => StatusCode::UNAUTHORIZED,
            E::WrongCurrentPassword | E::Disabled => StatusCode::FORBIDDEN,
            E::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            E::Hash(_) | E::Store(_) => return ApiError::internal(e),
        };
        ApiError::new(status, e)
    }
}

/// A fresh random secret: 32 bytes from the OS, as 64 hex digits.
pub(crate) fn random_secret() -> String {
    data_encoding::HEXLOWER.encode(&rand::random::<[u8; 32]>())
}

/// The stored form of a secret (session id, API token): its SHA-256, hex. These secrets
/// carry 256 random bits, so a fast hash is enough; only passwords need argon2.
pub(crate) fn secret_hash(secret: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(secret.as_bytes()))
}

/// A successful sign-in.
#[derive(Debug, Clone)]
pub struct LoginSuccess {
    /// Who signed in.
    pub user: UserView,
    /// The new session (its token is shown to the client once).
    pub session: NewSession,
}

/// Signs a user in: rate limit, password check, new session, audit entry.
///
/// The one way to sign in, used by the JSON API and the web UI's login form alike.
/// `client` is the peer address when the server knows it (per-address limiting).
pub async fn login(
    core: &Core,
    username: &str,
    password: &str,
    client: Option<IpAddr>,
) -> Result<LoginSuccess, AuthError> {
    let limiter = LoginLimiter::for_node(core.id);
    let now = core.clock.now();
    let name = users::normalize_username(username);
    let from = client.map(|ip| format!(" from {ip}")).unwrap_or_default();
    if let Err(wait) = limiter.check(&name, client, now) {
        tracing::warn!(username = %name, client = ?client, "sign-in refused: rate limited");
        return Err(AuthError::RateLimited {
            retry_after_secs: wait.div_ceil(1000),
        });
    }
    match users::verify_login(core, &name, password).await {
        Ok(user) => {
            limiter.record_success(&name);
            let session = sessions::create_session(core, &user.username).await?;
            audit::record(
                core,
                &user.username,
                "login.succeeded",
                None,
                &format!("signed in{from}"),
            )
            .await?;
            Ok(LoginSuccess { user, session })
        }
        Err(AuthError::BadCredentials) => {
            limiter.record_failure(&name, client, now);
            let known = users::get_user(core, &name)?.is_some();
            let (actor, detail) = if known {
                (name.as_str(), format!("wrong password{from}"))
            } else {
                // Never store what was typed as a username: it may be a password.
                ("unknown", format!("unknown username{from}"))
            };
            audit::record(core, actor, "login.failed", None, &detail).await?;
            Err(AuthError::BadCredentials)
        }
        Err(AuthError::Disabled) => {
            audit::record(
                core,
                &name,
                "login.refused",
                None,
                &format!("account disabled{from}"),
            )
            .await?;
            Err(AuthError::Disabled)
        }
        Err(e) => Err(e),
    }
}

/// Signs out: ends the session with stored id `session_id` and records it.
/// The one way to sign out, for the JSON API and the web UI alike.
pub async fn logout(core: &Core, username: &str, session_id: &str) -> Result<(), AuthError> {
    sessions::delete_session(core, session_id).await?;
    audit::record(core, username, "logout", None, "signed out").await?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A node on disk for tests of this module.

    use std::sync::Arc;

    use crate::core::Core;

    /// An initialised agency node in a temporary directory.
    pub(crate) async fn core() -> (tempfile::TempDir, Arc<Core>) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::init::for_test(tmp.path(), false).await;
        let core = Core::open(dir).unwrap();
        (tmp, core)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_print() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        assert_eq!("Team-Lead".parse::<Role>().unwrap(), Role::TeamLead);
        let err = "boss".parse::<Role>().unwrap_err().to_string();
        assert!(
            err.contains("case_manager, team_lead, admin, coordinator"),
            "{err}"
        );
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let a = random_secret();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_secret());
        assert_ne!(secret_hash(&a), a);
        assert_eq!(secret_hash(&a), secret_hash(&a));
    }

    #[tokio::test]
    async fn login_limits_and_audits() {
        let (_t, core) = testutil::core().await;
        users::add_user(
            &core,
            "audit",
            "bea",
            "Bea",
            Role::CaseManager,
            Some("richtig-lang-1".into()),
        )
        .await
        .unwrap();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let ok = login(&core, "BEA", "richtig-lang-1", Some(ip))
            .await
            .unwrap();
        assert_eq!(ok.user.username, "bea");
        for _ in 0..ratelimit::USER_FAILURES {
            let e = login(&core, "bea", "falsch-falsch", Some(ip)).await;
            assert!(matches!(e, Err(AuthError::BadCredentials)));
        }
        // Now even the right password is refused until the window passes.
        let e = login(&core, "bea", "richtig-lang-1", Some(ip)).await;
        assert!(matches!(e, Err(AuthError::RateLimited { .. })), "{e:?}");
        core.clock.set_offset_ms(ratelimit::WINDOW_MS as i64 + 1000);
        login(&core, "bea", "richtig-lang-1", Some(ip))
            .await
            .unwrap();
        // An unknown user fails the same way, and the log does not keep what was typed.
        let e = login(&core, "nobody-secret", "x-x-x-x-x-x", None).await;
        assert!(matches!(e, Err(AuthError::BadCredentials)));
        let log = audit::list(core.store.as_ref(), None, 100).unwrap();
        assert!(log.iter().all(|e| !e.actor.contains("nobody")));
        assert!(
            log.iter()
                .any(|e| e.action == "login.failed" && e.actor == "unknown")
        );
        assert!(
            log.iter()
                .any(|e| e.action == "login.succeeded" && e.actor == "bea")
        );
        assert_eq!(
            audit::verify(core.store.as_ref()).unwrap(),
            log.len(),
            "every entry chained"
        );
    }
}
