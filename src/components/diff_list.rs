//! A diff as a table: path, before, after — for save previews, conflicts,
//! the audit log and rollback previews alike.

use leptos::prelude::*;
use serde_json::Value;

/// One line of a diff: path, before, after (absent when added / removed).
pub type DiffRow = (String, Option<Value>, Option<Value>);

/// Lines of a diff: path, before, after.
#[component]
pub fn DiffList(
    /// `(path, before, after)`, absent sides for added or removed.
    #[prop(into)]
    entries: Signal<Vec<DiffRow>>,
) -> impl IntoView {
    view! {
        <Show
            when=move || entries.with(|e| !e.is_empty())
            fallback=|| view! { <p class="muted">"No differences."</p> }
        >
            <table class="table diff">
                <thead>
                    <tr><th scope="col">"Path"</th><th scope="col">"Before"</th><th scope="col">"After"</th></tr>
                </thead>
                <tbody>
                    {move || {
                        entries
                            .get()
                            .into_iter()
                            .map(|(path, before, after)| {
                                view! {
                                    <tr>
                                        <td><code>{path}</code></td>
                                        <td class="diff__before">{before.as_ref().map_or_else(|| "—".into(), display)}</td>
                                        <td class="diff__after">{after.as_ref().map_or_else(|| "—".into(), display)}</td>
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
        </Show>
    }
}

/// A value as people read it: strings bare, everything else as JSON.
pub fn display(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
