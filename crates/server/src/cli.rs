//! The command line. Every flag can also be set through a `SETPOINT_*`
//! environment variable, which is how containers and unit files configure it.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use std::sync::Arc;

use crate::{
    engine::{Engine, EngineConfig},
    http::{AppState, app},
    store::SqliteStore,
};

/// Setpoint: the control plane for your fleet's runtime configuration.
#[derive(Debug, Parser)]
#[command(name = "setpoint", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: the API and the console.
    Serve(ServeArgs),
    /// Check service documents offline; exits non-zero when any is invalid.
    Validate(ValidateArgs),
}

/// Options of `setpoint serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SETPOINT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory for the embedded store.
    #[arg(long, env = "SETPOINT_DATA", default_value = "./data")]
    pub data: PathBuf,
    /// Directory of the built console (trunk's `dist/`).
    #[arg(long, env = "SETPOINT_CONSOLE_DIR", default_value = "./dist")]
    pub console_dir: PathBuf,
}

/// Options of `setpoint validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Service documents (JSON) to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Environments that exist, comma-separated; values and targeting for
    /// any other environment are then reported.
    #[arg(long, env = "SETPOINT_ENVIRONMENTS", value_delimiter = ',')]
    pub environments: Option<Vec<String>>,
    /// Print the result as JSON, one object per file.
    #[arg(long)]
    pub json: bool,
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn serve(args: ServeArgs) -> std::io::Result<()> {
    std::fs::create_dir_all(&args.data)?;
    if !args.console_dir.join("index.html").is_file() {
        tracing::warn!(
            dir = %args.console_dir.display(),
            "no built console found; the API runs, the console will not (build it with `trunk build --release`)"
        );
    }
    let store = SqliteStore::open(&args.data)
        .await
        .map_err(std::io::Error::other)?;
    let engine = Engine::start(Arc::new(store), EngineConfig::default())
        .await
        .map_err(std::io::Error::other)?;
    let state = AppState::new(engine, args.console_dir);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "setpoint is listening");
    println!("Setpoint is running at http://{address}/");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
