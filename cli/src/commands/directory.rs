//! `lotse invite`, `lotse directory list|revoke`, `lotse services`, `lotse outbox`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use lotse_node::directory::authority;
use lotse_node::http::admin::{DirectoryView, InviteResponse, directory_view};
use lotse_node::outbox::{self, DeliveryState, OutboxRecord};
use lotse_protocol::NodeId;
use lotse_protocol::directory::{AgencyKind, Service};
use serde::Deserialize;
use serde_json::json;

use crate::DataDirArg;
use crate::target::{Target, choose, runtime};

/// Arguments of `lotse invite`.
#[derive(Debug, clap::Args)]
pub struct InviteArgs {
    #[command(flatten)]
    data_dir: DataDirArg,
    /// The agency's name as it will appear in the directory.
    #[arg(long)]
    agency: String,
    /// The kind of agency (mbe, jmd, refugee_counselling, integration_agency, job_centre,
    /// immigration_authority, social_welfare_office, youth_welfare_office, housing, health, other).
    #[arg(long, default_value = "other")]
    kind: AgencyKind,
    /// Days until the invitation expires.
    #[arg(long, default_value_t = 7)]
    valid_days: u64,
}

/// `lotse directory ...`.
#[derive(Debug, clap::Subcommand)]
pub enum DirectoryCommand {
    /// List the members and their services.
    List {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a member from the network (KI directory node only).
    Revoke {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// The member's node id (64 hex digits, see `lotse directory list`).
        node: String,
    },
}

/// Arguments of `lotse services`: publish a services file, or `import` one from HSDS.
#[derive(Debug, clap::Args)]
pub struct ServicesArgs {
    #[command(subcommand)]
    command: Option<super::services_import::ServicesCommand>,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "LOTSE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A TOML file with one `[[services]]` table per service.
    #[arg(long)]
    file: Option<PathBuf>,
}

/// Arguments of `lotse outbox`.
#[derive(Debug, clap::Args)]
pub struct OutboxArgs {
    #[command(flatten)]
    data_dir: DataDirArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `lotse invite`.
pub fn invite(args: InviteArgs) -> Result<()> {
    if args.valid_days == 0 || args.valid_days > 90 {
        bail!("--valid-days must be between 1 and 90");
    }
    let response: InviteResponse = match choose(&args.data_dir)? {
        Target::Online(api) => serde_json::from_value(api.post(
            "/api/v1/admin/invitations",
            json!({"agency_name": args.agency, "agency_kind": args.kind, "valid_hours": args.valid_days * 24}),
        )?)?,
        Target::Offline(core) => {
            let inv = runtime()?.block_on(authority::create_invitation(
                &core,
                &args.agency,
                args.kind,
                args.valid_days * 24 * 3600 * 1000,
            ))?;
            InviteResponse {
                token: inv.to_token(),
                expires_at: inv.expires_at.to_rfc3339(),
            }
        }
    };
    out!(
        "Invitation for {:?} (valid until {}, usable once):",
        args.agency,
        response.expires_at
    );
    out!("{}", response.token);
    Ok(())
}

/// `lotse directory ...`.
pub fn directory(cmd: DirectoryCommand) -> Result<()> {
    match cmd {
        DirectoryCommand::List { data_dir, json } => {
            let view: DirectoryView = match choose(&data_dir)? {
                Target::Online(api) => serde_json::from_value(api.get("/api/v1/admin/directory")?)?,
                Target::Offline(core) => directory_view(&core),
            };
            if json {
                out!("{}", serde_json::to_string_pretty(&view)?);
                return Ok(());
            }
            if view.serial == 0 {
                out!("This node has no directory yet: join a network with `lotse join`.");
                return Ok(());
            }
            out!(
                "Directory serial {}, {} members:",
                view.serial,
                view.members.len()
            );
            for m in &view.members {
                out!("- {} ({})", m.name, m.kind.label_de());
                out!("    node id:     {}", m.node_id);
                out!("    fingerprint: {}", m.fingerprint);
                out!("    addresses:   {}", m.addresses.join(", "));
                for s in &m.services {
                    out!("    service {:?}: {} [{:?}]", s.id, s.name, s.capacity);
                }
            }
            if !view.revoked.is_empty() {
                out!("Revoked: {}", view.revoked.join(", "));
            }
            Ok(())
        }
        DirectoryCommand::Revoke { data_dir, node } => {
            let id: NodeId = node.parse().context("the node id")?;
            let serial = match choose(&data_dir)? {
                Target::Online(api) => api.post(
                    "/api/v1/admin/revocations",
                    json!({"node_id": id.to_string()}),
                )?["serial"]
                    .as_u64()
                    .unwrap_or(0),
                Target::Offline(core) => {
                    runtime()?.block_on(authority::revoke(&core, id))?;
                    core.directory.serial()
                }
            };
            out!(
                "Revoked {id}. New directory serial {serial}; members refuse it once they have it."
            );
            Ok(())
        }
    }
}

/// The services file: what `lotse services --file` publishes and `import` writes.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesFile {
    /// The services, one `[[services]]` table each.
    #[serde(default)]
    pub services: Vec<Service>,
}

/// `lotse services`.
pub fn services(args: ServicesArgs) -> Result<()> {
    if let Some(command) = args.command {
        return super::services_import::run(command);
    }
    let (Some(data_dir), Some(path)) = (args.data_dir, args.file) else {
        bail!(
            "give the node and the file: `lotse services --data-dir DIR --file services.toml` (or turn an HSDS export into such a file with `lotse services import --hsds FILE_OR_DIR`)"
        );
    };
    let data_dir = DataDirArg { data_dir };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let file: ServicesFile = toml::from_str(&text)
        .with_context(|| format!("{} is not a valid services file", path.display()))?;
    let count = file.services.len();
    match choose(&data_dir)? {
        Target::Online(api) => {
            api.put(
                "/api/v1/admin/services",
                serde_json::to_value(&file.services)?,
            )?;
        }
        Target::Offline(core) => {
            runtime()?.block_on(lotse_node::services::publish(&core, file.services))?;
        }
    }
    out!(
        "Queued an update of {count} services to the KI; it appears in the directory once the KI has it."
    );
    Ok(())
}

/// `lotse outbox`.
pub fn outbox(args: OutboxArgs) -> Result<()> {
    let records: Vec<OutboxRecord> = match choose(&args.data_dir)? {
        Target::Online(api) => serde_json::from_value(api.get("/api/v1/admin/outbox")?)?,
        Target::Offline(core) => outbox::list(&core, 1000)?,
    };
    if args.json {
        out!("{}", serde_json::to_string_pretty(&records)?);
        return Ok(());
    }
    if records.is_empty() {
        out!("No outgoing messages.");
    }
    for r in records {
        let state = match &r.state {
            DeliveryState::Queued {
                attempts,
                next_attempt_at,
                last_error,
            } => format!(
                "queued (attempts {attempts}, next {next_attempt_at}{})",
                last_error
                    .as_ref()
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default()
            ),
            DeliveryState::Delivered { at, .. } => format!("delivered {at}"),
            DeliveryState::Expired { at, .. } => format!("expired {at}"),
        };
        out!(
            "{} {:?} to {} — {state}",
            r.message_id,
            r.kind,
            r.recipient.fingerprint()
        );
    }
    Ok(())
}
