//! `lotse init` and `lotse join`.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use lotse_node::core::Core;
use lotse_node::datadir::DataDir;
use lotse_node::init::{InitOptions, init as init_node};
use lotse_protocol::invitation::Invitation;

use crate::DataDirArg;
use crate::target::runtime;

/// Arguments of `lotse init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    #[command(flatten)]
    data_dir: DataDirArg,
    /// The agency's name, as colleagues know it.
    #[arg(long)]
    name: String,
    /// Make this the KI's directory node (creates the directory authority key).
    #[arg(long, conflicts_with = "join")]
    directory: bool,
    /// UDP address for QUIC between nodes.
    #[arg(long, default_value = "127.0.0.1:7401")]
    quic: SocketAddr,
    /// TCP address for the web UI and the API.
    #[arg(long, default_value = "127.0.0.1:7480")]
    http: SocketAddr,
    /// Address other nodes use to reach this one (repeatable); defaults to --quic.
    #[arg(long = "public-address", value_name = "HOST:PORT")]
    public_addresses: Vec<String>,
    /// Join the network with this invitation token right away.
    #[arg(long, value_name = "TOKEN")]
    join: Option<String>,
}

/// Arguments of `lotse join`.
#[derive(Debug, clap::Args)]
pub struct JoinArgs {
    #[command(flatten)]
    data_dir: DataDirArg,
    /// The invitation token from `lotse invite`.
    token: String,
}

/// `lotse init`.
pub fn init(args: InitArgs) -> Result<()> {
    // Check the token before creating anything, so a typo leaves no half-made node.
    let invitation = args
        .join
        .as_deref()
        .map(Invitation::from_token)
        .transpose()
        .context("--join")?;
    let dir = DataDir::new(&args.data_dir.data_dir);
    let opts = InitOptions {
        name: args.name,
        directory: args.directory,
        quic_listen: args.quic,
        http_listen: args.http,
        public_addresses: args.public_addresses,
    };
    let rt = runtime()?;
    let report = rt.block_on(init_node(&dir, &opts))?;
    out!("Created node {:?} in {}", opts.name, dir.root().display());
    out!("  node id:     {}", report.node_id);
    out!("  fingerprint: {}", report.fingerprint);
    if let Some(password) = &report.first_admin.password {
        out!(
            "First admin user: {} / password: {password} (shown once; change it after signing in)",
            report.first_admin.user.username
        );
    }
    if let Some(a) = report.authority {
        out!("  directory authority key: {a}");
        out!("  authority fingerprint:   {}", a.fingerprint());
        out!(
            "This is the KI's directory node. Start it with: lotse run --data-dir {}",
            dir.root().display()
        );
    }
    if let Some(inv) = invitation {
        join_with(&dir, &inv, &rt).with_context(|| {
            format!(
                "the node was created but has not joined; once the problem is solved run: lotse join --data-dir {} TOKEN",
                dir.root().display()
            )
        })?;
    }
    Ok(())
}

/// `lotse join`.
pub fn join(args: JoinArgs) -> Result<()> {
    let invitation = Invitation::from_token(&args.token).context("the invitation token")?;
    let dir = DataDir::new(&args.data_dir.data_dir);
    join_with(&dir, &invitation, &runtime()?)
}

fn join_with(dir: &DataDir, invitation: &Invitation, rt: &tokio::runtime::Runtime) -> Result<()> {
    let core = Core::open(dir.clone())?;
    let serial = rt.block_on(lotse_node::join::join(&core, invitation))?;
    out!(
        "Joined the network as {:?} (directory serial {serial}).",
        invitation.agency_name
    );
    out!(
        "  directory authority fingerprint: {}",
        invitation.authority.fingerprint()
    );
    out!(
        "Compare this fingerprint with the KI by phone, then start the node: lotse run --data-dir {}",
        dir.root().display()
    );
    Ok(())
}
