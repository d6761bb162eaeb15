//! Flags: per service and environment, the flag's on/off switch, its rules
//! and its default serve, checked by the core as they are typed;
//! an evaluation simulator that runs the core's own evaluation on the
//! edited flag — one context, and the distribution over generated keys;
//! and the flag's progressive rollout in the environment ([`rollout`]).
//!
//! The page follows the environment's change stream: a change to the flag
//! made elsewhere (a rollout's step, another person) reloads it unless the
//! user is editing it, and the rollout's state and timeline follow too.

mod manage;
mod overview;
mod rollout;
pub mod rules;
pub mod serve;
mod variants;

use std::collections::BTreeMap;

use leptos::{prelude::*, task::spawn_local};
use serde_json::Value;
use setpoint_core::{
    Change, Context, FieldPath, Flag, FlagEnvironment, Limits, Serve, TARGETING_KEY, evaluate,
    validate::validate_flag,
};

use self::{
    manage::{DeleteFlag, NewFlag},
    rollout::RolloutSection,
    rules::RuleBuilder,
    serve::{ServeEditor, ServeSlot},
    variants::Variants,
};
use crate::{
    Route,
    api::{self, Role, ServiceRecord},
    components::{ApplyAt, Failed, Outcome, OutcomeLine, TextField, apply_at},
    live,
    session::use_session,
};

/// Keys the distribution is computed over.
pub const SAMPLE_KEYS: usize = 1_000;

/// How many of [`SAMPLE_KEYS`] generated keys (`user-0`, `user-1`, …, over
/// `base`) get each variant. The keys go in the bucketing attribute of
/// whatever serves `base` — the rule it matches, or the default — so a rule
/// splitting by `userId` spreads too.
pub fn distribution(flag: &Flag, key: &str, env: &str, base: &Context) -> BTreeMap<String, usize> {
    let resolved = flag.resolve(key, env);
    let decided = evaluate(&resolved, base).rule;
    let serve = decided
        .and_then(|index| resolved.rules.get(index))
        .map_or(&resolved.default, |rule| &rule.serve);
    let attribute = match serve {
        Serve::Split(split) => split.bucket_attribute().to_string(),
        Serve::Variant(_) => TARGETING_KEY.to_string(),
    };
    let mut counts = BTreeMap::new();
    let mut context = base.clone();
    for i in 0..SAMPLE_KEYS {
        context.insert(attribute.clone(), Value::String(format!("user-{i}")));
        let variant = evaluate(&resolved, &context)
            .variant
            .unwrap_or_else(|| "(error)".into());
        *counts.entry(variant).or_insert(0) += 1;
    }
    counts
}

/// The flags page: the overview of every flag, or, when the address names
/// a service (a link from the overview), that service's flags one at a
/// time.
#[component]
pub fn Flags() -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let service = Memo::new(move |_| query.with(|q| q.get("service")).unwrap_or_default());
    let flag = Memo::new(move |_| query.with(|q| q.get("flag")).unwrap_or_default());
    let environment = Memo::new(move |_| query.with(|q| q.get("environment")).unwrap_or_default());
    move || {
        let (service, flag, environment) = (service.get(), flag.get(), environment.get());
        if service.is_empty() {
            view! { <overview::FlagsOverview /> }.into_any()
        } else {
            view! { <FlagPage service=service flag=flag environment=environment /> }.into_any()
        }
    }
}

