//! The services list: search and filter (owner, environment) as you type;
//! deleted services apart, with restore for admins; export and import for
//! admins of every service ([`transfer`]).

mod transfer;

use leptos::prelude::*;

use crate::{
    Route,
    api::{self, Role, ServiceSummary},
    components::{Failed, ReasonedButton, TextField},
    session::use_session,
};

/// Rows shown at most: a table of thousands re-lays out slowly on every
/// keystroke and no one reads past the first screens; the count says how
/// many match, and the search narrows them.
pub const SHOWN: usize = 50;

/// A live service with its searchable text lower-cased once per load, not
/// once per keystroke.
#[derive(Debug, Clone, PartialEq)]
pub struct Indexed {
    /// The service.
    pub summary: ServiceSummary,
    /// Name, description and owners, lower-cased.
    text: String,
}

impl Indexed {
    /// Indexes one service.
    pub fn new(summary: ServiceSummary) -> Self {
        let text = format!(
            "{}\n{}\n{}",
            summary.service,
            summary.description,
            summary.owners.join("\n")
        )
        .to_lowercase();
        Self { summary, text }
    }

    /// Whether it passes `filter`, whose text is already lower-cased.
    fn matches(&self, filter: &Filter) -> bool {
        let summary = &self.summary;
        (filter.owner.is_empty() || summary.owners.contains(&filter.owner))
            && (filter.environment.is_empty() || summary.environments.contains(&filter.environment))
            && (filter.text.is_empty() || self.text.contains(&filter.text))
    }
}

/// What the list is narrowed to; an empty field matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Found in the name, description or owners, ignoring case.
    pub text: String,
    /// One of the owners, exactly.
    pub owner: String,
    /// An environment where the service has an override, a targeted flag
    /// or a breaker.
    pub environment: String,
}

/// How many of `index` pass `filter`, and the first [`SHOWN`] of them.
pub fn search(index: &[Indexed], filter: &Filter) -> (usize, Vec<ServiceSummary>) {
    let filter = Filter {
        text: filter.text.to_lowercase(),
        ..filter.clone()
    };
    let mut total = 0;
    let mut shown = Vec::new();
    for entry in index.iter().filter(|e| e.matches(&filter)) {
        total += 1;
        if shown.len() < SHOWN {
            shown.push(entry.summary.clone());
        }
    }
    (total, shown)
}

/// The services page.
#[component]
pub fn Services() -> impl IntoView {
    let session = use_session();
    let reload = RwSignal::new(0u32);
    let list = LocalResource::new(move || {
        reload.track();
        async move { api::services().await.map_err(|e| session.check(e)) }
    });
    let search_text = RwSignal::new(String::new());
    let owner = RwSignal::new(String::new());
    let environment = RwSignal::new(String::new());

    let loaded = move || list.get().and_then(Result::ok).unwrap_or_default();
    let owners = Memo::new(move |_| {
        let mut owners: Vec<String> = loaded().into_iter().flat_map(|s| s.owners).collect();
        owners.sort();
        owners.dedup();
        owners
    });
    let index = Memo::new(move |_| {
        loaded()
            .into_iter()
            .filter(|s| s.tombstone.is_none())
            .map(Indexed::new)
            .collect::<Vec<_>>()
    });
    let found = Memo::new(move |_| {
        let filter = Filter {
            text: search_text.get(),
            owner: owner.get(),
            environment: environment.get(),
        };
        index.with(|index| search(index, &filter))
    });
    let live = Memo::new(move |_| found.with(|(_, shown)| shown.clone()));
    let deleted = Memo::new(move |_| {
        loaded()
            .into_iter()
            .filter(|s| s.tombstone.is_some())
            .collect::<Vec<_>>()
    });

    view! {
        <section class="page">
            <h1 class="page__title">{Route::Services.label()}</h1>
            <FilterBar text=search_text owner=owner environment=environment owners=owners />
            <Transition fallback=|| view! { <p class="muted">"Loading services…"</p> }>
                {move || {
                    list.get()
                        .map(|result| match result {
                            Err(e) => view! { <Failed error=e /> }.into_any(),
                            Ok(_) => view! {
                                <p class="muted" aria-live="polite">
                                    {move || found.with(|(total, shown)| {
                                        if *total > shown.len() {
                                            format!("{total} service(s), showing the first {} — narrow the search to see others", shown.len())
                                        } else {
                                            format!("{total} service(s)")
                                        }
                                    })}
                                </p>
                                <ServiceTable live=live />
                            }
                                .into_any(),
                        })
                }}
            </Transition>
            <DeletedServices deleted=deleted on_restored=move || reload.update(|n| *n += 1) />
            {session.is_global_admin().then(|| view! { <transfer::Transfer on_imported=move || reload.update(|n| *n += 1) /> })}
        </section>
    }
}

