//! One service: its config for an environment, as a form generated from
//! the schema. Each edit is checked by `setpoint-core` as it is typed and
//! the save button stays disabled while anything is invalid, so an invalid
//! form never sends a request. Saving shows the diff first and asks for a
//! reason (required where the environment's policy says so), and becomes
//! "Submit for review" where the policy asks approvals of the user's role;
//! a `409` shows what changed meanwhile and offers to re-apply the edit on
//! the new revision.

use std::collections::BTreeMap;

use leptos::{prelude::*, task::spawn_local};
use leptos_router::hooks::use_params_map;
use serde_json::Value;
use setpoint_core::{
    ChangeKind, FieldPath, KeyKind, KeySpec, Limits, Policy, diff::diff, schema::check_value,
};

use crate::{
    Route,
    api::{self, ApiError, Role, ServiceRecord, ValuesPatch},
    components::{ApplyAt, DiffList, Outcome, ReasonedButton, apply_at, display},
    live,
    pages::schema::SchemaEditor,
    session::use_session,
};

/// An edit to one key, not yet saved.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Set this value.
    Set(Value),
    /// Drop the override: the default applies.
    Reset,
    /// What was typed does not parse; kept so the field shows it.
    Unparsable {
        /// The text as typed.
        text: String,
        /// Why it is not a value.
        message: String,
    },
}

/// The form's model: the record edited, the environment and the edits.
/// Pure, so that its rules are tested without a browser.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The service as last read; its revision is the base of the save.
    pub base: ServiceRecord,
    /// The environment edited.
    pub environment: String,
    /// Edits by key.
    pub edits: BTreeMap<String, Edit>,
}

impl Draft {
    /// A draft with no edits.
    pub fn new(base: ServiceRecord, environment: String) -> Self {
        Self {
            base,
            environment,
            edits: BTreeMap::new(),
        }
    }

    /// The stored override of `key` in this environment, if any.
    pub fn stored(&self, key: &str) -> Option<&Value> {
        self.base
            .doc
            .values
            .get(&self.environment)
            .and_then(|values| values.get(key))
    }

    /// What `key` would be after saving (the default when not set).
    pub fn effective(&self, key: &str, spec: &KeySpec) -> Value {
        match self.edits.get(key) {
            Some(Edit::Set(value)) => value.clone(),
            Some(Edit::Reset) => spec.default.clone(),
            Some(Edit::Unparsable { .. }) | None => {
                self.stored(key).unwrap_or(&spec.default).clone()
            }
        }
    }

    /// Whether `key` would be overridden after saving.
    pub fn overridden(&self, key: &str) -> bool {
        match self.edits.get(key) {
            Some(Edit::Set(_)) => true,
            Some(Edit::Reset) => false,
            _ => self.stored(key).is_some(),
        }
    }

    /// Problems per key, from the core's checks: what the server would say.
    pub fn problems(&self) -> BTreeMap<String, Vec<String>> {
        let limits = Limits::default();
        let mut problems = BTreeMap::new();
        for (key, edit) in &self.edits {
            let messages = match (edit, self.base.doc.schema.get(key)) {
                (Edit::Unparsable { message, .. }, _) => vec![message.clone()],
                (Edit::Set(value), Some(spec)) => {
                    let mut out = Vec::new();
                    let path = FieldPath::root()
                        .key("values")
                        .key(self.environment.as_str())
                        .key(key.as_str());
                    check_value(spec, value, &path, limits.max_value_bytes, &mut out);
                    out.iter().map(|v| v.kind.to_string()).collect()
                }
                (Edit::Set(_), None) => vec!["the schema has no such key".into()],
                (Edit::Reset, _) => Vec::new(),
            };
            if !messages.is_empty() {
                problems.insert(key.clone(), messages);
            }
        }
        problems
    }

