//! `lotse user add|list|disable|enable|role|reset-password`: the node's local accounts.
//!
//! Through the running node's admin API, or on the data directory when the node is
//! stopped. A password is read from standard input when it is not a terminal (so scripts
//! can pipe one in and it never shows in the process list); otherwise one is generated
//! and printed once. Changes are recorded in the audit log with the actor `cli`.
//!
//! Four eyes on case access hold here too: an account with case access (case manager,
//! team lead), enabling one, or a role with more access waits for a team lead's
//! confirmation in the web UI, and such an account's password is set by its user with a
//! one-time code from the team lead. The one exception: while the node has no enabled
//! team lead, this command may create (or enable) the first one directly; that is
//! audited and shown on the node's status page and to the team leads.

use std::io::{IsTerminal, Read};

use anyhow::{Context, Result, bail};
use lotse_node::auth::Role;
use lotse_node::auth::reset;
use lotse_node::auth::users::{self, NewUser, Requester, UserView};
use lotse_node::http::users::ResetPasswordResponse;
use serde_json::json;

use crate::DataDirArg;
use crate::target::{Target, choose, runtime};

/// `lotse user ...`.
#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Add a user. The password comes from standard input, or is generated and printed.
    Add {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// Username: 1-64 characters of a-z, 0-9, '.', '_', '-'.
        #[arg(long)]
        username: String,
        /// Role: case_manager, team_lead, admin or coordinator.
        #[arg(long)]
        role: Role,
        /// Name shown in the web UI (defaults to the username).
        #[arg(long, default_value = "")]
        display_name: String,
    },
    /// List the users.
    List {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: they can no longer sign in; their sessions and API tokens end.
    Disable {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// The user.
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// The user.
        #[arg(long)]
        username: String,
    },
    /// Change a user's role. A role with more case access waits for a team lead's
    /// confirmation; any other change takes effect at once and ends the user's sessions
    /// and API tokens.
    Role {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// The user.
        #[arg(long)]
        username: String,
        /// The new role: case_manager, team_lead, admin or coordinator.
        #[arg(long)]
        role: Role,
    },
    /// Reset a password; ends the user's sessions and API tokens. For an account without
    /// case access the new password comes from standard input, or is generated and
    /// printed; for one with case access a team lead hands the user a one-time code.
    ResetPassword {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// The user.
        #[arg(long)]
        username: String,
    },
}

/// A password piped in on standard input (first line), if any.
fn password_from_stdin() -> Result<Option<String>> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut text = String::new();
    stdin
        .read_to_string(&mut text)
        .context("cannot read the password from standard input")?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Ok(None);
    }
    Ok(Some(line.to_string()))
}

fn print_password(username: &str, password: Option<&str>) {
    if let Some(p) = password {
        out!("Password for {username}: {p}");
        out!("(shown once; hand it over in person or by phone, and change it after signing in)");
    }
}