/// Search, owner and environment, above the list.
#[component]
fn FilterBar(
    text: RwSignal<String>,
    owner: RwSignal<String>,
    environment: RwSignal<String>,
    owners: Memo<Vec<String>>,
) -> impl IntoView {
    let session = use_session();
    let environments = LocalResource::new(move || async move {
        api::environments().await.map_err(|e| session.check(e))
    });
    view! {
            <div class="toolbar" role="search">
                <TextField
                    id="service-search"
                    label="Search"
                    value=text
                    kind="search"
                    placeholder="name, description or owner"
                />
                <div class="field">
                    <label class="field__label" for="service-owner">"Owner"</label>
                    <select
                        id="service-owner"
                        class="field__select"
                        on:change=move |ev| owner.set(event_target_value(&ev))
                    >
                        <option value="">"Any owner"</option>
                        {move || {
                            owners
                                .get()
                                .into_iter()
                                .map(|o| view! { <option value=o.clone()>{o.clone()}</option> })
                                .collect_view()
                        }}
                    </select>
                </div>
                <div class="field">
                    <label class="field__label" for="service-environment">"Configured in"</label>
                    <select
                        id="service-environment"
                        class="field__select"
                        on:change=move |ev| environment.set(event_target_value(&ev))
                    >
                        <option value="">"Any environment"</option>
                        {move || {
                            environments
                                .get()
                                .and_then(Result::ok)
                                .unwrap_or_default()
                                .into_iter()
                                .map(|e| {
                                    let label = e.name.clone();
                                    view! { <option value=e.name>{label}</option> }
                                })
                                .collect_view()
                        }}
                    </select>
                </div>
            </div>
    }
}

/// The live services, one row each.
#[component]
fn ServiceTable(live: Memo<Vec<ServiceSummary>>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" aria-label="Services">
                <thead>
                    <tr>
                        <th scope="col">"Service"</th>
                        <th scope="col">"Description"</th>
                        <th scope="col">"Owners"</th>
                        <th scope="col">"Keys"</th>
                        <th scope="col">"Flags"</th>
                        <th scope="col">"Breakers"</th>
                        <th scope="col">"Configured in"</th>
                        <th scope="col">"Revision"</th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || live.get()
                        key=|s| (s.service.clone(), s.revision)
                        children=|s| view! { <ServiceRow service=s /> }
                    />
                </tbody>
            </table>
        </div>
    }
}

/// Deleted services, apart, with restore for admins.
#[component]
fn DeletedServices(
    deleted: Memo<Vec<ServiceSummary>>,
    on_restored: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    view! {
            <Show when=move || deleted.with(|d| !d.is_empty())>
                <h2 class="section__title">"Deleted"</h2>
                <p class="muted">"Restorable until reclaimed; then removed for good."</p>
                <table class="table" aria-label="Deleted services">
                    <thead>
                        <tr>
                            <th scope="col">"Service"</th>
                            <th scope="col">"Deleted"</th>
                            <th scope="col">"Reclaimed after"</th>
                            <th scope="col"></th>
                        </tr>
                    </thead>
                    <tbody>
                        <For
                            each=move || deleted.get()
                            key=|s| s.service.clone()
                            children=move |s| {
                                let name = s.service.clone();
                                let tombstone = s.tombstone.clone().unwrap_or_else(|| api::Tombstone {
                                    tombstoned_at: String::new(),
                                    reclaim_at: String::new(),
                                });
                                let may = session.may(Role::Admin, &name);
                                view! {
                                    <tr>
                                        <td>{name.clone()}</td>
                                        <td>{tombstone.tombstoned_at}</td>
                                        <td>{tombstone.reclaim_at}</td>
                                        <td>
                                            {may.then(|| view! { <Restore service=name.clone() on_done=on_restored /> })}
                                        </td>
                                    </tr>
                                }
                            }
                        />
                    </tbody>
                </table>
            </Show>
    }
}

