//! `lotse audit verify|list`: check the hash-chained audit log, or show its newest entries.
//!
//! `verify` exits with status 1 and names the first bad entry if anything was changed or
//! removed. It works on a stopped node (opening the data directory) and on a running one
//! (through the admin API).

use anyhow::{Result, anyhow};
use lotse_node::audit::{self, AuditEntry};
use lotse_node::http::audit::{AuditPage, VerifyReport, verify_report};

use crate::DataDirArg;
use crate::target::{Target, choose};

/// `lotse audit ...`.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check that no entry was changed or removed (exit status 1 if one was).
    Verify {
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Show the newest entries.
    List {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// How many (at most 1000).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `lotse audit ...`.
pub fn audit(cmd: AuditCommand) -> Result<()> {
    match cmd {
        AuditCommand::Verify { data_dir } => {
            let report: VerifyReport = match choose(&data_dir)? {
                Target::Online(api) => {
                    serde_json::from_value(api.get("/api/v1/admin/audit/verify")?)?
                }
                Target::Offline(core) => verify_report(&core),
            };
            if !report.intact {
                return Err(anyhow!(
                    "the audit log is damaged: {}",
                    report.error.unwrap_or_default()
                ));
            }
            out!("Audit log intact: {} entries", report.entries);
            if let Some(h) = report.head_hash {
                out!("  last entry hash: {h} (note it down to compare later)");
            }
            Ok(())
        }
        AuditCommand::List {
            data_dir,
            limit,
            json,
        } => {
            let limit = limit.clamp(1, audit::MAX_LIST);
            let entries: Vec<AuditEntry> = match choose(&data_dir)? {
                Target::Online(api) => {
                    let page: AuditPage = serde_json::from_value(
                        api.get(&format!("/api/v1/admin/audit?limit={limit}"))?,
                    )?;
                    page.entries
                }
                Target::Offline(core) => audit::list(core.store.as_ref(), None, limit)?,
            };
            if json {
                out!("{}", serde_json::to_string_pretty(&entries)?);
                return Ok(());
            }
            if entries.is_empty() {
                out!("The audit log is empty.");
            }
            for e in entries {
                let referral = e
                    .referral_id
                    .map(|r| format!(" referral {r}"))
                    .unwrap_or_default();
                out!(
                    "{:>6} {} {:<16} {:<22}{referral} {}",
                    e.seq,
                    e.at,
                    e.actor,
                    e.action,
                    e.detail
                );
            }
            Ok(())
        }
    }
}
