//! The overview: each environment with its revision and its open and
//! awaiting-close breakers, the number of services, and the latest changes
//! — refreshed live from every environment's change stream.

use leptos::prelude::*;
use setpoint_core::BreakerState;

use crate::{
    Route,
    api::{self, Environment},
    live,
    route::encode,
    session::use_session,
};

/// How many recent changes the overview lists.
const LATEST: &str = "10";

/// The landing page.
#[component]
pub fn Overview() -> impl IntoView {
    let session = use_session();
    // Bumped by any change in any environment: everything below refetches.
    let tick = RwSignal::new(0u64);
    let environments = LocalResource::new(move || async move {
        api::environments().await.map_err(|e| session.check(e))
    });
    let services = LocalResource::new(move || {
        tick.track();
        async move { api::services().await.map_err(|e| session.check(e)) }
    });
    let latest = LocalResource::new(move || {
        tick.track();
        async move {
            api::changes(&api::query(&[("limit", LATEST)]))
                .await
                .map_err(|e| session.check(e))
        }
    });
    view! {
        <section class="page">
            <h1 class="page__title">{Route::Overview.label()}</h1>
            <p class="page__lede">
                {move || services.get().and_then(Result::ok).map(|list| {
                    let live = list.iter().filter(|s| s.tombstone.is_none()).count();
                    format!("{live} services, {} deleted awaiting reclaim.", list.len() - live)
                })}
            </p>
            {move || match environments.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="status status--error" role="alert">{e.message}</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <div class="overview__environments">
                        {list.into_iter().map(|env| view! { <EnvironmentCard environment=env tick=tick /> }).collect_view()}
                    </div>
                }
                .into_any(),
            }}
            <h2 class="section__title">"Latest changes"</h2>
            {move || match latest.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="status status--error">{e.message}</p> }.into_any(),
                Some(Ok(page)) => view! {
                    <ol class="overview__changes">
                        {page.changes.into_iter().map(|c| view! {
                            <li>
                                <span class="muted">{format!("r{} · {}", c.revision, c.at)}</span>" "
                                <strong>{c.kind.as_str().replace('_', " ")}</strong>" "
                                {[c.service.clone(), c.item.clone(), c.environment.clone()].into_iter().flatten().collect::<Vec<_>>().join(" / ")}
                                " — "{c.actor.clone()}
                                {(!c.reason.is_empty()).then(|| format!(": {}", c.reason))}
                            </li>
                        }).collect_view()}
                    </ol>
                    <p><a href=Route::Audit.href()>"All changes in the audit"</a></p>
                }
                .into_any(),
            }}
        </section>
    }
}

/// One environment: its revision and breakers, following its changes.
#[component]
fn EnvironmentCard(environment: Environment, tick: RwSignal<u64>) -> impl IntoView {
    let session = use_session();
    let name = environment.name.clone();
    let latest = live::follow(Signal::derive({
        let name = name.clone();
        move || name.clone()
    }));
    Effect::new(move |_| {
        if latest.with(Option::is_some) {
            tick.update(|n| *n += 1);
        }
    });
    let board = LocalResource::new({
        let name = name.clone();
        move || {
            latest.track();
            let name = name.clone();
            async move { api::breakers(&name).await.map_err(|e| session.check(e)) }
        }
    });
    let count = move |state: BreakerState| {
        board
            .get()
            .and_then(Result::ok)
            .map(|list| list.iter().filter(|b| b.state == state).count())
    };
    view! {
        <article class="card overview__environment" aria-label=format!("Environment {name}")>
            <h2 class="card__title">{name.clone()}</h2>
            <p class="muted">{environment.description.clone()}</p>
            <p>
                {move || {
                    let revision = latest.get().map(|c| c.revision).or(environment.snapshot_revision);
                    revision.map(|r| format!("Revision {r}"))
                }}
            </p>
            <p>
                <a href=format!("{}?environment={}", Route::Breakers.href(), encode(&name))>
                    <span class="overview__open">{move || count(BreakerState::Open).map(|n| format!("{n} open"))}</span>
                    ", "
                    <span class="overview__awaiting">{move || count(BreakerState::AwaitingClose).map(|n| format!("{n} awaiting close"))}</span>
                </a>
            </p>
        </article>
    }
}
