//! Who is calling, once authenticated: [`Caller`] for the JSON API, [`SessionCaller`] for
//! HTML forms, and the checks a handler makes on them (role, a form's CSRF token).
//!
//! The HTTP side (headers, cookies, the extractors) is in `crate::http::extract`; this
//! module knows nothing of HTTP, so the accounts below it never depend on the web layer.

use serde::{Deserialize, Serialize};

use super::account::UserView;
use super::role::Role;
use super::secret::constant_time_eq;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum AuthVia {
    /// The session cookie (CSRF-checked on changes).
    Cookie,
    /// A session token as `Authorization: Bearer`.
    Bearer,
    /// An API token as `Authorization: Bearer`.
    ApiToken,
}

/// The caller lacks the role a request needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this needs the role {}; you are signed in as {username} ({role})", needed.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or "))]
pub struct RoleRequired {
    /// The roles that would do.
    pub needed: Vec<Role>,
    /// Who called.
    pub username: String,
    /// Their role.
    pub role: Role,
}

/// A form's CSRF token is missing or belongs to another session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the form is missing its CSRF token or it belongs to another session; reload the page and try again"
)]
pub struct CsrfMismatch;

/// An authenticated caller of the JSON API.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Lowercase username.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// How they authenticated.
    pub via: AuthVia,
    /// The stored session id (not the token), for sessions; `None` for API tokens.
    pub session_id: Option<String>,
    /// The session's CSRF token, for sessions.
    pub csrf_token: Option<String>,
}

impl Caller {
    /// The caller `user`, authenticated `via`, with the session's id and CSRF token.
    pub fn new(user: UserView, via: AuthVia, session: Option<(String, String)>) -> Caller {
        let (session_id, csrf_token) = session.unzip();
        Caller {
            username: user.username,
            display_name: user.display_name,
            role: user.role,
            via,
            session_id,
            csrf_token,
        }
    }

    /// `Ok` if the caller has one of `roles`; otherwise the error names them.
    pub fn require_role(&self, roles: &[Role]) -> Result<(), RoleRequired> {
        if roles.contains(&self.role) {
            return Ok(());
        }
        Err(RoleRequired {
            needed: roles.to_vec(),
            username: self.username.clone(),
            role: self.role,
        })
    }
}

/// True if `sent` is the session's CSRF token `expected`.
pub fn csrf_matches(expected: &str, sent: &str) -> bool {
    !expected.is_empty() && constant_time_eq(expected.as_bytes(), sent.trim().as_bytes())
}

/// A caller of an HTML page, authenticated by the session cookie only.
///
/// The extractor does not check CSRF (a form sends its token in the body, which only the
/// handler reads): a handler of a form post must call [`SessionCaller::check_csrf`] with
/// the submitted value before changing anything, and pages embed
/// [`SessionCaller::csrf_token`] in their forms.
#[derive(Debug, Clone)]
pub struct SessionCaller {
    /// Lowercase username.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    session_id: String,
    csrf_token: String,
}

impl SessionCaller {
    /// The caller `user` of the session with stored id `session_id`.
    pub fn new(user: UserView, session_id: String, csrf_token: String) -> SessionCaller {
        SessionCaller {
            username: user.username,
            display_name: user.display_name,
            role: user.role,
            session_id,
            csrf_token,
        }
    }

    /// The token to embed in forms (hidden field `csrf_token`).
    pub fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    /// The stored session id (not the cookie value), e.g. to sign out.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// `Ok` if `form_value` is this session's CSRF token.
    pub fn check_csrf(&self, form_value: &str) -> Result<(), CsrfMismatch> {
        if csrf_matches(&self.csrf_token, form_value) {
            Ok(())
        } else {
            Err(CsrfMismatch)
        }
    }

    /// The same check as [`Caller::require_role`].
    pub fn require_role(&self, roles: &[Role]) -> Result<(), RoleRequired> {
        self.as_caller().require_role(roles)
    }

    /// This caller as a [`Caller`], for functions that take one.
    pub fn as_caller(&self) -> Caller {
        Caller {
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            role: self.role,
            via: AuthVia::Cookie,
            session_id: Some(self.session_id.clone()),
            csrf_token: Some(self.csrf_token.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_role_names_the_role() {
        let c = Caller {
            username: "max".into(),
            display_name: "Max".into(),
            role: Role::CaseManager,
            via: AuthVia::Bearer,
            session_id: None,
            csrf_token: None,
        };
        assert!(c.require_role(&[Role::CaseManager, Role::TeamLead]).is_ok());
        let e = c.require_role(&[Role::Admin]).unwrap_err().to_string();
        assert!(
            e.contains("needs the role admin") && e.contains("max"),
            "{e}"
        );
    }

    #[test]
    fn csrf_tokens_compare_exactly() {
        assert!(csrf_matches("abc", " abc "));
        assert!(!csrf_matches("abc", "abd"));
        assert!(!csrf_matches("", ""));
    }
}