    /// The patch to send: values that differ from what is stored, and
    /// overrides to drop.
    pub fn patch(&self, reason: &str) -> ValuesPatch {
        let mut set = serde_json::Map::new();
        let mut remove_keys = Vec::new();
        for (key, edit) in &self.edits {
            match edit {
                Edit::Set(value) if self.stored(key) != Some(value) => {
                    set.insert(key.clone(), value.clone());
                }
                Edit::Reset if self.stored(key).is_some() => remove_keys.push(key.clone()),
                _ => {}
            }
        }
        ValuesPatch {
            set,
            remove_keys,
            base_revision: self.base.revision,
            reason: reason.to_string(),
        }
    }

    /// Whether saving would change anything.
    pub fn dirty(&self) -> bool {
        let patch = self.patch("");
        !patch.set.is_empty() || !patch.remove_keys.is_empty()
    }

    /// The resolved config before and after the edits, for the preview.
    pub fn before_after(&self) -> (Value, Value) {
        let before = self.base.doc.resolved_config(&self.environment);
        let after = self
            .base
            .doc
            .schema
            .iter()
            .map(|(key, spec)| (key.clone(), self.effective(key, spec)))
            .collect::<serde_json::Map<_, _>>();
        (
            serde_json::to_value(before).unwrap_or(Value::Null),
            Value::Object(after),
        )
    }
}

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
                        (Err(e), _) | (_, Err(e)) => error_view(&e),
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

fn error_view(error: &ApiError) -> AnyView {
    let message = error.message.clone();
    view! { <p class="status status--error" role="alert">{message}</p> }.into_any()
}

/// The config of one environment: editable for editors, read-only else.
#[component]
fn ConfigForm(
    record: ServiceRecord,
    environment: String,
    /// The environment's policy: whether saving needs a reason, or is a
    /// submission for review.
    policy: Policy,
    saved: RwSignal<Option<String>>,
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let service = record.doc.service.clone();
    let editable = session.may(Role::Editor, &service);
    let draft = RwSignal::new(Draft::new(record, environment));
    let problems = Memo::new(move |_| draft.with(Draft::problems));
    let dirty = Memo::new(move |_| draft.with(Draft::dirty));
    let reviewing = RwSignal::new(false);
    let conflict = RwSignal::new(None::<ServiceRecord>);
    let keys: Vec<(String, KeySpec)> = draft.with_untracked(|d| {
        d.base
            .doc
            .schema
            .iter()
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect()
    });

    let fields = keys
        .into_iter()
        .map(|(key, spec)| {
            view! { <KeyField key=key spec=spec draft=draft problems=problems editable=editable /> }
        })
        .collect_view();

    view! {
        <form class="config" on:submit=|ev| ev.prevent_default() aria-label="Config">
            <p class="status status--ok" role="status" hidden=move || saved.with(Option::is_none)>
                {move || saved.get().unwrap_or_default()}
            </p>
            <div class="config__fields">{fields}</div>
            {editable
                .then(|| {
                    view! {
                        <div class="config__actions">
                            <p class="muted" aria-live="polite">
                                {move || {
                                    let count = problems.with(BTreeMap::len);
                                    if count > 0 {
                                        format!("{count} field(s) need attention before saving.")
                                    } else if dirty.get() {
                                        "Unsaved changes.".to_string()
                                    } else {
                                        "No changes.".to_string()
                                    }
                                }}
                            </p>
                            <button
                                type="button"
                                class="button button--primary"
                                disabled=move || !dirty.get() || problems.with(|p| !p.is_empty())
                                on:click=move |_| {
                                    saved.set(None);
                                    reviewing.set(true);
                                }
                            >
                                "Review and save…"
                            </button>
                        </div>
                    }
                })}
            <Show when=move || reviewing.get() && conflict.with(Option::is_none)>
                <Review draft=draft policy=policy.clone() reviewing=reviewing conflict=conflict saved=saved on_saved=on_saved />
            </Show>
            <Show when=move || conflict.with(Option::is_some)>
                <Conflict draft=draft conflict=conflict />
            </Show>
        </form>
    }
}

