//! A flag's progressive rollout in one environment: where the plan stands,
//! its steps, the timeline of what moved it and the buttons that steer it;
//! with none under way, the editor of a new plan, checked as it is typed by
//! the core's own check — the one the server makes.
//!
//! The section follows the environment's change stream, so a step taken
//! by the server's timer, a guard firing or a person elsewhere shows at
//! once. What the user types (a reason, a plan) lives in components that
//! such updates do not rebuild.

use leptos::{prelude::*, task::spawn_local};
use setpoint_core::{
    Change, ChangeKind, Serve,
    rollout::{Guard, Rollout, RolloutPlan, RolloutState, RolloutStep, Steer},
};

use crate::{
    api::{self, Problem, Role, RolloutAt, ServiceRecord},
    components::{ApplyAt, Failed, Outcome, OutcomeLine, ProblemList, TextField, apply_at},
    session::use_session,
};

/// The steps a new plan offers: 1, 5, 25, 50 and 100 %, held longer as
/// more users are in.
const FIRST_STEPS: [(u32, &str); 5] = [(1, "30m"), (5, "1h"), (25, "2h"), (50, "4h"), (100, "1h")];

/// How many log entries the timeline reads: a plan has at most 20 steps,
/// so this holds a whole plan with its pauses and guard events.
const TIMELINE_ENTRIES: u32 = 100;

/// The rollout of one flag in one environment.
#[component]
pub fn RolloutSection(
    /// Where.
    at: RolloutAt,
    /// The service as saved: a plan starts from it.
    record: Signal<Option<ServiceRecord>>,
    /// The environment's latest change.
    latest: ReadSignal<Option<Change>>,
    /// Called when a plan started (or moved), so the flag is read again.
    on_started: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let may = session.may(Role::Rollout, &at.service);
    let at = StoredValue::new(at);
    let reload = RwSignal::new(0u32);
    let notice: Outcome = RwSignal::new(None);
    Effect::new(move |_| {
        if latest.with(|change| {
            change.as_ref().is_some_and(|c| {
                c.kind == ChangeKind::RolloutTransition && at.with_value(|at| is_at(c, at))
            })
        }) {
            reload.update(|n| *n += 1);
        }
    });
    let rollout = LocalResource::new(move || {
        reload.track();
        let at = at.get_value();
        async move {
            let filter = api::RolloutFilter {
                service: Some(at.service.clone()),
                environment: Some(at.environment.clone()),
                ..api::RolloutFilter::default()
            };
            api::rollouts(&filter)
                .await
                .map(|list| list.into_iter().find(|r| r.flag == at.flag))
                .map_err(|e| session.check(e))
        }
    });
    let timeline = LocalResource::new(move || {
        reload.track();
        let at = at.get_value();
        async move {
            let filter = api::ChangeFilter {
                service: Some(at.service),
                item: Some(at.flag),
                environment: Some(at.environment),
                kind: Some(ChangeKind::RolloutTransition),
                limit: Some(TIMELINE_ENTRIES),
                ..api::ChangeFilter::default()
            };
            api::changes(&filter)
                .await
                .map(|page| this_plan(page.changes))
                .map_err(|e| session.check(e))
        }
    });
    let current = Signal::derive(move || {
        rollout
            .get()
            .and_then(Result::ok)
            .flatten()
            .map(|listed| listed.rollout)
    });
    // `None` until the first answer, so no editor flashes while loading;
    // a memo, so the parts below are rebuilt only when it flips.
    let active = Memo::new(move |_| {
        rollout.get().map(|answer| {
            answer
                .ok()
                .flatten()
                .is_some_and(|listed| !listed.rollout.state.is_final())
        })
    });
    let moved = move || {
        reload.update(|n| *n += 1);
        on_started();
    };
    view! {
        <section class="rollout" aria-label="Progressive rollout">
            <h2 class="section__title">"Progressive rollout"</h2>
            {move || match rollout.get() {
                Some(Err(e)) => Some(view! { <Failed error=e /> }.into_any()),
                Some(Ok(None)) if !may => Some(view! { <p class="muted">"No rollout of this flag here yet."</p> }.into_any()),
                _ => None,
            }}
            {move || current.get().map(|rollout| view! { <Standing rollout=rollout /> })}
            {move || (may && active.get() == Some(true)).then(|| view! {
                <Steering at=at current=current notice=notice on_steered=moved />
            })}
            {move || (may && active.get() == Some(false)).then(|| view! {
                <PlanEditor at=at record=record notice=notice on_started=moved />
            })}
            <OutcomeLine outcome=notice />
            {move || timeline.get().and_then(Result::ok).filter(|t| !t.is_empty()).map(|entries| view! { <Timeline entries=entries /> })}
        </section>
    }
}