#[component]
fn ServiceRow(service: ServiceSummary) -> impl IntoView {
    let href = Route::Service(service.service.clone()).href();
    let managed = service.managed_by.as_ref().map(|m| {
        let (label, title) = if service.drifts {
            (
                "files, changed here",
                format!("Managed by {} but changed here since", m.file),
            )
        } else {
            ("files", format!("Managed by {}", m.file))
        };
        view! { <span class="muted" title=title>{format!(" ({label})")}</span> }
    });
    view! {
        <tr>
            <td><a href=href>{service.service}</a>{managed}</td>
            <td>{service.description}</td>
            <td>{service.owners.join(", ")}</td>
            <td>{service.keys}</td>
            <td>{service.flags}</td>
            <td>{service.breakers}</td>
            <td>{service.environments.join(", ")}</td>
            <td>{service.revision}</td>
        </tr>
    }
}

/// Restores a deleted service, asking for a reason first.
#[component]
fn Restore(service: String, on_done: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let session = use_session();
    let name = StoredValue::new(service.clone());
    let action = move |why: String| async move {
        match api::restore(&name.get_value(), &why).await {
            Ok(_) => {
                on_done();
                Ok(())
            }
            Err(e) => Err(session.check(e).message),
        }
    };
    view! { <ReasonedButton id=format!("restore-{service}") label="Restore…" confirm="Restore" action=action /> }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, description: &str, owners: &[&str]) -> Indexed {
        configured(name, description, owners, &[])
    }

    fn configured(
        name: &str,
        description: &str,
        owners: &[&str],
        environments: &[&str],
    ) -> Indexed {
        Indexed::new(ServiceSummary {
            service: name.into(),
            description: description.into(),
            owners: owners.iter().map(|o| (*o).to_string()).collect(),
            revision: 1,
            keys: 0,
            flags: 0,
            breakers: 0,
            environments: environments.iter().map(|e| (*e).to_string()).collect(),
            tombstone: None,
            managed_by: None,
            drifts: false,
        })
    }

    #[test]
    fn searches_name_description_and_owners_and_caps_the_rows() {
        let index: Vec<Indexed> = (0..250)
            .map(|i| service(&format!("svc-{i}"), "Routes Payments", &["team-pay"]))
            .chain([service("search", "Ranking", &["team-search"])])
            .collect();
        let find = |text: &str, owner: &str| {
            let filter = Filter {
                text: text.into(),
                owner: owner.into(),
                environment: String::new(),
            };
            search(&index, &filter)
        };
        assert_eq!(find("PAYMENTS", "").0, 250, "case-insensitive");
        let (total, shown) = find("", "");
        assert_eq!((total, shown.len()), (251, SHOWN));
        let (total, shown) = find("rank", "team-search");
        assert_eq!((total, shown[0].service.as_str()), (1, "search"));
        assert_eq!(find("rank", "team-pay").0, 0, "the owner filter is exact");
        assert_eq!(find("team-sea", "").0, 1, "owners are searched");
    }

    #[test]
    fn the_environment_filter_keeps_services_configured_there() {
        let index = [
            configured("a", "", &[], &["prod", "staging"]),
            configured("b", "", &[], &["staging"]),
            configured("c", "", &[], &[]),
        ];
        let names = |environment: &str| {
            let filter = Filter {
                environment: environment.into(),
                ..Filter::default()
            };
            let (_, shown) = search(&index, &filter);
            shown.into_iter().map(|s| s.service).collect::<Vec<_>>()
        };
        assert_eq!(names("staging"), ["a", "b"]);
        assert_eq!(names("prod"), ["a"]);
        assert_eq!(names(""), ["a", "b", "c"]);
        assert!(names("dev").is_empty());
    }
}
