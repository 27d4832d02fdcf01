//! The team lead's side of four eyes on case access: the changes that wait for them,
//! confirming or refusing one, and the list of account changes they see.
//!
//! The rule (see [`super::users`]): an admin's request to give an account case access
//! changes nothing until a team lead of the node confirms it. The confirming team lead
//! must be enabled and confirmed themself, and cannot confirm a change of their own
//! account. When an account gets case access from none (a new account, a raised role),
//! its password is replaced and the team lead is shown a one-time code, once, which the
//! user sets their own password with ([`super::reset`]); so the admin, who may have known
//! the old password, cannot sign in to the account. Every step is audited, and every
//! account change is listed for the team leads ([`account_changes`]).

use serde::{Deserialize, Serialize};

use super::error::AuthError;
use super::reset::{OneTimeCode, new_code_for};
use super::users::{
    self, GrantedBy, PendingChange, UserView, end_credentials, normalize_username, read,
    require_team_lead, unknown_password_hash, update,
};
use crate::audit::{self, AuditEntry};
use crate::core::Core;
use crate::store::{Batch, Space, StoreError};

/// The most audit entries [`account_changes`] reads back to find account changes.
const MAX_SCAN: usize = 20_000;
/// The most account changes listed.
const MAX_LISTED: usize = 100;

/// Audit actions that are account changes, for the team leads' list.
fn is_account_change(action: &str) -> bool {
    action.starts_with("user.") || action.starts_with("password.")
}

/// A confirmed change: the account, and the one-time code for its user if it got case
/// access from none (shown once, to the confirming team lead).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Confirmed {
    /// The account as it is now.
    pub user: UserView,
    /// The code the user sets their password with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<OneTimeCode>,
}

/// The team lead `team_lead` confirms the change of `username` that waits.
pub async fn confirm(core: &Core, team_lead: &str, username: &str) -> Result<Confirmed, AuthError> {
    let name = normalize_username(username);
    require_team_lead(core, team_lead, &name)?;
    let fresh_hash = unknown_password_hash().await?;
    let mut code = None;
    let user = update(core, &name, team_lead, |core, record, batch| {
        let pending = record
            .pending
            .take()
            .ok_or_else(|| AuthError::NothingPending(record.username.clone()))?;
        let had_access = match pending.change {
            PendingChange::NewAccount => false,
            PendingChange::Enable => {
                record.disabled = false;
                true
            }
            PendingChange::Role { to } => {
                let had = record.role.has_case_access();
                record.role = to;
                end_credentials(core, &record.username, None, batch)?;
                had
            }
        };
        record.granted = Some(GrantedBy::TeamLead {
            username: team_lead.to_string(),
            at: core.clock.now(),
        });
        code = None;
        if !had_access {
            record.password_hash = fresh_hash.clone();
            end_credentials(core, &record.username, None, batch)?;
            let (reset, secret, expires_at) = new_code_for(core, team_lead);
            record.reset = Some(reset);
            code = Some(OneTimeCode {
                username: record.username.clone(),
                code: secret,
                expires_at,
            });
        }
        let what = match pending.change {
            PendingChange::NewAccount => {
                format!("the new account {} as {}", record.username, record.role)
            }
            PendingChange::Enable => format!("enabling {} ({})", record.username, record.role),
            PendingChange::Role { to } => format!("the role {to} for {}", record.username),
        };
        Ok(Some((
            "user.confirm",
            format!(
                "confirmed {what}, asked for by {}{}",
                pending.requested_by,
                if had_access {
                    ""
                } else {
                    "; a one-time code was shown to the team lead"
                }
            ),
        )))
    })
    .await?;
    Ok(Confirmed { user, code })
}

/// The team lead `team_lead` refuses the change of `username` that waits. A refused new
/// account is removed; otherwise the account stays as it was.
pub async fn refuse(core: &Core, team_lead: &str, username: &str) -> Result<(), AuthError> {
    let name = normalize_username(username);
    require_team_lead(core, team_lead, &name)?;
    let (raw, record) = read(core, &name)?.ok_or_else(|| AuthError::UnknownUser(name.clone()))?;
    let pending = record
        .pending
        .clone()
        .ok_or_else(|| AuthError::NothingPending(name.clone()))?;
    if pending.change != PendingChange::NewAccount {
        update(core, &name, team_lead, |_, record, _| {
            let pending = record
                .pending
                .take()
                .ok_or_else(|| AuthError::NothingPending(record.username.clone()))?;
            Ok(Some((
                "user.refuse",
                format!(
                    "refused {:?} for {}, asked for by {}",
                    pending.change, record.username, pending.requested_by
                ),
            )))
        })
        .await?;
        return Ok(());
    }
    let mut batch = Batch::new();
    batch.guard(
        Space::Users,
        name.as_bytes().to_vec(),
        crate::store::Expect::Value(raw),
    );
    batch.delete(Space::Users, name.as_bytes().to_vec());
    let detail = format!(
        "refused the new account {name} as {}, asked for by {}; the account was removed",
        record.role, pending.requested_by
    );
    match audit::commit_with(core, batch, team_lead, "user.refuse", None, &detail).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict) => Err(AuthError::NothingPending(name)),
        Err(e) => Err(e.into()),
    }
}

/// What a team lead sees about the node's accounts.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccountChanges {
    /// Accounts with a change that waits for confirmation.
    pub waiting: Vec<UserView>,
    /// Accounts whose user must set a new password with a one-time code.
    pub open_resets: Vec<UserView>,
    /// Accounts that got case access on the server, without a team lead.
    pub granted_on_server: Vec<UserView>,
    /// The latest account changes from the audit log, newest first (at most 100).
    pub recent: Vec<AuditEntry>,
}

/// The account changes for the team leads' list.
pub fn account_changes(core: &Core) -> Result<AccountChanges, AuthError> {
    let list = users::list_users(core)?;
    let mut recent = Vec::new();
    let mut before = None;
    let mut scanned = 0;
    while scanned < MAX_SCAN && recent.len() < MAX_LISTED {
        let page = audit::list(core.store.as_ref(), before, audit::MAX_LIST)
            .map_err(|e| AuthError::Store(StoreError::Engine(e.to_string())))?;
        let Some(last) = page.last() else { break };
        before = Some(last.seq);
        scanned += page.len();
        let at_start = last.seq == 0;
        recent.extend(page.into_iter().filter(|e| is_account_change(&e.action)));
        if at_start {
            break;
        }
    }
    recent.truncate(MAX_LISTED);
    Ok(AccountChanges {
        waiting: list
            .iter()
            .filter(|u| u.pending.is_some())
            .cloned()
            .collect(),
        open_resets: list
            .iter()
            .filter(|u| u.password_reset_open && u.pending.is_none())
            .cloned()
            .collect(),
        granted_on_server: list
            .iter()
            .filter(|u| {
                matches!(u.granted, Some(GrantedBy::Server { .. })) && u.role.has_case_access()
            })
            .cloned()
            .collect(),
        recent,
    })
}