/// Whether `change` is about the rollout at `at`.
fn is_at(change: &Change, at: &RolloutAt) -> bool {
    change.service.as_deref() == Some(at.service.as_str())
        && change.item.as_deref() == Some(at.flag.as_str())
        && change.environment.as_deref() == Some(at.environment.as_str())
}

/// The rollout a transition left, as its entry logs it.
fn rollout_after(change: &Change) -> Option<Rollout> {
    logged_rollout(change.after.as_ref())
}

fn logged_rollout(logged: Option<&serde_json::Value>) -> Option<Rollout> {
    serde_json::from_value(logged?.get("rollout")?.clone()).ok()
}

/// The transitions of the latest plan, oldest first, from the log's
/// newest-first entries: back to the one that started it (its `before`
/// holds no plan, or one that had ended).
fn this_plan(newest_first: Vec<Change>) -> Vec<Change> {
    let mut plan = Vec::new();
    for change in newest_first {
        let started = logged_rollout(change.before.as_ref()).is_none_or(|r| r.state.is_final());
        plan.push(change);
        if started {
            break;
        }
    }
    plan.reverse();
    plan
}

/// Whether a transition is a guard pulling the plan back.
fn is_guard_event(change: &Change) -> bool {
    let halted = |r: Option<Rollout>| r.is_some_and(|r| r.state == RolloutState::Halted);
    halted(rollout_after(change)) && !halted(logged_rollout(change.before.as_ref()))
}

/// Where the plan stands, and its steps.
#[component]
fn Standing(rollout: Rollout) -> impl IntoView {
    let state = rollout.state;
    let class = format!("rollout__state rollout__state--{}", state.as_str());
    let firing: Vec<String> = rollout.firing.values().cloned().collect();
    let held = rollout.held;
    let steps = rollout.plan.steps.iter().enumerate().map(|(i, step)| {
        let (mark, label) = if held.is_some_and(|h| i <= h) {
            ("held", "held")
        } else if i == rollout.step && !state.is_final() {
            ("current", "current")
        } else {
            ("pending", "")
        };
        view! {
            <li class=format!("rollout__step rollout__step--{mark}") data-state=mark>
                <strong>{format!("{} %", step.percent)}</strong>
                {format!(" · hold {}", step.hold)}
                <span class="muted">{(!label.is_empty()).then(|| format!(" · {label}"))}</span>
            </li>
        }
    });
    view! {
        <div class="card rollout__standing">
            <p class=class role="status">
                <strong>{format!("{} of {}: ", rollout.plan.variant, rollout.base)}</strong>
                {rollout.summary()}
                <span class="muted">{format!(", since {}, started by {}", rollout.since, rollout.started_by)}</span>
            </p>
            {rollout.note.clone().map(|note| view! { <p class="rollout__note">{note}</p> })}
            {(!firing.is_empty()).then(|| view! {
                <p class="status status--warn">{format!("Guards firing: {}", firing.join("; "))}</p>
            })}
            <ol class="rollout__steps" aria-label="Steps">{steps.collect_view()}</ol>
            {(!rollout.plan.guards.is_empty()).then(|| view! {
                <p class="muted">{format!("Guarded by {}", rollout.plan.guards.iter().map(describe_guard).collect::<Vec<_>>().join("; "))}</p>
            })}
        </div>
    }
}

