//! A small checkout service reading its config through the SDK: a throttle
//! limit, a timeout, a flag and a breaker, from the agent's etcd keys (or
//! its files, or central over HTTP).
//!
//! ```text
//! cargo run -p setpoint-client --example checkout -- \
//!     --environment prod --etcd http://127.0.0.1:2379 --listen 127.0.0.1:8088
//! curl '127.0.0.1:8088/?user=u-42&country=NL'
//! ```
//!
//! `GET /` answers with what a request would be served under, and
//! `GET /healthz` with the snapshot the service runs on and its refusals.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{Query, State},
    routing::get,
};
use clap::Parser;
use serde::Deserialize;
use serde_json::{Value, json};
use setpoint_client::{Breaker, Client, EtcdSource, FileSource, Flag, HttpSource, Key};

/// Where the config comes from and where to listen.
#[derive(Debug, Parser)]
struct Args {
    /// The environment this instance runs in.
    #[arg(long, default_value = "prod")]
    environment: String,
    /// etcd client URLs the agent writes to.
    #[arg(long, value_delimiter = ',')]
    etcd: Vec<String>,
    /// The agent's `--etcd-prefix`.
    #[arg(long, default_value = setpoint_core::delivery::DEFAULT_ETCD_PREFIX)]
    etcd_prefix: String,
    /// The agent's `--file` directory.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Central, read over HTTP (with `--token`).
    #[arg(long)]
    central: Option<String>,
    /// A token that may read the service's snapshot.
    #[arg(long, default_value = "")]
    token: String,
    /// Where to keep the last good snapshot across restarts.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// The address to serve on.
    #[arg(long, default_value = "127.0.0.1:8088")]
    listen: SocketAddr,
}

/// The service's handles on its config.
struct Config {
    client: Client,
    rps: Key<u32>,
    timeout: Key<Duration>,
    new_flow: Flag<bool>,
    payments: Breaker,
}

/// Who is asking.
#[derive(Debug, Deserialize)]
struct Visitor {
    user: Option<String>,
    country: Option<String>,
    email: Option<String>,
}

async fn serve(State(config): State<Arc<Config>>, Query(visitor): Query<Visitor>) -> Json<Value> {
    let mut context = setpoint_client::Context::new();
    for (name, value) in [
        ("targetingKey", visitor.user),
        ("country", visitor.country),
        ("email", visitor.email),
    ] {
        if let Some(value) = value {
            context.insert(name.into(), value.into());
        }
    }
    // One view: every value below comes from the same snapshot.
    let view = config.client.view();
    Json(json!({
        "revision": view.revision(),
        "throttle_rps": view.get(&config.rps),
        "timeout_ms": view.get(&config.timeout).as_millis(),
        "new_checkout_flow": view.evaluate(&config.new_flow, &context),
        "payments_open": view.is_open(&config.payments),
    }))
}

async fn health(State(config): State<Arc<Config>>) -> Json<Value> {
    let status = config.client.status();
    Json(json!({
        "revision": status.current.as_ref().map(|c| c.revision),
        "source": status.current.as_ref().map(|c| c.source.clone()),
        "pinned": status.pinned,
        "failures": status.failures,
        "last_failure": status.last_failure,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let service = "checkout";

    let mut builder = Client::builder(service);
    // The compiled defaults: what the service does before (or without)
    // any snapshot.
    let rps = builder.key("throttle.rps", 100u32);
    let timeout = builder.key("timeout", Duration::from_secs(1));
    let new_flow = builder.flag("new-checkout-flow", false);
    let payments = builder.breaker("payments-provider");
    builder.environment(&args.environment);
    if !args.etcd.is_empty() {
        builder.source(
            EtcdSource::new(&args.etcd, &args.environment, service)
                .prefix(&args.etcd_prefix)
                .max_backoff(Duration::from_secs(2)),
        );
    }
    if let Some(dir) = &args.file {
        builder.source(FileSource::agent(dir, &args.environment, service));
    }
    if let Some(central) = &args.central {
        builder.source(HttpSource::central(central, &args.environment, service).token(&args.token));
    }
    if let Some(cache) = &args.cache {
        builder.cache(cache);
    }
    let config = Arc::new(Config {
        client: builder.build()?,
        rps,
        timeout,
        new_flow,
        payments,
    });

    let app = Router::new()
        .route("/", get(serve))
        .route("/healthz", get(health))
        .with_state(config);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
