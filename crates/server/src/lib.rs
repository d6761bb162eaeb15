//! `setpoint-server`: Setpoint's HTTP API and the `setpoint` binary.
//!
//! Layout:
//! - [`cli`]: the command line (`serve`, `validate`, `user`, `token`,
//!   `export`, `import`, `verify`), every flag also an environment variable.
//! - [`bootstrap`]: the first admin, and demo data.
//! - [`http`]: the router, cut by domain — each module owns its routes,
//!   wire types and handlers; [`http::app`] only merges them.
//! - [`error`]: the one error type and its JSON envelope.
//! - [`auth`]: roles, permissions, credentials; who a request acts as,
//!   and what it may see.
//! - [`admission`]: bounds on costly work before authentication.
//! - [`world`]: the current state and the commands that change it — every
//!   write rule lives here.
//! - [`engine`]: the single writer (group commit), and the fan-out of its
//!   results: world, [`snapshots`], change stream.
//! - [`fleet`]: the agents' latest reports and each cluster's state.
//! - [`metrics`]: the Prometheus series.
//! - [`ofrep`]: OpenFeature remote evaluation over the snapshots' prepared
//!   flags.
//! - [`store`]: storage behind a narrow trait; SQLite embedded.
//! - [`listen`]: the accept loop: connection caps, header and idle timeouts.
//! - [`console`]: serves the built browser console with an SPA fallback.
//! - [`validate_files`]: the offline validator teams run in CI.
//! - [`verify`]: replays the change log and checks it reproduces the state.
//!
//! Validation itself lives in `setpoint-core`, shared with the console.

pub mod admission;
pub mod as_code;
pub mod auth;
pub mod backup;
pub mod bootstrap;
pub mod cli;
pub mod console;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod http;
pub mod listen;
pub mod metrics;
pub mod ofrep;
pub mod snapshots;
pub mod store;
pub mod validate_files;
pub mod verify;
pub mod world;

pub use error::ApiError;
pub use http::{AppState, app};
