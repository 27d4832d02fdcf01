//! `lotse status`: who this node is, whom it trusts, and how its queue looks.

use anyhow::Result;
use lotse_node::status::{NodeStatus, status as node_status};

use crate::DataDirArg;
use crate::target::{Target, choose};

/// Arguments of `lotse status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    data_dir: DataDirArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `lotse status`.
pub fn status(args: StatusArgs) -> Result<()> {
    let (s, running): (NodeStatus, bool) = match choose(&args.data_dir)? {
        Target::Online(api) => (
            serde_json::from_value(api.get("/api/v1/admin/status")?)?,
            true,
        ),
        Target::Offline(core) => (node_status(&core)?, false),
    };
    if args.json {
        out!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    out!(
        "{} ({})",
        s.name,
        if running { "running" } else { "stopped" }
    );
    out!("  node id:      {}", s.node_id);
    out!("  fingerprint:  {}", s.fingerprint);
    match (&s.authority, &s.authority_fingerprint) {
        (Some(a), Some(fp)) => {
            out!("  authority:    {a}");
            out!("  authority fingerprint: {fp}");
        }
        _ => out!("  not joined to a network yet: run `lotse join`"),
    }
    out!(
        "  directory:    serial {}, {} active members",
        s.directory_serial,
        s.members
    );
    out!(
        "  outbox:       {} waiting, {} delivered, {} expired",
        s.outbox_queued,
        s.outbox_delivered,
        s.outbox_expired
    );
    if !s.invitations.is_empty() {
        out!("  invitations:");
        for i in &s.invitations {
            let state = match (&i.used_by, &i.used_at) {
                (Some(node), Some(at)) => format!("used {at} by {}", node.fingerprint()),
                _ => format!("open until {}", i.expires_at),
            };
            out!(
                "    - {} ({}): {state}",
                i.agency_name,
                i.agency_kind.as_str()
            );
        }
    }
    Ok(())
}
