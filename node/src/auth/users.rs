//! Local user accounts in [`Space::Users`], keyed by the lowercase username.
//!
//! Passwords are stored only as argon2id hashes ([`super::password`]). [`verify_login`]
//! verifies against a hash nobody knows when the user does not exist, so the answer time
//! does not tell whether a username exists. Every change is committed together with its
//! audit entry and flushed before the function returns.
//!
//! Four eyes on case access: an admin alone never gives an account access to case content
//! (a new case manager or team lead, enabling one again, raising a role) and never learns
//! the password of an account that has it. Such a request leaves the account as it was,
//! with a [`Pending`] change that a team lead confirms or refuses ([`super::four_eyes`]);
//! an account that gets case access from none gets a new password that only its user sets,
//! with a one-time code handed over by the team lead ([`super::reset`]). The one exception
//! is the operator on the server (`lotse user`, which needs the data directory or its
//! admin token) while the node has no enabled team lead: they may create or enable the
//! first one directly, which is audited, marked on the account
//! ([`GrantedBy::Server`]) and shown on the node's status page.

pub use super::account::{GrantedBy, NewUser, Pending, PendingChange, Requester, UserView};
pub(crate) use super::account::{ResetState, UserRecord};
pub use super::password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};

use super::error::AuthError;
use super::password::{self, Rejected};
use super::role::Role;
use super::sessions;
use crate::audit;
use crate::core::Core;
use crate::store::{Batch, Expect, Space, StoreError, from_json, to_json};

/// Longest username.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Usernames kept for actors in the audit log.
const RESERVED: [&str; 5] = [audit::SYSTEM, audit::CLI, "node", "unknown", "anonymous"];
/// The most users a listing reads.
const MAX_USERS: usize = 100_000;

/// The lowercase, trimmed form usernames are compared and stored in.
pub fn normalize_username(username: &str) -> String {
    username.trim().to_lowercase()
}

/// Checks and normalises a username.
pub fn validate_username(username: &str) -> Result<String, AuthError> {
    let name = normalize_username(username);
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_USERNAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return Err(AuthError::InvalidUsername(username.to_string()));
    }
    if RESERVED.contains(&name.as_str()) {
        return Err(AuthError::ReservedUsername(name));
    }
    Ok(name)
}

/// Checks a new password for `username` against the policy ([`super::password`]).
pub fn validate_password(password: &str, username: &str) -> Result<(), AuthError> {
    password::check(password, username).map_err(|r| match r {
        Rejected::Length => AuthError::WeakPassword,
        Rejected::Common => AuthError::CommonPassword,
    })
}

/// Checks and trims a display name; an empty one becomes the username.
fn validate_display_name(display_name: &str, username: &str) -> Result<String, AuthError> {
    let name = display_name.trim();
    let name = if name.is_empty() { username } else { name };
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(AuthError::InvalidDisplayName);
    }
    Ok(name.to_string())
}

