//! The command line. Every flag can also be set through a `SETPOINT_*`
//! environment variable, which is how containers and unit files configure it.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use std::sync::Arc;

use crate::{
    admission::{Admission, AdmissionLimits},
    auth::Role,
    bootstrap,
    engine::{Engine, EngineConfig},
    http::{AppState, app},
    listen::Listen,
    store::Backend,
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
    /// Follow one environment's snapshot and write it into etcd and/or
    /// files beside the pods (one agent per cluster or namespace).
    Agent(Box<setpoint_agent::AgentArgs>),
    /// Check service documents (JSON or YAML) or folders of them offline;
    /// exits non-zero when any is invalid.
    Validate(ValidateArgs),
    /// Show what applying a folder of service documents (as `validate DIR`
    /// checks them) would change on a server, changing nothing; exits 0
    /// with nothing to do, 2 with changes, 1 when invalid.
    Plan(PlanArgs),
    /// Apply a folder of service documents in one change set: services
    /// created, changed, restored, and tombstoned where their file is gone.
    /// Refused (409) where it would overwrite a change made by other means,
    /// unless `--force`.
    Apply(ApplyArgs),
    /// Apply a folder now and, with `--watch`, on every change to it. A
    /// file that cannot be used is reported and its service keeps its last
    /// good state; the rest is applied.
    Sync(SyncArgs),
    /// Print everything (environments and services) as one document.
    Export {
        /// Where the state is kept.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Apply an export document all or nothing (on SQLite, with the server
    /// stopped; replicas on PostgreSQL may run).
    Import {
        /// The export document.
        file: PathBuf,
        /// Where the state is kept.
        #[command(flatten)]
        store: StoreArgs,
        /// Why, for the change log.
        #[arg(long, default_value = "import")]
        reason: String,
    },
    /// Bring a backup back (its checksum checked first): what it holds is
    /// imported all or nothing, as `import` does (on SQLite, with the
    /// server stopped).
    RestoreBackup {
        /// The backup (`setpoint-….json`, its `.sha256` beside it).
        file: PathBuf,
        /// Where the state is kept.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Replay the change log and check it reproduces the current state.
    Verify {
        /// Where the state is kept.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Manage console users in the store.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage machine tokens in the store.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `setpoint user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user, or reset an existing user's password and role. The
    /// password is read from `SETPOINT_PASSWORD` or the first line of stdin.
    Add {
        /// Login name.
        username: String,
        /// viewer, rollout, editor, operator or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Limit the role to these services (comma-separated).
        #[arg(long, value_delimiter = ',')]
        services: Option<Vec<String>>,
        /// Where the state is kept.
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `setpoint token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (once; only its hash is kept).
    Create {
        /// What it is for, e.g. `agent-eu-1`.
        name: String,
        /// viewer, rollout, editor, operator, admin, alert_source (for
        /// Alertmanager's webhook) or agent (for `setpoint agent`; needs
        /// `--environment`).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Limit the role to these services (comma-separated).
        #[arg(long, value_delimiter = ',')]
        services: Option<Vec<String>>,
        /// Limit the token to one environment.
        #[arg(long)]
        environment: Option<String>,
        /// Where the state is kept.
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| {
        "use viewer, rollout, editor, operator, admin, or alert_source or agent (tokens only)"
            .to_string()
    })
}

/// Options of `setpoint serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SETPOINT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the state is kept.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Directory of the built console (trunk's `dist/`).
    #[arg(long, env = "SETPOINT_CONSOLE_DIR", default_value = "./dist")]
    pub console_dir: PathBuf,
    /// Seed an empty store with demo environments, services, flags and breakers.
    #[arg(long, env = "SETPOINT_DEMO")]
    pub demo: bool,
    /// Mark session cookies `Secure` (set when serving behind TLS).
    #[arg(long, env = "SETPOINT_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Days a deleted service stays restorable.
    #[arg(long, env = "SETPOINT_RECLAIM_DAYS", default_value_t = 7)]
    pub reclaim_days: u64,
    /// Connections open at once; one more is answered 503.
    #[arg(long, env = "SETPOINT_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Seconds a client may take to send a request's headers, and an
    /// HTTP/1 connection may sit idle between requests.
    #[arg(long, env = "SETPOINT_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Event streams and long-polls open at once; one more is answered 503.
    #[arg(long, env = "SETPOINT_MAX_STREAMS", default_value_t = 8_000)]
    pub max_streams: usize,
    /// Event streams and long-polls one user or token may hold open; one
    /// more is answered 429.
    #[arg(
        long,
        env = "SETPOINT_MAX_STREAMS_PER_PRINCIPAL",
        default_value_t = 256
    )]
    pub max_streams_per_principal: usize,
    /// Write a backup (an export document with its checksum) into this
    /// folder on schedule and after every reclaim; restore one with
    /// `setpoint restore-backup`.
    #[arg(long, env = "SETPOINT_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Time between backups (`30m`, `1h`, `1d`); one is written only if
    /// something changed since the last.
    #[arg(long, env = "SETPOINT_BACKUP_EVERY", default_value = "1h", value_parser = parse_every)]
    pub backup_every: std::time::Duration,
    /// Backups kept; older ones are removed.
    #[arg(long, env = "SETPOINT_BACKUP_KEEP", default_value_t = 48, value_parser = clap::value_parser!(u64).range(1..))]
    pub backup_keep: u64,
}

fn parse_every(text: &str) -> Result<std::time::Duration, String> {
    match setpoint_core::time::parse_duration(text)? {
        0 => Err("use a duration above zero, e.g. 1h".into()),
        millis => Ok(std::time::Duration::from_millis(millis)),
    }
}

/// Where the state is kept: every command that reads or writes it takes
/// these.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory of the embedded SQLite store; with `--store`, only where a
    /// generated admin password is written.
    #[arg(long, env = "SETPOINT_DATA", default_value = "./data")]
    pub data: PathBuf,
    /// A PostgreSQL database shared by several replicas
    /// (`postgres://user:password@host:5432/setpoint`); without it, SQLite
    /// under `--data`.
    #[arg(long = "store", env = "SETPOINT_STORE")]
    pub url: Option<String>,
}

/// An open store, and for SQLite the data directory's lock held with it.
pub struct Opened {
    /// The store.
    pub store: Arc<dyn Backend>,
    _lock: Option<std::fs::File>,
}

impl StoreArgs {
    /// Opens the store. The embedded one is locked for as long as the
    /// result lives: one process per SQLite file, because a server keeps
    /// the state in memory. PostgreSQL needs no lock: every process checks
    /// its commits against the database's (see `store::Batch::commits`).
    pub async fn open(&self) -> std::io::Result<Opened> {
        let lock = match self.url {
            None => Some(lock_data(&self.data)?),
            Some(_) => None,
        };
        let store = self.read().await?.store;
        Ok(Opened { store, _lock: lock })
    }

    /// Opens the store to read only, beside a running server.
    pub async fn read(&self) -> std::io::Result<Opened> {
        let store = crate::store::open(self.url.as_deref(), &self.data)
            .await
            .map_err(std::io::Error::other)?;
        Ok(Opened { store, _lock: None })
    }
}

/// Options of `setpoint validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Service documents (JSON or YAML) to check, or folders of them: one
    /// service per file, each file named for its service (`checkout.yaml`),
    /// checked across files too.
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

/// A folder of service documents and the server it is planned against or
/// applied to: what `plan`, `apply` and `sync` share.
#[derive(Debug, Args)]
pub struct FolderArgs {
    /// The folder: one service per file (JSON or YAML), each named for its
    /// service.
    pub dir: PathBuf,
    /// The server's base URL, e.g. `https://setpoint.example.com`.
    #[arg(long, env = "SETPOINT_SERVER")]
    pub server: String,
    /// A token: any role may plan (a scoped token plans against what it
    /// sees); applying takes an admin's.
    #[arg(long, env = "SETPOINT_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The set the folder's services belong to: a file removed from the
    /// folder tombstones only services of its own set, so several
    /// repositories can apply to one server. Default: the folder's name.
    #[arg(long)]
    pub set: Option<String>,
    /// Print the plan as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Options of `setpoint plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The folder and the server.
    #[command(flatten)]
    pub folder: FolderArgs,
}

/// Options of `setpoint apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The folder and the server.
    #[command(flatten)]
    pub folder: FolderArgs,
    /// Where the files come from, for the change log and each service's
    /// record. Default: `git:<commit>` when the folder is in a git
    /// checkout (`+dirty` with uncommitted changes), else the folder's path.
    #[arg(long)]
    pub source: Option<String>,
    /// Why, beside the source.
    #[arg(long)]
    pub reason: Option<String>,
    /// Overwrite services changed by other means since their files were
    /// last applied, or not managed by files at all.
    #[arg(long)]
    pub force: bool,
}

/// Options of `setpoint sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// What each pass applies.
    #[command(flatten)]
    pub apply: ApplyArgs,
    /// Keep watching the folder and apply each change.
    #[arg(long)]
    pub watch: bool,
    /// While watching, read the folder this often even without a file
    /// event (file systems without events, missed events).
    #[arg(long, default_value = "5s", value_parser = parse_every)]
    pub poll: std::time::Duration,
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
    std::fs::create_dir_all(&args.store.data)?;
    if !args.console_dir.join("index.html").is_file() {
        tracing::warn!(
            dir = %args.console_dir.display(),
            "no built console found; the API runs, the console will not (build it with `trunk build --release`)"
        );
    }
    let opened = args.store.open().await?;
    let store = Arc::clone(&opened.store);
    bootstrap::ensure_admin(&*store, &args.store.data).await?;
    let config = EngineConfig {
        reclaim_after: std::time::Duration::from_hours(24 * args.reclaim_days),
        ..EngineConfig::default()
    };
    let engine = Engine::start(store.clone(), config)
        .await
        .map_err(std::io::Error::other)?;
    if args.demo {
        bootstrap::seed_demo(&engine).await?;
    }
    if let Some(dir) = args.backup_dir {
        crate::backup::start(
            &engine,
            crate::backup::Backups {
                dir,
                every: args.backup_every,
                keep: usize::try_from(args.backup_keep).unwrap_or(usize::MAX),
            },
        );
    }
    let admission = Admission::new(AdmissionLimits {
        streams: args.max_streams,
        streams_per_principal: args.max_streams_per_principal,
        ..AdmissionLimits::default()
    });
    let state = AppState::new(engine, store, args.console_dir)
        .with_secure_cookies(args.secure_cookies)
        .with_admission(admission);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "setpoint is listening");
    println!("Setpoint is running at http://{address}/");
    let limits = Listen {
        max_connections: args.max_connections,
        header_timeout: std::time::Duration::from_secs(args.header_timeout_secs),
        ..Listen::default()
    };
    crate::listen::serve(listener, app(state), limits, shutdown_signal()).await
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

