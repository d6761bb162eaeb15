//! Service → Schema, for admins: edit the typed keys — add, remove, change
//! type, default, description and the constraints that apply to the type.
//! The core validates the whole document with the edited schema as it
//! changes, so a change that would break stored values is named, value by
//! value, before anything is sent (the server refuses it with `422` too).

use std::collections::BTreeMap;

use leptos::{prelude::*, task::spawn_local};
use serde_json::Value;
use setpoint_core::{KeyKind, KeySpec, Limits, Violation, validate_document};

use crate::{
    api::{self, ServiceRecord},
    components::{Outcome, OutcomeLine, TextField},
    session::use_session,
};

/// A value typed into a field: JSON when it parses, else the text itself.
fn parse(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|_| Value::String(text.trim().to_string()))
}

/// How a value shows in its field: strings bare, the rest as JSON.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A comma-separated list, or `None` when empty.
fn list(text: &str) -> Option<Vec<String>> {
    let items: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    (!items.is_empty()).then_some(items)
}

/// A sensible default for a new key of `kind`.
pub fn default_for(kind: KeyKind) -> Value {
    match kind {
        KeyKind::Bool => Value::Bool(false),
        KeyKind::Int | KeyKind::Float | KeyKind::Percent => Value::from(0),
        KeyKind::String => Value::String(String::new()),
        KeyKind::Duration => Value::String("1s".into()),
        // Weights sum to 100: one name holds it all until more are added.
        KeyKind::Weights => serde_json::json!({"primary": 100}),
        KeyKind::Json => Value::Object(serde_json::Map::new()),
        KeyKind::Ref => {
            serde_json::json!({"url": "https://example.com/data", "sha256": "0".repeat(64), "version": 1})
        }
    }
}

/// The problems of the document with `schema`: first those of the schema
/// itself, then the stored values it would break.
pub fn problems(
    record: &ServiceRecord,
    schema: &BTreeMap<String, KeySpec>,
) -> (Vec<Violation>, Vec<Violation>) {
    let mut doc = record.doc.clone();
    doc.schema = schema.clone();
    validate_document(&doc, &Limits::default())
        .into_iter()
        .partition(|v| !v.path.to_string().starts_with("values"))
}

/// The schema editor.
#[component]
pub fn SchemaEditor(
    /// The service as loaded.
    record: ServiceRecord,
    /// Called after a save, to reload the service.
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
    /// The outcome of the last save; owned by the page, because a save
    /// reloads the service and rebuilds this editor.
    status: Outcome,
) -> impl IntoView {
    let session = use_session();
    let draft = RwSignal::new(record.doc.schema.clone());
    let original = StoredValue::new(record.doc.schema.clone());
    let (service, base) = (record.doc.service.clone(), record.revision);
    let record = StoredValue::new(record);
    let checked =
        Memo::new(move |_| draft.with(|schema| record.with_value(|r| problems(r, schema))));
    let keys = Memo::new(move |_| draft.with(|s| s.keys().cloned().collect::<Vec<_>>()));
    let new_key = RwSignal::new(String::new());
    let new_kind = RwSignal::new(KeyKind::Int);
    let reason = RwSignal::new(String::new());
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = new_key.get_untracked().trim().to_string();
        if name.is_empty() {
            return;
        }
        let kind = new_kind.get_untracked();
        draft.update(|s| {
            s.entry(name)
                .or_insert_with(|| KeySpec::new(kind, default_for(kind)));
        });
        new_key.set(String::new());
    };
    let save = move |_| {
        let (service, schema, why) = (
            service.clone(),
            draft.get_untracked(),
            reason.get_untracked(),
        );
        spawn_local(async move {
            status.set(Some(
                match api::put_schema(&service, &schema, base, &why).await {
                    Ok(written) => {
                        on_saved();
                        Ok(format!("Schema saved as revision {}.", written.revision))
                    }
                    Err(e) => Err(session.check(e).message),
                },
            ));
        });
    };
    let changed = move || draft.with(|s| original.with_value(|o| s != o));
    let clean = move || checked.with(|(own, broken)| own.is_empty() && broken.is_empty());
    view! {
        <div class="schema">
            <For each=move || keys.get() key=Clone::clone children=move |key| view! { <KeyRow draft=draft name=key /> } />
            <form class="inline-form" on:submit=add>
                <label class="field">
                    <span class="field__label field__label--small">"New key"</span>
                    <input class="field__input field__input--short" prop:value=move || new_key.get()
                        on:input=move |ev| new_key.set(event_target_value(&ev)) />
                </label>
                <label class="field">
                    <span class="field__label field__label--small">"Its type"</span>
                    <select class="field__select" on:change=move |ev| {
                        let name = event_target_value(&ev);
                        if let Some(kind) = KeyKind::ALL.into_iter().find(|k| k.as_str() == name) {
                            new_kind.set(kind);
                        }
                    }>
                        {KeyKind::ALL.into_iter().map(|k| view! { <option value=k.as_str() selected=k == KeyKind::Int>{k.as_str()}</option> }).collect_view()}
                    </select>
                </label>
                <button class="button" type="submit" disabled=move || new_key.with(|k| k.trim().is_empty())>"Add key"</button>
            </form>
            <div aria-live="polite">
                {move || checked.with(|(own, broken)| view! {
                    {(!own.is_empty()).then(|| view! {
                        <ul class="field__errors">
                            {own.iter().map(|v| view! { <li>{format!("{}: {}", v.path, v.kind)}</li> }).collect_view()}
                        </ul>
                    })}
                    {(!broken.is_empty()).then(|| view! {
                        <div class="status status--warn" role="status">
                            <p><strong>"Stored values this change would break"</strong></p>
                            <ul>
                                {broken.iter().map(|v| view! { <li>{format!("{}: {}", v.path, v.kind)}</li> }).collect_view()}
                            </ul>
                        </div>
                    })}
                })}
            </div>
            <div class="config__actions">
                <TextField id="schema-reason" label="Reason" value=reason />
                <button class="button button--primary" type="button"
                    disabled=move || !changed() || !clean() on:click=save>"Save schema"</button>
            </div>
            <OutcomeLine outcome=status />
        </div>
    }
}