/// One service's flags, one at a time, in one environment.
#[component]
fn FlagPage(service: String, flag: String, environment: String) -> impl IntoView {
    let session = use_session();
    let services =
        LocalResource::new(
            move || async move { api::services().await.map_err(|e| session.check(e)) },
        );
    let environments = LocalResource::new(move || async move {
        api::environments().await.map_err(|e| session.check(e))
    });
    // Where the link led; the selects move on from there.
    let service = RwSignal::new(service);
    let environment = RwSignal::new(environment);
    let flag = RwSignal::new(flag);
    let reload = RwSignal::new(0u32);
    let latest = live::follow(environment.into());
    // Outside the panel: a save reloads the record, which rebuilds the panel.
    let status: Outcome = RwSignal::new(None);
    let record = LocalResource::new(move || {
        reload.track();
        let name = service.get();
        async move {
            if name.is_empty() {
                return None;
            }
            Some(api::service(&name).await.map_err(|e| session.check(e)))
        }
    });
    // Options mark the chosen one themselves: they may arrive after it was
    // chosen (from a link), when setting the select's value would miss.
    let options = |names: Vec<String>, chosen: RwSignal<String>| {
        names
            .into_iter()
            .map(|n| {
                let selected = n.clone();
                view! { <option value=n.clone() selected=move || chosen.with(|c| *c == selected)>{n.clone()}</option> }
            })
            .collect_view()
    };
    let saved = Signal::derive(move || record.get().flatten().and_then(Result::ok));
    view! {
        <section class="page">
            <h1 class="page__title">{Route::Flags.label()}</h1>
            <p><a href=Route::Flags.href()>"All flags"</a></p>
            <div class="toolbar">
                <div class="field">
                    <label class="field__label" for="flag-service">"Service"</label>
                    <select id="flag-service" class="field__select" on:change=move |ev| {
                        status.set(None);
                        flag.set(String::new());
                        service.set(event_target_value(&ev));
                    }>
                        <option value="">"Choose a service"</option>
                        {move || services.get().and_then(Result::ok).map(|list| options(
                            list.into_iter().filter(|s| s.tombstone.is_none()).map(|s| s.service).collect(),
                            service,
                        ))}
                    </select>
                </div>
                <div class="field">
                    <label class="field__label" for="flag-key">"Flag"</label>
                    <select id="flag-key" class="field__select" on:change=move |ev| {
                        status.set(None);
                        flag.set(event_target_value(&ev));
                    }>
                        <option value="">"Choose a flag"</option>
                        {move || record.get().flatten().and_then(Result::ok).map(|r| options(r.doc.flags.keys().cloned().collect(), flag))}
                    </select>
                </div>
                <div class="field">
                    <label class="field__label" for="flag-environment">"Environment"</label>
                    <select id="flag-environment" class="field__select" on:change=move |ev| {
                        status.set(None);
                        environment.set(event_target_value(&ev));
                    }>
                        <option value="">"Choose an environment"</option>
                        {move || environments.get().and_then(Result::ok).map(|list| options(list.into_iter().map(|e| e.name).collect(), environment))}
                    </select>
                </div>
            </div>
            <Chosen
                record=Signal::derive(move || record.get().flatten())
                flag=flag
                environment=environment
                status=status
                latest=latest
                reload=reload
            />
            // Apart from the panel, which a reload rebuilds: a step of the
            // plan must not wipe a reason being typed here.
            {move || {
                let (name, key, env) = (service.get(), flag.get(), environment.get());
                (!name.is_empty() && !key.is_empty() && !env.is_empty()).then(|| {
                    let at = api::RolloutAt { service: name, flag: key, environment: env };
                    view! { <RolloutSection at=at record=saved latest=latest on_started=move || reload.update(|n| *n += 1) /> }
                })
            }}
        </section>
    }
}

