//! The config form of one environment, generated from the schema: a field
//! per key, the review of the diff with a reason, and the conflict view
//! when someone saved first.

use std::collections::BTreeMap;

use leptos::{prelude::*, task::spawn_local};
use setpoint_core::{KeySpec, Policy, diff::diff};

use super::draft::Draft;
use crate::{
    api::{self, Role, ServiceRecord},
    components::{ApplyAt, DiffList, Edit, Wiring, apply_at, display, input_for, kind_name},
    session::use_session,
};

/// The config of one environment: editable for editors, read-only else.
#[component]
pub fn ConfigForm(
    record: ServiceRecord,
    environment: String,
    /// The environment's policy: whether saving needs a reason, or is a
    /// submission for review.
    policy: Policy,
    saved: RwSignal<Option<String>>,
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let service = record.doc.service.clone();
    let editable = session.may(Role::Editor, &service);
    let draft = RwSignal::new(Draft::new(record, environment));
    let problems = Memo::new(move |_| draft.with(Draft::problems));
    let dirty = Memo::new(move |_| draft.with(Draft::dirty));
    let reviewing = RwSignal::new(false);
    let conflict = RwSignal::new(None::<ServiceRecord>);
    let keys: Vec<(String, KeySpec)> = draft.with_untracked(|d| {
        d.base
            .doc
            .schema
            .iter()
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect()
    });

    let fields = keys
        .into_iter()
        .map(|(key, spec)| {
            view! { <KeyField key=key spec=spec draft=draft problems=problems editable=editable /> }
        })
        .collect_view();

    view! {
        <form class="config" on:submit=|ev| ev.prevent_default() aria-label="Config">
            <p class="status status--ok" role="status" hidden=move || saved.with(Option::is_none)>
                {move || saved.get().unwrap_or_default()}
            </p>
            <div class="config__fields">{fields}</div>
            {editable
                .then(|| {
                    view! {
                        <div class="config__actions">
                            <p class="muted" aria-live="polite">
                                {move || {
                                    let count = problems.with(BTreeMap::len);
                                    if count > 0 {
                                        format!("{count} field(s) need attention before saving.")
                                    } else if dirty.get() {
                                        "Unsaved changes.".to_string()
                                    } else {
                                        "No changes.".to_string()
                                    }
                                }}
                            </p>
                            <button
                                type="button"
                                class="button button--primary"
                                disabled=move || !dirty.get() || problems.with(|p| !p.is_empty())
                                on:click=move |_| {
                                    saved.set(None);
                                    reviewing.set(true);
                                }
                            >
                                "Review and save…"
                            </button>
                        </div>
                    }
                })}
            <Show when=move || reviewing.get() && conflict.with(Option::is_none)>
                <Review draft=draft policy=policy.clone() reviewing=reviewing conflict=conflict saved=saved on_saved=on_saved />
            </Show>
            <Show when=move || conflict.with(Option::is_some)>
                <Conflict draft=draft conflict=conflict />
            </Show>
        </form>
    }
}

