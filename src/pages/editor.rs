//! The service-document editor: validates as you type, in the browser,
//! through `setpoint-core` — and can ask the server for its verdict, which
//! comes from the very same code.

use std::collections::BTreeSet;

use leptos::{prelude::*, task::spawn_local};
use setpoint_core::{Limits, ServiceDoc, Violation, check_document};

use crate::{
    Route,
    api::{self, ApiError, Problem, Verdict},
    components::ProblemList,
};

/// The document the editor starts with: a complete, valid example.
pub const STARTER: &str = include_str!("../../examples/checkout.json");

/// The editor page.
#[component]
pub fn Editor() -> impl IntoView {
    let text = RwSignal::new(STARTER.to_string());
    let checked = Memo::new(move |_| text.with(|t| check_document(t, &Limits::default())));
    let problems = Signal::derive(move || {
        checked.with(|result| match result {
            Ok(_) => Vec::new(),
            Err(violations) => violations.iter().map(Problem::from).collect(),
        })
    });
    let server = RwSignal::new(None::<Result<Verdict, ApiError>>);
    let checking = RwSignal::new(false);

    let check_on_server = move |_| {
        let document = text.get_untracked();
        checking.set(true);
        spawn_local(async move {
            let verdict = api::validate(&document).await;
            server.set(Some(verdict));
            checking.set(false);
        });
    };

    view! {
        <section class="page editor">
            <h1 class="page__title">{Route::Editor.label()}</h1>
            <p class="page__lede">
                "Paste or edit a service document. It is checked as you type, in your browser, by the same code the server runs."
            </p>
            <div class="editor__layout">
                <div class="field editor__input">
                    <label class="field__label" for="document">"Service document (JSON)"</label>
                    <textarea
                        id="document"
                        class="editor__textarea"
                        spellcheck="false"
                        aria-describedby="document-status"
                        aria-invalid=move || checked.with(Result::is_err).to_string()
                        prop:value=move || text.get()
                        on:input=move |ev| {
                            text.set(event_target_value(&ev));
                            server.set(None);
                        }
                    ></textarea>
                </div>
                <aside class="editor__results" aria-label="Validation">
                    <p
                        id="document-status"
                        class=move || {
                            if checked.with(Result::is_ok) { "status status--ok" } else { "status status--error" }
                        }
                        role="status"
                        aria-live="polite"
                    >
                        {move || checked.with(summary)}
                    </p>
                    <ProblemList problems=problems />
                    <div class="editor__actions">
                        <button
                            class="button button--primary"
                            disabled=move || checking.get() || checked.with(Result::is_err)
                            on:click=check_on_server
                        >
                            {move || if checking.get() { "Checking…" } else { "Check on server" }}
                        </button>
                    </div>
                    <ServerVerdict verdict=server.into() />
                    <ResolvedConfig checked=checked.into() />
                </aside>
            </div>
        </section>
    }
}

fn summary(result: &Result<ServiceDoc, Vec<Violation>>) -> String {
    match result {
        Ok(doc) => format!(
            "Valid: {} — {} keys, {} flags, {} breakers",
            doc.service,
            doc.schema.len(),
            doc.flags.len(),
            doc.breakers.len()
        ),
        Err(violations) if violations.len() == 1 => "1 problem".to_string(),
        Err(violations) => format!("{} problems", violations.len()),
    }
}

/// The server's answer to "Check on server", until the next edit.
#[component]
fn ServerVerdict(
    /// The last answer, if any since the last edit.
    verdict: Signal<Option<Result<Verdict, ApiError>>>,
) -> impl IntoView {
    move || {
        verdict.get().map(|answer| match answer {
            Ok(v) => view! {
                <p class="status status--ok server-verdict">
                    {format!("The server agrees: {} is valid.", v.service)}
                </p>
            }
            .into_any(),
            Err(e) => {
                let problems = Signal::stored(e.details.clone());
                view! {
                    <div class="server-verdict" role="alert">
                        <p class="status status--error">{format!("The server says: {}", e.message)}</p>
                        <ProblemList problems=problems />
                    </div>
                }
                .into_any()
            }
        })
    }
}

/// The config each environment would serve, resolved by the core.
#[component]
fn ResolvedConfig(
    /// The checked document.
    checked: Signal<Result<ServiceDoc, Vec<Violation>>>,
) -> impl IntoView {
    let environment = RwSignal::new(String::new());
    let environments = Memo::new(move |_| {
        checked.with(|result| {
            result.as_ref().map_or_else(
                |_| Vec::new(),
                |doc| {
                    doc.values
                        .keys()
                        .chain(doc.flags.values().flat_map(|f| f.environments.keys()))
                        .cloned()
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect::<Vec<_>>()
                },
            )
        })
    });
    let selected = move || {
        let current = environment.get();
        environments.with(|envs| {
            if envs.contains(&current) {
                current
            } else {
                envs.first().cloned().unwrap_or_default()
            }
        })
    };
    let rows = move || {
        let env = selected();
        checked.with(|result| {
            result.as_ref().map_or_else(
                |_| Vec::new(),
                |doc| {
                    let overridden = doc.values.get(&env);
                    doc.resolved_config(&env)
                        .into_iter()
                        .map(|(key, value)| {
                            let is_override = overridden.is_some_and(|v| v.contains_key(&key));
                            (key, value.to_string(), is_override)
                        })
                        .collect::<Vec<_>>()
                },
            )
        })
    };
    view! {
        <Show when=move || environments.with(|e| !e.is_empty())>
            <div class="card resolved">
                <div class="field field--inline">
                    <label class="field__label" for="resolved-env">"Resolved config in"</label>
                    <select
                        id="resolved-env"
                        class="field__select"
                        on:change=move |ev| environment.set(event_target_value(&ev))
                        prop:value=selected
                    >
                        {move || {
                            environments
                                .get()
                                .into_iter()
                                .map(|env| view! { <option value=env.clone()>{env.clone()}</option> })
                                .collect_view()
                        }}
                    </select>
                </div>
                <table class="table">
                    <thead>
                        <tr>
                            <th scope="col">"Key"</th>
                            <th scope="col">"Value"</th>
                            <th scope="col">"Source"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {move || {
                            rows()
                                .into_iter()
                                .map(|(key, value, is_override)| {
                                    view! {
                                        <tr>
                                            <td><code>{key}</code></td>
                                            <td><code class="table__value">{value}</code></td>
                                            <td>{if is_override { "override" } else { "default" }}</td>
                                        </tr>
                                    }
                                })
                                .collect_view()
                        }}
                    </tbody>
                </table>
            </div>
        </Show>
    }
}