/// Runs `setpoint user …`.
pub async fn user(command: UserCommand) -> std::io::Result<()> {
    let UserCommand::Add {
        username,
        role,
        services,
        store,
    } = command;
    let password = if let Ok(password) = std::env::var("SETPOINT_PASSWORD") {
        password
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.chars().count() < 12 {
        return Err(std::io::Error::other(
            "a password needs at least 12 characters",
        ));
    }
    if role.is_machine() {
        return Err(std::io::Error::other(format!(
            "{} is a role for tokens (setpoint token create), not for people",
            role.as_str()
        )));
    }
    let opened = store.open().await?;
    bootstrap::put_user(&*opened.store, &username, &password, role, services, "cli").await?;
    println!("user {username:?} saved with role {}", role.as_str());
    Ok(())
}

/// Runs `setpoint token …`.
pub async fn token(command: TokenCommand) -> std::io::Result<()> {
    let TokenCommand::Create {
        name,
        role,
        services,
        environment,
        store,
    } = command;
    let opened = store.open().await?;
    let request = crate::http::NewToken {
        name,
        role,
        services,
        environment,
    };
    let (token, bearer) =
        crate::http::new_token(request, "cli").map_err(|e| std::io::Error::other(e.to_string()))?;
    crate::store::record_offline(
        &*opened.store,
        crate::store::AccountWrite::PutToken(token.clone()),
        "cli",
        &token.created_at,
    )
    .await
    .map_err(std::io::Error::other)?;
    eprintln!(
        "token {:?} created with role {}; it is shown only now:",
        token.name,
        token.role.as_str()
    );
    println!("{bearer}");
    Ok(())
}

/// Runs `setpoint verify`: `Ok(false)` when the log and the state disagree.
pub async fn verify(store: &StoreArgs) -> std::io::Result<bool> {
    let opened = store.read().await?;
    let report = crate::verify::verify(&*opened.store)
        .await
        .map_err(std::io::Error::other)?;
    for problem in &report.problems {
        println!("problem: {problem}");
    }
    if report.problems.is_empty() {
        println!(
            "ok: {} changes replayed; the log reproduces the current state",
            report.changes
        );
    } else {
        println!(
            "{} problem(s) in {} changes",
            report.problems.len(),
            report.changes
        );
    }
    Ok(report.problems.is_empty())
}

/// Takes the data directory's lock for as long as the returned file lives:
/// one server (or offline import, user or token change) per store, because the server keeps the
/// current state in memory and would not see another writer's changes.
pub fn lock_data(data: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::create_dir_all(data)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data.join("setpoint.lock"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(std::io::Error::other(format!(
            "{} is in use by a running setpoint server; stop it first (or use the HTTP API)",
            data.display()
        ))),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

/// Runs `setpoint export`.
pub async fn export(store: &StoreArgs) -> std::io::Result<()> {
    let opened = store.read().await?;
    let world = opened.store.load().await.map_err(std::io::Error::other)?;
    let export = crate::http::transfer::export_of(&world);
    println!(
        "{}",
        serde_json::to_string_pretty(&export).map_err(std::io::Error::other)?
    );
    Ok(())
}

/// Runs `setpoint restore-backup`.
pub async fn restore_backup(file: &std::path::Path, store: &StoreArgs) -> std::io::Result<()> {
    let body = crate::backup::read_verified(file)?;
    let text = String::from_utf8(body).map_err(std::io::Error::other)?;
    let name = file
        .file_name()
        .unwrap_or(file.as_os_str())
        .to_string_lossy();
    import_text(&text, store, &format!("restore backup {name}")).await
}

/// Runs `setpoint import`.
pub async fn import(
    file: &std::path::Path,
    store: &StoreArgs,
    reason: &str,
) -> std::io::Result<()> {
    import_text(&std::fs::read_to_string(file)?, store, reason).await
}

async fn import_text(text: &str, store: &StoreArgs, reason: &str) -> std::io::Result<()> {
    let export: crate::http::transfer::Export =
        setpoint_core::validate::parse(text).map_err(|violations| {
            std::io::Error::other(
                violations
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })?;
    let opened = store.open().await?;
    let engine = Engine::start(opened.store.clone(), EngineConfig::default())
        .await
        .map_err(std::io::Error::other)?;
    let describe = |error: crate::ApiError| {
        let details = match &error {
            crate::ApiError::Validation(violations) => {
                let lines: Vec<String> = violations.iter().map(|v| format!("  {v}")).collect();
                format!("\n{}", lines.join("\n"))
            }
            _ => String::new(),
        };
        std::io::Error::other(format!("{error}{details}"))
    };
    let commands =
        crate::http::transfer::import_commands(&engine.world(), export).map_err(describe)?;
    let changes = engine
        .write_all(commands, "cli", reason)
        .await
        .map_err(|e| describe(e.into()))?;
    println!(
        "imported: {} change(s), now at revision {}",
        changes.len(),
        engine.world().revision
    );
    Ok(())
}
