//! `setpoint-client`: the SDK a service embeds to read its Setpoint config,
//! flags and breakers — from memory, in nanoseconds, and never without a
//! value.
//!
//! ```no_run
//! use std::time::Duration;
//! use setpoint_client::{Client, EtcdSource};
//!
//! # async fn run() -> Result<(), setpoint_client::BuildError> {
//! let mut builder = Client::builder("checkout");
//! let rps = builder.key("throttle.rps", 500u32);
//! let timeout = builder.key("timeout", Duration::from_secs(2));
//! let new_flow = builder.flag("new-checkout-flow", false);
//! let payments = builder.breaker("payments-provider");
//! builder
//!     .environment("prod")
//!     .source(EtcdSource::new(&["http://etcd:2379"], "prod", "checkout"))
//!     .cache("/var/cache/checkout/setpoint.json");
//! let config = builder.build()?;
//!
//! let user = serde_json::json!({"targetingKey": "u-42", "country": "NL"});
//! let context = user.as_object().cloned().unwrap_or_default();
//! if !config.is_open(&payments) && config.evaluate(&new_flow, &context) {
//!     // … serve the new flow, at most `config.get(&rps)` a second,
//!     // giving up after `config.get(&timeout)` …
//! }
//! # Ok(()) }
//! ```
//!
//! The lifecycle of a snapshot: a [`source`] reads a payload → the client
//! verifies its sealed checksum → checks the service's keys, flags and
//! breakers against what was registered (present, of the registered type)
//! → prepares every flag once → swaps it in with one atomic store →
//! notifies subscribers. A payload that fails any step is refused whole,
//! counted (`setpoint_client_load_failures_total{reason}`) and logged;
//! reads keep the last good snapshot. Before the first one, every read
//! returns its registered default.
//!
//! A tour:
//! - [`client`]: [`Client`], its [`Builder`], consistent [`View`]s, the
//!   history and the local rollback.
//! - [`registry`]: the typed handles — [`Key`], [`Flag`], [`Breaker`].
//! - [`setting`]: the Rust types a value can be read as ([`Setting`]).
//! - [`source`]: etcd, files, HTTP and static bytes.
//! - [`error`]: why a snapshot, a build, a read or a rollback was refused.
//!
//! Metrics go through the [`metrics`] facade and logs through [`tracing`],
//! the ecosystem's conventions for libraries: the application installs
//! the exporter and the subscriber it already uses; without one they cost
//! next to nothing.

pub mod client;
pub mod error;
mod loaded;
pub mod registry;
pub mod setting;
pub mod source;

pub use client::{Builder, Client, DEFAULT_HISTORY, Details, HistoryEntry, Offered, Status, View};
pub use error::{BuildError, ReadError, Rejection, RollbackError};
pub use registry::{Breaker, Flag, Key};
pub use setpoint_core::{Context, ErrorCode, Reason, Tombstone};
pub use setting::{Json, Setting};
pub use source::{EtcdSource, FileSource, HttpSource, Source, StaticSource};