/// One schema key: label, input by type, default vs override, its errors.
#[component]
fn KeyField(
    key: String,
    spec: KeySpec,
    draft: RwSignal<Draft>,
    problems: Memo<BTreeMap<String, Vec<String>>>,
    editable: bool,
) -> impl IntoView {
    let id = format!("key-{key}");
    let error_id = format!("{id}-errors");
    let key = StoredValue::new(key);
    let spec = StoredValue::new(spec);
    let value = Memo::new(move |_| {
        draft.with(|d| key.with_value(|k| spec.with_value(|s| d.effective(k, s))))
    });
    let overridden = Memo::new(move |_| draft.with(|d| key.with_value(|k| d.overridden(k))));
    let messages = Memo::new(move |_| {
        problems.with(|p| key.with_value(|k| p.get(k).cloned().unwrap_or_default()))
    });
    let edit = Callback::new(move |edit: Edit| {
        draft.update(|d| {
            d.edits.insert(key.get_value(), edit);
        });
    });
    let reset = move |_| {
        draft.update(|d| {
            let k = key.get_value();
            if d.stored(&k).is_some() {
                d.edits.insert(k, Edit::Reset);
            } else {
                d.edits.remove(&k);
            }
        });
    };
    let raw = Memo::new(move |_| {
        draft.with(|d| {
            key.with_value(|k| match d.edits.get(k) {
                Some(Edit::Unparsable { text, .. }) => Some(text.clone()),
                _ => None,
            })
        })
    });
    let kind = spec.with_value(|s| s.kind);
    let input = if editable {
        input_for(
            kind,
            &Wiring {
                id: id.clone(),
                described: error_id.clone(),
                spec,
                value,
                raw,
                edit,
            },
        )
    } else {
        view! { <output id=id.clone() class="config__value">{move || display(&value.get())}</output> }
            .into_any()
    };
    let description = spec.with_value(|s| s.description.clone());
    let default_text = spec.with_value(|s| display(&s.default));
    view! {
        <div class="config__field" class:config__field--invalid=move || messages.with(|m| !m.is_empty())>
            <div class="config__head">
                <label class="field__label" for=id.clone()>{key.get_value()}</label>
                <span class="badge">{kind_name(kind)}</span>
                <span class=move || if overridden.get() { "badge badge--accent" } else { "badge" }>
                    {move || if overridden.get() { "override" } else { "default" }}
                </span>
            </div>
            <p class="muted config__help">{description}</p>
            {input}
            <p class="muted config__default">{format!("Default: {default_text}")}</p>
            {editable
                .then(|| {
                    view! {
                        <button
                            type="button"
                            class="button button--quiet"
                            hidden=move || !overridden.get()
                            on:click=reset
                        >
                            "Reset to default"
                        </button>
                    }
                })}
            <ul id=error_id class="field__errors" aria-live="polite">
                {move || messages.get().into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}
            </ul>
        </div>
    }
}

/// What every input of one key needs: its ids, what it shows, where edits
/// go.
#[derive(Clone)]
struct Wiring {
    id: String,
    /// The id of the element listing the key's problems.
    described: String,
    spec: StoredValue<KeySpec>,
    value: Memo<Value>,
    /// Text typed that does not parse, shown instead of the value.
    raw: Memo<Option<String>>,
    edit: Callback<Edit>,
}

impl Wiring {
    /// What a text input shows: the text as typed if it did not parse,
    /// else the value as `format` writes it.
    fn shown(
        &self,
        format: fn(&Value) -> String,
    ) -> impl Fn() -> String + Copy + Send + Sync + use<> {
        let (raw, value) = (self.raw, self.value);
        move || raw.get().unwrap_or_else(|| format(&value.get()))
    }
}

