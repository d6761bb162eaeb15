//! The rule builder of a flag's targeting in one environment: add, edit,
//! reorder and remove rules and their conditions. Rules are targeting, so a
//! `rollout` user may change them; the core's `validate_flag` (run by the
//! flag panel) checks the result as it changes.
//!
//! The list is rebuilt only when its shape changes (a rule or condition
//! added, removed or moved); every input reads and writes the draft in
//! place, so typing never recreates the field being typed in.

use leptos::prelude::*;
use serde_json::Value;
use setpoint_core::{Condition, Flag, Op, Rule, Serve};

use super::serve::{ServeEditor, ServeSlot};

/// How an operand reads in its text field: strings bare, anything else as
/// JSON (`42`, `true`); lists separated by commas.
pub fn operand_text(condition: &Condition) -> String {
    let one = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if condition.op.takes_list() {
        condition
            .values
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(one)
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        condition.value.as_ref().map(one).unwrap_or_default()
    }
}

/// One operand from its text: JSON numbers, booleans and quoted strings as
/// such, anything else as a string (`DE` is `"DE"`; `"42"` is the string).
pub fn parse_operand(text: &str) -> Value {
    let text = text.trim();
    match serde_json::from_str::<Value>(text) {
        Ok(value @ (Value::Number(_) | Value::Bool(_) | Value::String(_))) => value,
        _ => Value::String(text.to_string()),
    }
}

/// Sets a condition's operand from its text, as a list for `in`/`not_in`.
pub fn set_operand(condition: &mut Condition, text: &str) {
    if condition.op.takes_list() {
        condition.value = None;
        condition.values = Some(
            text.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(parse_operand)
                .collect(),
        );
    } else {
        condition.values = None;
        condition.value = (!text.trim().is_empty()).then(|| parse_operand(text));
    }
}

/// Changes a condition's operator, keeping its operand text.
pub fn set_op(condition: &mut Condition, op: Op) {
    let text = operand_text(condition);
    condition.op = op;
    set_operand(condition, &text);
}

/// A new rule serving `variant` to everyone, until conditions are added.
pub fn new_rule(variant: &str) -> Rule {
    Rule {
        name: String::new(),
        when: vec![new_condition()],
        serve: Serve::Variant(variant.to_string()),
    }
}

fn new_condition() -> Condition {
    Condition {
        attribute: String::new(),
        op: Op::Eq,
        value: None,
        values: None,
    }
}

/// The rule builder.
#[component]
pub fn RuleBuilder(
    /// The flag being edited.
    draft: RwSignal<Flag>,
    /// The environment whose rules are edited.
    env: StoredValue<String>,
    /// Whether the user may change them.
    editable: bool,
) -> impl IntoView {
    let edit = move |change: &dyn Fn(&mut Vec<Rule>)| {
        draft.update(|flag| {
            if let Some(targeting) = env.with_value(|e| flag.environments.get_mut(e)) {
                change(&mut targeting.rules);
            }
        });
    };
    let shape = Memo::new(move |_| {
        draft.with(|f| {
            env.with_value(|e| {
                f.environments
                    .get(e)
                    .map(|t| t.rules.iter().map(|r| r.when.len()).collect::<Vec<_>>())
                    .unwrap_or_default()
            })
        })
    });
    let variants =
        Memo::new(move |_| draft.with(|f| f.variants.keys().cloned().collect::<Vec<_>>()));
    let add_rule = move |_| {
        let first = variants.with_untracked(|v| v.first().cloned().unwrap_or_default());
        edit(&|rules| rules.push(new_rule(&first)));
    };
    view! {
        <div class="rules">
            {move || {
                let shape = shape.get();
                if shape.is_empty() {
                    return view! { <p class="muted">"No rules: the default serves everyone."</p> }.into_any();
                }
                let count = shape.len();
                view! {
                    <ol class="rules__list">
                        {shape.into_iter().enumerate().map(|(r, conditions)| view! {
                            <RuleView draft=draft env=env index=r count=count conditions=conditions editable=editable />
                        }).collect_view()}
                    </ol>
                }
                .into_any()
            }}
            {editable.then(|| view! {
                <button class="button" type="button" on:click=add_rule>"Add rule"</button>
            })}
        </div>
    }
}

/// Reads the rule at `index` of the environment's targeting.
fn with_rule<T>(
    draft: RwSignal<Flag>,
    env: StoredValue<String>,
    index: usize,
    read: impl FnOnce(&Rule) -> T,
) -> Option<T> {
    draft.with(|f| env.with_value(|e| f.environments.get(e)?.rules.get(index).map(read)))
}

/// Changes the rule at `index`.
fn update_rule(
    draft: RwSignal<Flag>,
    env: StoredValue<String>,
    index: usize,
    change: impl FnOnce(&mut Rule),
) {
    draft.update(|f| {
        if let Some(rule) = env.with_value(|e| f.environments.get_mut(e)?.rules.get_mut(index)) {
            change(rule);
        }
    });
}

