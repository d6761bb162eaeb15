//! The fleet: per environment, each cluster's agent — the revision it
//! should run and the one it wrote, how far behind, how long since it
//! reported, its last error — coloured by state. Live from the agents'
//! reports and the change stream, and judged again every second with the
//! core's own rule, so an agent that falls silent turns `stale` without any
//! event.

use std::{collections::BTreeMap, time::Duration};

use leptos::prelude::*;
use setpoint_core::{
    fleet::{ClusterState, ClusterStatus},
    time::parse_timestamp,
};

use crate::{Route, api, components::Failed, live, session::use_session};

/// The fleet page.
#[component]
pub fn Fleet() -> impl IntoView {
    let session = use_session();
    let live = live::follow_everything();
    let statuses = LocalResource::new(move || {
        live.change.track();
        live.fleet.track();
        async move { api::fleet().await.map_err(|e| session.check(e)) }
    });
    let now = RwSignal::new(crate::clock::now_millis());
    if let Ok(ticker) = set_interval_with_handle(
        move || now.set(crate::clock::now_millis()),
        Duration::from_secs(1),
    ) {
        on_cleanup(move || ticker.clear());
    }
    let only = leptos_router::hooks::use_query_map()
        .with_untracked(|q| q.get("environment"))
        .filter(|e| !e.is_empty());
    view! {
        <section class="page fleet">
            <h1 class="page__title">{Route::Fleet.label()}</h1>
            <p class="page__lede">
                "Each agent writes its environment's snapshot beside the pods of a cluster or namespace, and reports what it wrote."
            </p>
            {move || match statuses.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e /> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="muted">"No agent has reported yet. Start one with " <code>"setpoint agent"</code> " (docs/agent.md)."</p>
                }
                .into_any(),
                Some(Ok(list)) => {
                    let mut by_environment: BTreeMap<String, Vec<ClusterStatus>> = BTreeMap::new();
                    for status in list {
                        if only.as_ref().is_none_or(|e| *e == status.report.environment) {
                            by_environment.entry(status.report.environment.clone()).or_default().push(status);
                        }
                    }
                    by_environment
                        .into_iter()
                        .map(|(environment, clusters)| view! { <Environment environment=environment clusters=clusters now=now /> })
                        .collect_view()
                        .into_any()
                }
            }}
        </section>
    }
}

/// One environment's clusters.
#[component]
fn Environment(
    environment: String,
    clusters: Vec<ClusterStatus>,
    /// The browser's clock, ticking.
    now: RwSignal<i64>,
) -> impl IntoView {
    let rows = clusters.clone();
    let not_in_sync = move || {
        clusters
            .iter()
            .filter(|s| s.state_at(now.get()) != ClusterState::InSync)
            .count()
    };
    let total = rows.len();
    view! {
        <article class="card fleet__environment" aria-label=format!("Fleet of {environment}")>
            <h2 class="card__title">{environment.clone()}</h2>
            <p class="fleet__summary">
                {move || format!("{}, {} not in sync", count(total as u64, "cluster"), not_in_sync())}
            </p>
            <table class="fleet__table">
                <thead>
                    <tr>
                        <th scope="col">"Cluster"</th>
                        <th scope="col">"Namespace"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Desired"</th>
                        <th scope="col">"Written"</th>
                        <th scope="col">"Behind"</th>
                        <th scope="col">"Last report"</th>
                        <th scope="col">"Last error"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|status| view! { <Row status=status now=now /> }).collect_view()}
                </tbody>
            </table>
        </article>
    }
}

/// One cluster.
#[component]
fn Row(status: ClusterStatus, now: RwSignal<i64>) -> impl IntoView {
    let state = Memo::new({
        let status = status.clone();
        move |_| status.state_at(now.get())
    });
    let reported = parse_timestamp(&status.reported_at).ok();
    let age = move || reported.map_or_else(|| "—".to_string(), |at| ago((now.get() - at).max(0)));
    let report = status.report;
    let error = report.error.clone().or_else(|| {
        report
            .sinks
            .iter()
            .find_map(|s| s.error.as_ref().map(|e| format!("{}: {e}", s.name)))
    });
    view! {
        <tr class="fleet__cluster" data-cluster=report.cluster.clone() data-state=move || state.get().as_str()>
            <th scope="row">{report.cluster.clone()}</th>
            <td>{if report.namespace.is_empty() { "—".to_string() } else { report.namespace.clone() }}</td>
            <td><span class="fleet__state">{move || state.get().as_str().replace('_', " ")}</span></td>
            <td>{status.desired}</td>
            <td>{report.revision.map_or_else(|| "nothing yet".to_string(), |r| r.to_string())}</td>
            <td>{if status.lag == 0 { "—".to_string() } else { count(status.lag, "revision") }}</td>
            <td>{age}</td>
            <td class="fleet__error">{error.unwrap_or_default()}</td>
        </tr>
    }
}

/// `1 cluster`, `3 clusters`.
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn ago(millis: i64) -> String {
    let seconds = millis / 1000;
    match seconds {
        0..60 => format!("{seconds} s ago"),
        60..3600 => format!("{} min ago", seconds / 60),
        _ => format!("{} h ago", seconds / 3600),
    }
}
