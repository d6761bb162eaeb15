//! `setpoint-core`: Setpoint's domain, shared by the server, the browser
//! console (compiled to wasm) and the SDK — so that all three validate and
//! evaluate with the very same code.
//!
//! It is pure: no I/O, no clock, no randomness, no logging, no async. A
//! caller that needs "now" passes it in.
//!
//! A tour:
//! - [`model`]: the documents — [`ServiceDoc`] with its schema
//!   ([`KeySpec`]), per-environment values, [`Flag`]s and [`Breaker`]s — and
//!   the change log's [`Change`].
//! - [`validate`]: whole documents or parts; every problem as a
//!   [`Violation`] with a [`FieldPath`], a stable code and a message.
//! - [`schema`]: one value against its key.
//! - [`pattern`]: regular expressions from documents, bounded and metered.
//! - [`eval`]: flag evaluation with flagd-compatible sticky bucketing.
//! - [`snapshot`]: resolved config, environment snapshots and checksums.
//! - [`diff`]: structural diffs for previews and audit.
//! - [`alert`]: Alertmanager label matchers for breakers.
//! - [`breaker`]: the breaker state machine and alert routing.
//! - [`delivery`]: where agents publish snapshots for pods to read.
//! - [`fleet`]: agents' reports and the state central derives from them.
//! - [`policy`]: what an environment asks of writes (reasons, approvals,
//!   freezes).
//! - [`request`]: change requests held for review or for a time.
//! - [`rollout`]: progressive rollouts of a flag, guarded by alerts.
//! - [`time`]: durations and RFC 3339 timestamps.

pub mod alert;
pub mod breaker;
pub mod delivery;
pub mod diff;
pub mod error;
pub mod eval;
pub mod fleet;
pub mod folder;
pub mod json_schema;
pub mod model;
pub mod murmur3;
pub mod path;
pub mod pattern;
pub mod policy;
pub mod request;
pub mod role;
pub mod rollout;
pub mod schema;
pub mod snapshot;
pub mod time;
pub mod validate;

pub use diff::{DiffEntry, DiffOp, diff, diff_services};
pub use error::{Violation, ViolationKind};
pub use eval::{Context, ErrorCode, Evaluation, Reason, ResolvedFlag, evaluate};
pub use folder::{Conflict, FileViolation, Held, ManagedBy, Plan, Planned, Sourced, check_folder};
pub use model::*;
pub use path::FieldPath;
pub use policy::{Freeze, Gate, Policy};
pub use role::Role;
pub use snapshot::{
    BreakerSnapshot, SealedSnapshot, ServiceSnapshot, Snapshot, Tombstone, seal_parts,
};
pub use validate::{Limits, check_document, parse_document, validate_document};
