//! [`AuthError`]: everything that can go wrong with accounts, sign-in, tokens and the
//! four-eyes rule, each variant saying what to do. How each maps to an HTTP status is the
//! HTTP layer's business (`crate::http`), not this module's.

use super::password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use crate::store::StoreError;

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
    /// The password is too short or too long.
    #[error(
        "the password must be at least {MIN_PASSWORD_CHARS} and at most {MAX_PASSWORD_CHARS} characters long"
    )]
    WeakPassword,
    /// The password is one of the most common ones, or one with a few characters added.
    #[error(
        "this password is one of the most common passwords (or one with a few digits or signs added), so it is easy to guess; choose another, for example a sentence of several words"
    )]
    CommonPassword,
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
    /// The account waits for a team lead's confirmation (only said after a correct
    /// password).
    #[error("this account waits for a team lead's confirmation; ask a team lead of your agency")]
    AwaitingConfirmation,
    /// Too many failed attempts (sign-in, password change, reset code).
    #[error(
        "too many failed attempts; try again in {} minute(s)",
        retry_after_secs.div_ceil(60)
    )]
    RateLimited {
        /// Seconds until a new attempt is allowed.
        retry_after_secs: u64,
    },
    /// The last enabled admin cannot be disabled or lose the role.
    #[error("{0:?} is the last enabled admin; add or enable another admin first")]
    LastAdmin(String),
    /// A password was given for an account that gets case access: its user sets their own.
    #[error(
        "an account with case access sets its own password with a one-time code that a team lead hands over; leave the password out"
    )]
    PasswordFromAdmin,
    /// No change of this account waits for confirmation.
    #[error("no change of the account {0:?} waits for confirmation; see the list of changes")]
    NothingPending(String),
    /// A team lead tried to confirm a change of their own account.
    #[error("a change of your own account is confirmed by another team lead")]
    OwnChange,
    /// The one-time code is wrong, used or expired (or the account does not exist).
    #[error("the code is wrong, used or expired; ask a team lead of your agency for a new one")]
    BadResetCode,
    /// No reset or confirmation that needs a code is open for this account.
    #[error("no password reset waits for {0:?}; an admin starts one")]
    NoResetPending(String),
    /// The token name is not acceptable.
    #[error("the token name must be 1 to 100 characters without control characters")]
    InvalidTokenName,
    /// The asked-for token lifetime is longer than the node allows.
    #[error("an API token lives at most {max_days} day(s) on this node; ask for fewer")]
    TokenLifetime {
        /// The longest lifetime, in days.
        max_days: u64,
    },
    /// Too many API tokens.
    #[error("{username:?} has the maximum of {max} API tokens; revoke one first")]
    TooManyTokens {
        /// Whose.
        username: String,
        /// The maximum.
        max: usize,
    },
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
