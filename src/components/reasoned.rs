//! A button for a step that needs a reason (delete, restore): pressed, it
//! asks for the reason, then confirms or cancels; a refusal shows under
//! it. The step itself is the caller's.

use std::future::Future;

use leptos::{prelude::*, task::spawn_local};

/// "Delete service…" → a reason, "Delete" and "Cancel".
#[component]
pub fn ReasonedButton<F, Fut>(
    /// The id of the reason's input (its label points at it).
    #[prop(into)]
    id: String,
    /// The first button's text, e.g. `Delete service…`.
    label: &'static str,
    /// The confirming button's text, e.g. `Delete`.
    confirm: &'static str,
    /// Runs the step with the reason; `Err` holds why it was refused.
    action: F,
) -> impl IntoView
where
    F: Fn(String) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + 'static,
{
    let asking = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let reason = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let id = StoredValue::new(id);
    let run = move |_| {
        busy.set(true);
        error.set(None);
        let why = reason.get_untracked();
        spawn_local(async move {
            if let Err(message) = action(why).await {
                error.set(Some(message));
            }
            busy.set(false);
        });
    };
    view! {
        <Show
            when=move || asking.get()
            fallback=move || view! { <button type="button" class="button" on:click=move |_| asking.set(true)>{label}</button> }
        >
            <div class="inline-form">
                <label class="visually-hidden" for=id.get_value()>"Reason"</label>
                <input
                    id=id.get_value()
                    class="field__input"
                    placeholder="Reason"
                    prop:value=move || reason.get()
                    on:input=move |ev| reason.set(event_target_value(&ev))
                />
                <button type="button" class="button button--primary" disabled=move || busy.get() on:click=run>{confirm}</button>
                <button type="button" class="button" on:click=move |_| asking.set(false)>"Cancel"</button>
                <span class="status status--error" role="alert" hidden=move || error.with(Option::is_none)>
                    {move || error.get().unwrap_or_default()}
                </span>
            </div>
        </Show>
    }
}
