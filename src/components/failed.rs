//! Why a read failed, in the server's words: the console's one way of
//! showing a failed call where the data would have been.

use leptos::prelude::*;

use crate::api::ApiError;

/// The error's message, announced to screen readers.
#[component]
pub fn Failed(
    /// The failed call.
    error: ApiError,
) -> impl IntoView {
    view! { <p class="status status--error" role="alert">{error.message}</p> }
}
