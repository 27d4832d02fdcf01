//! An account as stored and as shown: [`UserRecord`] (with its password hash, only inside
//! `auth`), [`UserView`], a change that waits for a team lead ([`Pending`]), how case
//! access was granted ([`GrantedBy`]), an open reset ([`ResetState`]), and who asks for a
//! change ([`Requester`]). Plain data; the rules are in [`super::users`],
//! [`super::four_eyes`] and [`super::reset`].

use lotse_protocol::Timestamp;
use serde::{Deserialize, Serialize};

use super::role::Role;
use crate::audit;

/// Who asks for a change of an account, and through which door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester<'a> {
    /// A signed-in admin, in the web UI or over the JSON API.
    Admin(&'a str),
    /// The operator on the server: `lotse user`, through the admin token or on the data
    /// directory of a stopped node.
    Server,
    /// `lotse init`, making the first admin.
    Init,
}

impl Requester<'_> {
    /// The actor for the audit log.
    pub fn actor(&self) -> &str {
        match self {
            Requester::Admin(name) => name,
            Requester::Server => audit::CLI,
            Requester::Init => audit::SYSTEM,
        }
    }
}

/// A change of an account that waits for a team lead's confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Pending {
    /// What is asked for.
    pub change: PendingChange,
    /// Who asked (an admin's username, or `cli`).
    pub requested_by: String,
    /// When.
    pub requested_at: Timestamp,
}

/// What waits for confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PendingChange {
    /// A new account with case access; it cannot sign in until confirmed.
    NewAccount,
    /// Enabling a disabled account with case access; it stays disabled until confirmed.
    Enable,
    /// A role with more case access; the account keeps its role until confirmed.
    Role {
        /// The role asked for.
        to: Role,
    },
}

/// How an account last got case access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum GrantedBy {
    /// Confirmed by a team lead.
    TeamLead {
        /// The team lead's username.
        username: String,
        /// When.
        at: Timestamp,
    },
    /// By the operator on the server while the node had no enabled team lead.
    Server {
        /// When.
        at: Timestamp,
    },
}

/// An open password reset, as stored with the account ([`super::reset`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ResetState {
    /// Who asked for it.
    pub(crate) requested_by: String,
    /// When.
    pub(crate) requested_at: Timestamp,
    /// The SHA-256 of the code, once a team lead had one made.
    #[serde(default)]
    pub(crate) code_hash: Option<String>,
    /// Until when the code works.
    #[serde(default)]
    pub(crate) code_expires_at: Option<Timestamp>,
    /// The team lead the code was shown to.
    #[serde(default)]
    pub(crate) code_shown_to: Option<String>,
}

/// A user as stored. The hash never leaves this module's family; see [`UserView`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UserRecord {
    pub(crate) username: String,
    pub(crate) display_name: String,
    pub(crate) role: Role,
    pub(crate) disabled: bool,
    pub(crate) password_hash: String,
    pub(crate) created_at: Timestamp,
    pub(crate) password_changed_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pending: Option<Pending>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) granted: Option<GrantedBy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reset: Option<ResetState>,
}

impl UserRecord {
    /// True if the account may sign in and use its role now.
    pub(crate) fn is_active(&self) -> bool {
        !self.disabled && !self.is_new_and_pending()
    }

    fn is_new_and_pending(&self) -> bool {
        matches!(
            self.pending,
            Some(Pending {
                change: PendingChange::NewAccount,
                ..
            })
        )
    }

    /// True for an enabled, confirmed team lead.
    pub(crate) fn is_acting_team_lead(&self) -> bool {
        self.role == Role::TeamLead && self.is_active()
    }
}

/// A user as shown to admins, team leads and the user themself: no password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserView {
    /// Lowercase username.
    pub username: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// True if the user cannot sign in.
    pub disabled: bool,
    /// When the account was created.
    pub created_at: Timestamp,
    /// When the password was last set.
    pub password_changed_at: Timestamp,
    /// A change that waits for a team lead's confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// How the account last got case access (absent for accounts without it, and for
    /// accounts made before the four-eyes rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted: Option<GrantedBy>,
    /// True while the user must set a new password with a one-time code from a team lead.
    #[serde(default)]
    pub password_reset_open: bool,
}

impl From<&UserRecord> for UserView {
    fn from(r: &UserRecord) -> Self {
        UserView {
            username: r.username.clone(),
            display_name: r.display_name.clone(),
            role: r.role,
            disabled: r.disabled,
            created_at: r.created_at,
            password_changed_at: r.password_changed_at,
            pending: r.pending.clone(),
            granted: r.granted.clone(),
            password_reset_open: r.reset.is_some(),
        }
    }
}

impl UserView {
    /// True if the account may sign in and use its role now.
    pub fn is_active(&self) -> bool {
        !self.disabled && !matches!(&self.pending, Some(p) if p.change == PendingChange::NewAccount)
    }
}

/// A new account, and its password if one was generated (shown once).
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    /// The user (with `pending` set if a team lead must confirm it first).
    pub user: UserView,
    /// The generated password, if none was given and the account has no case access (or
    /// is the node's first team lead, made on the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl std::fmt::Debug for NewUser {
    // Debug output ends up in logs: never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}
