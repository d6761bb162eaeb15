//! The services list: search and filter as you type; deleted services
//! apart, with restore for admins.

use leptos::{prelude::*, task::spawn_local};

use crate::{
    Route,
    api::{self, Role, ServiceSummary},
    components::TextField,
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

    /// Whether it matches the search text (already lower-cased) and the
    /// owner filter (empty: any).
    pub fn matches(&self, needle: &str, owner: &str) -> bool {
        (owner.is_empty() || self.summary.owners.iter().any(|o| o == owner))
            && (needle.is_empty() || self.text.contains(needle))
    }
}

/// How many of `index` match, and the first [`SHOWN`] of them.
pub fn search(index: &[Indexed], needle: &str, owner: &str) -> (usize, Vec<ServiceSummary>) {
    let needle = needle.to_lowercase();
    let mut total = 0;
    let mut shown = Vec::new();
    for entry in index.iter().filter(|e| e.matches(&needle, owner)) {
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
        let (needle, owner) = (search_text.get(), owner.get());
        index.with(|index| search(index, &needle, &owner))
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
            <div class="toolbar" role="search">
                <TextField
                    id="service-search"
                    label="Search"
                    value=search_text
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
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading services…"</p> }>
                {move || {
                    list.get()
                        .map(|result| match result {
                            Err(e) => view! { <p class="status status--error" role="alert">{e.message}</p> }.into_any(),
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
        </section>
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
                                    deleted_at: String::new(),
                                    reclaim_at: String::new(),
                                });
                                let may = session.may(Role::Admin, &name);
                                view! {
                                    <tr>
                                        <td>{name.clone()}</td>
                                        <td>{tombstone.deleted_at}</td>
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
    view! {
        <tr>
            <td><a href=href>{service.service}</a></td>
            <td>{service.description}</td>
            <td>{service.owners.join(", ")}</td>
            <td>{service.keys}</td>
            <td>{service.flags}</td>
            <td>{service.breakers}</td>
            <td>{service.revision}</td>
        </tr>
    }
}

/// Restores a deleted service, asking for a reason first.
#[component]
fn Restore(service: String, on_done: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let session = use_session();
    let asking = RwSignal::new(false);
    let reason = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let service = StoredValue::new(service);
    let confirm = move |_| {
        let name = service.get_value();
        let why = reason.get_untracked();
        spawn_local(async move {
            match api::restore(&name, &why).await {
                Ok(_) => on_done(),
                Err(e) => error.set(Some(session.check(e).message)),
            }
        });
    };
    view! {
        <Show
            when=move || asking.get()
            fallback=move || view! { <button class="button" on:click=move |_| asking.set(true)>"Restore…"</button> }
        >
            <div class="inline-form">
                <label class="visually-hidden" for=move || format!("restore-{}", service.get_value())>"Reason"</label>
                <input
                    id=move || format!("restore-{}", service.get_value())
                    class="field__input"
                    placeholder="Reason"
                    prop:value=move || reason.get()
                    on:input=move |ev| reason.set(event_target_value(&ev))
                />
                <button class="button button--primary" on:click=confirm>"Restore"</button>
                <button class="button" on:click=move |_| asking.set(false)>"Cancel"</button>
                <span class="status status--error" role="alert" hidden=move || error.with(Option::is_none)>
                    {move || error.get().unwrap_or_default()}
                </span>
            </div>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, description: &str, owners: &[&str]) -> Indexed {
        Indexed::new(ServiceSummary {
            service: name.into(),
            description: description.into(),
            owners: owners.iter().map(|o| (*o).to_string()).collect(),
            revision: 1,
            keys: 0,
            flags: 0,
            breakers: 0,
            tombstone: None,
        })
    }

    #[test]
    fn searches_name_description_and_owners_and_caps_the_rows() {
        let index: Vec<Indexed> = (0..250)
            .map(|i| service(&format!("svc-{i}"), "Routes Payments", &["team-pay"]))
            .chain([service("search", "Ranking", &["team-search"])])
            .collect();
        assert_eq!(search(&index, "PAYMENTS", "").0, 250, "case-insensitive");
        let (total, shown) = search(&index, "", "");
        assert_eq!((total, shown.len()), (251, SHOWN));
        let (total, shown) = search(&index, "rank", "team-search");
        assert_eq!((total, shown[0].service.as_str()), (1, "search"));
        assert_eq!(
            search(&index, "rank", "team-pay").0,
            0,
            "the owner filter is exact"
        );
        assert_eq!(search(&index, "team-sea", "").0, 1, "owners are searched");
    }
}
