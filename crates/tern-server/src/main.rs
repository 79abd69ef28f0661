//! `tern`: an Elasticsearch-compatible search node.
//!
//! Startup order matters for clients that wait on logs: the HTTP listener is bound first (so the
//! port is known and taken), the node opens its shards, and only then is the JSON log line with
//! `"message":"started"` printed, which is what Testcontainers' Elasticsearch wait strategy looks for.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tern_config::Settings;
use tern_node::{Node, NodeOptions};
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(name = "tern", version, about = "An Elasticsearch-compatible search node on tantivy and openraft")]
struct Cli {
    /// Configuration file (ES-style keys, e.g. config/tern.yml).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Override a setting, as `elasticsearch -E key=value` does. Repeatable.
    #[arg(short = 'E', value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// Keep all data in memory; nothing survives the process (for client test suites).
    #[arg(long)]
    ephemeral: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn,tantivy=warn")),
        )
        .init();
    let settings = Settings::load(cli.config.as_deref(), &cli.settings).context("invalid configuration")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(settings, cli.ephemeral))
}

async fn bind(host: &str, ports: (u16, u16)) -> anyhow::Result<TcpListener> {
    let mut last_err = None;
    for port in ports.0..=ports.1 {
        match TcpListener::bind((host, port)).await {
            Ok(l) => return Ok(l),
            Err(e) => last_err = Some(e),
        }
    }
    Err(anyhow::anyhow!("cannot bind HTTP on {host}:{}-{}: {:?}", ports.0, ports.1, last_err))
}

async fn run(settings: Settings, ephemeral: bool) -> anyhow::Result<()> {
    let host = settings.http_host();
    let listener = bind(&host, settings.http_port()?).await?;
    let addr = listener.local_addr()?;
    let node = Node::start(NodeOptions { settings, ephemeral, http_address: addr.to_string() })
        .await
        .map_err(|e| anyhow::anyhow!("node failed to start: {}", e.reason))?;
    // Plugins register their routes and start their background services here.
    let plugins: Vec<Arc<dyn tern_rest::Plugin>> = vec![tern_remote_sync::RemoteSyncPlugin::new()];
    let app = tern_rest::router(node.clone(), &plugins);
    tracing::info!(
        node.name = %node.info.node_name,
        cluster.name = %node.info.cluster_name,
        http.address = %addr,
        ephemeral,
        "started"
    );
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("stopping: flushing shards");
    shutdown(node).await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown(node: Arc<Node>) {
    node.shutdown().await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
