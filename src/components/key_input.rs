//! One input per schema key type, for a value being edited: a switch for
//! `bool`, numbers within the schema's bounds, a slider for `percent`, one
//! input per name for `weights`, a select for `string` with `choices`, a
//! text area for `json`, the parts of a `ref`. Each reports what was typed
//! as an [`Edit`]; what to make of it is the form's.

use leptos::prelude::*;
use serde_json::Value;
use setpoint_core::{KeyKind, KeySpec};

use super::display;

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

/// What every input of one key needs: its ids, what it shows, where edits
/// go.
#[derive(Clone)]
pub struct Wiring {
    /// The input's id (its label points at it).
    pub id: String,
    /// The id of the element listing the key's problems.
    pub described: String,
    /// The key's schema.
    pub spec: StoredValue<KeySpec>,
    /// The value shown.
    pub value: Memo<Value>,
    /// Text typed that does not parse, shown instead of the value.
    pub raw: Memo<Option<String>>,
    /// Where edits go.
    pub edit: Callback<Edit>,
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
pub fn input_for(kind: KeyKind, wiring: &Wiring) -> AnyView {
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

/// A number as typed: whole when `integer`, finite either way.
pub fn parse_number(text: &str, integer: bool) -> Edit {
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

/// The name a key type has in service documents.
pub fn kind_name(kind: KeyKind) -> &'static str {
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

    use super::*;

    #[test]
    fn numbers_parse_or_say_what_is_expected() {
        assert_eq!(parse_number(" 12 ", true), Edit::Set(json!(12)));
        assert!(matches!(parse_number("1.5", true), Edit::Unparsable { .. }));
        assert_eq!(parse_number("1.5", false), Edit::Set(json!(1.5)));
        assert!(matches!(parse_number("", false), Edit::Unparsable { .. }));
    }
}
