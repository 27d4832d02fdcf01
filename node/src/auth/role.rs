//! The roles a local account can have, and which of them give access to case content.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a user may do. Checked per request with `Caller::require_role`.
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

impl Role {
    /// How much case content the role sees: 0 none (admin, coordinator), 1 a case
    /// manager's own and assigned referrals, 2 a team lead's, the team's. Giving an
    /// account a higher rank than it has needs a team lead's confirmation (four eyes).
    pub fn case_access(self) -> u8 {
        match self {
            Role::CaseManager => 1,
            Role::TeamLead => 2,
            Role::Admin | Role::Coordinator => 0,
        }
    }

    /// True for the roles that see case content.
    pub fn has_case_access(self) -> bool {
        self.case_access() > 0
    }
}