/// Sets member `name` of an object value (`weights`, `ref`), keeping the
/// others.
fn set_member(value: Memo<Value>, edit: Callback<Edit>, name: &str, member: Value) {
    let mut object = value
        .get_untracked()
        .as_object()
        .cloned()
        .unwrap_or_default();
    object.insert(name.to_string(), member);
    edit.run(Edit::Set(Value::Object(object)));
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The input for a key of `kind`.
fn input_for(kind: KeyKind, wiring: &Wiring) -> AnyView {
    let Wiring {
        id,
        described,
        spec,
        value,
        edit,
        ..
    } = wiring.clone();
    let bound = move |which: fn(&KeySpec) -> &Option<Value>| {
        spec.with_value(|s| which(s).as_ref().map(display))
    };
    match kind {
        KeyKind::Bool => view! {
            <label class="switch">
                <input
                    id=id
                    type="checkbox"
                    role="switch"
                    aria-describedby=described
                    prop:checked=move || value.get().as_bool().unwrap_or(false)
                    on:change=move |ev| edit.run(Edit::Set(Value::Bool(event_target_checked(&ev))))
                />
                <span>{move || if value.get().as_bool().unwrap_or(false) { "On" } else { "Off" }}</span>
            </label>
        }
        .into_any(),
        KeyKind::Int | KeyKind::Float => {
            let integer = kind == KeyKind::Int;
            view! {
                <input
                    id=id
                    class="field__input"
                    type="number"
                    step=if integer { "1" } else { "any" }
                    min=bound(|s| &s.min)
                    max=bound(|s| &s.max)
                    aria-describedby=described
                    prop:value=wiring.shown(display)
                    on:input=move |ev| edit.run(parse_number(&event_target_value(&ev), integer))
                />
            }
            .into_any()
        }
        KeyKind::Percent => percent_input(wiring),
        KeyKind::String if spec.with_value(|s| s.choices.is_some()) => {
            let choices = spec.with_value(|s| s.choices.clone().unwrap_or_default());
            view! {
                <select
                    id=id
                    class="field__select"
                    aria-describedby=described
                    on:change=move |ev| edit.run(Edit::Set(Value::String(event_target_value(&ev))))
                >
                    {choices
                        .into_iter()
                        .map(|choice| {
                            let selected = {
                                let choice = choice.clone();
                                move || value.get().as_str() == Some(choice.as_str())
                            };
                            view! { <option value=choice.clone() selected=selected>{choice.clone()}</option> }
                        })
                        .collect_view()}
                </select>
            }
            .into_any()
        }
        KeyKind::String | KeyKind::Duration => view! {
            <input
                id=id
                class="field__input"
                placeholder=(kind == KeyKind::Duration).then_some("e.g. 250ms, 30s, 5m, 1h")
                aria-describedby=described
                prop:value=move || value.get().as_str().unwrap_or_default().to_string()
                on:input=move |ev| edit.run(Edit::Set(Value::String(event_target_value(&ev))))
            />
        }
        .into_any(),
        KeyKind::Weights => weights_input(wiring),
        KeyKind::Ref => ref_input(wiring),
        KeyKind::Json => view! {
            <textarea
                id=id
                class="field__input config__json"
                spellcheck="false"
                aria-describedby=described
                prop:value=wiring.shown(pretty)
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    edit.run(match serde_json::from_str::<Value>(&text) {
                        Ok(parsed) => Edit::Set(parsed),
                        Err(e) => Edit::Unparsable { text, message: format!("not JSON: {e}") },
                    });
                }
            ></textarea>
        }
        .into_any(),
    }
}

/// A percent: a slider and a number, kept together.
fn percent_input(wiring: &Wiring) -> AnyView {
    let text = wiring.shown(display);
    let edit = wiring.edit;
    let on_input = move |ev| edit.run(parse_number(&event_target_value(&ev), false));
    view! {
        <div class="field--inline">
            <input
                id=wiring.id.clone()
                type="range"
                min="0"
                max="100"
                step="1"
                aria-describedby=wiring.described.clone()
                prop:value=text
                on:input=on_input
            />
            <input
                class="field__input field__input--short"
                type="number"
                min="0"
                max="100"
                aria-label="Percent"
                aria-describedby=wiring.described.clone()
                prop:value=text
                on:input=on_input
            />
            <span>"%"</span>
        </div>
    }
    .into_any()
}

