//! `lotse backup key|create|check|restore`: encrypted backups of a node, running (through
//! its admin API) or stopped, and their restore into a new data directory (the format and
//! the checks are in `lotse_node::backup`).
//!
//! A backup is encrypted either to a backup key (`--recipient`, the public half; the secret
//! half, made by `lotse backup key`, is kept away from the server, so a nightly job needs no
//! secret) or with a passphrase read from a file (`--passphrase-file`, never from the
//! command line, where other users could see it).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::{ExposeSecret, SecretString};
use anyhow::{Context, Result, bail};
use lotse_node::backup::{self, Protection, Summary, Unlock};

use crate::DataDirArg;
use crate::target::{Target, choose, runtime};

/// The shortest passphrase accepted for a backup.
const MIN_PASSPHRASE: usize = 12;
/// How long a running node may take to send its backup.
const TRANSFER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// `lotse backup ...`.
#[derive(Debug, clap::Subcommand)]
pub enum BackupCommand {
    /// Make a new backup key: writes its secret half to a file (keep it away from the
    /// server) and prints the public half for `--recipient`.
    Key {
        /// Where to write the secret key (a new file, mode 0600).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Back up a node, running or stopped, into a new encrypted file.
    Create {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// The backup file to write (must not exist).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Encrypt to this backup key (`age1...`, from `lotse backup key`); may be repeated.
        #[arg(long, value_name = "KEY")]
        recipient: Vec<String>,
        /// Encrypt with the passphrase in this file instead (at least 12 characters).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Decrypt and check a backup completely, without restoring it.
    Check {
        #[command(flatten)]
        unlock: UnlockArgs,
    },
    /// Restore a backup into a new or empty data directory.
    Restore {
        #[command(flatten)]
        unlock: UnlockArgs,
        /// The data directory to create (must not exist or be empty).
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
    },
}

/// Which backup, and how to decrypt it.
#[derive(Debug, clap::Args)]
pub struct UnlockArgs {
    /// The backup file.
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// The backup key file (from `lotse backup key`).
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// The file with the backup's passphrase.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

/// `lotse backup ...`.
pub fn backup(cmd: BackupCommand) -> Result<()> {
    match cmd {
        BackupCommand::Key { out } => key(&out),
        BackupCommand::Create {
            data_dir,
            to,
            recipient,
            passphrase_file,
        } => {
            let protection = match (recipient.is_empty(), passphrase_file) {
                (false, None) => Protection::Recipients(
                    recipient
                        .iter()
                        .map(|r| {
                            age::x25519::Recipient::from_str(r.trim()).map_err(|e| {
                                anyhow::anyhow!(
                                    "--recipient {r:?} is not a backup key ({e}); it starts with age1, as `lotse backup key` prints it"
                                )
                            })
                        })
                        .collect::<Result<_>>()?,
                ),
                (true, Some(file)) => Protection::Passphrase(passphrase(&file)?),
                (true, None) => bail!(
                    "say how to encrypt the backup: --recipient KEY (from `lotse backup key`) or --passphrase-file FILE"
                ),
                (false, Some(_)) => {
                    bail!("use either --recipient or --passphrase-file, not both")
                }
            };
            backup::ensure_new(&to)?;
            let summary = match choose(&data_dir)? {
                Target::Online(api) => {
                    // The node sends its backup encrypted to a key made for this transfer
                    // only; it is checked whole before it is encrypted for keeping.
                    let transfer = age::x25519::Identity::generate();
                    let sealed = api.post_for_bytes(
                        "/api/v1/admin/backup",
                        serde_json::json!({ "transfer_key": transfer.to_public().to_string() }),
                        TRANSFER_TIMEOUT,
                    )?;
                    let (plain, summary) = backup::receive(&sealed, &Unlock::Identity(transfer))?;
                    backup::seal_to_file(&plain, &to, &protection)?;
                    out!("Backup of the running node written to {}", to.display());
                    summary
                }
                Target::Offline(core) => {
                    let summary =
                        runtime()?.block_on(backup::create_with(&core, &to, &protection))?;
                    out!("Backup of the stopped node written to {}", to.display());
                    summary
                }
            };
            print_summary(&summary);
            out!(
                "Keep it away from this server. It holds every client's data, readable with its key or passphrase."
            );
            Ok(())
        }
        BackupCommand::Check { unlock } => {
            let summary = backup::check(&unlock.from, &unlock_with(&unlock)?)?;
            out!("Backup {} is complete and readable", unlock.from.display());
            print_summary(&summary);
            Ok(())
        }
        BackupCommand::Restore { unlock, data_dir } => {
            let how = unlock_with(&unlock)?;
            let summary = runtime()?.block_on(backup::restore(&unlock.from, &data_dir, &how))?;
            out!("Restored into {}", data_dir.display());
            print_summary(&summary);
            out!(
                "Before starting it (`lotse run --data-dir {}`):",
                data_dir.display()
            );
            out!(
                "  - Messages peers delivered after the backup was made are not in it, and peers will not send them again. Ask the agencies you work with what changed since {}.",
                summary.created_at
            );
            out!(
                "  - Referrals whose consent was withdrawn after that time are back in it, with their data: the referring agencies hold this node's erasure receipts for them. Erase each again with `lotse referral erase --data-dir {} --id ID --reason \"erased before the restore\"` (docs/operations.md, step 11).",
                data_dir.display()
            );
            Ok(())
        }
    }
}

fn print_summary(s: &Summary) {
    out!("  node: {} ({})", s.name, s.node_id);
    out!("  made: {}", s.created_at);
    out!("  contents: {} files, {} store entries", s.files, s.entries);
}

fn unlock_with(args: &UnlockArgs) -> Result<Unlock> {
    match (&args.identity, &args.passphrase_file) {
        (Some(file), None) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the backup key file {}", file.display()))?;
            let line = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .unwrap_or_default();
            let identity = age::x25519::Identity::from_str(line).map_err(|e| {
                anyhow::anyhow!(
                    "{} does not hold a backup key ({e}); use the file `lotse backup key` wrote",
                    file.display()
                )
            })?;
            Ok(Unlock::Identity(identity))
        }
        (None, Some(file)) => Ok(Unlock::Passphrase(passphrase(file)?)),
        (None, None) => bail!(
            "say how to decrypt the backup: --identity FILE (the backup key) or --passphrase-file FILE"
        ),
        (Some(_), Some(_)) => bail!("use either --identity or --passphrase-file, not both"),
    }
}

/// Reads a passphrase from the first line of `file`.
fn passphrase(file: &Path) -> Result<SecretString> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the passphrase file {}", file.display()))?,
    );
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() < MIN_PASSPHRASE {
        bail!(
            "the passphrase in {} is shorter than {MIN_PASSPHRASE} characters; choose a longer one",
            file.display()
        );
    }
    Ok(SecretString::from(line.to_owned()))
}

fn key(out: &Path) -> Result<()> {
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| {
            format!(
                "cannot create {} (a backup key file is never overwritten)",
                out.display()
            )
        })?;
    let text = zeroize::Zeroizing::new(format!(
        "# Lotse backup key. Whoever holds this file can read the backups made for it.\n# public key (for `lotse backup create --recipient`): {public}\n{}\n",
        identity.to_string().expose_secret()
    ));
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", out.display()))?;
    out!("Backup key written to {}", out.display());
    out!("Public key (for --recipient): {public}");
    out!("Keep the key file away from the node's server: a backup is only as safe as this key.");
    Ok(())
}
