//! `lotse services import --hsds FILE_OR_DIR`: an HSDS 3.0 export becomes this agency's
//! services file, for the agency to review and publish with `lotse services --file`.
//!
//! The conversion is `lotse_node::hsds::import`; this command only chooses, writes and
//! reports. It never overwrites a file, and it lists everything the export holds that
//! Lotse does not carry over, on the terminal and at the top of the written file.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use lotse_node::hsds::import::{self, ImportOptions};
use lotse_node::hsds::taxonomy::Taxonomy;

use super::directory::ServicesFile;

/// `lotse services ...` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ServicesCommand {
    /// Turn an HSDS 3.0 JSON export into a services file to review and publish.
    Import(ImportArgs),
}

/// Arguments of `lotse services import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The HSDS 3.0 export: a JSON file, or a directory of per-table JSON files
    /// (services.json, organizations.json, languages.json, ...).
    #[arg(long, value_name = "FILE_OR_DIR")]
    hsds: PathBuf,
    /// The services file to write (TOML); it must not exist yet.
    #[arg(long, value_name = "FILE", default_value = "services.toml")]
    out: PathBuf,
    /// Take the services of this organization (its HSDS id or name) when the export holds
    /// several.
    #[arg(long, value_name = "ID_OR_NAME")]
    organization: Option<String>,
    /// Map a taxonomy term of the export to a field of action, e.g.
    /// --term 'Wohnungslosenhilfe=housing' (repeatable).
    #[arg(long = "term", value_name = "TERM=FIELD")]
    terms: Vec<String>,
    /// Leave out taxonomy terms that are not fields of action (they are listed).
    #[arg(long)]
    ignore_unknown_terms: bool,
}

/// Runs a `lotse services` subcommand.
pub fn run(command: ServicesCommand) -> Result<()> {
    match command {
        ServicesCommand::Import(args) => import_hsds(args),
    }
}

fn import_hsds(args: ImportArgs) -> Result<()> {
    let taxonomy = Taxonomy::of_directory(None);
    let mut terms = Vec::new();
    for t in &args.terms {
        let Some((from, to)) = t.rsplit_once('=') else {
            bail!("--term {t:?} must be TERM=FIELD, e.g. 'Wohnungslosenhilfe=housing'");
        };
        let Some(term) = taxonomy.find(to) else {
            let keys: Vec<&str> = taxonomy.terms.iter().map(|t| t.key.as_str()).collect();
            bail!(
                "--term {t:?}: {to:?} is not a field of action; use one of: {}",
                keys.join(", ")
            );
        };
        terms.push((from.trim().to_string(), term.field));
    }
    if args.out.exists() {
        bail!(
            "{} exists already; choose another file with --out (nothing was written)",
            args.out.display()
        );
    }
    let options = ImportOptions {
        organization: args.organization,
        terms,
        ignore_unknown_terms: args.ignore_unknown_terms,
    };
    let imported = import::read(&args.hsds, &options)?;
    let mut text = format!(
        "# Services imported by `lotse services import` from {}{}.\n# Review every service, then publish: lotse services --data-dir DIR --file {}\n",
        args.hsds.display(),
        imported
            .organization
            .as_ref()
            .map(|o| format!(" (organization {o:?})"))
            .unwrap_or_default(),
        args.out.display()
    );
    if !imported.notes.is_empty() {
        text.push_str("#\n# Not carried over or set by the import (check these):\n");
        for n in &imported.notes {
            text.push_str(&format!("# - {}\n", n.replace('\n', " ")));
        }
    }
    text.push('\n');
    let count = imported.services.len();
    text.push_str(
        &toml::to_string_pretty(&ServicesFile {
            services: imported.services,
        })
        .context("cannot write the services as TOML")?,
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    out!("Wrote {count} services to {}.", args.out.display());
    if imported.notes.is_empty() {
        out!("Everything in the export was carried over.");
    } else {
        out!("Not carried over or set by the import (also noted at the top of the file):");
        for n in &imported.notes {
            out!("- {n}");
        }
    }
    out!(
        "Review the file, then publish it: lotse services --data-dir DIR --file {}",
        args.out.display()
    );
    Ok(())
}