/// A `ref`: its three parts.
fn ref_input(wiring: &Wiring) -> AnyView {
    let (value, edit) = (wiring.value, wiring.edit);
    let part = |name: &'static str| {
        view! {
            <label class="field">
                <span class="field__label field__label--small">{name}</span>
                <input
                    class="field__input"
                    aria-describedby=wiring.described.clone()
                    prop:value=move || value.get().get(name).map(display).unwrap_or_default()
                    on:input=move |ev| {
                        let text = event_target_value(&ev);
                        // Keep a number a number (`version` may be either).
                        let member = match (value.get_untracked().get(name), text.trim().parse::<i64>()) {
                            (Some(Value::Number(_)), Ok(number)) => Value::from(number),
                            _ => Value::String(text),
                        };
                        set_member(value, edit, name, member);
                    }
                />
            </label>
        }
    };
    view! {
        <fieldset id=wiring.id.clone() class="config__group">
            {part("url")}
            {part("sha256")}
            {part("version")}
        </fieldset>
    }
    .into_any()
}

/// Per-name inputs of a `weights` key and their live sum.
fn weights_input(wiring: &Wiring) -> AnyView {
    let (value, edit) = (wiring.value, wiring.edit);
    let names: Vec<String> = wiring
        .spec
        .with_value(|s| s.keys.clone())
        .unwrap_or_else(|| {
            value
                .get_untracked()
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        });
    let sum = move || {
        value
            .get()
            .as_object()
            .map_or(0, |o| o.values().filter_map(Value::as_u64).sum::<u64>())
    };
    view! {
        <fieldset id=wiring.id.clone() class="config__group" aria-describedby=wiring.described.clone()>
            {names
                .into_iter()
                .map(|name| {
                    let label = name.clone();
                    let read = name.clone();
                    view! {
                        <label class="field">
                            <span class="field__label field__label--small">{label}</span>
                            <input
                                class="field__input field__input--short"
                                type="number"
                                min="0"
                                max="100"
                                step="1"
                                prop:value=move || value.get().get(&read).map(display).unwrap_or_default()
                                on:input=move |ev| {
                                    let text = event_target_value(&ev);
                                    let weight = text.trim().parse::<u64>().map_or(Value::String(text), Value::from);
                                    set_member(value, edit, &name, weight);
                                }
                            />
                        </label>
                    }
                })
                .collect_view()}
            <p class=move || if sum() == 100 { "weights__sum status--ok" } else { "weights__sum status--error" } aria-live="polite">
                {move || format!("Sum: {} of 100", sum())}
            </p>
        </fieldset>
    }
    .into_any()
}

