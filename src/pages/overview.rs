//! The overview: each environment with its revision and its open and
//! awaiting-close breakers, how many of its clusters are not in sync, the
//! number of services, the rollouts under way and the latest changes —
//! refreshed live from every environment's change stream and the agents'
//! reports.

use leptos::prelude::*;
use setpoint_core::{BreakerState, Change, fleet::ClusterState, rollout::RolloutState};

use crate::{
    Route,
    api::{self, EnvironmentView},
    components::{Failed, Outcome, OutcomeLine, TextField},
    live,
    route::encode,
    session::use_session,
};

/// How many recent changes the overview lists.
const LATEST: u32 = 10;

/// The landing page.
#[component]
pub fn Overview() -> impl IntoView {
    let session = use_session();
    // One stream for every environment: any change refetches what is shown.
    let stream = live::follow_everything();
    let latest = stream.change;
    let fleet = LocalResource::new(move || {
        latest.track();
        stream.fleet.track();
        async move { api::fleet().await.map_err(|e| session.check(e)) }
    });
    let environments = LocalResource::new(move || {
        latest.track();
        async move { api::environments().await.map_err(|e| session.check(e)) }
    });
    let services = LocalResource::new(move || {
        latest.track();
        async move { api::services().await.map_err(|e| session.check(e)) }
    });
    let rollouts = LocalResource::new(move || {
        latest.track();
        async move { api::active_rollouts().await.map_err(|e| session.check(e)) }
    });
    let changes = LocalResource::new(move || {
        latest.track();
        async move {
            api::changes(&api::ChangeFilter::latest(LATEST))
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
                Some(Err(e)) => view! { <Failed error=e /> }.into_any(),
                Some(Ok(list)) => view! {
                    <div class="overview__environments">
                        {list.into_iter().map(|env| view! { <EnvironmentCard environment=env latest=latest fleet=fleet /> }).collect_view()}
                    </div>
                }
                .into_any(),
            }}
            {session.is_global_admin().then(|| view! { <NewEnvironment /> })}
            <h2 class="section__title">"Rollouts under way"</h2>
            {move || match rollouts.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e /> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="muted">"No rollout is running, paused or halted."</p>
                }
                .into_any(),
                Some(Ok(list)) => view! {
                    <ul class="overview__rollouts" aria-label="Rollouts under way">
                        {list.into_iter().map(|r| view! {
                            <li class=if r.rollout.state == RolloutState::Halted { "overview__halted" } else { "" }>
                                <a href=Route::flag(&r.service, &r.flag, Some(&r.environment))>
                                    <strong>{format!("{} / {}", r.service, r.flag)}</strong>
                                </a>
                                {format!(" in {}: ", r.environment)}
                                {format!("{} of {}, {}", r.rollout.plan.variant, r.rollout.base, r.rollout.summary())}
                                {r.rollout.note.clone().map(|note| view! { <span class="muted">{format!(" — {note}")}</span> })}
                            </li>
                        }).collect_view()}
                    </ul>
                }
                .into_any(),
            }}
            <h2 class="section__title">"Latest changes"</h2>
            {move || match changes.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e /> }.into_any(),
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

/// One environment: its revision and breakers, refreshed by the changes
/// that concern it.
#[component]
fn EnvironmentCard(
    environment: EnvironmentView,
    latest: ReadSignal<Option<Change>>,
    /// Every cluster's status, for the count of those not in sync.
    fleet: LocalResource<Result<Vec<setpoint_core::fleet::ClusterStatus>, api::ApiError>>,
) -> impl IntoView {
    let session = use_session();
    let name = environment.name.clone();
    // The latest change that concerns this environment's snapshot (a
    // service change without an environment, like a schema change,
    // concerns them all; user and token changes none).
    let mine = Memo::new({
        let name = name.clone();
        move |previous: Option<&Option<Change>>| match latest.get() {
            Some(c) if c.environment.as_deref().is_none_or(|e| e == name) => Some(c),
            _ => previous.cloned().flatten(),
        }
    });
    let board = LocalResource::new({
        let name = name.clone();
        move || {
            mine.track();
            let name = name.clone();
            async move {
                api::breaker_states(&name)
                    .await
                    .map_err(|e| session.check(e))
            }
        }
    });
    let count = move |state: BreakerState| {
        board
            .get()
            .and_then(Result::ok)
            .map(|list| list.iter().filter(|b| b.state == state).count())
    };
    let clusters = {
        let name = name.clone();
        move || {
            let list = fleet.get().and_then(Result::ok)?;
            let now = crate::clock::now_millis();
            let mine: Vec<_> = list
                .iter()
                .filter(|s| s.report.environment == name)
                .collect();
            let behind = mine
                .iter()
                .filter(|s| s.state_at(now) != ClusterState::InSync)
                .count();
            (!mine.is_empty()).then(|| {
                let noun = if mine.len() == 1 {
                    "cluster"
                } else {
                    "clusters"
                };
                format!("{behind} of {} {noun} not in sync", mine.len())
            })
        }
    };
    view! {
        <article class="card overview__environment" aria-label=format!("Environment {name}")>
            <h2 class="card__title">{name.clone()}</h2>
            <p class="muted">{environment.description.clone()}</p>
            <p>
                {move || {
                    let revision = mine.get().map(|c| c.revision).or(environment.snapshot_revision);
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
            // A link only when there is something to say: an empty link
            // has no name for a screen reader.
            {
                let fleet_href = format!("{}?environment={}", Route::Fleet.href(), encode(&name));
                move || clusters().map(|text| view! {
                <p>
                    <a class="overview__fleet" href=fleet_href.clone()>
                        {text}
                    </a>
                </p>
            })
            }
        </article>
    }
}

/// Admins of every service add an environment; it appears above through
/// the change stream.
#[component]
fn NewEnvironment() -> impl IntoView {
    let session = use_session();
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let outcome: Outcome = RwSignal::new(None);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (env, what, why) = (name.get(), description.get(), reason.get());
        leptos::task::spawn_local(async move {
            let made = api::create_environment(&env, &what, &why).await;
            outcome.set(Some(match made {
                Ok(written) => {
                    name.set(String::new());
                    description.set(String::new());
                    reason.set(String::new());
                    Ok(format!(
                        "Environment {env} created as revision {}.",
                        written.revision
                    ))
                }
                Err(e) => Err(session.check(e).message),
            }));
        });
    };
    view! {
        <form class="card inline-form" aria-label="New environment" on:submit=create>
            <TextField id="new-environment-name" label="New environment" value=name required=true />
            <TextField id="new-environment-description" label="Description" value=description />
            <TextField id="new-environment-reason" label="Reason" value=reason />
            <button class="button" type="submit">"Create environment"</button>
        </form>
        <OutcomeLine outcome=outcome />
    }
}