fn describe_guard(guard: &Guard) -> String {
    match guard {
        Guard::Alert(matchers) => format!("alerts {{{}}}", matchers.join(", ")),
        Guard::Breaker(name) => format!("breaker {name}"),
    }
}

/// Every transition of the plan: steps held, people's steps, guards.
#[component]
fn Timeline(entries: Vec<Change>) -> impl IntoView {
    let items = entries.into_iter().map(|change| {
        let guard = is_guard_event(&change);
        let summary = rollout_after(&change).map(|r| r.summary()).unwrap_or_default();
        view! {
            <li class=if guard { "timeline__event timeline__event--guard" } else { "timeline__event" }>
                <time class="timeline__at">{change.at.clone()}</time>
                <strong>{summary}</strong>
                <span class="muted">{format!(" — {}", change.actor)}</span>
                {(!change.reason.is_empty()).then(|| view! { <span>{format!(": {}", change.reason)}</span> })}
            </li>
        }
    });
    view! {
        <h3 class="section__title">"Timeline"</h3>
        <ol class="timeline" aria-label="Rollout timeline">{items.collect_view()}</ol>
    }
}

/// Pause, resume, retry from a step, abort — each with a reason.
#[component]
fn Steering(
    at: StoredValue<RolloutAt>,
    current: Signal<Option<Rollout>>,
    notice: Outcome,
    on_steered: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let reason = RwSignal::new(String::new());
    let force = RwSignal::new(false);
    let step = RwSignal::new(0usize);
    let busy = RwSignal::new(false);
    let state = move || current.with(|r| r.as_ref().map(|r| r.state));
    let stopped = move || matches!(state(), Some(RolloutState::Paused | RolloutState::Halted));
    let steer = move |what: Steer| {
        let why = reason.get_untracked();
        busy.set(true);
        spawn_local(async move {
            let outcome = api::steer_rollout(&at.get_value(), &what, &why).await;
            notice.set(Some(match outcome {
                Ok(written) => {
                    reason.set(String::new());
                    force.set(false);
                    on_steered();
                    Ok(format!("Done, as revision {}.", written.revision))
                }
                Err(e) => Err(session.check(e).message),
            }));
            busy.set(false);
        });
    };
    let blocked = move || busy.get() || reason.with(|r| r.trim().is_empty());
    let steps = move || {
        current.with(|r| {
            r.iter()
                .flat_map(|r| r.plan.steps.iter().enumerate())
                .map(|(i, s)| view! { <option value=i.to_string()>{format!("Step {} ({} %)", i + 1, s.percent)}</option> })
                .collect_view()
        })
    };
    view! {
        <div class="card rollout__steer" role="region" aria-label="Steer the rollout">
            <TextField id="rollout-reason" label="Reason" value=reason required=true />
            <label class="field--inline" hidden=move || !stopped()>
                <input
                    type="checkbox"
                    prop:checked=move || force.get()
                    on:change=move |ev| force.set(event_target_checked(&ev))
                />
                " Even though guards still fire"
            </label>
            <div class="config__actions">
                <button class="button" hidden=move || state() != Some(RolloutState::Running) disabled=blocked on:click=move |_| steer(Steer::Pause)>
                    "Pause"
                </button>
                <button class="button button--primary" hidden=move || !stopped() disabled=blocked on:click=move |_| steer(Steer::Resume { force: force.get_untracked() })>
                    "Resume"
                </button>
                <span class="field--inline" hidden=move || !stopped()>
                    <select
                        class="field__select"
                        aria-label="Step to retry from"
                        on:change=move |ev| step.set(event_target_value(&ev).parse().unwrap_or(0))
                    >
                        {steps}
                    </select>
                    <button class="button" disabled=blocked on:click=move |_| steer(Steer::Retry { step: step.get_untracked(), force: force.get_untracked() })>
                        "Retry from step"
                    </button>
                </span>
                <button class="button" disabled=blocked on:click=move |_| steer(Steer::Abort)>
                    "Abort"
                </button>
            </div>
        </div>
    }
}