/// One schema key: label, input by type, default vs override, its errors.
#[component]
fn KeyField(
    key: String,
    spec: KeySpec,
    draft: RwSignal<Draft>,
    problems: Memo<BTreeMap<String, Vec<String>>>,
    editable: bool,
) -> impl IntoView {
    let id = format!("key-{key}");
    let error_id = format!("{id}-errors");
    let key = StoredValue::new(key);
    let spec = StoredValue::new(spec);
    let value = Memo::new(move |_| {
        draft.with(|d| key.with_value(|k| spec.with_value(|s| d.effective(k, s))))
    });
    let overridden = Memo::new(move |_| draft.with(|d| key.with_value(|k| d.overridden(k))));
    let messages = Memo::new(move |_| {
        problems.with(|p| key.with_value(|k| p.get(k).cloned().unwrap_or_default()))
    });
    let edit = Callback::new(move |edit: Edit| {
        draft.update(|d| {
            d.edits.insert(key.get_value(), edit);
        });
    });
    let reset = move |_| {
        draft.update(|d| {
            let k = key.get_value();
            if d.stored(&k).is_some() {
                d.edits.insert(k, Edit::Reset);
            } else {
                d.edits.remove(&k);
            }
        });
    };
    let raw = Memo::new(move |_| {
        draft.with(|d| {
            key.with_value(|k| match d.edits.get(k) {
                Some(Edit::Unparsable { text, .. }) => Some(text.clone()),
                _ => None,
            })
        })
    });
    let kind = spec.with_value(|s| s.kind);
    let input = if editable {
        input_for(
            kind,
            &Wiring {
                id: id.clone(),
                described: error_id.clone(),
                spec,
                value,
                raw,
                edit,
            },
        )
    } else {
        view! { <output id=id.clone() class="config__value">{move || display(&value.get())}</output> }
            .into_any()
    };
    let description = spec.with_value(|s| s.description.clone());
    let default_text = spec.with_value(|s| display(&s.default));
    view! {
        <div class="config__field" class:config__field--invalid=move || messages.with(|m| !m.is_empty())>
            <div class="config__head">
                <label class="field__label" for=id.clone()>{key.get_value()}</label>
                <span class="badge">{kind_name(kind)}</span>
                <span class=move || if overridden.get() { "badge badge--accent" } else { "badge" }>
                    {move || if overridden.get() { "override" } else { "default" }}
                </span>
            </div>
            <p class="muted config__help">{description}</p>
            {input}
            <p class="muted config__default">{format!("Default: {default_text}")}</p>
            {editable
                .then(|| {
                    view! {
                        <button
                            type="button"
                            class="button button--quiet"
                            hidden=move || !overridden.get()
                            on:click=reset
                        >
                            "Reset to default"
                        </button>
                    }
                })}
            <ul id=error_id class="field__errors" aria-live="polite">
                {move || messages.get().into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}
            </ul>
        </div>
    }
}

/// The diff preview and reason, then the save.
#[component]
fn Review(
    draft: RwSignal<Draft>,
    policy: Policy,
    reviewing: RwSignal<bool>,
    conflict: RwSignal<Option<ServiceRecord>>,
    saved: RwSignal<Option<String>>,
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let reason = RwSignal::new(String::new());
    let when = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let guarded = policy.reason_required;
    // The server holds a non-admin's write where approvals are required;
    // the button says so before it does.
    let for_review =
        policy.approvals_required > 0 && session.me().is_some_and(|me| me.role < Role::Admin);
    let missing_reason = move || guarded && reason.with(|r| r.trim().is_empty());
    let scheduled = move || when.with(|w| apply_at(w));
    // A service managed by files asks first: saving here makes it drift
    // from its file, and the log says so.
    let managed_file = draft.with_untracked(|d| d.base.managed_by.as_ref().map(|m| m.file.clone()));
    let drift_accepted = RwSignal::new(managed_file.is_none());
    let drift_note = managed_file.clone().map(|file| {
        view! {
            <div class="field">
                <p class="status status--warn">
                    {format!("This service is managed by the file {file}. Saving here makes it drift from that file: the next apply refuses to overwrite it unless forced, and plan reports it.")}
                </p>
                <label>
                    <input
                        type="checkbox"
                        prop:checked=move || drift_accepted.get()
                        on:change=move |ev| drift_accepted.set(event_target_checked(&ev))
                    />
                    " Save here anyway"
                </label>
            </div>
        }
    });
    let changes = Memo::new(move |_| {
        draft.with(|d| {
            let (before, after) = d.before_after();
            diff(&before, &after)
        })
    });
    let save = move |_| {
        let why = match &managed_file {
            Some(file) => format!(
                "{} (edited outside its file {file})",
                reason.get_untracked()
            )
            .trim()
            .to_string(),
            None => reason.get_untracked(),
        };
        let (service, environment, patch) = draft.with_untracked(|d| {
            (
                d.base.doc.service.clone(),
                d.environment.clone(),
                d.patch(&why),
            )
        });
        let Ok(apply_at) = apply_at(&when.get_untracked()) else {
            return;
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api::patch_values(&service, &environment, &patch, apply_at.as_deref()).await {
                Ok(written) => {
                    saved.set(Some(format!("Saved as revision {}.", written.revision)));
                    reviewing.set(false);
                    on_saved();
                }
                Err(e) if e.is_held() => {
                    saved.set(Some(e.message));
                    reviewing.set(false);
                }
                Err(e) if e.is_conflict() => {
                    let current = e
                        .current
                        .and_then(|v| serde_json::from_value::<ServiceRecord>(v).ok());
                    let latest = match current {
                        Some(record) => Ok(record),
                        None => api::service(&service).await,
                    };
                    match latest {
                        Ok(record) => conflict.set(Some(record)),
                        Err(e) => error.set(Some(session.check(e).message)),
                    }
                }
                Err(e) => error.set(Some(session.check(e).message)),
            }
            busy.set(false);
        });
    };
    view! {
        <div class="card review" role="region" aria-label="Review changes">
            <h2 class="card__title">"Review changes"</h2>
            <DiffList entries=Signal::derive(move || changes.get().into_iter().map(|e| (e.path.to_string(), e.before, e.after)).collect()) />
            <div class="field">
                <label class="field__label" for="reason">
                    {if guarded { "Reason (required here)" } else { "Reason" }}
                </label>
                <input
                    id="reason"
                    class="field__input"
                    required=guarded
                    prop:value=move || reason.get()
                    on:input=move |ev| reason.set(event_target_value(&ev))
                />
            </div>
            <ApplyAt id="apply-at" value=when />
            {drift_note}
            <p class="status status--error" role="alert" hidden=move || error.with(Option::is_none)>
                {move || error.get().unwrap_or_default()}
            </p>
            <div class="config__actions">
                <button
                    type="button"
                    class="button button--primary"
                    disabled=move || busy.get() || missing_reason() || !drift_accepted.get() || scheduled().is_err()
                    on:click=save
                >
                    {move || match (for_review, scheduled()) {
                        (true, _) => "Submit for review",
                        (false, Ok(Some(_))) => "Schedule",
                        (false, _) => "Save",
                    }}
                </button>
                <button type="button" class="button" on:click=move |_| reviewing.set(false)>
                    "Back to editing"
                </button>
            </div>
        </div>
    }
}

