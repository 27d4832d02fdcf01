//! Password resets without the admin learning the password, and the one-time codes
//! with which users set their own password.
//!
//! An admin's reset of an account with case access ([`reset_password`]) only ends the
//! old password, the sessions and the API tokens, and opens a reset. A team lead other
//! than the user then has a one-time code made and shown to them once ([`issue_code`]),
//! and hands it over in person or by phone; the same happens when a team lead confirms a
//! new account ([`super::four_eyes`]). With the code the user sets a new password
//! ([`redeem_code`]): the code is stored only as a hash, expires after
//! [`CODE_VALID_MS`], works once, and wrong codes are rate-limited like sign-ins and
//! audited. (Once e-mail notices exist, the code can go to the user's address instead.)
//!
//! Accounts without case access (admins, coordinators) are reset as before: the new
//! password is shown to whoever reset it. So is a team lead reset on the server while the
//! node has no other enabled team lead (nobody could hand a code over).

use std::net::IpAddr;

use lotse_protocol::Timestamp;
use serde::{Deserialize, Serialize};

use super::error::AuthError;
use super::password;
use super::ratelimit::LoginLimiter;
use super::secret::{constant_time_eq, secret_hash};
use super::users::{
    GrantedBy, Requester, ResetState, UserView, end_credentials, has_other_team_lead,
    hash_blocking, normalize_username, read, require_team_lead, unknown_password_hash, update,
    validate_password,
};
use crate::audit;
use crate::core::Core;

/// A one-time code works this long after it was shown (3 days: a weekend in between).
pub const CODE_VALID_MS: u64 = 3 * 24 * 3600 * 1000;

