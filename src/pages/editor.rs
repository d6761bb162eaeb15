//! The service-document editor: validates as you type, in the browser,
//! through `setpoint-core` — and can ask the server for its verdict, which
//! comes from the very same code.

use std::collections::BTreeSet;

use leptos::{prelude::*, task::spawn_local};
use setpoint_core::{Limits, ServiceDoc, Violation, check_document};

use crate::{
    Route,
    api::{self, ApiError, Problem, Role, Verdict},
    components::{ProblemList, TextField},
    session::Session,
};

/// The document the editor starts with: a complete, valid example.
pub const STARTER: &str = include_str!("../../examples/checkout.json");

/// The smallest valid service: a name and nothing configured yet.
const EMPTY_SERVICE: &str = r#"{
  "service": "new-service",
  "description": "What it does",
  "owners": ["team-name"],
  "schema": {}
}
"#;

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
            <div class="field field--inline">
                <label class="field__label" for="template">"Start from"</label>
                <select
                    id="template"
                    class="field__select"
                    on:change=move |ev| {
                        let template = if event_target_value(&ev) == "empty" { EMPTY_SERVICE } else { STARTER };
                        text.set(template.to_string());
                        server.set(None);
                    }
                >
                    <option value="example">"The example (checkout)"</option>
                    <option value="empty">"An empty service"</option>
                </select>
            </div>
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
                    <CreateService checked=checked text=text />
                    <ServerVerdict verdict=server.into() />
                    <ResolvedConfig checked=checked.into() />
                </aside>
            </div>
        </section>
    }
}

/// Admins create the service the document describes, once it is valid;
/// the page then links to it.
#[component]
fn CreateService(
    checked: Memo<Result<ServiceDoc, Vec<Violation>>>,
    text: RwSignal<String>,
) -> impl IntoView {
    // The browser tests mount the editor alone, with no one logged in.
    let Some(session) = use_context::<Session>() else {
        return ().into_any();
    };
    let reason = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let busy = RwSignal::new(false);
    let name = move || checked.with(|c| c.as_ref().ok().map(|doc| doc.service.clone()));
    let may = move || name().is_some_and(|service| session.may(Role::Admin, &service));
    let create = move |_| {
        let Ok(document) = serde_json::from_str::<serde_json::Value>(&text.get_untracked()) else {
            return;
        };
        let why = reason.get_untracked();
        busy.set(true);
        spawn_local(async move {
            let made = api::create_service(&document, &why).await;
            outcome.set(Some(match made {
                Ok(written) => Ok(format!("Created as revision {}.", written.revision)),
                Err(e) => Err(session.check(e).message),
            }));
            busy.set(false);
        });
    };
    // Shown to admins (of the named service, or of all while it is invalid).
    let shown = move || session.me().is_some_and(|me| me.role == Role::Admin);
    view! {
        <div class="editor__actions" hidden=move || !shown()>
            <TextField id="create-reason" label="Reason" value=reason />
            <button
                class="button"
                disabled=move || busy.get() || !may()
                on:click=create
            >
                {move || name().map_or_else(|| "Create service".to_string(), |n| format!("Create service {n}"))}
            </button>
        </div>
        <p
            class=move || if outcome.with(|o| matches!(o, Some(Ok(_)))) { "status status--ok" } else { "status status--error" }
            role="status"
            hidden=move || outcome.with(Option::is_none)
        >
            {move || outcome.get().map(|o| o.unwrap_or_else(|e| e)).unwrap_or_default()}
            {move || match (outcome.get(), name()) {
                (Some(Ok(_)), Some(n)) => Some(view! { " " <a href=Route::Service(n.clone()).href()>{format!("Open {n}")}</a> }),
                _ => None,
            }}
        </p>
    }
    .into_any()
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
