//! Each environment's policy, editable by admins for every service: a
//! reason for every change, approvals (how many, from which role, whether
//! the author counts) and freeze windows. The core checks the draft as it
//! is typed, the same check the server makes, so an invalid policy is
//! never sent.

use leptos::{prelude::*, task::spawn_local};
use setpoint_core::{Freeze, Policy, Role};

use crate::{
    api::{self, EnvironmentView, Problem},
    components::{Failed, OutcomeLine, ProblemList, TextField},
    session::use_session,
};

/// The roles that may approve, least first.
const APPROVERS: [Role; 4] = [Role::Rollout, Role::Editor, Role::Operator, Role::Admin];

/// Every environment's policy, for admins of every service.
#[component]
pub fn Policies() -> impl IntoView {
    let session = use_session();
    let admin = session.is_global_admin();
    let environments = LocalResource::new(move || async move {
        api::environments().await.map_err(|e| session.check(e))
    });
    admin.then(|| {
        view! {
            <section class="policies" aria-label="Environment policies">
                <h2 class="section__title">"Environment policies"</h2>
                <p class="muted">"What writes to each environment must meet. The server enforces them for the console, the CLI and tokens alike."</p>
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || environments.get().map(|answer| match answer {
                        Err(e) => view! { <Failed error=e /> }.into_any(),
                        Ok(list) => list
                            .into_iter()
                            .map(|environment| view! { <PolicyForm environment=environment /> })
                            .collect_view()
                            .into_any(),
                    })}
                </Transition>
            </section>
        }
    })
}

/// One environment's policy as a form.
#[component]
fn PolicyForm(environment: EnvironmentView) -> impl IntoView {
    let session = use_session();
    let name = StoredValue::new(environment.name.clone());
    let saved = StoredValue::new(environment.policy.clone());
    let draft = RwSignal::new(environment.policy);
    let reason = RwSignal::new(String::new());
    let status = RwSignal::new(None::<Result<String, String>>);
    let problems = Memo::new(
        move |_| match draft.get().normalized(crate::clock::now_millis()) {
            Ok(_) => Vec::new(),
            Err(violations) => violations.iter().map(Problem::from).collect::<Vec<_>>(),
        },
    );
    let changed = move || draft.with(|d| saved.with_value(|s| d != s));
    let windows = Memo::new(move |_| draft.with(|d| d.frozen.len()));
    let id = |field: &str| format!("policy-{}-{field}", name.get_value());
    let save = move |_| {
        let policy = draft.get_untracked();
        let why = reason.get_untracked();
        spawn_local(async move {
            let outcome = api::put_policy(&name.get_value(), &policy, &why).await;
            status.set(Some(match outcome {
                Ok(change) => {
                    // The form takes the policy as stored (windows in UTC,
                    // ended ones dropped) and stays, with its message.
                    let stored = change
                        .after
                        .and_then(|after| serde_json::from_value::<Policy>(after).ok())
                        .unwrap_or(policy);
                    saved.set_value(stored.clone());
                    draft.set(stored);
                    reason.set(String::new());
                    Ok(format!("Policy saved as revision {}.", change.revision))
                }
                Err(e) => Err(session.check(e).message),
            }));
        });
    };
    view! {
        <form class="card policy" aria-label=format!("Policy of {}", name.get_value()) on:submit=|ev| ev.prevent_default()>
            <h3 class="card__title">{name.get_value()}</h3>
            <label class="field">
                <input
                    type="checkbox"
                    prop:checked=move || draft.with(|d| d.reason_required)
                    on:change=move |ev| draft.update(|d| d.reason_required = event_target_checked(&ev))
                />
                " Every change needs a reason"
            </label>
            <div class="toolbar">
                <div class="field">
                    <label class="field__label" for=id("approvals")>"Approvals required"</label>
                    <input
                        id=id("approvals")
                        class="field__input"
                        type="number"
                        min="0"
                        max=setpoint_core::policy::MAX_APPROVALS.to_string()
                        prop:value=move || draft.with(|d| d.approvals_required.to_string())
                        on:input=move |ev| {
                            let count = event_target_value(&ev).parse().unwrap_or(0);
                            draft.update(|d| d.approvals_required = count);
                        }
                    />
                </div>
                <div class="field">
                    <label class="field__label" for=id("approver")>"Least role to approve"</label>
                    <select
                        id=id("approver")
                        class="field__select"
                        on:change=move |ev| {
                            if let Some(role) = Role::parse(&event_target_value(&ev)) {
                                draft.update(|d| d.approver_role = role);
                            }
                        }
                    >
                        {APPROVERS
                            .into_iter()
                            .map(|role| view! {
                                <option value=role.as_str() selected=move || draft.with(|d| d.approver_role == role)>{role.as_str()}</option>
                            })
                            .collect_view()}
                    </select>
                </div>
                <label class="field">
                    <input
                        type="checkbox"
                        prop:checked=move || draft.with(|d| d.author_may_approve)
                        on:change=move |ev| draft.update(|d| d.author_may_approve = event_target_checked(&ev))
                    />
                    " The author may approve their own change"
                </label>
            </div>
            <fieldset class="policy__freezes">
                <legend>"Freeze windows (RFC 3339; only admins giving a reason may change the environment within one)"</legend>
                {move || (0..windows.get()).map(|i| view! { <FreezeRow draft=draft index=i environment=name.get_value() /> }).collect_view()}
                <button
                    type="button"
                    class="button"
                    on:click=move |_| draft.update(|d| d.frozen.push(Freeze { from: String::new(), until: String::new(), reason: String::new() }))
                >
                    "Add a freeze window"
                </button>
            </fieldset>
            <ProblemList problems=Signal::derive(move || problems.get()) />
            <div class="config__actions">
                <TextField id=id("reason") label="Reason" value=reason />
                <button
                    type="button"
                    class="button button--primary"
                    disabled=move || !changed() || problems.with(|p| !p.is_empty())
                    on:click=save
                >
                    "Save policy"
                </button>
            </div>
            <OutcomeLine outcome=status />
        </form>
    }
}

/// One freeze window: from, until, why, and a way to drop it.
#[component]
fn FreezeRow(draft: RwSignal<Policy>, index: usize, environment: String) -> impl IntoView {
    let read = move |pick: fn(&Freeze) -> &String| {
        move || {
            draft.with(|d| {
                d.frozen
                    .get(index)
                    .map(|f| pick(f).clone())
                    .unwrap_or_default()
            })
        }
    };
    let write = move |set: fn(&mut Freeze, String)| {
        move |ev| {
            let text = event_target_value(&ev);
            draft.update(|d| {
                if let Some(freeze) = d.frozen.get_mut(index) {
                    set(freeze, text);
                }
            });
        }
    };
    let label = |what: &str| format!("{what} of freeze {} in {environment}", index + 1);
    view! {
        <div class="inline-form policy__freeze">
            <input class="field__input" aria-label=label("Start") placeholder="2026-12-20T00:00:00Z"
                prop:value=read(|f| &f.from) on:input=write(|f, t| f.from = t) />
            <input class="field__input" aria-label=label("End") placeholder="2027-01-04T00:00:00Z"
                prop:value=read(|f| &f.until) on:input=write(|f, t| f.until = t) />
            <input class="field__input" aria-label=label("Reason") placeholder="Year-end release freeze"
                prop:value=read(|f| &f.reason) on:input=write(|f, t| f.reason = t) />
            <button type="button" class="button button--quiet" on:click=move |_| draft.update(|d| {
                if index < d.frozen.len() {
                    d.frozen.remove(index);
                }
            })>
                "Remove"
            </button>
        </div>
    }
}
