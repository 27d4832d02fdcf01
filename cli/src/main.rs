//! `lotse`: the command-line interface of a Lotse node.
//!
//! Commands that change a node talk to its local admin API while `lotse run` is running
//! (sled allows one process per database) and open the data directory directly otherwise;
//! [`target`] makes that choice in one place.

// A binary has no public API: `pub` here means "visible to the other modules".
#![allow(unreachable_pub)]

#[macro_use]
mod output;
mod commands;
mod target;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The allocator: mimalloc, without transparent huge pages (with them an idle node's RSS
/// tripled). The node allocates many short-lived buffers per message (envelopes, store
/// values); glibc's malloc spent about 13 % of a loaded node's CPU on them
/// (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lotse: a federated referral network for social agencies.
#[derive(Debug, Parser)]
#[command(name = "lotse", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a node's data directory (keys, configuration).
    Init(commands::init::InitArgs),
    /// Join a network with an invitation token from the KI.
    Join(commands::init::JoinArgs),
    /// Run the node in the foreground until Ctrl-C or SIGTERM.
    Run(commands::run::RunArgs),
    /// Create a one-time invitation for an agency (KI directory node only).
    Invite(commands::directory::InviteArgs),
    /// Show or change the network directory.
    #[command(subcommand)]
    Directory(commands::directory::DirectoryCommand),
    /// Publish this agency's services (from a TOML file) to the directory, or import them
    /// from an HSDS 3.0 export (`lotse services import --hsds FILE_OR_DIR`).
    Services(commands::directory::ServicesArgs),
    /// Show outgoing messages and their delivery state.
    Outbox(commands::directory::OutboxArgs),
    /// Show this node's identity, trust anchor, directory and queue (and, on the KI,
    /// invitations).
    Status(commands::status::StatusArgs),
    /// Manage the node's users (add, list, disable, enable, reset-password).
    #[command(subcommand)]
    User(commands::user::UserCommand),
    /// Check or show the audit log.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Erase a referral's personal data on this node at the admin's request.
    #[command(subcommand)]
    Referral(commands::referral::ReferralCommand),
    /// Back up a node (running or stopped) into an encrypted file, check a backup, or restore one.
    #[command(subcommand)]
    Backup(commands::backup::BackupCommand),
    /// Start a demo network (KI and three agencies) on this machine, with the web UI.
    Demo(commands::demo::DemoArgs),
    /// Measure throughput and latency between two nodes on this machine, against its floors.
    Bench(commands::bench::BenchArgs),
}

/// The data directory argument every command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct DataDirArg {
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "LOTSE_DATA_DIR")]
    pub data_dir: PathBuf,
}

/// The error and its causes, each once: library errors often repeat their cause in their
/// own message, which `{:#}` would print twice.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init(a) => commands::init::init(a),
        Command::Join(a) => commands::init::join(a),
        Command::Run(a) => commands::run::run(a),
        Command::Invite(a) => commands::directory::invite(a),
        Command::Directory(c) => commands::directory::directory(c),
        Command::Services(a) => commands::directory::services(a),
        Command::Outbox(a) => commands::directory::outbox(a),
        Command::Status(a) => commands::status::status(a),
        Command::User(c) => commands::user::user(c),
        Command::Audit(c) => commands::audit::audit(c),
        Command::Referral(c) => commands::referral::referral(c),
        Command::Backup(c) => commands::backup::backup(c),
        Command::Demo(a) => commands::demo::demo(a),
        Command::Bench(a) => commands::bench::bench(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}