/// Someone saved first: what they changed, and a way to re-apply.
#[component]
fn Conflict(draft: RwSignal<Draft>, conflict: RwSignal<Option<ServiceRecord>>) -> impl IntoView {
    let theirs = Memo::new(move |_| {
        let Some(latest) = conflict.get() else {
            return Vec::new();
        };
        draft.with(|d| {
            let before = serde_json::to_value(d.base.doc.resolved_config(&d.environment));
            let after = serde_json::to_value(latest.doc.resolved_config(&d.environment));
            match (before, after) {
                (Ok(b), Ok(a)) => diff(&b, &a)
                    .into_iter()
                    .map(|e| (e.path.to_string(), e.before, e.after))
                    .collect(),
                _ => Vec::new(),
            }
        })
    });
    let revisions = move || {
        let from = draft.with(|d| d.base.revision);
        let to = conflict.with(|c| c.as_ref().map_or(0, |r| r.revision));
        format!(
            "Someone saved this service while you were editing (revision {from} → {to}). What they changed here:"
        )
    };
    let reapply = move |_| {
        if let Some(latest) = conflict.get_untracked() {
            draft.update(|d| d.base = latest);
        }
        conflict.set(None);
    };
    let discard = move |_| {
        if let Some(latest) = conflict.get_untracked() {
            draft.update(|d| {
                d.base = latest;
                d.edits.clear();
            });
        }
        conflict.set(None);
    };
    view! {
        <div class="card conflict" role="alert">
            <h2 class="card__title">"Changed meanwhile"</h2>
            <p>{revisions}</p>
            <DiffList entries=Signal::derive(move || theirs.get()) />
            <div class="config__actions">
                <button type="button" class="button button--primary" on:click=reapply>
                    "Re-apply my edits on the new revision"
                </button>
                <button type="button" class="button" on:click=discard>"Discard my edits"</button>
            </div>
        </div>
    }
}
