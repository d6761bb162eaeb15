//! One service: its config for an environment, as a form generated from
//! the schema. Each edit is checked by `setpoint-core` as it is typed and
//! the save button stays disabled while anything is invalid, so an invalid
//! form never sends a request. Saving shows the diff first and asks for a
//! reason (required where the environment's policy says so), and becomes
//! "Submit for review" where the policy asks approvals of the user's role;
//! a `409` shows what changed meanwhile and offers to re-apply the edit on
//! the new revision.

mod draft;
mod form;
mod schema;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use setpoint_core::ChangeKind;

use self::{form::ConfigForm, schema::SchemaEditor};
use crate::{
    Route,
    api::{self, Role, ServiceRecord},
    components::{Failed, Outcome, ReasonedButton},
    live,
    session::use_session,
};

/// Says that someone else changed the service being edited, and offers to
/// load the new state.
#[component]
fn ChangedMeanwhile(change: setpoint_core::Change, reload: RwSignal<u32>) -> impl IntoView {
    view! {
        <div class="status status--warn live-banner" role="status">
            <p>
                <strong>{change.actor.clone()}</strong>
                {format!(
                    " changed this service (revision {}, {})",
                    change.revision,
                    change.kind.as_str().replace('_', " "),
                )}
                {(!change.reason.is_empty()).then(|| format!(": {}", change.reason))}
                ". The form shows the state before it; saving now will show a conflict."
            </p>
            <button class="button" type="button" on:click=move |_| reload.update(|n| *n += 1)>
                "Load the new state (discards your edits)"
            </button>
        </div>
    }
}

/// The service page.
#[component]
pub fn Service() -> impl IntoView {
    let session = use_session();
    let params = use_params_map();
    let name = Memo::new(move |_| params.with(|p| p.get(Route::SERVICE_PARAM).unwrap_or_default()));
    let reload = RwSignal::new(0u32);
    let record = LocalResource::new(move || {
        reload.track();
        let name = name.get();
        async move { api::service(&name).await.map_err(|e| session.check(e)) }
    });
    let environments = LocalResource::new(move || async move {
        api::environments().await.map_err(|e| session.check(e))
    });
    let environment = RwSignal::new(None::<String>);
    // Here, not in the form: a save reloads the record, which rebuilds the
    // form, and the confirmation must outlive that.
    let saved = RwSignal::new(None::<String>);
    let schema = SchemaState::default();
    let chosen = move || {
        environment.get().or_else(|| {
            environments
                .get()
                .and_then(Result::ok)
                .and_then(|list| list.first().map(|e| e.name.clone()))
        })
    };
    // Someone else's change to this service, newer than what the form was
    // built from: say so before the save meets a conflict.
    let latest = live::follow(Signal::derive(move || chosen().unwrap_or_default()));
    let me = session.me().map(|m| m.actor);
    let foreign_change = move || {
        let change = latest.get()?;
        let loaded = record.get()?.ok()?.revision;
        (change.service.as_deref() == Some(name.get().as_str())
            && change.kind != ChangeKind::BreakerTransition
            && change.revision > loaded
            && Some(&change.actor) != me.as_ref())
        .then_some(change)
    };

    view! {
        <section class="page">
            <p class="breadcrumb"><a href=Route::Services.href()>{Route::Services.label()}</a></p>
            <h1 class="page__title">{move || name.get()}</h1>
            <div aria-live="polite">
                {move || foreign_change().map(|change| view! { <ChangedMeanwhile change=change reload=reload /> })}
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let record = record.get()?;
                    let envs = environments.get()?;
                    Some(match (record, envs) {
                        (Err(e), _) | (_, Err(e)) => view! { <Failed error=e /> }.into_any(),
                        (Ok(record), Ok(envs)) => {
                            let description = record.doc.description.clone();
                            let owners = record.doc.owners.join(", ");
                            view! {
                                <p class="page__lede">{description}</p>
                                <p class="muted">{format!("Owners: {owners} · revision {}", record.revision)}</p>
                                {record.managed_note().map(|note| view! { <p class="status status--warn" data-managed="">{note}</p> })}
                                {(session.may(Role::Admin, &record.doc.service) && record.tombstone.is_none())
                                    .then(|| view! { <DeleteService name=record.doc.service.clone() revision=record.revision /> })}
                                <EnvironmentTabs
                                    envs=envs.clone()
                                    selected=Signal::derive(chosen)
                                    on_pick=move |name| {
                                        saved.set(None);
                                        environment.set(Some(name));
                                    }
                                />
                                {
                                    let record = record.clone();
                                    move || {
                                        chosen()
                                            .map(|env| {
                                                let record = record.clone();
                                                let policy = envs
                                                    .iter()
                                                    .find(|e| e.name == env)
                                                    .map(|e| e.policy.clone())
                                                    .unwrap_or_default();
                                                view! {
                                                    <ConfigForm
                                                        record=record
                                                        policy=policy
                                                        environment=env
                                                        saved=saved
                                                        on_saved=move || reload.update(|n| *n += 1)
                                                    />
                                                }
                                            })
                                    }
                                }
                                <SchemaSection record=record reload=reload state=schema />
                            }
                                .into_any()
                        }
                    })
                }}
            </Transition>
        </section>
    }
}

