//! The shell: the login gate, header, navigation and the routed page.

use leptos::prelude::*;
use leptos_router::{
    ParamSegment, StaticSegment,
    components::{A, Route as RouteView, Router, Routes},
};

use crate::{
    Route, pages,
    session::{Auth, Session, use_session},
};

/// The whole console.
#[component]
pub fn App() -> impl IntoView {
    let session = Session::start();
    provide_context(session);
    view! {
        <Router>
            {move || match session.auth() {
                Auth::Checking => view! { <p class="page muted">"Loading…"</p> }.into_any(),
                Auth::Anonymous => view! { <pages::Login /> }.into_any(),
                Auth::Unreachable(message) => {
                    view! {
                        <p class="page status status--error" role="alert">{message}</p>
                    }
                        .into_any()
                }
                Auth::User(_) => view! { <Shell /> }.into_any(),
            }}
        </Router>
    }
}

/// Header, navigation and the page, for a logged-in user.
#[component]
fn Shell() -> impl IntoView {
    let session = use_session();
    let me = session.me();
    view! {
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
                <div class="shell__user">
                    {me
                        .map(|me| {
                            view! {
                                <span class="shell__who" data-role=me.role.as_str()>
                                    {me.name}
                                    <span class="badge">{me.role.as_str()}</span>
                                </span>
                            }
                        })}
                    <button class="button button--quiet" on:click=move |_| session.log_out()>
                        "Log out"
                    </button>
                </div>
            </header>
            <main class="shell__main" id="main">
                <Routes fallback=pages::NotFound>
                    <RouteView path=StaticSegment(Route::Overview.segment()) view=pages::Overview />
                    <RouteView path=StaticSegment(Route::Services.segment()) view=pages::Services />
                    <RouteView
                        path=(StaticSegment(Route::Services.segment()), ParamSegment(Route::SERVICE_PARAM))
                        view=pages::Service
                    />
                    <RouteView path=StaticSegment(Route::Flags.segment()) view=pages::Flags />
                    <RouteView path=StaticSegment(Route::Breakers.segment()) view=pages::Breakers />
                    <RouteView path=StaticSegment(Route::Audit.segment()) view=pages::Audit />
                    <RouteView path=StaticSegment(Route::Editor.segment()) view=pages::Editor />
                </Routes>
            </main>
        </div>
    }
}