/// A step of the plan being written.
#[derive(Debug, Clone, Copy)]
struct StepRow {
    id: u32,
    percent: RwSignal<String>,
    hold: RwSignal<String>,
}

/// What a guard being written watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GuardKind {
    Alert,
    Breaker,
}

/// A guard being written: matchers one per line, or a breaker's name.
#[derive(Debug, Clone, Copy)]
struct GuardRow {
    id: u32,
    kind: GuardKind,
    text: RwSignal<String>,
}

/// The plan written in the form, or what keeps it from being one. The
/// core's check of the plan against the flag comes after.
fn draft_plan(
    variant: &str,
    steps: &[(String, String)],
    guards: &[(GuardKind, String)],
    bucket_by: &str,
) -> Result<RolloutPlan, Vec<Problem>> {
    let mut problems = Vec::new();
    let steps = steps
        .iter()
        .enumerate()
        .filter_map(|(i, (percent, hold))| {
            let Ok(share) = percent.trim().parse() else {
                problems.push(Problem {
                    path: format!("plan.steps[{i}].percent"),
                    code: "invalid_rollout".into(),
                    message: format!("{percent:?} is not a whole number of percent"),
                });
                return None;
            };
            Some(RolloutStep {
                percent: share,
                hold: hold.trim().to_owned(),
            })
        })
        .collect();
    let guards = guards
        .iter()
        .map(|(kind, text)| match kind {
            GuardKind::Alert => Guard::Alert(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            GuardKind::Breaker => Guard::Breaker(text.clone()),
        })
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    let bucket_by = bucket_by.trim();
    Ok(RolloutPlan {
        variant: variant.to_owned(),
        steps,
        guards,
        bucket_by: (!bucket_by.is_empty()).then(|| bucket_by.to_owned()),
    })
}

/// A violation of the core's check, placed under `plan`.
fn plan_problem(violation: &setpoint_core::Violation) -> Problem {
    let mut problem = Problem::from(violation);
    problem.path = if problem.path.is_empty() {
        "plan".into()
    } else {
        format!("plan.{}", problem.path)
    };
    problem
}

/// The editor of a new plan: variant, steps, guards, then start (or
/// schedule the start).
#[component]
fn PlanEditor(
    at: StoredValue<RolloutAt>,
    record: Signal<Option<ServiceRecord>>,
    notice: Outcome,
    on_started: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let (flag_key, env) = at.with_value(|a| (a.flag.clone(), a.environment.clone()));
    let (flag_key, env) = (StoredValue::new(flag_key), StoredValue::new(env));
    let saved_flag = move || {
        record.with(|r| {
            r.as_ref()
                .and_then(|r| flag_key.with_value(|k| r.doc.flags.get(k).cloned()))
        })
    };
    // The user's pick, else the first variant the environment does not
    // serve to everyone now: read when the saved flag arrives, which may
    // be after the editor appears.
    let chosen = RwSignal::new(None::<String>);
    let variant = Memo::new(move |_| {
        chosen.get().unwrap_or_else(|| {
            saved_flag()
                .and_then(|flag| {
                    let serving =
                        env.with_value(|e| flag.environments.get(e).map(|t| t.default.clone()));
                    flag.variants
                        .into_keys()
                        .find(|v| !matches!(&serving, Some(Serve::Variant(s)) if s == v))
                })
                .unwrap_or_default()
        })
    });
    let next_id = StoredValue::new(0u32);
    let fresh = move || {
        let id = next_id.get_value();
        next_id.set_value(id + 1);
        id
    };
    let step_row = move |percent: String, hold: &str| StepRow {
        id: fresh(),
        percent: RwSignal::new(percent),
        hold: RwSignal::new(hold.to_owned()),
    };
    let steps = RwSignal::new(
        FIRST_STEPS
            .iter()
            .map(|(percent, hold)| step_row(percent.to_string(), hold))
            .collect::<Vec<_>>(),
    );
    let guards = RwSignal::new(Vec::<GuardRow>::new());
    let bucket_by = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let when = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let plan = Memo::new(move |_| {
        let step_texts: Vec<(String, String)> = steps.with(|rows| {
            rows.iter()
                .map(|r| (r.percent.get(), r.hold.get()))
                .collect()
        });
        let guard_texts: Vec<(GuardKind, String)> =
            guards.with(|rows| rows.iter().map(|r| (r.kind, r.text.get())).collect());
        let plan = draft_plan(&variant.get(), &step_texts, &guard_texts, &bucket_by.get())?;
        let Some(flag) = saved_flag() else {
            return Err(vec![Problem {
                path: "plan".into(),
                code: "not_found".into(),
                message: "the flag is not saved in this service".into(),
            }]);
        };
        let breakers = record.with(|r| {
            r.as_ref()
                .map(|r| r.doc.breakers.clone())
                .unwrap_or_default()
        });
        env.with_value(|e| plan.check(&flag, e, &breakers))
            .map(|base| (plan, base))
            .map_err(|violations| violations.iter().map(plan_problem).collect())
    });
    let problems =
        Signal::derive(move || plan.with(|p| p.as_ref().err().cloned().unwrap_or_default()));
    let scheduled = move || when.with(|w| apply_at(w));
    let start = move |_| {
        let (Ok((plan, _)), Ok(when)) = (plan.get_untracked(), scheduled()) else {
            return;
        };
        let Some(base) = record.with_untracked(|r| r.as_ref().map(|r| r.revision)) else {
            return;
        };
        let why = reason.get_untracked();
        busy.set(true);
        spawn_local(async move {
            let outcome =
                api::start_rollout(&at.get_value(), &plan, base, &why, when.as_deref()).await;
            notice.set(Some(match outcome {
                Ok(written) => {
                    on_started();
                    Ok(format!("Started, as revision {}.", written.revision))
                }
                Err(e) if e.is_held() => Ok(e.message),
                Err(e) => Err(session.check(e).message),
            }));
            busy.set(false);
        });
    };
    let position =
        move |id: u32| steps.with(|rows| rows.iter().position(|r| r.id == id).unwrap_or(0)) + 1;
    let guard_position =
        move |id: u32| guards.with(|rows| rows.iter().position(|r| r.id == id).unwrap_or(0)) + 1;
    let add_guard = move |kind: GuardKind| {
        let first_breaker = record.with_untracked(|r| {
            r.as_ref().and_then(|r| {
                env.with_value(|e| {
                    r.doc
                        .breakers
                        .iter()
                        .find(|(_, b)| b.exists_in(e))
                        .map(|(name, _)| name.clone())
                })
            })
        });
        let text = match kind {
            GuardKind::Alert => String::new(),
            GuardKind::Breaker => first_breaker.unwrap_or_default(),
        };
        guards.update(|rows| {
            rows.push(GuardRow {
                id: fresh(),
                kind,
                text: RwSignal::new(text),
            });
        });
    };
    let breaker_names = move || {
        record.with(|r| {
            r.as_ref()
                .map(|r| {
                    env.with_value(|e| {
                        r.doc
                            .breakers
                            .iter()
                            .filter(|(_, b)| b.exists_in(e))
                            .map(|(name, _)| name.clone())
                            .collect::<Vec<_>>()
                    })
                })
                .unwrap_or_default()
        })
    };
    view! {
        <div class="card rollout__editor" role="region" aria-label="New rollout plan">
            <h3 class="card__title">"New plan"</h3>
            <p class="muted">
                "The default moves to the variant step by step, each step held for its time; while a guard fires the plan stops, goes back to the last step that held (or 0 %) and waits for a person."
            </p>
            <div class="field">
                <label class="field__label" for="plan-variant">"Variant to roll out"</label>
                <select id="plan-variant" class="field__select" on:change=move |ev| chosen.set(Some(event_target_value(&ev)))>
                    {move || saved_flag().map(|flag| flag.variants.keys().map(|v| {
                        let chosen = v.clone();
                        view! { <option value=v.clone() selected=move || variant.with(|c| *c == chosen)>{v.clone()}</option> }
                    }).collect_view())}
                </select>
            </div>
            <h4 class="section__title">"Steps"</h4>
            <ol class="rollout__plan-steps" aria-label="Steps of the new plan">
                <For each=move || steps.get() key=|row| row.id let:row>
                    <li class="field--inline">
                        <span class="rollout__row-label">{move || format!("Step {}", position(row.id))}</span>
                        <input
                            class="field__input field__input--short"
                            type="number"
                            min="1"
                            max="100"
                            aria-label=move || format!("Share of step {} (%)", position(row.id))
                            prop:value=move || row.percent.get()
                            on:input=move |ev| row.percent.set(event_target_value(&ev))
                        />
                        " % held for "
                        <input
                            class="field__input field__input--short"
                            aria-label=move || format!("Hold of step {}", position(row.id))
                            prop:value=move || row.hold.get()
                            on:input=move |ev| row.hold.set(event_target_value(&ev))
                        />
                        <button
                            type="button"
                            class="button button--quiet"
                            aria-label=move || format!("Remove step {}", position(row.id))
                            on:click=move |_| steps.update(|rows| rows.retain(|r| r.id != row.id))
                        >
                            "Remove"
                        </button>
                    </li>
                </For>
            </ol>
            <button type="button" class="button" on:click=move |_| steps.update(|rows| rows.push(step_row(String::new(), "1h")))>
                "Add a step"
            </button>
            <h4 class="section__title">"Guards"</h4>
            <p class="muted" hidden=move || guards.with(|g| !g.is_empty())>"No guards: only a person stops this plan."</p>
            <ul class="rollout__guards">
                <For each=move || guards.get() key=|row| row.id let:row>
                    <li class="field--inline">
                        {match row.kind {
                            GuardKind::Alert => view! {
                                <textarea
                                    class="field__input rollout__matchers"
                                    rows="2"
                                    spellcheck="false"
                                    placeholder="alertname=\"CheckoutErrors\""
                                    aria-label=move || format!("Alert matchers of guard {} (one per line)", guard_position(row.id))
                                    prop:value=move || row.text.get()
                                    on:input=move |ev| row.text.set(event_target_value(&ev))
                                ></textarea>
                            }.into_any(),
                            GuardKind::Breaker => view! {
                                <select
                                    class="field__select"
                                    aria-label=move || format!("Breaker of guard {}", guard_position(row.id))
                                    on:change=move |ev| row.text.set(event_target_value(&ev))
                                >
                                    {move || breaker_names().into_iter().map(|name| {
                                        let chosen = name.clone();
                                        view! { <option value=name.clone() selected=move || row.text.with(|t| *t == chosen)>{name.clone()}</option> }
                                    }).collect_view()}
                                </select>
                            }.into_any(),
                        }}
                        <button
                            type="button"
                            class="button button--quiet"
                            aria-label=move || format!("Remove guard {}", guard_position(row.id))
                            on:click=move |_| guards.update(|rows| rows.retain(|r| r.id != row.id))
                        >
                            "Remove"
                        </button>
                    </li>
                </For>
            </ul>
            <div class="config__actions">
                <button type="button" class="button" on:click=move |_| add_guard(GuardKind::Alert)>"Add an alert guard"</button>
                <button type="button" class="button" hidden=move || breaker_names().is_empty() on:click=move |_| add_guard(GuardKind::Breaker)>
                    "Add a breaker guard"
                </button>
            </div>
            <TextField id="plan-bucket-by" label="Bucket by (default targetingKey)" value=bucket_by />
            <ProblemList problems=problems />
            <p class="muted" hidden=move || plan.with(Result::is_err)>
                {move || plan.with(|p| p.as_ref().ok().map(|(plan, base)| format!("Everyone outside the plan's share keeps {base}; the share gets {}.", plan.variant)))}
            </p>
            <div class="config__actions">
                <TextField id="plan-reason" label="Reason" value=reason />
                <ApplyAt id="plan-apply-at" value=when />
                <button
                    class="button button--primary"
                    disabled=move || busy.get() || plan.with(Result::is_err) || scheduled().is_err()
                    on:click=start
                >
                    {move || if matches!(scheduled(), Ok(Some(_))) { "Schedule the start" } else { "Start rollout" }}
                </button>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn transition(before: Option<&str>, after: &str, revision: u64) -> Change {
        let logged = |state: &str| {
            json!({"rollout": {
                "plan": {"variant": "on", "steps": [{"percent": 5, "hold": "1h"}, {"percent": 100, "hold": "1h"}]},
                "base": "off", "state": state, "step": 0, "percent": 5,
                "since": "2026-12-04T12:00:00Z", "started_by": "user:pam",
            }, "default": null})
        };
        serde_json::from_value(json!({
            "revision": revision, "service": "checkout", "item": "new-checkout-flow",
            "environment": "prod", "actor": "user:pam", "at": "2026-12-04T12:00:00Z",
            "kind": "rollout_transition", "before": before.map(logged), "after": logged(after),
        }))
        .expect("a change")
    }

    #[test]
    fn the_timeline_holds_the_latest_plan_from_its_start() {
        let newest_first = vec![
            transition(Some("running"), "halted", 6),
            transition(Some("running"), "running", 5),
            transition(Some("aborted"), "running", 4),
            transition(Some("running"), "aborted", 3),
            transition(None, "running", 2),
        ];
        let plan: Vec<u64> = this_plan(newest_first).iter().map(|c| c.revision).collect();
        assert_eq!(
            plan,
            [4, 5, 6],
            "back to the start after the last plan ended"
        );
    }

    #[test]
    fn a_guard_event_is_the_move_into_halted() {
        assert!(is_guard_event(&transition(Some("running"), "halted", 2)));
        assert!(is_guard_event(&transition(Some("paused"), "halted", 2)));
        assert!(
            !is_guard_event(&transition(Some("halted"), "halted", 2)),
            "a second alert"
        );
        assert!(!is_guard_event(&transition(Some("halted"), "running", 2)));
    }

    #[test]
    fn the_drafted_plan_keeps_its_rows_and_names_bad_shares() {
        let steps = [
            ("5".to_string(), " 1s ".to_string()),
            ("100".into(), "1h".into()),
        ];
        let guards = [
            (
                GuardKind::Alert,
                "alertname=\"Errors\"\n\n service=\"checkout\" ".to_string(),
            ),
            (GuardKind::Breaker, "payments".to_string()),
        ];
        let plan = draft_plan("on", &steps, &guards, "").expect("a plan");
        assert_eq!(
            plan.steps[0],
            RolloutStep {
                percent: 5,
                hold: "1s".into()
            }
        );
        assert_eq!(
            plan.guards,
            [
                Guard::Alert(vec![
                    "alertname=\"Errors\"".into(),
                    "service=\"checkout\"".into()
                ]),
                Guard::Breaker("payments".into()),
            ]
        );
        assert_eq!(plan.bucket_by, None);

        let bad = [
            ("5".to_string(), "1h".to_string()),
            ("half".into(), "1h".into()),
        ];
        let problems = draft_plan("on", &bad, &[], "userId").expect_err("not a number");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "plan.steps[1].percent");
    }
}