/// The argon2id hash of `password`, on the blocking pool.
pub(crate) async fn hash_blocking(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// True if `password` matches `hash`, checked on the blocking pool.
pub(crate) async fn verify_blocking(password: &str, hash: &str) -> Result<bool, AuthError> {
    // Bound the work before hashing: an overlong password cannot be right anyway.
    let password: String = password.chars().take(MAX_PASSWORD_CHARS + 1).collect();
    let hash = hash.to_string();
    tokio::task::spawn_blocking(move || password::verify(&password, &hash))
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// A fresh hash of a password nobody knows: for accounts whose user sets their own.
pub(crate) async fn unknown_password_hash() -> Result<String, AuthError> {
    hash_blocking(password::generate()).await
}

pub(crate) fn read(
    core: &Core,
    username: &str,
) -> Result<Option<(Vec<u8>, UserRecord)>, StoreError> {
    match core.store.get(Space::Users, username.as_bytes())? {
        None => Ok(None),
        Some(raw) => {
            let rec = from_json(Space::Users, &raw)?;
            Ok(Some((raw, rec)))
        }
    }
}

/// Every user, with the stored bytes (for guards).
pub(crate) fn all(core: &Core) -> Result<Vec<(Vec<u8>, UserRecord)>, StoreError> {
    core.store
        .scan(Space::Users, b"", MAX_USERS)?
        .into_iter()
        .map(|(_, v)| {
            let rec = from_json(Space::Users, &v)?;
            Ok((v, rec))
        })
        .collect()
}

/// True if an enabled, confirmed team lead other than `except` exists: then giving case
/// access needs their confirmation, even from the server.
pub(crate) fn has_other_team_lead(core: &Core, except: &str) -> Result<bool, StoreError> {
    Ok(all(core)?
        .iter()
        .any(|(_, u)| u.is_acting_team_lead() && u.username != except))
}

/// `Ok` if `team_lead` is an enabled, confirmed team lead and `subject` is not their own
/// account.
pub(crate) fn require_team_lead(
    core: &Core,
    team_lead: &str,
    subject: &str,
) -> Result<(), AuthError> {
    let lead = normalize_username(team_lead);
    if lead == normalize_username(subject) {
        return Err(AuthError::OwnChange);
    }
    match read(core, &lead)? {
        Some((_, r)) if r.is_acting_team_lead() => Ok(()),
        _ => Err(AuthError::UnknownUser(lead)),
    }
}

/// One user, if it exists (`username` in any case).
pub fn get_user(core: &Core, username: &str) -> Result<Option<UserView>, StoreError> {
    Ok(read(core, &normalize_username(username))?.map(|(_, r)| UserView::from(&r)))
}

/// Every user, by username.
pub fn list_users(core: &Core) -> Result<Vec<UserView>, StoreError> {
    Ok(all(core)?.iter().map(|(_, r)| UserView::from(r)).collect())
}

/// Creates a user. An account with case access asked for by an admin waits for a team
/// lead ([`PendingChange::NewAccount`]) and takes no password: its user sets one with the
/// code the confirming team lead hands over. Otherwise, without `password` one is
/// generated and returned (shown once).
pub async fn add_user(
    core: &Core,
    by: Requester<'_>,
    username: &str,
    display_name: &str,
    role: Role,
    password: Option<String>,
) -> Result<NewUser, AuthError> {
    let username = validate_username(username)?;
    let display_name = validate_display_name(display_name, &username)?;
    let direct_on_server =
        by == Requester::Server && role == Role::TeamLead && !has_other_team_lead(core, &username)?;
    let waits = role.has_case_access() && !direct_on_server;
    if waits && password.is_some() {
        return Err(AuthError::PasswordFromAdmin);
    }
    if let Some(p) = &password {
        validate_password(p, &username)?;
    }
    if read(core, &username)?.is_some() {
        return Err(AuthError::UserExists(username));
    }
    let now = core.clock.now();
    let (password_hash, generated) = if waits {
        (unknown_password_hash().await?, None)
    } else {
        let generated = password.is_none().then(password::generate);
        let secret = password.or_else(|| generated.clone()).unwrap_or_default();
        (hash_blocking(secret).await?, generated)
    };
    let record = UserRecord {
        username: username.clone(),
        display_name,
        role,
        disabled: false,
        password_hash,
        created_at: now,
        password_changed_at: now,
        pending: waits.then(|| Pending {
            change: PendingChange::NewAccount,
            requested_by: by.actor().to_string(),
            requested_at: now,
        }),
        granted: direct_on_server.then_some(GrantedBy::Server { at: now }),
        reset: None,
    };
    let (action, detail) = if waits {
        (
            "user.request",
            format!(
                "asked for a new account {username} as {role}; waits for a team lead's confirmation"
            ),
        )
    } else if direct_on_server {
        (
            "user.add_on_server",
            format!(
                "added {username} as {role} on the server, without confirmation: the node had no enabled team lead"
            ),
        )
    } else {
        ("user.add", format!("added {username} as {role}"))
    };
    let mut batch = Batch::new();
    batch.guard(Space::Users, username.as_bytes().to_vec(), Expect::Absent);
    batch.put(Space::Users, username.as_bytes().to_vec(), to_json(&record));
    match audit::commit_with(core, batch, by.actor(), action, None, &detail).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Err(AuthError::UserExists(username)),
        Err(e) => return Err(e.into()),
    }
    Ok(NewUser {
        user: UserView::from(&record),
        password: generated,
    })
}

/// Creates the first admin `admin` with a generated password (at `lotse init`).
pub async fn create_first_admin(core: &Core) -> Result<NewUser, AuthError> {
    add_user(
        core,
        Requester::Init,
        "admin",
        "Administrator",
        Role::Admin,
        None,
    )
    .await
}

/// Applies `change` to a user's record, guarded against concurrent changes, together with
/// the audit entry (action and detail) it returns and the writes it adds to the batch.
/// Retries if the record changed meanwhile. `change` returning `Ok(None)` changes nothing.
pub(crate) async fn update<F>(
    core: &Core,
    username: &str,
    actor: &str,
    mut change: F,
) -> Result<UserView, AuthError>
where
    F: FnMut(
        &Core,
        &mut UserRecord,
        &mut Batch,
    ) -> Result<Option<(&'static str, String)>, AuthError>,
{
    let username = normalize_username(username);
    for _ in 0..100 {
        let (raw, mut record) =
            read(core, &username)?.ok_or_else(|| AuthError::UnknownUser(username.clone()))?;
        let mut batch = Batch::new();
        let Some((action, detail)) = change(core, &mut record, &mut batch)? else {
            return Ok(UserView::from(&record));
        };
        batch.guard(
            Space::Users,
            username.as_bytes().to_vec(),
            Expect::Value(raw),
        );
        batch.put(Space::Users, username.as_bytes().to_vec(), to_json(&record));
        match audit::commit_with(core, batch, actor, action, None, &detail).await {
            Ok(()) => return Ok(UserView::from(&record)),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

/// Adds to `batch` the end of every session and API token of `username`, except the
/// session `keep` (a stored id).
pub(crate) fn end_credentials(
    core: &Core,
    username: &str,
    keep: Option<&str>,
    batch: &mut Batch,
) -> Result<(), StoreError> {
    batch.extend(sessions::delete_all_for(core, username, keep)?);
    batch.extend(sessions::delete_tokens_for(core, username)?);
    Ok(())
}

/// Refuses to take the last enabled admin away; guards the other admins so that two
/// admins removing each other at once cannot leave none.
fn keep_an_admin(core: &Core, record: &UserRecord, batch: &mut Batch) -> Result<(), AuthError> {
    if record.role != Role::Admin || record.disabled {
        return Ok(());
    }
    let others: Vec<_> = all(core)?
        .into_iter()
        .filter(|(_, u)| u.role == Role::Admin && !u.disabled && u.username != record.username)
        .collect();
    if others.is_empty() {
        return Err(AuthError::LastAdmin(record.username.clone()));
    }
    for (raw, u) in others {
        batch.guard(Space::Users, u.username.into_bytes(), Expect::Value(raw));
    }
    Ok(())
}

/// Disables a user: they cannot sign in, and their sessions and API tokens end. The last
/// enabled admin cannot be disabled.
pub async fn disable_user(
    core: &Core,
    by: Requester<'_>,
    username: &str,
) -> Result<UserView, AuthError> {
    update(core, username, by.actor(), |core, record, batch| {
        keep_an_admin(core, record, batch)?;
        record.disabled = true;
        if record
            .pending
            .as_ref()
            .is_some_and(|p| p.change == PendingChange::Enable)
        {
            record.pending = None;
        }
        end_credentials(core, &record.username, None, batch)?;
        Ok(Some((
            "user.disable",
            format!("disabled {}", record.username),
        )))
    })
    .await
}

/// Enables a disabled user again. An account with case access waits for a team lead
/// ([`PendingChange::Enable`]), except the first team lead enabled on the server.
pub async fn enable_user(
    core: &Core,
    by: Requester<'_>,
    username: &str,
) -> Result<UserView, AuthError> {
    let name = normalize_username(username);
    let direct_on_server = by == Requester::Server && !has_other_team_lead(core, &name)?;
    update(core, &name, by.actor(), |core, record, _| {
        if !record.disabled {
            return Ok(None);
        }
        if !record.role.has_case_access() {
            record.disabled = false;
            return Ok(Some(("user.enable", format!("enabled {}", record.username))));
        }
        if direct_on_server && record.role == Role::TeamLead {
            record.disabled = false;
            record.pending = None;
            record.granted = Some(GrantedBy::Server {
                at: core.clock.now(),
            });
            return Ok(Some((
                "user.enable_on_server",
                format!(
                    "enabled {} as {} on the server, without confirmation: the node had no enabled team lead",
                    record.username, record.role
                ),
            )));
        }
        record.pending = Some(Pending {
            change: PendingChange::Enable,
            requested_by: by.actor().to_string(),
            requested_at: core.clock.now(),
        });
        Ok(Some((
            "user.request",
            format!(
                "asked to enable {} ({}); waits for a team lead's confirmation",
                record.username, record.role
            ),
        )))
    })
    .await
}

/// Changes a user's role. A role with more case access waits for a team lead
/// ([`PendingChange::Role`]), except the first team lead made on the server; any other
/// change takes effect at once. Either way the user's sessions and API tokens end once
/// the role changes. The last enabled admin keeps the role.
pub async fn set_role(
    core: &Core,
    by: Requester<'_>,
    username: &str,
    role: Role,
) -> Result<UserView, AuthError> {
    let name = normalize_username(username);
    let direct_on_server =
        by == Requester::Server && role == Role::TeamLead && !has_other_team_lead(core, &name)?;
    // Raising from no case access replaces the password; hash it before the update.
    let fresh_hash = unknown_password_hash().await?;
    update(core, &name, by.actor(), |core, record, batch| {
        let from = record.role;
        if from == role {
            return Ok(None);
        }
        let raises = role.case_access() > from.case_access();
        if raises && !direct_on_server {
            record.pending = Some(Pending {
                change: PendingChange::Role { to: role },
                requested_by: by.actor().to_string(),
                requested_at: core.clock.now(),
            });
            return Ok(Some((
                "user.request",
                format!(
                    "asked to change the role of {} from {from} to {role}; waits for a team lead's confirmation",
                    record.username
                ),
            )));
        }
        if role != Role::Admin {
            keep_an_admin(core, record, batch)?;
        }
        record.role = role;
        record.pending = None;
        end_credentials(core, &record.username, None, batch)?;
        if raises {
            record.granted = Some(GrantedBy::Server {
                at: core.clock.now(),
            });
            if from.case_access() == 0 {
                // Whoever knew the password of an account without case access (an admin
                // who made it) must not sign in to it now.
                record.password_hash = fresh_hash.clone();
            }
            return Ok(Some((
                "user.role_on_server",
                format!(
                    "changed the role of {} from {from} to {role} on the server, without confirmation: the node had no enabled team lead",
                    record.username
                ),
            )));
        }
        Ok(Some((
            "user.role",
            format!("changed the role of {} from {from} to {role}", record.username),
        )))
    })
    .await
}

/// A signed-in user changes their own password. Rate-limited like sign-ins (a wrong
/// current password counts as a failed sign-in for the account and the client address),
/// and a wrong current password is audited. Their other sessions and all their API tokens
/// end; the session in `keep_session` (the one making the change, as its stored id) stays.
pub async fn change_password(
    core: &Core,
    username: &str,
    current: &str,
    new: &str,
    keep_session: Option<&str>,
    client: Option<std::net::IpAddr>,
) -> Result<UserView, AuthError> {
    let username = normalize_username(username);
    validate_password(new, &username)?;
    let limiter = super::ratelimit::LoginLimiter::for_node(core.id);
    let now = core.clock.now();
    if let Err(wait) = limiter.check(&username, client, now) {
        return Err(AuthError::RateLimited {
            retry_after_secs: wait.div_ceil(1000),
        });
    }
    let (_, record) =
        read(core, &username)?.ok_or_else(|| AuthError::UnknownUser(username.clone()))?;
    if !verify_blocking(current, &record.password_hash).await? {
        limiter.record_failure(&username, client, now);
        let from = client.map(|ip| format!(" from {ip}")).unwrap_or_default();
        audit::record(
            core,
            &username,
            "password.change_failed",
            None,
            &format!("wrong current password{from}"),
        )
        .await?;
        return Err(AuthError::WrongCurrentPassword);
    }
    limiter.record_success(&username);
    let hash = hash_blocking(new.to_string()).await?;
    update(core, &username, &username, |core, record, batch| {
        record.password_hash = hash.clone();
        record.password_changed_at = core.clock.now();
        record.reset = None;
        end_credentials(core, &record.username, keep_session, batch)?;
        Ok(Some((
            "user.change_password",
            format!("changed the password of {}", record.username),
        )))
    })
    .await
}

/// Checks a username and password. Unknown users and wrong passwords both give
/// [`AuthError::BadCredentials`] after the same argon2 work; a disabled account gives
/// [`AuthError::Disabled`] (or [`AuthError::AwaitingConfirmation`] while a team lead has
/// yet to confirm it), but only with the right password. Writes nothing.
pub async fn verify_login(
    core: &Core,
    username: &str,
    password: &str,
) -> Result<UserView, AuthError> {
    let record = read(core, &normalize_username(username))?.map(|(_, r)| r);
    let hash = record
        .as_ref()
        .map(|r| r.password_hash.clone())
        .unwrap_or_else(|| password::unknowable_hash().to_string());
    let matches = verify_blocking(password, &hash).await?;
    match record {
        Some(r) if matches && r.pending.is_some() && !r.is_active() => {
            Err(AuthError::AwaitingConfirmation)
        }
        Some(r) if matches && r.disabled => Err(AuthError::Disabled),
        Some(r) if matches => Ok(UserView::from(&r)),
        _ => Err(AuthError::BadCredentials),
    }
}

#[cfg(test)]
#[path = "users_tests.rs"]
mod tests;
