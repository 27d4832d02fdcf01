//! Local users and how they prove who they are: accounts with roles ([`users`]), the
//! password policy and hashing ([`password`]), four eyes on case access ([`four_eyes`]),
//! password resets with one-time codes ([`reset`]), browser sessions and API tokens
//! ([`sessions`]), rate limiting ([`ratelimit`]), and who is calling ([`caller`]).
//!
//! The invariants this module protects:
//! - No secret is stored in a form that lets a reader of the data directory sign in:
//!   passwords as argon2id hashes, session ids, API tokens and one-time codes only as
//!   SHA-256 hashes.
//! - A wrong password and an unknown username look the same to the caller (same message,
//!   and an argon2 verification runs in both cases); what was typed as a username is
//!   never logged or audited.
//! - A disabled user's sessions and tokens stop working at once (every request re-reads
//!   the user record, and disabling deletes them); so do they on a password change or
//!   reset and a role change. Sessions and API tokens expire.
//! - An admin alone never gives an account case access, and never learns the password of
//!   an account that has it ([`users`], [`four_eyes`], [`reset`]).
//! - Every sign-in, sign-out and account change is written to the [audit log](crate::audit),
//!   without secrets.
//!
//! Modules depend downwards only: `four_eyes` → `reset` → `users` → `sessions`, `account`,
//! `password`; `caller` → `account`; `error` → `password`; `account`, `role`, `password`,
//! `secret` and `ratelimit` depend on no other module here (bar `role`), no submodule
//! imports from this one, and nothing here depends on `crate::http` (which maps these
//! errors to HTTP answers and holds the request extractors).

pub mod account;
pub mod caller;
pub mod error;
pub mod four_eyes;
pub mod password;
pub mod ratelimit;
pub mod reset;
pub mod role;
pub mod secret;
pub mod sessions;
pub mod users;

use std::net::IpAddr;

pub use caller::{AuthVia, Caller, CsrfMismatch, RoleRequired, SessionCaller};
pub use error::AuthError;
pub use ratelimit::LoginLimiter;
pub use role::{Role, UnknownRole};
pub use sessions::{NewApiToken, NewSession, TokenView};
pub use users::{Requester, UserView};

use crate::audit;
use crate::core::Core;
use crate::store::StoreError;

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
        // What was typed as a username may be a password typed into the wrong field: the
        // log gets only a salted hash, enough to see repeats of one name in one run.
        tracing::warn!(username_hash = %secret::log_hash(&name), client = ?client, "sign-in refused: rate limited");
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
        Err(e @ (AuthError::Disabled | AuthError::AwaitingConfirmation)) => {
            let why = if matches!(e, AuthError::Disabled) {
                "account disabled"
            } else {
                "account waits for a team lead's confirmation"
            };
            audit::record(core, &name, "login.refused", None, &format!("{why}{from}")).await?;
            Err(e)
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

/// The user if they exist and may act now (enabled, not waiting for confirmation).
fn active_user(core: &Core, username: &str) -> Result<Option<UserView>, StoreError> {
    Ok(users::get_user(core, username)?.filter(UserView::is_active))
}

/// The session for the session token `token` and its user, if both are valid now.
pub fn authenticate_session(
    core: &Core,
    token: &str,
) -> Result<Option<(sessions::Session, UserView)>, StoreError> {
    let Some(session) = sessions::lookup_session(core, token)? else {
        return Ok(None);
    };
    Ok(active_user(core, &session.record.username)?.map(|u| (session, u)))
}

/// The API token `token` and its user, if both are valid now.
pub fn authenticate_api_token(
    core: &Core,
    token: &str,
) -> Result<Option<(TokenView, UserView)>, StoreError> {
    let Some(view) = sessions::lookup_api_token(core, token)? else {
        return Ok(None);
    };
    Ok(active_user(core, &view.username)?.map(|u| (view, u)))
}

/// Makes an API token for `username`, who must exist and be active, living
/// `lifetime_ms` (at most, and by default, the configured lifetime).
pub async fn create_api_token(
    core: &Core,
    username: &str,
    name: &str,
    lifetime_ms: Option<u64>,
) -> Result<NewApiToken, AuthError> {
    let user =
        active_user(core, username)?.ok_or_else(|| AuthError::UnknownUser(username.to_string()))?;
    sessions::create_api_token(core, &user.username, name, lifetime_ms).await
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

    #[tokio::test]
    async fn login_limits_and_audits() {
        let (_t, core) = testutil::core().await;
        users::add_user(
            &core,
            Requester::Server,
            "bea",
            "Bea",
            Role::Coordinator,
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
