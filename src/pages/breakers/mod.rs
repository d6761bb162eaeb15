//! Breakers: one board across services for an environment, live over the
//! environment's change stream. What tripped each breaker (the alert's
//! name, labels, annotations and a link to its source, or the person and
//! their reason), the queue of breakers awaiting a person's confirmation,
//! flap warnings, a timeline per breaker, and alerts that matched none.
//! Operators trip and close with a reason, after a confirming second step,
//! and define breakers ([`define`]).

mod define;

use leptos::{prelude::*, task::spawn_local};
use setpoint_core::{
    BreakerState, ChangeKind,
    breaker::{Alert, Cause},
};

use crate::{
    Route,
    api::{self, BreakerAction, BreakerView, Role},
    components::Failed,
    live,
    session::use_session,
};

/// The label people read for a state.
pub fn state_label(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open",
        BreakerState::AwaitingClose => "awaiting close",
    }
}

/// The breakers page.
#[component]
pub fn Breakers() -> impl IntoView {
    let session = use_session();
    let environments = LocalResource::new(move || async move {
        api::environments().await.map_err(|e| session.check(e))
    });
    let environment = RwSignal::new(String::new());
    let asked = leptos_router::hooks::use_query_map()
        .with_untracked(|q| q.get("environment"))
        .unwrap_or_default();
    // Start on the environment the link names, else on prod when there is
    // one: that is where breakers matter.
    Effect::new(move |_| {
        if environment.with_untracked(String::is_empty)
            && let Some(Ok(list)) = environments.get()
        {
            let pick = list
                .iter()
                .find(|e| e.name == asked)
                .or_else(|| list.iter().find(|e| e.name == "prod"))
                .or_else(|| list.first())
                .map(|e| e.name.clone());
            if let Some(pick) = pick {
                environment.set(pick);
            }
        }
    });
    let latest = live::follow(environment.into());
    let board = LocalResource::new(move || {
        let env = environment.get();
        latest.track();
        async move {
            if env.is_empty() {
                return None;
            }
            Some(api::breakers(&env).await.map_err(|e| session.check(e)))
        }
    });
    let unrouted = LocalResource::new(move || {
        latest.track();
        async move { api::unrouted().await.map_err(|e| session.check(e)) }
    });
    let reload = move || {
        board.refetch();
        unrouted.refetch();
    };
    view! {
        <section class="page">
            <h1 class="page__title">{Route::Breakers.label()}</h1>
            <div class="toolbar">
                <div class="field">
                    <label class="field__label" for="breaker-environment">"Environment"</label>
                    <select
                        id="breaker-environment"
                        class="field__select"
                        prop:value=move || environment.get()
                        on:change=move |ev| environment.set(event_target_value(&ev))
                    >
                        {move || {
                            environments
                                .get()
                                .and_then(Result::ok)
                                .map(|list| {
                                    list.into_iter()
                                        .map(|e| view! { <option value=e.name.clone()>{e.name.clone()}</option> })
                                        .collect_view()
                                })
                        }}
                    </select>
                </div>
                <p class="muted" aria-live="polite">
                    {move || latest.get().map_or_else(|| "Live".into(), |c| format!("Live — last change: revision {}", c.revision))}
                </p>
            </div>
            {move || match board.get().flatten() {
                None => view! { <p class="muted">"Loading breakers…"</p> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e /> }.into_any(),
                Some(Ok(list)) => view! { <Board list=list environment=environment.get_untracked() on_done=reload /> }.into_any(),
            }}
            <Unrouted unrouted=unrouted />
            <define::Definitions />
        </section>
    }
}

