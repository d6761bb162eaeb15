//! What became of the user's last action, in one line: done (and how), or
//! why not. Hidden until there is something to say.

use leptos::prelude::*;

/// The outcome of an action: `Ok` says what happened, `Err` why it did
/// not.
pub type Outcome = RwSignal<Option<Result<String, String>>>;

/// One status line for an [`Outcome`], announced to screen readers.
#[component]
pub fn OutcomeLine(
    /// The outcome shown; `None` hides the line.
    outcome: Outcome,
) -> impl IntoView {
    view! {
        <p
            class=move || if outcome.with(|o| matches!(o, Some(Ok(_)))) { "status status--ok" } else { "status status--error" }
            role="status"
            hidden=move || outcome.with(Option::is_none)
        >
            {move || outcome.get().map(|o| o.unwrap_or_else(|e| e)).unwrap_or_default()}
        </p>
    }
}
