//! Who may see and do what with a referral on this node.
//!
//! - A case manager sees the referrals they created or were assigned. Incoming referrals
//!   nobody has taken yet wait in the agency inbox: case managers see that they exist
//!   (agency, service, fields of action, dates), not the client's data, and may take one.
//! - A team lead sees and assigns every referral of the node.
//! - The admin and the KI coordinator manage the node and the network; they never see case
//!   content (403).

pub use crate::auth::Role as UserRole;

use super::ReferralRecord;

/// The person acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Username.
    pub username: String,
    /// Display name (shown to the other agency).
    pub display_name: String,
    /// Role.
    pub role: UserRole,
}

impl Actor {
    /// The node itself (deadlines, automatic answers).
    pub fn system() -> Actor {
        Actor {
            username: "system".into(),
            display_name: "Lotse (automatisch)".into(),
            role: UserRole::TeamLead,
        }
    }

    /// The signed-in caller as an actor.
    pub fn from_caller(caller: &crate::auth::Caller) -> Actor {
        Actor {
            username: caller.username.clone(),
            display_name: caller.display_name.clone(),
            role: caller.role,
        }
    }

    /// True for roles that work with cases at all.
    pub fn works_cases(&self) -> bool {
        matches!(self.role, UserRole::CaseManager | UserRole::TeamLead)
    }
}

/// What an actor may do with one referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing; the referral does not exist for them.
    None,
    /// Knows it waits in the agency inbox; may take it.
    InboxOnly,
    /// Full: read case data, act.
    Full,
}

/// The access `actor` has to `record`.
pub fn access(actor: &Actor, record: &ReferralRecord) -> Access {
    match actor.role {
        UserRole::Admin | UserRole::Coordinator => Access::None,
        UserRole::TeamLead => Access::Full,
        UserRole::CaseManager => match &record.owner {
            Some(owner) if *owner == actor.username => Access::Full,
            None if record.side == lotse_protocol::referral::Side::Receiver => Access::InboxOnly,
            _ => Access::None,
        },
    }
}