/// The confirmation queue, then every breaker.
#[component]
fn Board(
    list: Vec<BreakerView>,
    environment: String,
    on_done: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="muted">"No service defines a breaker in this environment."</p> }
            .into_any();
    }
    let awaiting: Vec<BreakerView> = list
        .iter()
        .filter(|b| b.state == BreakerState::AwaitingClose)
        .cloned()
        .collect();
    let open = list.iter().filter(|b| b.state.is_open()).count();
    let env = environment.clone();
    view! {
        <p class="breakers__summary">
            {format!("{} breakers, {open} open or awaiting close", list.len())}
        </p>
        {(!awaiting.is_empty()).then(|| view! {
            <div class="card breakers__queue" role="region" aria-label="Awaiting your confirmation">
                <h2 class="card__title">"Awaiting your confirmation"</h2>
                <p class="muted">"Their alerts resolved; they stay open until a person confirms."</p>
                <ul class="breakers__queue-list">
                    {awaiting.into_iter().map(|b| {
                        let env = env.clone();
                        view! {
                            <li>
                                <strong>{format!("{} / {}", b.service, b.breaker)}</strong>
                                " "
                                <span class="muted">{b.since.clone().map(|s| format!("since {s}")).unwrap_or_default()}</span>
                                <Actions breaker=b environment=env on_done=on_done queue=true />
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </div>
        })}
        <div class="breakers">
            {list.into_iter().map(|b| view! { <BreakerCard breaker=b environment=environment.clone() on_done=on_done /> }).collect_view()}
        </div>
    }
    .into_any()
}

/// One breaker: state at a glance, cause, alerts, flaps, timeline, actions.
#[component]
fn BreakerCard(
    breaker: BreakerView,
    environment: String,
    on_done: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let state = breaker.state;
    let title = format!("{} / {}", breaker.service, breaker.breaker);
    let firing = breaker.firing.clone();
    let label = title.clone();
    view! {
        <article class="card breaker" data-state=state_label(state).replace(' ', "_") aria-label=label>
            <header class="breaker__head">
                <h2 class="card__title">{title}</h2>
                <span class="breaker__state">{state_label(state)}</span>
            </header>
            {(!breaker.description.is_empty()).then(|| view! { <p>{breaker.description.clone()}</p> })}
            {breaker.flapping.then(|| view! {
                <p class="status status--error breaker__flapping" role="status">
                    {format!("Flapping: tripped {} times in {}", breaker.trips_in_window, breaker.flap_window)}
                </p>
            })}
            <dl class="breaker__facts">
                <dt>"Since"</dt>
                <dd>{breaker.since.clone().unwrap_or_else(|| "never tripped".into())}</dd>
                <dt>"Closes"</dt>
                <dd>{breaker.close_at.clone().map_or_else(|| breaker.close_policy.clone(), |at| format!("by itself at {at}"))}</dd>
                <dt>"Trips on"</dt>
                <dd>
                    {if breaker.trips_on.is_empty() {
                        "no alerts (by hand only)".to_string()
                    } else {
                        breaker.trips_on.iter().map(|set| set.join(", ")).collect::<Vec<_>>().join(" or ")
                    }}
                </dd>
            </dl>
            {breaker.cause.clone().map(|cause| view! { <CauseView cause=cause /> })}
            {(!firing.is_empty()).then(|| view! {
                <h3 class="section__title">"Still firing"</h3>
                <ul class="breaker__alerts">
                    {firing.into_iter().map(|alert| view! { <li><AlertLine alert=alert /></li> }).collect_view()}
                </ul>
            })}
            <Timeline breaker=breaker.clone() environment=environment.clone() />
            <Actions breaker=breaker environment=environment on_done=on_done queue=false />
        </article>
    }
}

/// What opened a breaker.
#[component]
fn CauseView(cause: Cause) -> impl IntoView {
    match cause {
        Cause::Person { actor, reason } => view! {
            <p class="breaker__cause">"Tripped by " <strong>{actor}</strong> ": " {reason}</p>
        }
        .into_any(),
        Cause::Alert { alert } => view! {
            <div class="breaker__cause">
                <p>"Tripped by alert " <AlertLine alert=alert.clone() /></p>
                <dl class="breaker__labels">
                    {alert.annotations.into_iter().map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> }).collect_view()}
                </dl>
            </div>
        }
        .into_any(),
    }
}

/// An alert's name, labels and a link to where it came from.
#[component]
fn AlertLine(alert: Alert) -> impl IntoView {
    let name = alert.name().to_string();
    let labels = alert
        .labels
        .iter()
        .filter(|(k, _)| *k != "alertname")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    // Only web links: a `javascript:` URL in an alert must not become one.
    let source = Some(alert.generator_url.clone())
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"));
    view! {
        <strong class="breaker__alert-name">{name}</strong>
        " "
        <code class="breaker__alert-labels">{labels}</code>
        " "
        <span class="muted">{format!("since {}", alert.starts_at)}</span>
        {source.map(|href| view! { " " <a href=href rel="noopener noreferrer" target="_blank">"source"</a> })}
    }
}

/// The breaker's transitions in this environment, newest first, loaded
/// when opened.
#[component]
fn Timeline(breaker: BreakerView, environment: String) -> impl IntoView {
    let session = use_session();
    let open = RwSignal::new(false);
    let changes = LocalResource::new(move || {
        let wanted = open.get();
        let (service, name, env) = (
            breaker.service.clone(),
            breaker.breaker.clone(),
            environment.clone(),
        );
        async move {
            if !wanted {
                return None;
            }
            let filter = api::ChangeFilter {
                service: Some(service),
                item: Some(name),
                environment: Some(env),
                kind: Some(ChangeKind::BreakerTransition),
                limit: Some(100),
                ..api::ChangeFilter::default()
            };
            Some(
                api::changes(&filter)
                    .await
                    .map_err(|e| session.check(e))
                    .map(|page| page.changes),
            )
        }
    });
    view! {
        <details class="breaker__timeline" on:toggle=move |_| open.set(true)>
            <summary>"Timeline"</summary>
            {move || match changes.get().flatten() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e /> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! { <p class="muted">"No transitions yet."</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <ol class="breaker__events">
                        {list.into_iter().map(|c| {
                            let to = c.after.as_ref().and_then(|a| a["state"].as_str()).unwrap_or("?").replace('_', " ");
                            view! {
                                <li>
                                    <span class="muted">{c.at.clone()}</span>" "
                                    <strong>{to}</strong>" — "{c.actor.clone()}
                                    {(!c.reason.is_empty()).then(|| format!(": {}", c.reason))}
                                </li>
                            }
                        }).collect_view()}
                    </ol>
                }
                .into_any(),
            }}
        </details>
    }
}