/// The diff preview and reason, then the save.
#[component]
fn Review(
    draft: RwSignal<Draft>,
    policy: Policy,
    reviewing: RwSignal<bool>,
    conflict: RwSignal<Option<ServiceRecord>>,
    saved: RwSignal<Option<String>>,
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let reason = RwSignal::new(String::new());
    let when = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let guarded = policy.reason_required;
    // The server holds a non-admin's write where approvals are required;
    // the button says so before it does.
    let for_review =
        policy.approvals_required > 0 && session.me().is_some_and(|me| me.role < Role::Admin);
    let missing_reason = move || guarded && reason.with(|r| r.trim().is_empty());
    let scheduled = move || when.with(|w| apply_at(w));
    // A service managed by files asks first: saving here makes it drift
    // from its file, and the log says so.
    let managed_file = draft.with_untracked(|d| d.base.managed_by.as_ref().map(|m| m.file.clone()));
    let drift_accepted = RwSignal::new(managed_file.is_none());
    let drift_note = managed_file.clone().map(|file| {
        view! {
            <div class="field">
                <p class="status status--warn">
                    {format!("This service is managed by the file {file}. Saving here makes it drift from that file: the next apply refuses to overwrite it unless forced, and plan reports it.")}
                </p>
                <label>
                    <input
                        type="checkbox"
                        prop:checked=move || drift_accepted.get()
                        on:change=move |ev| drift_accepted.set(event_target_checked(&ev))
                    />
                    " Save here anyway"
                </label>
            </div>
        }
    });
    let changes = Memo::new(move |_| {
        draft.with(|d| {
            let (before, after) = d.before_after();
            diff(&before, &after)
        })
    });
    let save = move |_| {
        let why = match &managed_file {
            Some(file) => format!(
                "{} (edited outside its file {file})",
                reason.get_untracked()
            )
            .trim()
            .to_string(),
            None => reason.get_untracked(),
        };
        let (service, environment, patch) = draft.with_untracked(|d| {
            (
                d.base.doc.service.clone(),
                d.environment.clone(),
                d.patch(&why),
            )
        });
        let Ok(apply_at) = apply_at(&when.get_untracked()) else {
            return;
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api::patch_values(&service, &environment, &patch, apply_at.as_deref()).await {
                Ok(written) => {
                    saved.set(Some(format!("Saved as revision {}.", written.revision)));
                    reviewing.set(false);
                    on_saved();
                }
                Err(e) if e.is_held() => {
                    saved.set(Some(e.message));
                    reviewing.set(false);
                }
                Err(e) if e.is_conflict() => {
                    let current = e
                        .current
                        .and_then(|v| serde_json::from_value::<ServiceRecord>(v).ok());
                    let latest = match current {
                        Some(record) => Ok(record),
                        None => api::service(&service).await,
                    };
                    match latest {
                        Ok(record) => conflict.set(Some(record)),
                        Err(e) => error.set(Some(session.check(e).message)),
                    }
                }
                Err(e) => error.set(Some(session.check(e).message)),
            }
            busy.set(false);
        });
    };
    view! {
        <div class="card review" role="region" aria-label="Review changes">
            <h2 class="card__title">"Review changes"</h2>
            <DiffList entries=Signal::derive(move || changes.get().into_iter().map(|e| (e.path.to_string(), e.before, e.after)).collect()) />
            <div class="field">
                <label class="field__label" for="reason">
                    {if guarded { "Reason (required here)" } else { "Reason" }}
                </label>
                <input
                    id="reason"
                    class="field__input"
                    required=guarded
                    prop:value=move || reason.get()
                    on:input=move |ev| reason.set(event_target_value(&ev))
                />
            </div>
            <ApplyAt id="apply-at" value=when />
            {drift_note}
            <p class="status status--error" role="alert" hidden=move || error.with(Option::is_none)>
                {move || error.get().unwrap_or_default()}
            </p>
            <div class="config__actions">
                <button
                    type="button"
                    class="button button--primary"
                    disabled=move || busy.get() || missing_reason() || !drift_accepted.get() || scheduled().is_err()
                    on:click=save
                >
                    {move || match (for_review, scheduled()) {
                        (true, _) => "Submit for review",
                        (false, Ok(Some(_))) => "Schedule",
                        (false, _) => "Save",
                    }}
                </button>
                <button type="button" class="button" on:click=move |_| reviewing.set(false)>
                    "Back to editing"
                </button>
            </div>
        </div>
    }
}

/// Someone saved first: what they changed, and a way to re-apply.
#[component]
fn Conflict(draft: RwSignal<Draft>, conflict: RwSignal<Option<ServiceRecord>>) -> impl IntoView {
    let theirs = Memo::new(move |_| {
        let Some(latest) = conflict.get() else {
            return Vec::new();
        };
        draft.with(|d| {
            let before = serde_json::to_value(d.base.doc.resolved_config(&d.environment));
            let after = serde_json::to_value(latest.doc.resolved_config(&d.environment));
            match (before, after) {
                (Ok(b), Ok(a)) => diff(&b, &a)
                    .into_iter()
                    .map(|e| (e.path.to_string(), e.before, e.after))
                    .collect(),
                _ => Vec::new(),
            }
        })
    });
    let revisions = move || {
        let from = draft.with(|d| d.base.revision);
        let to = conflict.with(|c| c.as_ref().map_or(0, |r| r.revision));
        format!(
            "Someone saved this service while you were editing (revision {from} → {to}). What they changed here:"
        )
    };
    let reapply = move |_| {
        if let Some(latest) = conflict.get_untracked() {
            draft.update(|d| d.base = latest);
        }
        conflict.set(None);
    };
    let discard = move |_| {
        if let Some(latest) = conflict.get_untracked() {
            draft.update(|d| {
                d.base = latest;
                d.edits.clear();
            });
        }
        conflict.set(None);
    };
    view! {
        <div class="card conflict" role="alert">
            <h2 class="card__title">"Changed meanwhile"</h2>
            <p>{revisions}</p>
            <DiffList entries=Signal::derive(move || theirs.get()) />
            <div class="config__actions">
                <button type="button" class="button button--primary" on:click=reapply>
                    "Re-apply my edits on the new revision"
                </button>
                <button type="button" class="button" on:click=discard>"Discard my edits"</button>
            </div>
        </div>
    }
}

