//! The agent's loop.
//!
//! One cycle: ask central for the snapshot, long-polling past the revision
//! held (an answer is only a trigger: it is always the whole snapshot),
//! verify it, refuse it if older than what is written, then make every
//! sink hold it, and keep it in `--state-dir`. A cycle that brings nothing new still checks the sinks,
//! so a wiped etcd is refilled within one `--resync`. Failures back off
//! (capped, jittered) and change nothing that is written.
//!
//! Beside the loop, a heartbeat reports to central every `--heartbeat`,
//! and a report also follows each write and each failure.

use std::time::Duration;

use setpoint_core::fleet::SinkHealth;

use crate::{
    AgentError,
    args::AgentArgs,
    backoff::Backoff,
    central::{Central, Fetched},
    last_good,
    sink::{Outcome, Sink, etcd::EtcdSink, file::FileSink, published},
    status::Status,
    verified::Verified,
};

/// Runs the agent: once (`--once`) or until the process ends.
pub async fn run(args: AgentArgs) -> Result<(), AgentError> {
    args.check()?;
    let status = Status::default();
    if let Some(address) = args.listen {
        let status = status.clone();
        tokio::spawn(async move {
            if let Err(error) = crate::status::serve(address, status).await {
                tracing::error!(%error, "cannot serve health and metrics");
            }
        });
    }
    let mut agent = Agent::new(args, status)?;
    if agent.args.once {
        return agent.once().await;
    }
    agent.follow().await;
    Ok(())
}

/// The agent's state between cycles.
pub struct Agent {
    args: AgentArgs,
    central: Central,
    sinks: Vec<Sink>,
    status: Status,
    /// The last verified snapshot: what every sink should hold.
    current: Option<Verified>,
    /// Its `ETag`, for `If-None-Match`.
    etag: Option<String>,
    /// The revision saved in `--state-dir`.
    kept: Option<u64>,
    backoff: Backoff,
}

impl Agent {
    /// An agent configured by `args`, reporting through `status`.
    pub fn new(args: AgentArgs, status: Status) -> Result<Self, AgentError> {
        let central = Central::new(&args.server, &args.token, &args.environment)?;
        let mut sinks = Vec::new();
        if !args.etcd.is_empty() {
            sinks.push(Sink::Etcd(EtcdSink::new(
                &args.etcd,
                &args.etcd_prefix,
                &args.environment,
                args.etcd_grace,
            )?));
        }
        if let Some(dir) = &args.file {
            sinks.push(Sink::File(FileSink::new(dir, &args.environment)));
        }
        let backoff = Backoff::random(Duration::from_millis(200), args.max_backoff);
        Ok(Self {
            args,
            central,
            sinks,
            status,
            current: None,
            etag: None,
            kept: None,
            backoff,
        })
    }

    /// `--once`: restore, fetch, write, report; an error if the sinks do
    /// not hold central's snapshot at the end.
    async fn once(&mut self) -> Result<(), AgentError> {
        self.restore().await;
        let result = self.cycle(None).await;
        match &result {
            Ok(()) => self.status.succeeded(),
            Err(error) => self.status.failed(error),
        }
        if let Err(error) = self.central.report(&self.status.report(&self.args)).await {
            tracing::warn!(%error, "cannot report to central");
        }
        result
    }

    /// Follows central until the process ends.
    async fn follow(&mut self) {
        self.restore().await;
        // Runs beside the loop for the life of the process.
        let _heartbeat = self.heartbeat();
        loop {
            let before = self.status.revision();
            let index = self.current.as_ref().map(|c| c.revision);
            match self.cycle(index).await {
                Ok(()) => {
                    let failed_before = self.status.error().is_some();
                    self.status.succeeded();
                    self.backoff.reset();
                    if failed_before || self.status.revision() != before {
                        self.report_now();
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, cause = error.cause(), "attempt failed; nothing written changes");
                    self.status.failed(&error);
                    self.report_now();
                    tokio::time::sleep(self.backoff.next_delay()).await;
                }
            }
        }
    }