/// `lotse user ...`.
pub fn user(cmd: UserCommand) -> Result<()> {
    match cmd {
        UserCommand::Add {
            data_dir,
            username,
            role,
            display_name,
        } => {
            // Check before reading a password, so a typo fails at once.
            let name = users::validate_username(&username)?;
            let password = password_from_stdin()?;
            if let Some(p) = &password {
                users::validate_password(p, &name)?;
            }
            let made: NewUser = match choose(&data_dir)? {
                Target::Online(api) => serde_json::from_value(api.post(
                    "/api/v1/admin/users",
                    json!({"username": username, "display_name": display_name, "role": role, "password": password}),
                )?)?,
                Target::Offline(core) => runtime()?.block_on(users::add_user(
                    &core,
                    Requester::Server,
                    &username,
                    &display_name,
                    role,
                    password,
                ))?,
            };
            out!(
                "Added user {} ({}) as {}.",
                made.user.username,
                made.user.display_name,
                made.user.role
            );
            if made.user.pending.is_some() {
                out!(
                    "The account waits for a team lead's confirmation (web UI, \"Kontenänderungen\"); the team lead then hands the user a one-time code to set their password."
                );
            }
            print_password(&made.user.username, made.password.as_deref());
            Ok(())
        }
        UserCommand::List { data_dir, json } => {
            let list: Vec<UserView> = match choose(&data_dir)? {
                Target::Online(api) => serde_json::from_value(api.get("/api/v1/admin/users")?)?,
                Target::Offline(core) => users::list_users(&core)?,
            };
            if json {
                out!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            if list.is_empty() {
                out!("No users. Add one with `lotse user add`.");
            }
            for u in list {
                out!(
                    "{:<24} {:<13} {}{}{}",
                    u.username,
                    u.role.as_str(),
                    u.display_name,
                    if u.disabled { "  [disabled]" } else { "" },
                    if u.pending.is_some() {
                        "  [waits for a team lead]"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        UserCommand::Disable { data_dir, username } => {
            let u = change(&data_dir, &username, "disable")?;
            out!(
                "Disabled {}: they can no longer sign in; their sessions and API tokens have ended.",
                u.username
            );
            Ok(())
        }
        UserCommand::Enable { data_dir, username } => {
            let u = change(&data_dir, &username, "enable")?;
            if u.pending.is_some() {
                out!(
                    "Asked to enable {}: this waits for a team lead's confirmation.",
                    u.username
                );
            } else {
                out!("Enabled {}.", u.username);
            }
            Ok(())
        }
        UserCommand::Role {
            data_dir,
            username,
            role,
        } => {
            let u: UserView = match choose(&data_dir)? {
                Target::Online(api) => serde_json::from_value(api.post(
                    &format!("/api/v1/admin/users/{}/role", path_part(&username)?),
                    json!({"role": role}),
                )?)?,
                Target::Offline(core) => runtime()?.block_on(users::set_role(
                    &core,
                    Requester::Server,
                    &username,
                    role,
                ))?,
            };
            if u.pending.is_some() {
                out!(
                    "Asked to make {} a {role}: this waits for a team lead's confirmation.",
                    u.username
                );
            } else {
                out!(
                    "{} is now {}; their sessions and API tokens have ended.",
                    u.username,
                    u.role
                );
            }
            Ok(())
        }
        UserCommand::ResetPassword { data_dir, username } => {
            let password = password_from_stdin()?;
            let done: ResetPasswordResponse = match choose(&data_dir)? {
                Target::Online(api) => serde_json::from_value(api.post(
                    &format!(
                        "/api/v1/admin/users/{}/reset-password",
                        path_part(&username)?
                    ),
                    json!({"password": password}),
                )?)?,
                Target::Offline(core) => {
                    let done = runtime()?.block_on(reset::reset_password(
                        &core,
                        Requester::Server,
                        &username,
                        password,
                    ))?;
                    ResetPasswordResponse {
                        user: done.user,
                        password: done.password,
                    }
                }
            };
            if done.user.password_reset_open {
                out!(
                    "Reset the password of {}; their sessions and API tokens have ended. A team lead has a one-time code shown (web UI, \"Kontenänderungen\") and hands it over; with it the user sets a new password.",
                    done.user.username
                );
            } else {
                out!(
                    "Set a new password for {}; their sessions and API tokens have ended.",
                    done.user.username
                );
            }
            print_password(&done.user.username, done.password.as_deref());
            Ok(())
        }
    }
}

/// A username as a URL path segment (usernames are URL-safe once valid).
fn path_part(username: &str) -> Result<String> {
    let name = users::normalize_username(username);
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        bail!("there is no user named {username:?}; see `lotse user list`");
    }
    Ok(name)
}

fn change(data_dir: &DataDirArg, username: &str, what: &str) -> Result<UserView> {
    match choose(data_dir)? {
        Target::Online(api) => Ok(serde_json::from_value(api.post(
            &format!("/api/v1/admin/users/{}/{what}", path_part(username)?),
            json!({}),
        )?)?),
        Target::Offline(core) => {
            let rt = runtime()?;
            Ok(if what == "disable" {
                rt.block_on(users::disable_user(&core, Requester::Server, username))?
            } else {
                rt.block_on(users::enable_user(&core, Requester::Server, username))?
            })
        }
    }
}
