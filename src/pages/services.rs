//! The services list: search and filter as you type; deleted services
//! apart, with restore for admins.

use leptos::{prelude::*, task::spawn_local};

use crate::{
    Route,
    api::{self, Role, ServiceSummary},
    components::TextField,
    session::use_session,
};

/// Whether `service` matches the search text (already lower-cased) and the
/// owner filter (empty: any). Matches name, description and owners.
pub fn matches(service: &ServiceSummary, needle: &str, owner: &str) -> bool {
    let owner_matches = owner.is_empty() || service.owners.iter().any(|o| o == owner);
    owner_matches
        && (needle.is_empty()
            || service.service.to_lowercase().contains(needle)
            || service.description.to_lowercase().contains(needle)
            || service
                .owners
                .iter()
                .any(|o| o.to_lowercase().contains(needle)))
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
    let search = RwSignal::new(String::new());
    let owner = RwSignal::new(String::new());

    let loaded = move || list.get().and_then(Result::ok).unwrap_or_default();
    let owners = Memo::new(move |_| {
        let mut owners: Vec<String> = loaded().into_iter().flat_map(|s| s.owners).collect();
        owners.sort();
        owners.dedup();
        owners
    });
    let live = Memo::new(move |_| {
        let needle = search.get().to_lowercase();
        let owner = owner.get();
        loaded()
            .into_iter()
            .filter(|s| s.tombstone.is_none() && matches(s, &needle, &owner))
            .collect::<Vec<_>>()
    });
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
                    value=search
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
                                    {move || format!("{} service(s)", live.with(Vec::len))}
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