/// Deletes the service (admins): a tombstone, served until reclaimed and
/// restorable from the services list, where this leads.
#[component]
fn DeleteService(name: String, revision: u64) -> impl IntoView {
    let session = use_session();
    let navigate = leptos_router::hooks::use_navigate();
    let deleted = RwSignal::new(false);
    Effect::new(move |_| {
        if deleted.get() {
            navigate(
                &Route::Services.href(),
                leptos_router::NavigateOptions::default(),
            );
        }
    });
    let service = StoredValue::new(name);
    let action = move |why: String| async move {
        match api::delete_service(&service.get_value(), revision, &why).await {
            Ok(_) => {
                deleted.set(true);
                Ok(())
            }
            Err(e) => Err(session.check(e).message),
        }
    };
    view! {
        <div class="service__delete">
            <ReasonedButton id="delete-service" label="Delete service…" confirm="Delete" action=action />
            <p class="muted">"A deleted service stays in every snapshot, marked, until it is reclaimed; until then it can be restored from the services list."</p>
        </div>
    }
}

/// One tab per environment.
#[component]
fn EnvironmentTabs(
    envs: Vec<api::EnvironmentView>,
    selected: Signal<Option<String>>,
    on_pick: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="tabs" role="tablist" aria-label="Environment">
            {envs
                .into_iter()
                .map(|env| {
                    let name = env.name.clone();
                    let is_selected = {
                        let name = name.clone();
                        move || selected.get().as_deref() == Some(name.as_str())
                    };
                    view! {
                        <button
                            class="tabs__tab"
                            role="tab"
                            aria-selected=move || is_selected().to_string()
                            on:click=move |_| on_pick(name.clone())
                        >
                            {env.name}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}

/// The schema editor, for admins of the service, folded away until asked
/// for: most visits are about values.
#[component]
fn SchemaSection(
    record: ServiceRecord,
    reload: RwSignal<u32>,
    state: SchemaState,
) -> impl IntoView {
    let session = use_session();
    session.may(Role::Admin, &record.doc.service).then(|| {
        view! {
            <details
                class="card schema-section"
                prop:open=move || state.open.get()
                on:toggle=move |ev| state.open.set(event_target::<web_sys::HtmlDetailsElement>(&ev).open())
            >
                <summary class="card__title">"Schema"</summary>
                <SchemaEditor record=record on_saved=move || reload.update(|n| *n += 1) status=state.status />
            </details>
        }
    })
}

/// What the schema section keeps across the reload a save causes.
#[derive(Debug, Clone, Copy, Default)]
struct SchemaState {
    open: RwSignal<bool>,
    status: Outcome,
}
