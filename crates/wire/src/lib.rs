//! The bodies Setpoint's API sends and takes, declared once: the server
//! serializes these and names them in its OpenAPI description (feature
//! `openapi`), the console deserializes the same types, so the two cannot
//! drift apart unnoticed.
//!
//! Domain types (documents, flags, changes) live in `setpoint-core`; this
//! crate holds what only the API has: list lines and their filters, the
//! bodies writes take and answer, and the error envelope.

mod accounts;
mod answers;
mod breakers;
mod changes;
mod error;
mod flags;
mod lists;
mod rollouts;
mod services;
mod writes;

pub use accounts::{Me, TokenView, UserView};
pub use answers::{ImportPlan, Imported, ReplacedService, RollbackPreview, Verdict};
pub use breakers::{BreakerView, UnroutedAlert};
pub use changes::{ChangeFilter, ChangePage};
pub use error::{ErrorBody, ErrorEnvelope, Problem};
pub use flags::{FlagLine, Stamp, Targeting};
pub use lists::{RequestFilter, RolloutFilter};
pub use rollouts::{RolloutLine, RolloutList};
pub use services::{EnvironmentView, ServiceSummary};
pub use writes::{BreakerStep, FlagWrite, Login, UserChange, ValuesPatch};