    /// Reports every `--heartbeat`, whatever the loop is doing.
    fn heartbeat(&self) -> tokio::task::JoinHandle<()> {
        let central = self.central.clone();
        let status = self.status.clone();
        let args = self.args.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(args.heartbeat);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Err(error) = central.report(&status.report(&args)).await {
                    tracing::debug!(%error, "heartbeat not delivered");
                }
            }
        })
    }

    /// Reports now, without holding up the loop.
    fn report_now(&self) {
        let central = self.central.clone();
        let report = self.status.report(&self.args);
        tokio::spawn(async move {
            if let Err(error) = central.report(&report).await {
                tracing::debug!(%error, "report not delivered");
            }
        });
    }

    /// Takes the last-known-good snapshot from the state dir, and writes
    /// it to any sink that holds less (a wiped etcd after a restart while
    /// central is away).
    async fn restore(&mut self) {
        let Some(dir) = &self.args.state_dir else {
            return;
        };
        let only = self.args.services.as_deref();
        if let Some(snapshot) = last_good::read(dir, &self.args.environment, only) {
            tracing::info!(
                revision = snapshot.revision,
                "restored the last-known-good snapshot"
            );
            self.etag = Some(format!("\"{}\"", snapshot.checksum));
            self.kept = Some(snapshot.revision);
            self.current = Some(snapshot);
            if let Err(error) = self.sync_sinks().await {
                tracing::warn!(%error, "cannot write the last-known-good snapshot yet");
                self.status.failed(&error);
            }
        }
    }

    /// One cycle: fetch (long-polling past `index`), verify, write.
    async fn cycle(&mut self, index: Option<u64>) -> Result<(), AgentError> {
        let fetched = self
            .central
            .snapshot(self.etag.as_deref(), index, self.args.resync)
            .await?;
        if let Some(fetched) = fetched {
            self.accept(fetched)?;
        }
        // Kept even when a sink fails: it is verified, and the newest an
        // agent restarted while central is away can write back.
        let synced = self.sync_sinks().await;
        let kept = self.keep_last_good().await;
        synced?;
        kept?;
        for sink in &mut self.sinks {
            if let Err(error) = sink.tidy().await {
                tracing::warn!(%error, "cannot remove superseded parts");
            }
        }
        Ok(())
    }

    /// Verifies a fetched snapshot and makes it current, unless it is
    /// older than the current one.
    fn accept(&mut self, fetched: Fetched) -> Result<(), AgentError> {
        let snapshot = Verified::new(
            &fetched.bytes,
            &self.args.environment,
            self.args.services.as_deref(),
        )
        .map_err(AgentError::Verify)?;
        if let Some(current) = &self.current
            && snapshot.revision < current.revision
        {
            return Err(AgentError::Older {
                offered: snapshot.revision,
                written: current.revision,
            });
        }
        self.etag = fetched.etag;
        self.current = Some(snapshot);
        Ok(())
    }

    /// Saves the current snapshot to `--state-dir`, unless it is already
    /// there. A state dir that cannot be written fails the attempt (and is
    /// reported), but never holds back the sinks.
    async fn keep_last_good(&mut self) -> Result<(), AgentError> {
        let (Some(dir), Some(snapshot)) = (&self.args.state_dir, &self.current) else {
            return Ok(());
        };
        if self.kept == Some(snapshot.revision) {
            return Ok(());
        }
        let (dir, snapshot) = (dir.clone(), snapshot.clone());
        let revision = snapshot.revision;
        // fsync off the runtime's workers: the heartbeat keeps its beat.
        tokio::task::spawn_blocking(move || last_good::write(&dir, &snapshot))
            .await
            .map_err(|e| AgentError::State(e.to_string()))??;
        self.kept = Some(revision);
        Ok(())
    }

    /// Makes every sink hold the current snapshot (each skips the write
    /// when it already holds it or a later one). Every sink is tried; the
    /// first failure is returned.
    async fn sync_sinks(&mut self) -> Result<(), AgentError> {
        let Some(snapshot) = &self.current else {
            return Ok(());
        };
        let meta = published(snapshot, &self.args.cluster, &self.args.namespace);
        let mut first_error = None;
        for sink in &mut self.sinks {
            let name = sink.name();
            let health = match sink.publish(snapshot, &meta).await {
                Ok(outcome) => {
                    let revision = match outcome {
                        Outcome::Written => {
                            tracing::info!(sink = %name, revision = snapshot.revision, checksum = %snapshot.checksum, "written");
                            snapshot.revision
                        }
                        Outcome::Kept(revision) => revision,
                    };
                    SinkHealth {
                        name,
                        ok: true,
                        revision: Some(revision),
                        error: None,
                    }
                }
                Err(error) => {
                    let health = SinkHealth {
                        name,
                        ok: false,
                        revision: None,
                        error: Some(error.to_string()),
                    };
                    first_error.get_or_insert(error);
                    health
                }
            };
            self.status.sink(health);
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        self.status.written(snapshot.revision, &snapshot.checksum);
        Ok(())
    }
}