fn parse_number(text: &str, integer: bool) -> Edit {
    let trimmed = text.trim();
    let parsed = if integer {
        trimmed.parse::<i64>().ok().map(Value::from)
    } else {
        trimmed
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
    };
    parsed.map_or_else(
        || Edit::Unparsable {
            text: text.to_string(),
            message: if integer {
                "enter a whole number".into()
            } else {
                "enter a number".into()
            },
        },
        Edit::Set,
    )
}

fn kind_name(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Bool => "bool",
        KeyKind::Int => "int",
        KeyKind::Float => "float",
        KeyKind::String => "string",
        KeyKind::Duration => "duration",
        KeyKind::Percent => "percent",
        KeyKind::Weights => "weights",
        KeyKind::Json => "json",
        KeyKind::Ref => "ref",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use setpoint_core::ServiceDoc;

    use super::*;

    fn draft() -> Draft {
        let doc: ServiceDoc = serde_json::from_str(include_str!("../../examples/checkout.json"))
            .expect("example parses");
        Draft::new(
            ServiceRecord {
                doc,
                revision: 7,
                tombstone: None,
                managed_by: None,
            },
            "prod".into(),
        )
    }

    #[test]
    fn problems_come_from_the_core_at_their_key() {
        let mut d = draft();
        d.edits.insert("throttle.rps".into(), Edit::Set(json!(0)));
        d.edits.insert(
            "maintenance".into(),
            Edit::Unparsable {
                text: "x".into(),
                message: "enter a number".into(),
            },
        );
        let problems = d.problems();
        assert_eq!(problems.len(), 2);
        assert!(problems["throttle.rps"][0].contains("below the minimum 1"));
        assert_eq!(problems["maintenance"], ["enter a number"]);
    }

    #[test]
    fn the_patch_holds_only_real_changes_and_names_its_base() {
        let mut d = draft();
        assert!(!d.dirty());
        let stored = d
            .stored("throttle.rps")
            .cloned()
            .expect("prod overrides it");
        d.edits.insert("throttle.rps".into(), Edit::Set(stored));
        assert!(!d.dirty(), "setting the stored value changes nothing");

        d.edits.insert("throttle.rps".into(), Edit::Reset);
        d.edits.insert("maintenance".into(), Edit::Set(json!(true)));
        let patch = d.patch("incident 42");
        assert_eq!(patch.remove_keys, ["throttle.rps"]);
        assert_eq!(patch.set.get("maintenance"), Some(&json!(true)));
        assert_eq!(patch.base_revision, 7);
        assert_eq!(patch.reason, "incident 42");

        let spec = d.base.doc.schema["throttle.rps"].clone();
        assert_eq!(d.effective("throttle.rps", &spec), spec.default);
        assert!(!d.overridden("throttle.rps"));
        let (before, after) = d.before_after();
        assert_ne!(before["throttle.rps"], after["throttle.rps"]);
    }

    #[test]
    fn numbers_parse_or_say_what_is_expected() {
        assert_eq!(parse_number(" 12 ", true), Edit::Set(json!(12)));
        assert!(matches!(parse_number("1.5", true), Edit::Unparsable { .. }));
        assert_eq!(parse_number("1.5", false), Edit::Set(json!(1.5)));
        assert!(matches!(parse_number("", false), Edit::Unparsable { .. }));
    }
}
