//! `lotse referral erase`: erase one referral's personal data on this node at the admin's
//! request, with no message to the other side (after a restore from a backup brought back
//! a referral erased since, or when a retention period ends). Works on a running node
//! (through the admin API) and on a stopped one.

use anyhow::Result;
use lotse_node::http::admin::{EraseResponse, erase_input};
use lotse_node::referrals::WorkflowError;
use lotse_node::referrals::erasure::{ErasedHere, erase_here};

use crate::DataDirArg;
use crate::target::{Target, choose, runtime};

/// `lotse referral ...`.
#[derive(Debug, clap::Subcommand)]
pub enum ReferralCommand {
    /// Erase a referral's personal data on this node (keeps a data-free stub, destroys its
    /// key, records the reason in the audit log).
    Erase {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// The referral's id (32 hex digits, as in the address of its page).
        #[arg(long)]
        id: String,
        /// Why, for the audit log (no personal data), e.g. "erased before, restored from a backup".
        #[arg(long)]
        reason: String,
    },
}

/// `lotse referral ...`.
pub fn referral(cmd: ReferralCommand) -> Result<()> {
    match cmd {
        ReferralCommand::Erase {
            data_dir,
            id,
            reason,
        } => {
            let referral = erase_input(&id, &reason)?;
            let erased_now = match choose(&data_dir)? {
                Target::Online(api) => {
                    let answer: EraseResponse = serde_json::from_value(api.post(
                        &format!("/api/v1/admin/referrals/{referral}/erase"),
                        serde_json::json!({ "reason": reason }),
                    )?)?;
                    answer.erased_now
                }
                Target::Offline(core) => {
                    match runtime()?.block_on(erase_here(&core, &referral, reason.trim())) {
                        Ok(done) => done == ErasedHere::Now,
                        Err(WorkflowError::NotFound) => anyhow::bail!(
                            "this node holds no referral with the id {referral}; check the id"
                        ),
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            if erased_now {
                out!(
                    "Personal data of referral {referral} erased on this node; its key is destroyed."
                );
            } else {
                out!(
                    "Referral {referral} holds no personal data on this node any more; nothing to do."
                );
            }
            Ok(())
        }
    }
}
