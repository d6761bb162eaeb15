//! One module per page.

mod audit;
mod breakers;
mod editor;
pub mod flags;
pub mod fleet;
mod login;
mod overview;
mod people;
mod reviews;
mod service;
mod services;

use leptos::prelude::*;

use crate::Route;

pub use audit::Audit;
pub use breakers::Breakers;
pub use editor::{Editor, STARTER};
pub use flags::{Flags, Simulator};
pub use fleet::Fleet;
pub use login::Login;
pub use overview::Overview;
pub use people::People;
pub use reviews::Reviews;

pub use service::Service;
pub use services::Services;

/// A page whose feature is not built yet: says so plainly rather than
/// pretending, and points at what works today.
pub fn planned(route: &Route) -> impl IntoView {
    view! {
        <section class="page">
            <h1 class="page__title">{route.label()}</h1>
            <p class="page__lede">
                "This page is not built yet; the API behind it is. Meanwhile the "
                <a href=Route::Editor.href()>{Route::Editor.label()}</a>
                " checks service documents with the same validation the server runs."
            </p>
        </section>
    }
}

/// Shown for a path no route matches.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <section class="page">
            <h1 class="page__title">"Page not found"</h1>
            <p class="page__lede">
                "Nothing lives at this address. Go to the "
                <a href=Route::Overview.href()>{Route::Overview.label()}</a>"."
            </p>
        </section>
    }
}
