//! Setpoint's browser console: a Leptos (CSR) app compiled to wasm.
//!
//! Layout:
//! - [`app`]: the shell — navigation and the router.
//! - [`route`]: the one [`Route`] enum; no URL string lives anywhere else.
//! - [`api`]: the typed client of the server's `/api/v1`.
//! - [`session`]: who is logged in; pages adapt to the role.
//! - [`clock`]: the browser's clock, as the core counts time.
//! - [`pages`]: one module per page.
//! - [`components`]: reusable pieces with documented props.
//!
//! Every form validates through `setpoint-core` — the same Rust the
//! server runs — before anything is sent.

pub mod api;
pub mod app;
pub mod clock;
pub mod components;
pub mod live;
pub mod pages;
pub mod route;
pub mod session;

pub use app::App;
pub use route::Route;

/// Shows that the console stopped on an error and must be reloaded. Plain
/// DOM, not Leptos: it runs from the panic hook, when the reactive system
/// may be mid-update.
pub fn stopped() {
    let document = leptos::prelude::document();
    let Ok(note) = document.create_element("p") else {
        return;
    };
    note.set_class_name("stopped");
    let _ = note.set_attribute("role", "alert");
    note.set_text_content(Some(
        "The console stopped on an error (details in the browser's console). \
         Reload the page to continue; if Setpoint was upgraded meanwhile, \
         the reload loads the new version.",
    ));
    if let Some(body) = document.body() {
        let _ = body.append_child(&note);
    }
}
