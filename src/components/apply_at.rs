//! When a write applies: now, or at a time the user picks in their own
//! time zone. The server takes the time in UTC as `Setpoint-Apply-At` and
//! holds the write as a scheduled change request until then.

use leptos::prelude::*;
use setpoint_core::time::format_timestamp;

/// The UTC time to send for `local`, a `datetime-local` input's text read
/// in the browser's zone; `None` when empty: apply now.
pub fn apply_at(local: &str) -> Result<Option<String>, String> {
    let local = local.trim();
    if local.is_empty() {
        return Ok(None);
    }
    // ECMAScript reads a date and time without an offset as local time,
    // which is what the input shows.
    let millis = web_sys::js_sys::Date::new(&wasm_bindgen::JsValue::from_str(local)).get_time();
    if millis.is_nan() {
        return Err(format!("{local:?} is not a date and time"));
    }
    if millis <= web_sys::js_sys::Date::now() {
        return Err("that time has passed: clear it to apply now".into());
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a date's milliseconds since the epoch are whole and far inside i64"
    )]
    let millis = millis as i64;
    Ok(Some(format_timestamp(millis)))
}

/// A labelled date-and-time input for scheduling a write, with what is
/// wrong with its text under it.
#[component]
pub fn ApplyAt(
    /// The input's id (the label points at it).
    id: &'static str,
    /// The `datetime-local` text; read it with [`apply_at`].
    value: RwSignal<String>,
) -> impl IntoView {
    let problem = move || value.with(|v| apply_at(v).err());
    view! {
        <div class="field">
            <label class="field__label" for=id>"Apply at (optional, your time zone)"</label>
            <input
                id=id
                class="field__input"
                type="datetime-local"
                step="1"
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
            <p class="field__errors" role="alert" hidden=move || problem().is_none()>
                {problem}
            </p>
        </div>
    }
}