/// What the choices lead to: the flag in the environment, or, with no
/// flag chosen, the form for a new one (editors).
#[component]
fn Chosen(
    record: Signal<Option<Result<ServiceRecord, api::ApiError>>>,
    flag: RwSignal<String>,
    environment: RwSignal<String>,
    status: Outcome,
    latest: ReadSignal<Option<Change>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let session = use_session();
    let reloaded = move || reload.update(|n| *n += 1);
    move || {
        let (key, env) = (flag.get(), environment.get());
        match record.get() {
            Some(Err(e)) => Some(view! { <Failed error=e /> }.into_any()),
            Some(Ok(record))
                if !key.is_empty() && !env.is_empty() && record.doc.flags.contains_key(&key) =>
            {
                let on_deleted = move || {
                    status.set(None);
                    flag.set(String::new());
                    reloaded();
                };
                Some(view! { <FlagPanel record=record key=key environment=env status=status latest=latest on_saved=reloaded on_deleted=on_deleted /> }.into_any())
            }
            Some(Ok(record))
                if key.is_empty() && session.may(Role::Editor, &record.doc.service) =>
            {
                let on_created = move |key: String| {
                    status.set(Some(Ok(format!("Flag {key} created, targeted nowhere yet: choose an environment to add targeting."))));
                    flag.set(key);
                    reloaded();
                };
                let taken = record.doc.flags.keys().cloned().collect();
                Some(view! { <NewFlag service=record.doc.service.clone() revision=record.revision taken=taken on_created=on_created /> }.into_any())
            }
            Some(Ok(_)) => Some(view! { <OutcomeLine outcome=status /> }.into_any()),
            None => None,
        }
    }
}