/// Trip or close, for operators: choose, give a reason, confirm.
#[component]
fn Actions(
    breaker: BreakerView,
    environment: String,
    on_done: impl Fn() + Copy + Send + Sync + 'static,
    /// In the confirmation queue: only the confirm action.
    queue: bool,
) -> impl IntoView {
    let session = use_session();
    if !session.may(Role::Operator, &breaker.service) {
        return None;
    }
    let choices: Vec<(BreakerAction, &'static str)> = match breaker.state {
        BreakerState::Closed => vec![(BreakerAction::Trip, "Trip…")],
        BreakerState::AwaitingClose if queue => vec![(BreakerAction::Close, "Confirm close…")],
        BreakerState::AwaitingClose => vec![
            (BreakerAction::Close, "Confirm close…"),
            (BreakerAction::Trip, "Reopen…"),
        ],
        BreakerState::Open if breaker.firing.is_empty() => vec![(BreakerAction::Close, "Close…")],
        BreakerState::Open => vec![(BreakerAction::ForceClose, "Force close…")],
    };
    let chosen = RwSignal::new(None::<BreakerAction>);
    let reason = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let id = format!(
        "reason-{}-{}{}",
        breaker.service,
        breaker.breaker,
        if queue { "-queue" } else { "" }
    );
    let submit = {
        let breaker = breaker.clone();
        let environment = environment.clone();
        move || {
            let Some(action) = chosen.get_untracked() else {
                return;
            };
            let (breaker, environment, text) =
                (breaker.clone(), environment.clone(), reason.get_untracked());
            busy.set(true);
            spawn_local(async move {
                match api::operate_breaker(&breaker, &environment, action, text.trim()).await {
                    Ok(_) => {
                        chosen.set(None);
                        reason.set(String::new());
                        error.set(None);
                        on_done();
                    }
                    Err(e) => error.set(Some(session.check(e).message)),
                }
                busy.set(false);
            });
        }
    };
    let confirm_label = move || match chosen.get() {
        Some(BreakerAction::Trip) => "Trip breaker",
        Some(BreakerAction::Close) => "Close breaker",
        Some(BreakerAction::ForceClose) => "Force close despite firing alerts",
        None => "",
    };
    Some(view! {
        <div class="breaker__actions">
            {choices.into_iter().map(|(action, label)| view! {
                <button class="button" type="button" on:click=move |_| { chosen.set(Some(action)); error.set(None); }>{label}</button>
            }).collect_view()}
            <Show when=move || chosen.get().is_some()>
                <form class="inline-form" on:submit={
                    let submit = submit.clone();
                    move |ev| { ev.prevent_default(); submit(); }
                }>
                    <div class="field">
                        <label class="field__label" for=id.clone()>"Reason (required)"</label>
                        <input id=id.clone() class="field__input" required prop:value=move || reason.get()
                            on:input=move |ev| reason.set(event_target_value(&ev)) />
                    </div>
                    <button class="button button--primary" type="submit"
                        disabled=move || busy.get() || reason.with(|r| r.trim().is_empty())>
                        {confirm_label}
                    </button>
                    <button class="button button--quiet" type="button" on:click=move |_| chosen.set(None)>"Cancel"</button>
                </form>
            </Show>
            <p class="field__errors" aria-live="assertive">{move || error.get()}</p>
        </div>
    })
}

/// Alerts that matched no breaker.
#[component]
fn Unrouted(
    unrouted: LocalResource<Result<Vec<api::UnroutedAlert>, api::ApiError>>,
) -> impl IntoView {
    view! {
        <h2 class="section__title">"Unrouted alerts"</h2>
        {move || match unrouted.get() {
            None => view! { <p class="muted">"Loading…"</p> }.into_any(),
            Some(Err(e)) => view! { <Failed error=e /> }.into_any(),
            Some(Ok(list)) if list.is_empty() => view! { <p class="muted">"Every alert received matched a breaker."</p> }.into_any(),
            Some(Ok(list)) => view! {
                <p class="muted">"These matched no breaker's matchers: a matcher may be out of date."</p>
                <div class="table-wrap">
                    <table class="table">
                        <thead><tr><th>"Alert"</th><th>"Status"</th><th>"Receiver"</th><th>"Last received"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|u| {
                                let status = match u.alert.status {
                                    setpoint_core::breaker::AlertStatus::Firing => "firing",
                                    setpoint_core::breaker::AlertStatus::Resolved => "resolved",
                                };
                                view! {
                                    <tr>
                                        <td><AlertLine alert=u.alert /></td>
                                        <td>{status}</td>
                                        <td>{u.receiver}</td>
                                        <td>{u.received_at}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }
            .into_any(),
        }}
    }
}
