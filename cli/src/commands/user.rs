//! `lotse user add|list|disable|enable|reset-password`: the node's local accounts.
//!
//! Through the running node's admin API, or on the data directory when the node is
//! stopped. A password is read from standard input when it is not a terminal (so scripts
//! can pipe one in and it never shows in the process list); otherwise one is generated
//! and printed once. Changes are recorded in the audit log with the actor `cli`.

use std::io::{IsTerminal, Read};

use anyhow::{Context, Result, bail};
use lotse_node::audit;
use lotse_node::auth::Role;
use lotse_node::auth::users::{self, NewUser, UserView};
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
    /// Set a new password (from standard input, or generated and printed); ends the
    /// user's sessions.
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
    users::validate_password(line)?;
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
            users::validate_username(&username)?;
            let password = password_from_stdin()?;
            let made: NewUser = match choose(&data_dir)? {
                Target::Online(api) => serde_json::from_value(api.post(
                    "/api/v1/admin/users",
                    json!({"username": username, "display_name": display_name, "role": role, "password": password}),
                )?)?,
                Target::Offline(core) => runtime()?.block_on(users::add_user(
                    &core,
                    audit::CLI,
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
                    "{:<24} {:<13} {}{}",
                    u.username,
                    u.role.as_str(),
                    u.display_name,
                    if u.disabled { "  [disabled]" } else { "" }
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
            out!("Enabled {}.", u.username);
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
                    let (user, password) = runtime()?.block_on(users::reset_password(
                        &core,
                        audit::CLI,
                        &username,
                        password,
                    ))?;
                    ResetPasswordResponse { user, password }
                }
            };
            out!(
                "Set a new password for {}; their sessions have ended.",
                done.user.username
            );
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
                rt.block_on(users::disable_user(&core, audit::CLI, username))?
            } else {
                rt.block_on(users::enable_user(&core, audit::CLI, username))?
            })
        }
    }
}
