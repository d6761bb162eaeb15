//! The flags overview, where the Flags page lands: every flag the user may
//! see across services, one column per environment with what it serves
//! there, owners and the last change; search and filters as you type; and
//! a quick enable or disable per environment, with a reason, for those who
//! may change targeting.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use setpoint_core::time::format_timestamp;
use setpoint_wire::FlagLine;

use crate::{
    Route,
    api::{self, Role},
    components::{Failed, Outcome, OutcomeLine, TextField},
    route::encode,
    session::{Session, use_session},
};

/// Rows shown at most, as on the services list: thousands of rows re-lay
/// out slowly on every keystroke and no one reads past the first screens.
pub const SHOWN: usize = 50;

/// What "changed lately" means.
const LATELY_MILLIS: i64 = 7 * 24 * 60 * 60 * 1000;

/// The instant "changed lately" starts at, from the browser's clock.
fn lately_since() -> String {
    format_timestamp(crate::clock::now_millis() - LATELY_MILLIS)
}

/// A flag with its searchable text lower-cased once per load.
#[derive(Debug, Clone, PartialEq)]
pub struct Indexed {
    /// The flag.
    pub line: FlagLine,
    /// Key, service, description and owners, lower-cased.
    text: String,
}

impl Indexed {
    /// Indexes one flag.
    pub fn new(line: FlagLine) -> Self {
        let text = format!(
            "{}\n{}\n{}\n{}",
            line.key,
            line.service,
            line.description,
            line.owners.join("\n")
        )
        .to_lowercase();
        Self { line, text }
    }

    /// Whether it passes `filter`, whose text is already lower-cased.
    fn matches(&self, filter: &Filter) -> bool {
        let line = &self.line;
        (filter.service.is_empty() || line.service == filter.service)
            && (filter.owner.is_empty() || line.owners.contains(&filter.owner))
            && (filter.environment.is_empty()
                || line.environments.contains_key(&filter.environment))
            && filter.changed_since.as_ref().is_none_or(|since| {
                // RFC 3339 in UTC at a fixed width: text order is time order.
                line.last_change.as_ref().is_some_and(|c| c.at >= *since)
            })
            && (filter.text.is_empty() || self.text.contains(&filter.text))
    }
}

/// What the list is narrowed to; an empty field matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Found in the key, service, description or owners, ignoring case.
    pub text: String,
    /// The service, exactly.
    pub service: String,
    /// One of the owners, exactly.
    pub owner: String,
    /// An environment where the flag has targeting.
    pub environment: String,
    /// Changed at or after this instant (RFC 3339, UTC).
    pub changed_since: Option<String>,
}

/// How many of `index` pass `filter`, and the first [`SHOWN`] of them.
pub fn search(index: &[Indexed], filter: &Filter) -> (usize, Vec<FlagLine>) {
    let filter = Filter {
        text: filter.text.to_lowercase(),
        ..filter.clone()
    };
    let mut total = 0;
    let mut shown = Vec::new();
    for entry in index.iter().filter(|e| e.matches(&filter)) {
        total += 1;
        if shown.len() < SHOWN {
            shown.push(entry.line.clone());
        }
    }
    (total, shown)
}

/// The distinct values `of` gives over `lines`, sorted.
fn choices<'a>(lines: &'a [Indexed], of: impl Fn(&'a FlagLine) -> Vec<&'a str>) -> Vec<String> {
    let mut all: Vec<String> = lines
        .iter()
        .flat_map(|e| of(&e.line))
        .map(str::to_owned)
        .collect();
    all.sort();
    all.dedup();
    all
}

/// A quick switch asked for, waiting for its reason.
#[derive(Debug, Clone, PartialEq)]
struct Switch {
    service: String,
    key: String,
    environment: String,
    /// What targeting is to become.
    enable: bool,
}

impl Switch {
    fn verb(&self) -> &'static str {
        if self.enable { "Enable" } else { "Disable" }
    }
}