/// One key: type, default, description, and its type's constraints.
#[component]
fn KeyRow(draft: RwSignal<BTreeMap<String, KeySpec>>, name: String) -> impl IntoView {
    let name = StoredValue::new(name);
    let read = move |part: fn(&KeySpec) -> String| {
        draft.with(|s| name.with_value(|n| s.get(n).map(part).unwrap_or_default()))
    };
    let write = move |change: &dyn Fn(&mut KeySpec)| {
        draft.update(|s| {
            if let Some(spec) = name.with_value(|n| s.get_mut(n)) {
                change(spec);
            }
        });
    };
    let kind = move || draft.with(|s| name.with_value(|n| s.get(n).map(|k| k.kind)));
    let label = move |what: &str| format!("{what} of {}", name.get_value());
    let bounded = move || {
        kind().is_some_and(|k| {
            matches!(
                k,
                KeyKind::Int | KeyKind::Float | KeyKind::Percent | KeyKind::Duration
            )
        })
    };
    let textual = move || kind() == Some(KeyKind::String);
    let weighted = move || kind() == Some(KeyKind::Weights);
    let optional = |text: String| (!text.trim().is_empty()).then(|| parse(&text));
    view! {
        <fieldset class="schema__key">
            <legend><code>{name.get_value()}</code></legend>
            <div class="schema__fields">
                <label class="field">
                    <span class="field__label field__label--small">"Type"</span>
                    <select class="field__select" aria-label=label("Type")
                        prop:value=move || read(|k| k.kind.as_str().to_string())
                        on:change=move |ev| {
                            let text = event_target_value(&ev);
                            if let Some(kind) = KeyKind::ALL.into_iter().find(|k| k.as_str() == text) {
                                write(&|k| k.kind = kind);
                            }
                        }>
                        {KeyKind::ALL.into_iter().map(|k| view! { <option value=k.as_str()>{k.as_str()}</option> }).collect_view()}
                    </select>
                </label>
                <label class="field">
                    <span class="field__label field__label--small">"Default"</span>
                    <input class="field__input" aria-label=label("Default") prop:value=move || read(|k| show(&k.default))
                        on:change=move |ev| { let v = parse(&event_target_value(&ev)); write(&|k| k.default.clone_from(&v)); } />
                </label>
                <label class="field">
                    <span class="field__label field__label--small">"Description"</span>
                    <input class="field__input" aria-label=label("Description") prop:value=move || read(|k| k.description.clone())
                        on:change=move |ev| { let v = event_target_value(&ev); write(&|k| k.description.clone_from(&v)); } />
                </label>
                <Show when=bounded>
                    <label class="field">
                        <span class="field__label field__label--small">"Min"</span>
                        <input class="field__input field__input--short" aria-label=label("Min")
                            prop:value=move || read(|k| k.min.as_ref().map(show).unwrap_or_default())
                            on:change=move |ev| { let v = optional(event_target_value(&ev)); write(&|k| k.min.clone_from(&v)); } />
                    </label>
                    <label class="field">
                        <span class="field__label field__label--small">"Max"</span>
                        <input class="field__input field__input--short" aria-label=label("Max")
                            prop:value=move || read(|k| k.max.as_ref().map(show).unwrap_or_default())
                            on:change=move |ev| { let v = optional(event_target_value(&ev)); write(&|k| k.max.clone_from(&v)); } />
                    </label>
                </Show>
                <Show when=textual>
                    <label class="field">
                        <span class="field__label field__label--small">"Allowed values (comma-separated)"</span>
                        <input class="field__input" aria-label=label("Allowed values")
                            prop:value=move || read(|k| k.choices.as_ref().map(|c| c.join(", ")).unwrap_or_default())
                            on:change=move |ev| { let v = list(&event_target_value(&ev)); write(&|k| k.choices.clone_from(&v)); } />
                    </label>
                    <label class="field">
                        <span class="field__label field__label--small">"Pattern"</span>
                        <input class="field__input" aria-label=label("Pattern")
                            prop:value=move || read(|k| k.pattern.clone().unwrap_or_default())
                            on:change=move |ev| { let v = event_target_value(&ev); write(&|k| k.pattern = (!v.is_empty()).then(|| v.clone())); } />
                    </label>
                </Show>
                <Show when=weighted>
                    <label class="field">
                        <span class="field__label field__label--small">"Names (comma-separated)"</span>
                        <input class="field__input" aria-label=label("Names")
                            prop:value=move || read(|k| k.keys.as_ref().map(|c| c.join(", ")).unwrap_or_default())
                            on:change=move |ev| { let v = list(&event_target_value(&ev)); write(&|k| k.keys.clone_from(&v)); } />
                    </label>
                </Show>
            </div>
            <button class="button button--quiet" type="button" aria-label=format!("Remove {}", name.get_value())
                on:click=move |_| draft.update(|s| { name.with_value(|n| s.remove(n)); })>"Remove key"</button>
        </fieldset>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ServiceRecord {
        serde_json::from_value(serde_json::json!({
            "revision": 4,
            "doc": {
                "service": "checkout",
                "schema": {"throttle.rps": {"type": "int", "default": 500, "min": 1, "max": 100_000}},
                "values": {"prod": {"throttle.rps": 5000}}
            }
        }))
        .expect("a record")
    }

    #[test]
    fn a_tighter_schema_names_the_stored_values_it_breaks() {
        let record = record();
        let mut schema = record.doc.schema.clone();
        assert_eq!(problems(&record, &schema), (vec![], vec![]));
        schema.get_mut("throttle.rps").expect("key").max = Some(serde_json::json!(1000));
        let (own, broken) = problems(&record, &schema);
        assert!(own.is_empty());
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].path.to_string(), r#"values.prod["throttle.rps"]"#);
        schema.get_mut("throttle.rps").expect("key").default = serde_json::json!("many");
        assert_eq!(
            problems(&record, &schema).0.len(),
            1,
            "the default is checked too"
        );
    }

    #[test]
    fn new_keys_start_valid_and_lists_parse() {
        for kind in KeyKind::ALL {
            let mut schema = BTreeMap::new();
            schema.insert("k".to_string(), KeySpec::new(kind, default_for(kind)));
            let record = ServiceRecord {
                doc: setpoint_core::ServiceDoc {
                    schema: BTreeMap::new(),
                    ..record().doc
                },
                ..record()
            };
            let (own, _) = problems(&record, &schema);
            assert!(own.is_empty(), "{}: {own:?}", kind.as_str());
        }
        assert_eq!(
            list(" a, ,b "),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(list(" , "), None);
        assert_eq!(parse("12"), serde_json::json!(12));
        assert_eq!(parse("5s"), serde_json::json!("5s"));
    }
}
