//! A flag's variants and its `off` variant: what a flag can serve. Changing
//! them changes the flag's shape, so it takes the `editor` role (the server
//! enforces it; a `rollout` user sees them read-only). Values are JSON and
//! must share one type; the core's `validate_flag` (run by the flag panel)
//! also catches targeting that names a variant that is gone.

use leptos::prelude::*;
use serde_json::Value;
use setpoint_core::Flag;

/// A variant value from its text: JSON when it parses, else the text as a
/// string (so `blue` needs no quotes).
pub fn parse_value(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|_| Value::String(text.trim().to_string()))
}

/// The variants editor.
#[component]
pub fn Variants(
    /// The flag being edited.
    draft: RwSignal<Flag>,
    /// Whether the user may change the flag's shape.
    editable: bool,
) -> impl IntoView {
    let names = Memo::new(move |_| draft.with(|f| f.variants.keys().cloned().collect::<Vec<_>>()));
    let new_name = RwSignal::new(String::new());
    let new_value = RwSignal::new(String::new());
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = new_name.get_untracked().trim().to_string();
        if name.is_empty() {
            return;
        }
        let value = parse_value(&new_value.get_untracked());
        draft.update(|f| {
            f.variants.insert(name, value);
        });
        new_name.set(String::new());
        new_value.set(String::new());
    };
    view! {
        <table class="table" aria-label="Variants">
            <thead><tr><th scope="col">"Variant"</th><th scope="col">"Value (JSON)"</th><th scope="col"></th></tr></thead>
            <tbody>
                <For each=move || names.get() key=Clone::clone children=move |name| {
                    let value = {
                        let name = name.clone();
                        move || draft.with(|f| f.variants.get(&name).map(Value::to_string).unwrap_or_default())
                    };
                    let set = {
                        let name = name.clone();
                        move |ev| {
                            let value = parse_value(&event_target_value(&ev));
                            draft.update(|f| { f.variants.insert(name.clone(), value); });
                        }
                    };
                    let remove = {
                        let name = name.clone();
                        move |_| draft.update(|f| { f.variants.remove(&name); })
                    };
                    view! {
                        <tr>
                            <th scope="row"><code>{name.clone()}</code></th>
                            <td>
                                <input class="field__input" disabled=!editable
                                    aria-label=format!("Value of variant {name}")
                                    prop:value=value on:change=set />
                            </td>
                            <td>
                                {editable.then(|| view! {
                                    <button class="button button--quiet" type="button"
                                        aria-label=format!("Remove variant {name}") on:click=remove>"Remove"</button>
                                })}
                            </td>
                        </tr>
                    }
                } />
            </tbody>
        </table>
        <label class="field field--inline">
            <span class="field__label">"Served when disabled"</span>
            <select class="field__select" disabled=!editable
                prop:value=move || draft.with(|f| f.off.clone())
                on:change=move |ev| draft.update(|f| f.off = event_target_value(&ev))>
                {move || names.get().into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
            </select>
        </label>
        {editable.then(|| view! {
            <form class="inline-form" on:submit=add>
                <label class="field">
                    <span class="field__label field__label--small">"New variant"</span>
                    <input class="field__input field__input--short" prop:value=move || new_name.get()
                        on:input=move |ev| new_name.set(event_target_value(&ev)) />
                </label>
                <label class="field">
                    <span class="field__label field__label--small">"Its value"</span>
                    <input class="field__input" prop:value=move || new_value.get()
                        on:input=move |ev| new_value.set(event_target_value(&ev)) />
                </label>
                <button class="button" type="submit" disabled=move || new_name.with(|n| n.trim().is_empty())>"Add variant"</button>
            </form>
        })}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::parse_value;

    #[test]
    fn values_are_json_or_plain_text() {
        assert_eq!(parse_value("true"), json!(true));
        assert_eq!(parse_value(" 12.5 "), json!(12.5));
        assert_eq!(parse_value(r#"{"limit": 3}"#), json!({"limit": 3}));
        assert_eq!(parse_value("blue"), json!("blue"));
        assert_eq!(parse_value(r#""42""#), json!("42"));
    }
}