/// One rule: name, conditions, what it serves, and its place in the list.
#[component]
fn RuleView(
    draft: RwSignal<Flag>,
    env: StoredValue<String>,
    index: usize,
    count: usize,
    conditions: usize,
    editable: bool,
) -> impl IntoView {
    let id = move |part: &str| format!("rule-{index}-{part}");
    let move_by = move |offset: isize| {
        draft.update(|f| {
            if let Some(t) = env.with_value(|e| f.environments.get_mut(e)) {
                let to = index
                    .checked_add_signed(offset)
                    .filter(|to| *to < t.rules.len());
                if let Some(to) = to {
                    t.rules.swap(index, to);
                }
            }
        });
    };
    view! {
        <li class="rule" aria-label=format!("Rule {}", index + 1)>
            <div class="rule__head">
                <label class="field">
                    <span class="field__label field__label--small">{format!("Rule {} name", index + 1)}</span>
                    <input id=id("name") class="field__input" disabled=!editable
                        prop:value=move || with_rule(draft, env, index, |r| r.name.clone()).unwrap_or_default()
                        on:change=move |ev| update_rule(draft, env, index, |r| r.name = event_target_value(&ev)) />
                </label>
                {editable.then(|| view! {
                    <div class="rule__order">
                        <button class="button button--quiet" type="button" disabled=index == 0
                            aria-label=format!("Move rule {} up", index + 1) on:click=move |_| move_by(-1)>"↑"</button>
                        <button class="button button--quiet" type="button" disabled=index + 1 == count
                            aria-label=format!("Move rule {} down", index + 1) on:click=move |_| move_by(1)>"↓"</button>
                        <button class="button button--quiet" type="button"
                            aria-label=format!("Remove rule {}", index + 1)
                            on:click=move |_| draft.update(|f| {
                                if let Some(t) = env.with_value(|e| f.environments.get_mut(e)) && index < t.rules.len() {
                                    t.rules.remove(index);
                                }
                            })>"Remove"</button>
                    </div>
                })}
            </div>
            <p class="field__label field__label--small">"When all of"</p>
            <ul class="rule__conditions">
                {(0..conditions).map(|c| view! {
                    <ConditionView draft=draft env=env rule=index index=c editable=editable />
                }).collect_view()}
            </ul>
            {editable.then(|| view! {
                <button class="button button--quiet" type="button"
                    on:click=move |_| update_rule(draft, env, index, |r| r.when.push(new_condition()))>
                    "Add condition"
                </button>
            })}
            <ServeEditor draft=draft env=env which=ServeSlot::Rule(index) editable=editable />
        </li>
    }
}

/// One condition: attribute, operator, operand.
#[component]
fn ConditionView(
    draft: RwSignal<Flag>,
    env: StoredValue<String>,
    rule: usize,
    index: usize,
    editable: bool,
) -> impl IntoView {
    let read = move |part: fn(&Condition) -> String| {
        with_rule(draft, env, rule, |r| r.when.get(index).map(part))
            .flatten()
            .unwrap_or_default()
    };
    let write = move |change: &dyn Fn(&mut Condition)| {
        update_rule(draft, env, rule, |r| {
            if let Some(condition) = r.when.get_mut(index) {
                change(condition);
            }
        });
    };
    let label = format!("rule {} condition {}", rule + 1, index + 1);
    view! {
        <li class="condition">
            <input class="field__input field__input--short" disabled=!editable
                aria-label=format!("Attribute of {label}") placeholder="attribute"
                prop:value=move || read(|c| c.attribute.clone())
                on:change=move |ev| { let text = event_target_value(&ev); write(&|c| c.attribute.clone_from(&text)); } />
            <select class="field__select" disabled=!editable aria-label=format!("Operator of {label}")
                prop:value=move || read(|c| c.op.as_str().to_string())
                on:change=move |ev| {
                    let name = event_target_value(&ev);
                    if let Some(op) = Op::ALL.into_iter().find(|op| op.as_str() == name) {
                        write(&|c| set_op(c, op));
                    }
                }>
                {Op::ALL.into_iter().map(|op| view! { <option value=op.as_str()>{op.as_str()}</option> }).collect_view()}
            </select>
            <input class="field__input" disabled=!editable
                aria-label=format!("Value of {label}") placeholder="value (lists: a, b)"
                prop:value=move || read(operand_text)
                on:change=move |ev| { let text = event_target_value(&ev); write(&|c| set_operand(c, &text)); } />
            {editable.then(|| view! {
                <button class="button button--quiet" type="button" aria-label=format!("Remove {label}")
                    on:click=move |_| update_rule(draft, env, rule, |r| { if index < r.when.len() { r.when.remove(index); } })>
                    "×"
                </button>
            })}
        </li>
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn operands_read_and_parse_as_people_type_them() {
        assert_eq!(parse_operand("DE"), json!("DE"));
        assert_eq!(parse_operand(" 42 "), json!(42));
        assert_eq!(parse_operand("true"), json!(true));
        assert_eq!(parse_operand("\"42\""), json!("42"), "quotes keep a string");
        assert_eq!(parse_operand("{\"a\": 1}"), json!("{\"a\": 1}"));

        let mut condition = new_condition();
        set_operand(&mut condition, "DE, FR ,, 7");
        assert_eq!(
            condition.value,
            Some(json!("DE, FR ,, 7")),
            "eq takes one value"
        );
        set_op(&mut condition, Op::In);
        assert_eq!(
            condition.values,
            Some(vec![json!("DE"), json!("FR"), json!(7)])
        );
        assert_eq!(condition.value, None);
        assert_eq!(operand_text(&condition), "DE, FR, 7");
        set_op(&mut condition, Op::Gt);
        assert_eq!(condition.values, None);
        assert_eq!(
            condition.value,
            Some(json!("DE, FR, 7")),
            "the text carries over"
        );
        set_operand(&mut condition, "");
        assert_eq!(
            condition.value, None,
            "empty is missing, and validation says so"
        );
    }
}