/// One flag in one environment: targeting, split editor, simulator.
#[component]
fn FlagPanel(
    record: ServiceRecord,
    key: String,
    environment: String,
    status: Outcome,
    /// The environment's latest change, to follow the flag's.
    latest: ReadSignal<Option<Change>>,
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
    on_deleted: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let service = record.doc.service.clone();
    let service_name = service.clone();
    let editable = session.may(Role::Rollout, &service);
    // Variants are the flag's shape: editors only.
    let shapeable = session.may(Role::Editor, &service);
    let original = record.doc.flags.get(&key).cloned();
    let Some(original) = original else {
        return view! { <p class="muted">"No such flag."</p> }.into_any();
    };
    let draft = RwSignal::new(original.clone());
    let base = record.revision;
    let (key, env) = (StoredValue::new(key), StoredValue::new(environment));
    let problems = Memo::new(move |_| {
        let path = FieldPath::root().key("flags").key(key.get_value());
        draft.with(|f| {
            validate_flag(&key.get_value(), f, &path, &Limits::default())
                .iter()
                .map(|v| format!("{}: {}", v.path, v.kind))
                .collect::<Vec<_>>()
        })
    });
    let targeting = move || draft.with(|f| env.with_value(|e| f.environments.get(e).cloned()));
    let targeted =
        Memo::new(move |_| draft.with(|f| env.with_value(|e| f.environments.contains_key(e))));
    let description = original.description.clone();
    let original = StoredValue::new(original);
    let changed = move || draft.with(|f| original.with_value(|o| f != o));
    let reason = RwSignal::new(String::new());
    let when = RwSignal::new(String::new());
    let scheduled = move || when.with(|w| apply_at(w));
    // From the click until the answer (and after a save, until the reload
    // replaces this panel), the stream's news of this flag is the user's
    // own save: it must not be reported as someone else's.
    let saving = StoredValue::new(false);
    {
        let service = service.clone();
        Effect::new(move |_| {
            let Some(change) = latest.get() else {
                return;
            };
            let ours = change.service.as_deref() == Some(service.as_str())
                && key.with_value(|k| change.item.as_deref() == Some(k.as_str()));
            if !ours || change.revision <= base || saving.get_value() {
                return;
            }
            // Only news moves this: editing the draft must not re-run it.
            if untrack(changed) {
                status.set(Some(Err(format!(
                    "{} changed this flag meanwhile (revision {}): your edit is based on an older version, and saving it will be refused. Reload to start from theirs.",
                    change.actor, change.revision
                ))));
            } else {
                on_saved();
            }
        });
    }
    let save = move |_| {
        let (service, flag) = (service.clone(), draft.get_untracked());
        let why = reason.get_untracked();
        let Ok(at) = scheduled() else {
            return;
        };
        saving.set_value(true);
        spawn_local(async move {
            let outcome =
                api::put_flag(&service, &key.get_value(), &flag, base, &why, at.as_deref()).await;
            status.set(Some(match outcome {
                Ok(written) => {
                    on_saved();
                    Ok(format!("Saved as revision {}.", written.revision))
                }
                // Held for review or for its time: the form goes back to
                // what is saved, so the change shows when it applies.
                Err(e) if e.is_held() => {
                    on_saved();
                    Ok(e.message)
                }
                Err(e) => {
                    saving.set_value(false);
                    Err(session.check(e).message)
                }
            }));
        });
    };
    // New targeting starts disabled and serving the off variant: adding
    // it changes what no one gets until it is enabled and saved.
    let add_targeting = move || {
        draft.update(|f| {
            let off = Serve::Variant(f.off.clone());
            f.environments
                .entry(env.get_value())
                .or_insert(FlagEnvironment {
                    enabled: false,
                    rules: Vec::new(),
                    default: off,
                });
        });
    };
    let set_enabled = move |enabled: bool| {
        draft.update(|f| {
            if let Some(t) = env.with_value(|e| f.environments.get_mut(e)) {
                t.enabled = enabled;
            }
        });
    };
    view! {
        <div class="flag">
            <p class="page__lede">{description}</p>
            <h2 class="section__title">"Variants"</h2>
            <Variants draft=draft editable=shapeable />
            // Rebuilt only when targeting appears or goes: the parts below
            // read the draft themselves, so editing never recreates them.
            {move || if targeted.get() {
                view! {
                    <label class="switch">
                        <input
                            type="checkbox"
                            role="switch"
                            disabled=!editable
                            prop:checked=move || targeting().is_some_and(|t| t.enabled)
                            on:change=move |ev| set_enabled(event_target_checked(&ev))
                        />
                        <span>{move || if targeting().is_some_and(|t| t.enabled) { "Enabled" } else { "Disabled" }}</span>
                    </label>
                    <h2 class="section__title">"Rules"</h2>
                    <p class="muted">"Checked in order; the first whose conditions all hold serves."</p>
                    <RuleBuilder draft=draft env=env editable=editable />
                    <h2 class="section__title">"Default"</h2>
                    <ServeEditor draft=draft env=env which=ServeSlot::Default editable=editable />
                }.into_any()
            } else {
                view! {
                    <p class="muted">"Not targeted in this environment: everyone gets the off variant."</p>
                    {editable.then(|| view! {
                        <button type="button" class="button" on:click=move |_| add_targeting()>
                            {format!("Add targeting in {}", env.get_value())}
                        </button>
                    })}
                }.into_any()
            }}
            <ul class="field__errors" aria-live="polite">
                {move || problems.get().into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}
            </ul>
            {editable.then(|| view! {
                <div class="config__actions">
                    <TextField id="flag-reason" label="Reason" value=reason />
                    <ApplyAt id="flag-apply-at" value=when />
                    <button
                        class="button button--primary"
                        disabled=move || !changed() || problems.with(|p| !p.is_empty()) || scheduled().is_err()
                        on:click=save.clone()
                    >
                        {move || if matches!(scheduled(), Ok(Some(_))) { "Schedule flag change" } else { "Save flag" }}
                    </button>
                </div>
            })}
            <OutcomeLine outcome=status />
            <Simulator draft=draft key=key env=env />
            {shapeable.then(|| view! { <DeleteFlag service=service_name.clone() key=key.get_value() revision=base on_deleted=on_deleted /> })}
        </div>
    }
    .into_any()
}

