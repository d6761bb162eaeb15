//! The shell: header, navigation and the routed page.

use leptos::prelude::*;
use leptos_router::{
    StaticSegment,
    components::{A, Route as RouteView, Router, Routes},
};

use crate::{Route, pages};

/// The whole console.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <div class="shell">
                <header class="shell__header">
                    <a class="shell__brand" href=Route::Overview.href()>"Setpoint"</a>
                    <nav class="shell__nav" aria-label="Main">
                        {Route::NAV
                            .into_iter()
                            .map(|route| {
                                view! {
                                    <A href=route.href() attr:class="shell__link">
                                        {route.label()}
                                    </A>
                                }
                            })
                            .collect_view()}
                    </nav>
                </header>
                <main class="shell__main" id="main">
                    <Routes fallback=pages::NotFound>
                        <RouteView path=StaticSegment(Route::Overview.segment()) view=pages::Overview />
                        <RouteView path=StaticSegment(Route::Services.segment()) view=|| pages::planned(Route::Services) />
                        <RouteView path=StaticSegment(Route::Flags.segment()) view=|| pages::planned(Route::Flags) />
                        <RouteView path=StaticSegment(Route::Breakers.segment()) view=|| pages::planned(Route::Breakers) />
                        <RouteView path=StaticSegment(Route::Audit.segment()) view=|| pages::planned(Route::Audit) />
                        <RouteView path=StaticSegment(Route::Editor.segment()) view=pages::Editor />
                    </Routes>
                </main>
            </div>
        </Router>
    }
}