/// A one-time code for a user, shown once.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OneTimeCode {
    /// Whose.
    pub username: String,
    /// The code: the user sets their own password with it (`POST /api/v1/password/reset`
    /// or the page "Neues Passwort setzen").
    pub code: String,
    /// Until when it works.
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for OneTimeCode {
    // Debug output ends up in logs: never the code.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneTimeCode")
            .field("username", &self.username)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The answer to a reset: the new password only where the one resetting may see it.
#[derive(Debug, Clone)]
pub struct ResetOutcome {
    /// The user.
    pub user: UserView,
    /// The new password (accounts without case access, or the server's reset of a team
    /// lead with no other team lead); `None` when a team lead hands over a code instead.
    pub password: Option<String>,
}

/// Resets `username`'s password. See the module documentation for who learns what.
/// Every session and API token of the user ends.
pub async fn reset_password(
    core: &Core,
    by: Requester<'_>,
    username: &str,
    password: Option<String>,
) -> Result<ResetOutcome, AuthError> {
    let name = normalize_username(username);
    let (_, current) = read(core, &name)?.ok_or_else(|| AuthError::UnknownUser(name.clone()))?;
    // Only the server, and only while no other team lead could hand over a code, sets the
    // password of an account with case access directly.
    let server_alone = by == Requester::Server && !has_other_team_lead(core, &name)?;
    let by_code = current.role.has_case_access() && !server_alone;
    if by_code {
        if password.is_some() {
            return Err(AuthError::PasswordFromAdmin);
        }
        let hash = unknown_password_hash().await?;
        let user = update(core, &name, by.actor(), |core, record, batch| {
            record.password_hash = hash.clone();
            record.reset = Some(ResetState {
                requested_by: by.actor().to_string(),
                requested_at: core.clock.now(),
                code_hash: None,
                code_expires_at: None,
                code_shown_to: None,
            });
            end_credentials(core, &record.username, None, batch)?;
            Ok(Some((
                "user.reset_requested",
                format!(
                    "reset the password of {}; a team lead hands over a one-time code",
                    record.username
                ),
            )))
        })
        .await?;
        return Ok(ResetOutcome {
            user,
            password: None,
        });
    }
    if let Some(p) = &password {
        validate_password(p, &name)?;
    }
    let generated = password.is_none().then(password::generate);
    let secret = password.or_else(|| generated.clone()).unwrap_or_default();
    let hash = hash_blocking(secret).await?;
    let action = if current.role.has_case_access() {
        "user.reset_password_on_server"
    } else {
        "user.reset_password"
    };
    let user = update(core, &name, by.actor(), |core, record, batch| {
        record.password_hash = hash.clone();
        record.password_changed_at = core.clock.now();
        record.reset = None;
        if action == "user.reset_password_on_server" {
            record.granted = Some(GrantedBy::Server {
                at: core.clock.now(),
            });
        }
        end_credentials(core, &record.username, None, batch)?;
        Ok(Some((
            action,
            format!("set a new password for {}", record.username),
        )))
    })
    .await?;
    Ok(ResetOutcome {
        user,
        password: generated,
    })
}

/// A new one-time code for `username`, to be shown once to the team lead `team_lead`.
/// Needs an open reset; a code made before stops working.
pub async fn issue_code(
    core: &Core,
    team_lead: &str,
    username: &str,
) -> Result<OneTimeCode, AuthError> {
    let name = normalize_username(username);
    require_team_lead(core, team_lead, &name)?;
    let code = password::generate();
    let hash = secret_hash(&code);
    let expires_at = core.clock.now().plus_millis(CODE_VALID_MS);
    update(core, &name, team_lead, |_, record, _| {
        let reset = record
            .reset
            .as_mut()
            .ok_or_else(|| AuthError::NoResetPending(record.username.clone()))?;
        let replaces = reset.code_hash.is_some();
        set_code(reset, &hash, expires_at, team_lead);
        Ok(Some((
            "user.reset_code",
            format!(
                "a one-time code for {} was shown to team lead {team_lead}{}",
                record.username,
                if replaces {
                    "; the earlier code no longer works"
                } else {
                    ""
                }
            ),
        )))
    })
    .await?;
    Ok(OneTimeCode {
        username: name,
        code,
        expires_at,
    })
}

fn set_code(reset: &mut ResetState, hash: &str, expires_at: Timestamp, team_lead: &str) {
    reset.code_hash = Some(hash.to_string());
    reset.code_expires_at = Some(expires_at);
    reset.code_shown_to = Some(team_lead.to_string());
}

/// An open reset with a fresh code for a user whose case access a team lead just
/// confirmed: returns the state to store and the code to show once.
pub(crate) fn new_code_for(core: &Core, team_lead: &str) -> (ResetState, String, Timestamp) {
    let code = password::generate();
    let now = core.clock.now();
    let expires_at = now.plus_millis(CODE_VALID_MS);
    let mut reset = ResetState {
        requested_by: team_lead.to_string(),
        requested_at: now,
        code_hash: None,
        code_expires_at: None,
        code_shown_to: None,
    };
    set_code(&mut reset, &secret_hash(&code), expires_at, team_lead);
    (reset, code, expires_at)
}

/// The user sets a new password with a one-time code. Wrong codes count as failed
/// sign-ins (per account and client address) and are audited; a right one works once.
/// Every session and API token of the user ends.
pub async fn redeem_code(
    core: &Core,
    username: &str,
    code: &str,
    new_password: &str,
    client: Option<IpAddr>,
) -> Result<UserView, AuthError> {
    let name = normalize_username(username);
    let limiter = LoginLimiter::for_node(core.id);
    let now = core.clock.now();
    if let Err(wait) = limiter.check(&name, client, now) {
        return Err(AuthError::RateLimited {
            retry_after_secs: wait.div_ceil(1000),
        });
    }
    let given = secret_hash(code.trim());
    let valid = |reset: &ResetState| {
        reset
            .code_hash
            .as_deref()
            .is_some_and(|h| constant_time_eq(h.as_bytes(), given.as_bytes()))
            && reset.code_expires_at.is_some_and(|t| now < t)
    };
    let record = read(core, &name)?.map(|(_, r)| r);
    let ok = record
        .as_ref()
        .and_then(|r| r.reset.as_ref())
        .is_some_and(valid);
    if !ok {
        limiter.record_failure(&name, client, now);
        // Never store what was typed as a username: it may be a password.
        let actor = if record.is_some() {
            name.as_str()
        } else {
            "unknown"
        };
        let from = client.map(|ip| format!(" from {ip}")).unwrap_or_default();
        audit::record(
            core,
            actor,
            "password.code_failed",
            None,
            &format!("a wrong, used or expired one-time code{from}"),
        )
        .await?;
        return Err(AuthError::BadResetCode);
    }
    validate_password(new_password, &name)?;
    let hash = hash_blocking(new_password.to_string()).await?;
    let user = update(core, &name, &name, |core, record, batch| {
        // Checked again inside the guarded update: a code works once.
        if !record.reset.as_ref().is_some_and(valid) {
            return Err(AuthError::BadResetCode);
        }
        record.password_hash = hash.clone();
        record.password_changed_at = core.clock.now();
        record.reset = None;
        end_credentials(core, &record.username, None, batch)?;
        Ok(Some((
            "user.password_set_with_code",
            format!(
                "{} set a new password with a one-time code",
                record.username
            ),
        )))
    })
    .await?;
    limiter.record_success(&name);
    Ok(user)
}
