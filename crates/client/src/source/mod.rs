//! Where snapshots come from. Every source follows its origin on its own
//! task and offers each payload it reads to the client through a [`Feed`];
//! the client verifies and checks it, so a source never has to be trusted.
//!
//! - [`EtcdSource`]: the agent's keys in etcd — watched, resumed after a
//!   reconnect, resynced on a timer.
//! - [`FileSource`]: the agent's file — watched (inotify), with polling as
//!   the fallback.
//! - [`HttpSource`]: central's or any server's snapshot of one service —
//!   long-polled with `ETag`.
//! - [`StaticSource`]: fixed bytes, for tests and for local runs.

mod etcd;
mod file;
mod http;

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Weak},
    time::Duration,
};

pub use etcd::EtcdSource;
pub use file::FileSource;
pub use http::HttpSource;

use crate::{Offered, Rejection, client::Inner};

/// A future a source runs as.
pub type Running = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A place snapshots come from.
pub trait Source: Send + 'static {
    /// Its name in the history, logs and metrics (`etcd:…`, `file:…`).
    fn name(&self) -> String;

    /// Follows the origin, offering every payload to `feed`, until the
    /// feed says the client is gone. Failures are logged, counted through
    /// [`Feed::failed`] and retried with backoff; they never end it.
    fn run(self: Box<Self>, feed: Feed) -> Running;
}

/// A source's way into the client.
#[derive(Clone)]
pub struct Feed {
    client: Weak<Inner>,
    name: Arc<str>,
}

impl Feed {
    pub(crate) fn new(client: Weak<Inner>, name: String) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    /// Offers a payload. `None` once the client is dropped: the source
    /// should end.
    pub fn offer(&self, bytes: &[u8]) -> Option<Result<Offered, Rejection>> {
        let client = self.client.upgrade()?;
        Some(client.offer(bytes, &self.name))
    }

    /// The revision the client holds (0 on defaults); `None` once the
    /// client is dropped.
    pub fn revision(&self) -> Option<u64> {
        self.client.upgrade().map(|c| c.revision())
    }

    /// Whether the client is gone.
    pub fn closed(&self) -> bool {
        self.client.strong_count() == 0
    }

    /// Records that reading the origin failed (not the payload: the client
    /// counts those itself).
    pub fn failed(&self, error: &dyn std::fmt::Display) {
        metrics::counter!("setpoint_client_source_errors_total", "source" => self.name.to_string())
            .increment(1);
        tracing::warn!(source = %self.name, %error, "reading the source failed");
    }
}

/// Fixed bytes, offered once.
#[derive(Debug, Clone)]
pub struct StaticSource {
    bytes: Vec<u8>,
}

impl StaticSource {
    /// A source that offers `bytes` (a sealed snapshot) once.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            bytes: bytes.into(),
        }
    }
}

impl Source for StaticSource {
    fn name(&self) -> String {
        "static".into()
    }

    fn run(self: Box<Self>, feed: Feed) -> Running {
        Box::pin(async move {
            let _ = feed.offer(&self.bytes);
        })
    }
}

/// Exponential backoff with full jitter, from 200 ms up to `cap`.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(200);

    pub fn new(cap: Duration) -> Self {
        Self {
            next: Self::FIRST,
            cap,
        }
    }

    /// After a success.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    /// Waits before the next attempt.
    pub async fn wait(&mut self) {
        let mut random = [0u8; 4];
        let fraction = getrandom::fill(&mut random).map_or(1.0, |()| {
            f64::from(u32::from_le_bytes(random)) / f64::from(u32::MAX)
        });
        let pause = self.next.mul_f64(0.5 + fraction / 2.0);
        self.next = (self.next * 2).min(self.cap);
        tokio::time::sleep(pause).await;
    }
}

/// The message of an error and all its causes: reqwest's outermost
/// message ("error sending request") says little by itself.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}