/// The overview.
#[component]
pub fn FlagsOverview() -> impl IntoView {
    let session = use_session();
    let reload = RwSignal::new(0u32);
    let list = LocalResource::new(move || {
        reload.track();
        async move { api::flags().await.map_err(|e| session.check(e)) }
    });
    let environments = LocalResource::new(move || async move {
        api::environments().await.map_err(|e| session.check(e))
    });
    let text = RwSignal::new(String::new());
    let service = RwSignal::new(String::new());
    let owner = RwSignal::new(String::new());
    let environment = RwSignal::new(String::new());
    let lately = RwSignal::new(false);
    let asked: RwSignal<Option<Switch>> = RwSignal::new(None);
    let outcome: Outcome = RwSignal::new(None);

    let index = Memo::new(move |_| {
        list.get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .map(Indexed::new)
            .collect::<Vec<_>>()
    });
    let found = Memo::new(move |_| {
        let filter = Filter {
            text: text.get(),
            service: service.get(),
            owner: owner.get(),
            environment: environment.get(),
            changed_since: lately.get().then(lately_since),
        };
        index.with(|index| search(index, &filter))
    });
    let columns = Memo::new(move |_| {
        let chosen = environment.get();
        environments
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.name)
            .filter(|name| chosen.is_empty() || *name == chosen)
            .collect::<Vec<_>>()
    });
    let services = Memo::new(move |_| index.with(|i| choices(i, |l| vec![l.service.as_str()])));
    let owners = Memo::new(move |_| {
        index.with(|i| choices(i, |l| l.owners.iter().map(String::as_str).collect()))
    });
    let all_environments = Signal::derive(move || {
        environments
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.name)
            .collect::<Vec<_>>()
    });

    view! {
        <section class="page">
            <h1 class="page__title">{Route::Flags.label()}</h1>
            <div class="toolbar" role="search">
                <TextField id="flags-search" label="Search" value=text kind="search" placeholder="key, service, description or owner" />
                <Choice id="flags-service" label="Service" any="Any service" value=service choices=services.into() />
                <Choice id="flags-owner" label="Owner" any="Any owner" value=owner choices=owners.into() />
                <Choice id="flags-environment" label="Targeted in" any="Every environment" value=environment choices=all_environments />
                <label class="field field--inline">
                    <input type="checkbox" prop:checked=move || lately.get() on:change=move |ev| lately.set(event_target_checked(&ev)) />
                    "Changed in the last 7 days"
                </label>
            </div>
            <NewFlagIn services=services />
            <Confirm asked=asked outcome=outcome on_done=move || reload.update(|n| *n += 1) />
            <OutcomeLine outcome=outcome />
            <Transition fallback=|| view! { <p class="muted">"Loading flags…"</p> }>
                {move || list.get().map(|result| match result {
                    Err(e) => view! { <Failed error=e /> }.into_any(),
                    Ok(_) => view! {
                        <p class="muted" aria-live="polite">
                            {move || found.with(|(total, shown)| {
                                if *total > shown.len() {
                                    format!("{total} flag(s), showing the first {} — narrow the search to see others", shown.len())
                                } else {
                                    format!("{total} flag(s)")
                                }
                            })}
                        </p>
                        <FlagTable shown=Memo::new(move |_| found.with(|(_, shown)| shown.clone())) columns=columns asked=asked />
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// A labelled select of `choices`, with `any` for no choice.
#[component]
fn Choice(
    id: &'static str,
    label: &'static str,
    any: &'static str,
    value: RwSignal<String>,
    choices: Signal<Vec<String>>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label class="field__label" for=id>{label}</label>
            <select id=id class="field__select" on:change=move |ev| value.set(event_target_value(&ev))>
                <option value="">{any}</option>
                {move || choices.get().into_iter().map(|c| {
                    let chosen = c.clone();
                    view! { <option value=c.clone() selected=move || value.with(|v| *v == chosen)>{c.clone()}</option> }
                }).collect_view()}
            </select>
        </div>
    }
}

/// One row per flag, one column per environment.
#[component]
fn FlagTable(
    shown: Memo<Vec<FlagLine>>,
    columns: Memo<Vec<String>>,
    asked: RwSignal<Option<Switch>>,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" aria-label="Flags">
                <thead>
                    <tr>
                        <th scope="col">"Flag"</th>
                        <th scope="col">"Service"</th>
                        <th scope="col">"Owners"</th>
                        {move || columns.get().into_iter().map(|env| view! { <th scope="col">{env}</th> }).collect_view()}
                        <th scope="col">"Last change"</th>
                    </tr>
                </thead>
                <tbody>
                    // Keyed by what a row shows, so a reload redraws only
                    // the rows that changed; the columns redraw them all.
                    {move || {
                        let columns = columns.get();
                        view! {
                            <For
                                each=move || shown.get()
                                key=|l| (l.service.clone(), l.key.clone(), l.revision, l.last_change.as_ref().map(|c| c.revision))
                                children=move |line| view! { <FlagRow line=line columns=columns.clone() asked=asked /> }
                            />
                        }
                    }}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn FlagRow(line: FlagLine, columns: Vec<String>, asked: RwSignal<Option<Switch>>) -> impl IntoView {
    let session = use_session();
    let may = session.may(Role::Rollout, &line.service);
    let cells = columns
        .into_iter()
        .map(|env| {
            let href = Route::flag(&line.service, &line.key, Some(&env));
            let Some(targeting) = line.environments.get(&env) else {
                return view! {
                    <td><a class="muted" href=href>{format!("{} (no targeting)", line.off)}</a></td>
                }
                .into_any();
            };
            let served = targeting.served(&line.off);
            let rollout = targeting
                .rollout
                .filter(|state| !state.is_final())
                .map(|state| view! { <span class="badge">{format!("rollout {}", state.as_str())}</span> });
            let switch = Switch {
                service: line.service.clone(),
                key: line.key.clone(),
                environment: env.clone(),
                enable: !targeting.enabled,
            };
            let label = format!("{} {} of {} in {env}", switch.verb(), line.key, line.service);
            let toggle = may.then(|| {
                let verb = switch.verb();
                view! {
                    <button type="button" class="button" aria-label=label on:click=move |_| asked.set(Some(switch.clone()))>
                        {verb}
                    </button>
                }
            });
            let class = if targeting.enabled { "flag-cell" } else { "flag-cell flag-cell--off" };
            view! {
                <td class=class>
                    <a href=href>{served}</a>
                    {rollout}
                    {toggle}
                </td>
            }
            .into_any()
        })
        .collect_view();
    let last = line.last_change.as_ref().map(|change| {
        let when = change.at.get(..16).unwrap_or(&change.at).replace('T', " ");
        view! {
            <time datetime=change.at.clone() title=change.reason.clone()>{format!("{when} UTC")}</time>
            " by "
            {change.actor.clone()}
        }
    });
    view! {
        <tr>
            <th scope="row">
                <a href=Route::flag(&line.service, &line.key, None)>{line.key.clone()}</a>
                <div class="muted">{line.description.clone()}</div>
            </th>
            <td>{line.service.clone()}</td>
            <td>{line.owners.join(", ")}</td>
            {cells}
            <td>{last}</td>
        </tr>
    }
}

/// The reason for a quick switch, asked for before anything is sent; the
/// flag is read afresh so that only its switch in that environment moves.
#[component]
fn Confirm(
    asked: RwSignal<Option<Switch>>,
    outcome: Outcome,
    on_done: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let reason = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(switch) = asked.get_untracked() else {
            return;
        };
        let why = reason.get_untracked();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let result = flip(&switch, &why, session).await;
            busy.set(false);
            match result {
                Ok(revision) => {
                    outcome.set(Some(Ok(format!(
                        "{}d {} of {} in {} (revision {revision}).",
                        switch.verb(),
                        switch.key,
                        switch.service,
                        switch.environment
                    ))));
                    asked.set(None);
                    reason.set(String::new());
                    on_done();
                }
                Err(message) => outcome.set(Some(Err(message))),
            }
        });
    };
    move || {
        asked.get().map(|switch| {
            let title = format!(
                "{} {} of {} in {}",
                switch.verb(),
                switch.key,
                switch.service,
                switch.environment
            );
            view! {
                <form class="card" aria-label="Confirm the switch" on:submit=submit>
                    <h2 class="section__title">{title}</h2>
                    <TextField id="switch-reason" label="Reason" value=reason required=true />
                    <div class="toolbar">
                        <button
                            class="button button--primary"
                            type="submit"
                            disabled=move || busy.get() || reason.with(|r| r.trim().is_empty())
                        >
                            {switch.verb()}
                        </button>
                        <button class="button" type="button" on:click=move |_| asked.set(None)>"Cancel"</button>
                    </div>
                </form>
            }
        })
    }
}

/// Sets the flag's switch in the environment as asked, on the service as
/// it is now: the flag is read afresh, so nothing else of it moves and the
/// write is refused if someone changes the service meanwhile.
async fn flip(switch: &Switch, reason: &str, session: Session) -> Result<u64, String> {
    let failed = |e: api::ApiError| session.check(e).message;
    let record = api::service(&switch.service).await.map_err(failed)?;
    let mut flag = record
        .doc
        .flags
        .get(&switch.key)
        .cloned()
        .ok_or_else(|| format!("{} no longer has the flag {}", switch.service, switch.key))?;
    let targeting = flag
        .environments
        .get_mut(&switch.environment)
        .ok_or_else(|| {
            format!(
                "{} has no targeting in {} any more",
                switch.key, switch.environment
            )
        })?;
    if targeting.enabled == switch.enable {
        return Err(format!(
            "Someone else did it first: it is {} in {} already.",
            if switch.enable { "enabled" } else { "disabled" },
            switch.environment
        ));
    }
    targeting.enabled = switch.enable;
    api::put_flag(
        &switch.service,
        &switch.key,
        &flag,
        record.revision,
        reason,
        None,
    )
    .await
    .map(|written| written.revision)
    .map_err(failed)
}

/// The new-flag form lives on a service's flag page; this picks the
/// service (editors only).
#[component]
fn NewFlagIn(services: Memo<Vec<String>>) -> impl IntoView {
    let session = use_session();
    let chosen = RwSignal::new(String::new());
    let navigate = leptos_router::hooks::use_navigate();
    let editable = Memo::new(move |_| {
        services
            .get()
            .into_iter()
            .filter(|s| session.may(Role::Editor, s))
            .collect::<Vec<_>>()
    });
    move || {
        let navigate = navigate.clone();
        (!editable.with(Vec::is_empty)).then(|| {
            view! {
                <form class="toolbar" aria-label="Start a new flag" on:submit=move |ev| {
                    ev.prevent_default();
                    let service = chosen.get_untracked();
                    if !service.is_empty() {
                        navigate(&format!("{}?service={}", Route::Flags.href(), encode(&service)), NavigateOptions::default());
                    }
                }>
                    <Choice id="new-flag-service" label="New flag in" any="Choose a service" value=chosen choices=editable.into() />
                    <button class="button" type="submit" disabled=move || chosen.with(String::is_empty)>"Continue"</button>
                </form>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use setpoint_core::Serve;
    use setpoint_wire::{FlagLine, Stamp, Targeting};

    use super::{Filter, Indexed, SHOWN, search};

    fn line(i: usize) -> FlagLine {
        let mut environments = BTreeMap::new();
        if i.is_multiple_of(2) {
            environments.insert(
                "prod".to_string(),
                Targeting {
                    enabled: true,
                    rules: 0,
                    default: Serve::Variant("on".into()),
                    rollout: None,
                },
            );
        }
        FlagLine {
            service: format!("svc-{}", i % 10),
            key: format!("flag-{i}"),
            description: format!("Gates feature {i}"),
            owners: vec![format!("team-{}", i % 4)],
            revision: 1,
            off: "off".into(),
            environments,
            last_change: Some(Stamp {
                revision: i as u64,
                actor: "user:pam".into(),
                at: format!("2026-11-{:02}T10:00:00Z", 1 + i % 28),
                reason: String::new(),
            }),
        }
    }

    fn find(filter: &Filter) -> (usize, Vec<FlagLine>) {
        let index: Vec<_> = (0..2_000).map(|i| Indexed::new(line(i))).collect();
        search(&index, filter)
    }

    #[test]
    fn text_matches_key_service_description_and_owner_ignoring_case() {
        let by = |text: &str| {
            find(&Filter {
                text: text.into(),
                ..Filter::default()
            })
            .0
        };
        assert_eq!(by("FLAG-1999"), 1);
        assert_eq!(by("svc-3"), 200);
        assert_eq!(by("feature 12"), 111, "12, 120–129, 1200–1299");
        assert_eq!(by("team-2"), 500);
        assert_eq!(by("nowhere"), 0);
    }

    #[test]
    fn filters_combine_and_the_count_is_of_all_that_match() {
        let (total, shown) = find(&Filter {
            service: "svc-2".into(),
            environment: "prod".into(),
            ..Filter::default()
        });
        assert_eq!((total, shown.len()), (200, SHOWN));
        assert!(
            shown
                .iter()
                .all(|l| l.service == "svc-2" && l.environments.contains_key("prod"))
        );
        let (odd, _) = find(&Filter {
            service: "svc-3".into(),
            environment: "prod".into(),
            ..Filter::default()
        });
        assert_eq!(odd, 0, "svc-3's flags are odd: none targets prod");
        assert_eq!(
            find(&Filter {
                owner: "team".into(),
                ..Filter::default()
            })
            .0,
            0,
            "owners match exactly"
        );
    }

    #[test]
    fn changed_lately_compares_instants_and_drops_flags_never_changed() {
        let since = |at: &str| {
            find(&Filter {
                changed_since: Some(at.into()),
                ..Filter::default()
            })
            .0
        };
        // Days 1–28 of November, about 71 flags each.
        assert_eq!(since("2026-11-28T10:00:00Z"), 71);
        assert_eq!(since("2026-11-28T10:00:01Z"), 0);
        let mut never = line(0);
        never.last_change = None;
        let index = [Indexed::new(never)];
        let filter = Filter {
            changed_since: Some("2000-01-01T00:00:00Z".into()),
            ..Filter::default()
        };
        assert_eq!(search(&index, &filter).0, 0);
    }
}
