//! Setpoint's browser console: a Leptos (CSR) app compiled to wasm.
//!
//! Layout:
//! - [`app`]: the shell — navigation and the router.
//! - [`route`]: the one [`Route`] enum; no URL string lives anywhere else.
//! - [`api`]: the typed client of the server's `/api/v1`.
//! - [`session`]: who is logged in; pages adapt to the role.
//! - [`pages`]: one module per page.
//! - [`components`]: reusable pieces with documented props.
//!
//! Every form validates through `setpoint-core` — the same Rust the
//! server runs — before anything is sent.

pub mod api;
pub mod app;
pub mod components;
pub mod live;
pub mod pages;
pub mod route;
pub mod session;

pub use app::App;
pub use route::Route;
