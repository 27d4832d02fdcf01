//! `lotse run`: the node in the foreground, with structured logs and a graceful shutdown
//! on SIGINT or SIGTERM (undelivered messages stay queued for the next start).

use anyhow::Result;
use lotse_node::core::Core;
use lotse_node::datadir::DataDir;
use tracing_subscriber::EnvFilter;

use crate::DataDirArg;
use crate::target::runtime;

/// Log output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Arguments of `lotse run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    data_dir: DataDirArg,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

/// Sets up logging; `RUST_LOG` overrides the default level (info).
pub fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,quinn=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// `lotse run`.
pub fn run(args: RunArgs) -> Result<()> {
    init_logging(args.log_format);
    let dir = DataDir::new(&args.data_dir.data_dir);
    runtime()?.block_on(async move {
        let core = Core::open(dir)?;
        let node = lotse_node::node::start(core.clone(), axum_extra_routes(core)).await?;
        out!(
            "Lotse node {:?} is running: web and API at http://{}, QUIC at {}. Stop with Ctrl-C.",
            node.core.config.name,
            node.http_addr,
            node.quic_addr
        );
        wait_for_signal().await;
        node.shutdown().await;
        Ok(())
    })
}

/// Routes beyond the node's own API: the web UI.
pub fn axum_extra_routes(core: std::sync::Arc<Core>) -> axum::Router {
    lotse_admin_ui::router(core)
}

pub async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
