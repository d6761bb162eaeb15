//! Export and import, for admins of every service: everything — the
//! environments and every live service — as one document to download;
//! and a document read back from a file, shown first as what it would
//! change (the server's own plan: a dry run of the import), then applied
//! all or nothing with a reason.

use leptos::{prelude::*, task::spawn_local};
use serde_json::Value;
use wasm_bindgen::JsCast;

use crate::{
    api::{self, ApiError, ImportPlan, Problem},
    components::{DiffList, ProblemList, TextField},
    session::use_session,
};

/// The export link and the import form.
#[component]
pub fn Transfer(
    /// Called once an import applied, so the list shows it.
    on_imported: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let document = RwSignal::new(None::<Value>);
    let preview = RwSignal::new(None::<Result<ImportPlan, ApiError>>);
    let reason = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<Result<String, ApiError>>);
    let busy = RwSignal::new(false);
    let chosen = move |ev: leptos::ev::Event| {
        let Some(file) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            .and_then(|input| input.files())
            .and_then(|files| files.get(0))
        else {
            return;
        };
        outcome.set(None);
        preview.set(None);
        spawn_local(async move {
            let text = wasm_bindgen_futures::JsFuture::from(file.text())
                .await
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default();
            let parsed = match serde_json::from_str::<Value>(&text) {
                Ok(value) => value,
                Err(e) => {
                    preview.set(Some(Err(not_json(&e))));
                    return;
                }
            };
            let plan = api::import(&parsed, "", true)
                .await
                .map(|answer| answer.plan);
            document.set(Some(parsed));
            preview.set(Some(plan.map_err(|e| session.check(e))));
        });
    };
    let apply = move |_| {
        let Some(doc) = document.get_untracked() else {
            return;
        };
        let why = reason.get_untracked();
        busy.set(true);
        spawn_local(async move {
            let done = api::import(&doc, &why, false).await;
            outcome.set(Some(
                done.map(|answer| {
                    on_imported();
                    format!("Imported: {} change(s).", answer.changes.len())
                })
                .map_err(|e| session.check(e)),
            ));
            preview.set(None);
            document.set(None);
            busy.set(false);
        });
    };
    view! {
        <h2 class="section__title">"Export and import"</h2>
        <div class="card transfer">
            <p>
                <a class="button" href=api::EXPORT_URL download="setpoint-export.json">"Export everything"</a>
                <span class="muted">" Environments and every live service, as one document (format setpoint/1)."</span>
            </p>
            <div class="field">
                <label class="field__label" for="import-file">"Import a document"</label>
                <input id="import-file" class="field__input" type="file" accept=".json,application/json" on:change=chosen />
            </div>
            {move || preview.get().map(|plan| match plan {
                Err(e) => view! { <ImportRefused error=e /> }.into_any(),
                Ok(plan) => view! {
                    <Preview plan=plan />
                    <TextField id="import-reason" label="Reason" value=reason />
                    <button class="button button--primary" disabled=move || busy.get() on:click=apply>"Apply import"</button>
                }
                .into_any(),
            })}
            {move || outcome.get().map(|done| match done {
                Ok(message) => view! { <p class="status status--ok" role="status">{message}</p> }.into_any(),
                Err(e) => view! { <ImportRefused error=e /> }.into_any(),
            })}
        </div>
    }
}

fn not_json(error: &serde_json::Error) -> ApiError {
    ApiError {
        status: 400,
        code: "malformed_json".into(),
        message: format!("the file is not JSON: {error}"),
        details: Vec::new(),
        current: None,
    }
}

/// Why an import (or its plan) was refused, with each problem at its path.
#[component]
fn ImportRefused(error: ApiError) -> impl IntoView {
    let problems: Vec<Problem> = error.details.clone();
    view! {
        <p class="status status--error" role="alert">{error.message}</p>
        <ProblemList problems=Signal::derive(move || problems.clone()) />
    }
}

/// What the import would change.
#[component]
fn Preview(plan: ImportPlan) -> impl IntoView {
    let summary = format!(
        "{} environment(s) to create, {} service(s) to create, {} to replace, {} unchanged.",
        plan.environments.len(),
        plan.created.len(),
        plan.replaced.len(),
        plan.unchanged
    );
    view! {
        <div role="region" aria-label="Import preview">
            <p><strong>{summary}</strong></p>
            <ul class="transfer__plan">
                {plan.environments.into_iter().map(|name| view! { <li>{format!("Create environment {name}")}</li> }).collect_view()}
                {plan.created.into_iter().map(|name| view! { <li>{format!("Create service {name}")}</li> }).collect_view()}
                {plan.replaced.into_iter().map(|replaced| {
                    let rows: Vec<_> = replaced.diff.into_iter().map(|d| (d.path.to_string(), d.before, d.after)).collect();
                    view! {
                        <li>
                            {format!("Replace service {} ({} change(s))", replaced.service, rows.len())}
                            <DiffList entries=Signal::derive(move || rows.clone()) />
                        </li>
                    }
                }).collect_view()}
            </ul>
        </div>
    }
}
