//! A labelled text input bound to a signal: the console's one way to write
//! one, so every field gets its label, id and styling alike.

use leptos::prelude::*;

/// A labelled input whose text lives in `value`.
#[component]
pub fn TextField(
    /// The input's id (the label points at it).
    #[prop(into)]
    id: String,
    /// The visible label.
    label: &'static str,
    /// The text, read and written as the user types.
    value: RwSignal<String>,
    /// The input type: `text`, `password`, `search`, `date`…
    #[prop(default = "text")]
    kind: &'static str,
    /// The browser's autofill hint.
    #[prop(optional)]
    autocomplete: Option<&'static str>,
    /// A hint shown while empty.
    #[prop(optional)]
    placeholder: Option<&'static str>,
    /// Whether the form needs it.
    #[prop(optional)]
    required: bool,
) -> impl IntoView {
    view! {
        <div class="field">
            <label class="field__label" for=id.clone()>{label}</label>
            <input
                id=id
                class="field__input"
                type=kind
                autocomplete=autocomplete
                placeholder=placeholder
                required=required
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
        </div>
    }
}
