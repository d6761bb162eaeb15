//! The shell: the login gate, header, navigation and the routed page.

use leptos::prelude::*;
use leptos_router::{
    Lazy, LazyRoute, ParamSegment, StaticSegment,
    components::{A, Route as RouteView, Router, Routes},
    lazy_route,
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
    // A page's own wasm module is fetched on its first visit: say so.
    let (routing, set_routing) = signal(false);
    view! {
        <Router set_is_routing=set_routing>
            {move || match session.auth() {
                Auth::Checking => view! { <p class="page muted">"Loading…"</p> }.into_any(),
                Auth::Anonymous => view! { <pages::Login /> }.into_any(),
                Auth::Unreachable(message) => {
                    view! {
                        <p class="page status status--error" role="alert">{message}</p>
                    }
                        .into_any()
                }
                Auth::User(_) => view! { <Shell routing /> }.into_any(),
            }}
        </Router>
    }
}

/// Header, navigation and the page, for a logged-in user.
#[component]
fn Shell(
    /// True while the router loads the next page (its module, on a first visit).
    routing: ReadSignal<bool>,
) -> impl IntoView {
    let session = use_session();
    let me = session.me();
    let awaiting = awaiting_badge();
    view! {
        <div class="shell">
            <header class="shell__header">
                <a class="shell__brand" href=Route::Overview.href()>"Setpoint"</a>
                <nav class="shell__nav" aria-label="Main">
                    {Route::NAV
                        .into_iter()
                        .filter(|route| !route.admin_only() || session.is_global_admin())
                        .map(|route| {
                            view! {
                                <A href=route.href() attr:class="shell__link">
                                    {route.label()}
                                    {(route == Route::Reviews)
                                        .then_some(move || {
                                            awaiting
                                                .get()
                                                .filter(|n| *n > 0)
                                                .map(|n| {
                                                    view! {
                                                        <span class="badge badge--accent" title=format!("{n} awaiting your review")>
                                                            {n}
                                                        </span>
                                                    }
                                                })
                                        })}
                                </A>
                            }
                        })
                        .collect_view()}
                </nav>
                <span class="shell__routing" role="status">
                    {move || routing.get().then_some("Loading page…")}
                </span>
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
                    <RouteView path=StaticSegment(Route::Overview.segment()) view={Lazy::<OverviewPage>::new()} />
                    <RouteView path=StaticSegment(Route::Services.segment()) view={Lazy::<ServicesPage>::new()} />
                    <RouteView
                        path=(StaticSegment(Route::Services.segment()), ParamSegment(Route::SERVICE_PARAM))
                        view={Lazy::<ServicePage>::new()}
                    />
                    <RouteView path=StaticSegment(Route::Flags.segment()) view={Lazy::<FlagsPage>::new()} />
                    <RouteView path=StaticSegment(Route::Breakers.segment()) view={Lazy::<BreakersPage>::new()} />
                    <RouteView path=StaticSegment(Route::Fleet.segment()) view={Lazy::<FleetPage>::new()} />
                    <RouteView path=StaticSegment(Route::Reviews.segment()) view={Lazy::<ReviewsPage>::new()} />
                    <RouteView path=StaticSegment(Route::Audit.segment()) view={Lazy::<AuditPage>::new()} />
                    <RouteView path=StaticSegment(Route::Editor.segment()) view={Lazy::<EditorPage>::new()} />
                    <RouteView path=StaticSegment(Route::People.segment()) view={Lazy::<PeoplePage>::new()} />
                </Routes>
            </main>
        </div>
    }
}

/// How many change requests await the user's review, for the badge:
/// counted again on every navigation and every 30 seconds rather than on a
/// stream of its own, since browsers allow a server six connections and
/// the pages' streams need them.
fn awaiting_badge() -> Signal<Option<usize>> {
    let location = leptos_router::hooks::use_location();
    let tick = RwSignal::new(0u32);
    if let Ok(ticker) = set_interval_with_handle(
        move || tick.update(|n| *n += 1),
        std::time::Duration::from_secs(30),
    ) {
        on_cleanup(move || ticker.clear());
    }
    let count = LocalResource::new(move || {
        location.pathname.track();
        tick.track();
        async move { crate::api::awaiting_me().await.ok() }
    });
    Signal::derive(move || count.get().flatten())
}

/// Declares each page a lazy route: its code becomes a separate wasm module,
/// fetched the first time the page is shown, so logging in loads only the
/// shell. A lazy route links as an import that the splitter resolves, so a
/// wasm build of the console goes through `scripts/console-wasm.sh` (trunk's
/// hook); the browser tests mount pages directly and need no split.
macro_rules! lazy_pages {
    ($($route:ident => $page:path),* $(,)?) => {$(
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                $page().into_any()
            }
        }
    )*};
}

lazy_pages! {
    OverviewPage => pages::Overview,
    ServicesPage => pages::Services,
    ServicePage => pages::Service,
    FlagsPage => pages::Flags,
    BreakersPage => pages::Breakers,
    FleetPage => pages::Fleet,
    ReviewsPage => pages::Reviews,
    AuditPage => pages::Audit,
    EditorPage => pages::Editor,
    PeoplePage => pages::People,
}