/// Evaluates the edited flag in the browser with the core: one context,
/// and the split over generated keys.
#[component]
pub fn Simulator(
    /// The flag being edited: the simulator evaluates it, not what is saved.
    draft: RwSignal<Flag>,
    /// The flag's key (the default hash salt).
    key: StoredValue<String>,
    /// The environment evaluated.
    env: StoredValue<String>,
) -> impl IntoView {
    let context_text = RwSignal::new(r#"{"targetingKey": "user-1"}"#.to_string());
    let context = Memo::new(move |_| {
        context_text.with(|t| match serde_json::from_str::<Value>(t) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err("the context is a JSON object".to_string()),
            Err(e) => Err(format!("not JSON: {e}")),
        })
    });
    let result = move || {
        context.get().map(|ctx| {
            draft.with(|f| {
                let resolved = f.resolve(&key.get_value(), &env.get_value());
                evaluate(&resolved, &ctx)
            })
        })
    };
    let spread = Memo::new(move |_| {
        let ctx = context.get().unwrap_or_default();
        draft.with(|f| distribution(f, &key.get_value(), &env.get_value(), &ctx))
    });
    view! {
        <div class="card simulator" role="region" aria-label="Simulator">
            <h2 class="card__title">"Simulator"</h2>
            <label class="field__label" for="simulator-context">"Evaluation context (JSON)"</label>
            <textarea
                id="simulator-context"
                class="field__input config__json"
                spellcheck="false"
                prop:value=move || context_text.get()
                on:input=move |ev| context_text.set(event_target_value(&ev))
            ></textarea>
            <output class="simulator__result" aria-live="polite">
                {move || match result() {
                    Err(e) => e,
                    Ok(ev) => format!(
                        "variant {} · reason {} · rule {}",
                        ev.variant.unwrap_or_else(|| "none".into()),
                        serde_json::to_value(ev.reason).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
                        ev.rule.map_or_else(|| "none".into(), |r| (r + 1).to_string()),
                    ),
                }}
            </output>
            <table class="table" aria-label="Distribution">
                <caption class="muted">{format!("Over {SAMPLE_KEYS} generated keys")}</caption>
                <tbody>
                    {move || spread.get().into_iter().map(|(variant, count)| view! {
                        <tr data-variant=variant.clone()>
                            <th scope="row">{variant.clone()}</th>
                            <td>{format!("{:.1} %", count as f64 * 100.0 / SAMPLE_KEYS as f64)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_distribution_follows_the_split() {
        let flag: Flag = serde_json::from_value(serde_json::json!({
            "variants": {"on": true, "off": false},
            "off": "off",
            "environments": {"prod": {"enabled": true, "default": {"split": {"weights": [
                {"variant": "on", "weight": 10}, {"variant": "off", "weight": 90}
            ]}}}}
        }))
        .expect("a flag");
        let counts = distribution(&flag, "f", "prod", &Context::new());
        assert_eq!(counts.values().sum::<usize>(), SAMPLE_KEYS);
        let on = counts["on"];
        assert!((60..=140).contains(&on), "about 10 % on, got {on}");
        let none = distribution(&flag, "f", "dev", &Context::new());
        assert_eq!(none.get("off"), Some(&SAMPLE_KEYS), "untargeted: all off");
    }

    #[test]
    fn the_distribution_spreads_over_the_matched_rules_bucketing_attribute() {
        let flag: Flag = serde_json::from_value(serde_json::json!({
            "variants": {"on": true, "off": false},
            "off": "off",
            "environments": {"prod": {"enabled": true, "default": {"variant": "off"}, "rules": [{
                "when": [{"attribute": "country", "op": "eq", "value": "DE"}],
                "serve": {"split": {"weights": [
                    {"variant": "on", "weight": 50}, {"variant": "off", "weight": 50}
                ], "bucket_by": "userId"}}
            }]}}
        }))
        .expect("a flag");
        let mut german = Context::new();
        german.insert("country".into(), Value::String("DE".into()));
        german.insert("userId".into(), Value::String("fixed".into()));
        let counts = distribution(&flag, "f", "prod", &german);
        let on = counts.get("on").copied().unwrap_or_default();
        assert!((400..=600).contains(&on), "about half on, got {on}");
        let elsewhere = distribution(&flag, "f", "prod", &Context::new());
        assert_eq!(
            elsewhere.get("off"),
            Some(&SAMPLE_KEYS),
            "no rule: the default"
        );
    }
}
