//! Breaker definitions, for operators: a service's breakers listed with
//! their matchers, each edited or deleted with a reason, and new ones made.
//! The form is checked by the core as it is typed, and previews which of
//! the alerts received lately — those that tripped a breaker and those
//! that matched none — the matchers as written would catch.

use leptos::{prelude::*, task::spawn_local};
use setpoint_core::{
    Breaker, Change, ChangeKind, ClosePolicy, FieldPath, FlapPolicy, Limits,
    breaker::{Alert, Cause},
    validate::validate_breaker,
};

use super::AlertLine;
use crate::{
    api::{self, BreakerView, Problem, Role, ServiceRecord},
    components::{Failed, Outcome, OutcomeLine, ProblemList, ReasonedButton, TextField},
    session::use_session,
};

/// Breaker transitions read for the preview: each trip by an alert holds
/// the alert.
const TRANSITIONS_READ: u32 = 200;

/// A breaker definition as its form holds it: the text as typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// Its name (fixed once it exists).
    pub name: String,
    /// What opening it does.
    pub description: String,
    /// Environments it exists in; none means all.
    pub environments: Vec<String>,
    /// The alternative matcher sets, each one matcher per line; any set
    /// whose matchers all hold trips it.
    pub sets: Vec<String>,
    /// Empty: a person confirms the close; else it closes by itself this
    /// long after its alerts resolve.
    pub auto_after: String,
    /// The flap window.
    pub window: String,
    /// More trips than this within the window is flapping.
    pub threshold: String,
}

impl Default for Draft {
    fn default() -> Self {
        let flapping = FlapPolicy::default();
        Self {
            name: String::new(),
            description: String::new(),
            environments: Vec::new(),
            sets: vec![String::new()],
            auto_after: String::new(),
            window: flapping.window,
            threshold: flapping.threshold.to_string(),
        }
    }
}

impl Draft {
    /// The form for an existing breaker.
    pub fn of(name: &str, breaker: &Breaker) -> Self {
        Self {
            name: name.to_owned(),
            description: breaker.description.clone(),
            environments: breaker.environments.clone(),
            sets: breaker.trips_on.iter().map(|set| set.join("\n")).collect(),
            auto_after: match &breaker.close {
                ClosePolicy::Manual => String::new(),
                ClosePolicy::AutoAfter(delay) => delay.clone(),
            },
            window: breaker.flapping.window.clone(),
            threshold: breaker.flapping.threshold.to_string(),
        }
    }

    /// The definition it describes, or why there is none: the threshold
    /// is not a count. Blank lines and sets are left out.
    pub fn breaker(&self) -> Result<Breaker, Problem> {
        let threshold = self.threshold.trim().parse().map_err(|_| Problem {
            path: "flapping.threshold".into(),
            code: "invalid_number".into(),
            message: format!("{:?} is not a whole number of trips", self.threshold),
        })?;
        let auto_after = self.auto_after.trim();
        Ok(Breaker {
            description: self.description.trim().to_owned(),
            environments: self.environments.clone(),
            trips_on: self
                .sets
                .iter()
                .map(|set| {
                    set.lines()
                        .map(str::trim)
                        .filter(|line| !line.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .filter(|set| !set.is_empty())
                .collect(),
            close: if auto_after.is_empty() {
                ClosePolicy::Manual
            } else {
                ClosePolicy::AutoAfter(auto_after.to_owned())
            },
            flapping: FlapPolicy {
                window: self.window.trim().to_owned(),
                threshold,
            },
        })
    }

    /// What is wrong with it, by the core's own check; `taken` names
    /// breakers the service has already (a new one may not reuse them).
    pub fn problems(&self, taken: &[String]) -> Vec<Problem> {
        if taken.contains(&self.name) {
            return vec![Problem {
                path: String::new(),
                code: "name_taken".into(),
                message: format!("the service has a breaker named {} already", self.name),
            }];
        }
        match self.breaker() {
            Err(problem) => vec![problem],
            Ok(breaker) => {
                let mut problems: Vec<Problem> =
                    validate_breaker(&self.name, &breaker, &FieldPath::root(), &Limits::default())
                        .iter()
                        .map(Problem::from)
                        .collect();
                if breaker.trips_on.is_empty() {
                    problems.push(Problem {
                        path: "trips_on".into(),
                        code: "no_matchers".into(),
                        message: "no alert trips it: give at least one matcher (people can still trip it by hand)".into(),
                    });
                }
                problems
            }
        }
    }
}

/// An alert received lately, and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recent {
    /// The alert as delivered.
    pub alert: Alert,
    /// When it was received (RFC 3339).
    pub at: String,
    /// `tripped <service>/<breaker> in <environment>`, or that it matched
    /// no breaker.
    pub fate: String,
}

/// The alerts received lately, newest first, each once: those firing on
/// a breaker now (`boards`: each environment's), those that tripped one
/// (from its transitions in the log) and those that matched none.
pub fn recent(
    unrouted: Vec<api::UnroutedAlert>,
    transitions: &[Change],
    boards: Vec<(String, Vec<BreakerView>)>,
) -> Vec<Recent> {
    let firing = boards.into_iter().flat_map(|(env, board)| {
        board.into_iter().flat_map(move |view| {
            let fate = format!("firing on {}/{} in {env}", view.service, view.breaker);
            view.firing.into_iter().map(move |alert| Recent {
                at: alert.starts_at.clone(),
                alert,
                fate: fate.clone(),
            })
        })
    });
    let tripped = transitions.iter().filter_map(|change| {
        let after = change.after.as_ref()?;
        let Ok(Cause::Alert { alert }) = serde_json::from_value(after.get("cause")?.clone()) else {
            return None;
        };
        Some(Recent {
            alert,
            at: change.at.clone(),
            fate: format!(
                "tripped {}/{} in {}",
                change.service.as_deref().unwrap_or("?"),
                change.item.as_deref().unwrap_or("?"),
                change.environment.as_deref().unwrap_or("?")
            ),
        })
    });
    let unrouted = unrouted.into_iter().map(|u| Recent {
        alert: u.alert,
        at: u.received_at,
        fate: "matched no breaker".into(),
    });
    let mut all: Vec<Recent> = firing.chain(tripped).chain(unrouted).collect();
    all.sort_by(|a, b| b.at.cmp(&a.at));
    let mut seen = std::collections::BTreeSet::new();
    all.retain(|r| seen.insert(r.alert.fingerprint.clone()));
    all
}

/// The definitions section of the breakers page, for operators.
#[component]
pub fn Definitions() -> impl IntoView {
    let session = use_session();
    let services =
        LocalResource::new(
            move || async move { api::services().await.map_err(|e| session.check(e)) },
        );
    let operated = Memo::new(move |_| {
        services
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.tombstone.is_none() && session.may(Role::Operator, &s.service))
            .map(|s| s.service)
            .collect::<Vec<_>>()
    });
    let service = RwSignal::new(String::new());
    let reload = RwSignal::new(0u32);
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
    let recent_alerts = LocalResource::new(move || async move {
        let transitions = api::changes(&api::ChangeFilter {
            kind: Some(ChangeKind::BreakerTransition),
            limit: Some(TRANSITIONS_READ),
            ..api::ChangeFilter::default()
        })
        .await
        .map(|page| page.changes)
        .unwrap_or_default();
        // Only admins of everything see unrouted alerts; others preview
        // against what tripped or fires on the breakers they see.
        let unrouted = api::unrouted().await.unwrap_or_default();
        let mut boards = Vec::new();
        for env in api::environments().await.unwrap_or_default() {
            if let Ok(board) = api::breakers(&env.name).await {
                boards.push((env.name, board));
            }
        }
        recent(unrouted, &transitions, boards)
    });
    let recent_alerts = Signal::derive(move || recent_alerts.get().unwrap_or_default());
    let outcome: Outcome = RwSignal::new(None);
    move || {
        (!operated.with(Vec::is_empty)).then(|| {
            view! {
                <section class="section" aria-label="Breaker definitions">
                    <h2 class="section__title">"Definitions"</h2>
                    <div class="field">
                        <label class="field__label" for="define-service">"Breakers of service"</label>
                        <select id="define-service" class="field__select" on:change=move |ev| {
                            outcome.set(None);
                            service.set(event_target_value(&ev));
                        }>
                            <option value="">"Choose a service"</option>
                            {move || operated.get().into_iter().map(|s| view! { <option value=s.clone()>{s.clone()}</option> }).collect_view()}
                        </select>
                    </div>
                    <OutcomeLine outcome=outcome />
                    {move || match record.get().flatten() {
                        None => None,
                        Some(Err(e)) => Some(view! { <Failed error=e /> }.into_any()),
                        Some(Ok(record)) => Some(view! {
                            <ServiceBreakers record=record recent=recent_alerts outcome=outcome on_saved=move || reload.update(|n| *n += 1) />
                        }.into_any()),
                    }}
                </section>
            }
        })
    }
}

/// One service's breakers, each with Edit and Delete, and New breaker.
#[component]
fn ServiceBreakers(
    record: ServiceRecord,
    recent: Signal<Vec<Recent>>,
    outcome: Outcome,
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let service = record.doc.service.clone();
    let revision = record.revision;
    let taken: Vec<String> = record.doc.breakers.keys().cloned().collect();
    // The form open: `Some(name)` edits that breaker, `Some("")` a new one.
    let editing: RwSignal<Option<String>> = RwSignal::new(None);
    let environments = LocalResource::new(move || async move {
        api::environments().await.map_err(|e| session.check(e))
    });
    let all_environments = Signal::derive(move || {
        environments
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.name)
            .collect::<Vec<_>>()
    });
    let rows = record
        .doc
        .breakers
        .iter()
        .map(|(name, breaker)| {
            let edit = name.clone();
            // Copy, as the button needs its action to be.
            let target = StoredValue::new((service.clone(), name.clone()));
            let delete = move |reason: String| {
                let (service, name) = target.get_value();
                async move {
                    match api::delete_breaker(&service, &name, revision, &reason).await {
                        Ok(written) => {
                            outcome.set(Some(Ok(format!("Deleted breaker {name} (revision {}).", written.revision))));
                            on_saved();
                            Ok(())
                        }
                        Err(e) => Err(session.check(e).message),
                    }
                }
            };
            view! {
                <tr>
                    <th scope="row">{edit.clone()}<div class="muted">{breaker.description.clone()}</div></th>
                    <td>{if breaker.environments.is_empty() { "every environment".to_owned() } else { breaker.environments.join(", ") }}</td>
                    <td>{matchers_text(&breaker.trips_on)}</td>
                    <td>{match &breaker.close { ClosePolicy::Manual => "by a person".to_owned(), ClosePolicy::AutoAfter(d) => format!("by itself after {d}") }}</td>
                    <td class="toolbar">
                        <button type="button" class="button" aria-label=format!("Edit {edit}") on:click={
                            let edit = edit.clone();
                            move |_| editing.set(Some(edit.clone()))
                        }>"Edit"</button>
                        <ReasonedButton id=format!("delete-breaker-{edit}") label="Delete…" confirm="Delete" action=delete />
                    </td>
                </tr>
            }
        })
        .collect_view();
    let breakers = StoredValue::new(record.doc.breakers.clone());
    let service = StoredValue::new(service);
    let taken = StoredValue::new(taken);
    view! {
        <div class="table-wrap">
            <table class="table" aria-label="Breakers of the service">
                <thead><tr><th scope="col">"Breaker"</th><th scope="col">"Exists in"</th><th scope="col">"Trips on"</th><th scope="col">"Closes"</th><th scope="col"></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <button type="button" class="button" on:click=move |_| editing.set(Some(String::new()))>"New breaker"</button>
        {move || editing.get().map(|name| {
            let draft = breakers.with_value(|b| b.get(&name).map_or_else(Draft::default, |breaker| Draft::of(&name, breaker)));
            let taken = name.is_empty().then(|| taken.get_value());
            let done = move |message: Option<String>| {
                editing.set(None);
                if let Some(message) = message {
                    outcome.set(Some(Ok(message)));
                    on_saved();
                }
            };
            view! {
                <BreakerForm
                    service=service.get_value()
                    revision=revision
                    draft=draft
                    taken=taken
                    environments=all_environments
                    recent=recent
                    on_done=done
                />
            }
        })}
    }
}

/// `a=b and c=~d, or e=f`, for a table cell.
fn matchers_text(sets: &[Vec<String>]) -> String {
    if sets.is_empty() {
        return "people only".into();
    }
    sets.iter()
        .map(|set| set.join(" and "))
        .collect::<Vec<_>>()
        .join(", or ")
}

/// The form for one definition, with the preview beside it.
#[component]
fn BreakerForm(
    service: String,
    revision: u64,
    draft: Draft,
    /// For a new breaker, the names it may not take; `None` when editing.
    taken: Option<Vec<String>>,
    environments: Signal<Vec<String>>,
    recent: Signal<Vec<Recent>>,
    /// With what was saved, or `None` on cancel.
    on_done: impl Fn(Option<String>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let is_new = taken.is_some();
    let taken = taken.unwrap_or_default();
    let name = RwSignal::new(draft.name);
    let description = RwSignal::new(draft.description);
    let exists_in = RwSignal::new(draft.environments);
    let sets = RwSignal::new(draft.sets);
    let auto_after = RwSignal::new(draft.auto_after);
    let window = RwSignal::new(draft.window);
    let threshold = RwSignal::new(draft.threshold);
    let draft = Memo::new(move |_| Draft {
        name: name.get(),
        description: description.get(),
        environments: exists_in.get(),
        sets: sets.get(),
        auto_after: auto_after.get(),
        window: window.get(),
        threshold: threshold.get(),
    });
    let reason = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let refused: Outcome = RwSignal::new(None);
    let problems = Memo::new(move |_| draft.with(|d| d.problems(&taken)));
    let built = Memo::new(move |_| draft.with(|d| d.breaker().ok()));
    let service = StoredValue::new(service);
    let title = move || {
        if is_new {
            "New breaker".to_owned()
        } else {
            format!("Breaker {}", name.get())
        }
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(breaker) = built.get_untracked() else {
            return;
        };
        let name = name.get_untracked();
        let why = reason.get_untracked();
        busy.set(true);
        spawn_local(async move {
            let result =
                api::put_breaker(&service.get_value(), &name, &breaker, revision, &why).await;
            busy.set(false);
            match result {
                Ok(written) => on_done(Some(format!(
                    "Saved breaker {name} (revision {}).",
                    written.revision
                ))),
                Err(e) => refused.set(Some(Err(session.check(e).message))),
            }
        });
    };
    view! {
        <form class="card breaker-form" aria-label=title on:submit=submit>
            <h3 class="card__title">{title}</h3>
            {is_new.then(|| view! { <TextField id="breaker-name" label="Name" value=name required=true /> })}
            <TextField id="breaker-description" label="What opening it does" value=description />
            <ExistsIn environments=environments exists_in=exists_in />
            <MatcherSets sets=sets />
            <div class="toolbar">
                <TextField id="breaker-auto-after" label="Closes by itself after (empty: a person confirms)" value=auto_after placeholder="e.g. 10m" />
                <TextField id="breaker-window" label="Flap window" value=window />
                <TextField id="breaker-threshold" label="Flapping above (trips)" value=threshold />
            </div>
            <ProblemList problems=Signal::derive(move || problems.get()) />
            <Preview breaker=built recent=recent />
            <TextField id="breaker-reason" label="Reason" value=reason required=true />
            <div class="toolbar">
                <button class="button button--primary" type="submit"
                    disabled=move || busy.get() || !problems.with(Vec::is_empty) || reason.with(|r| r.trim().is_empty())>
                    "Save breaker"
                </button>
                <button class="button" type="button" on:click=move |_| on_done(None)>"Cancel"</button>
            </div>
            <OutcomeLine outcome=refused />
        </form>
    }
}

/// The environments a breaker exists in, ticked; none ticked is all.
#[component]
fn ExistsIn(environments: Signal<Vec<String>>, exists_in: RwSignal<Vec<String>>) -> impl IntoView {
    view! {
        <fieldset class="field">
            <legend class="field__label">"Exists in (none ticked: every environment)"</legend>
            {move || environments.get().into_iter().map(|env| {
                let mine = env.clone();
                let toggled = env.clone();
                view! {
                    <label class="field--inline">
                        <input type="checkbox"
                            prop:checked=move || exists_in.with(|e| e.contains(&mine))
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                exists_in.update(|list| {
                                    list.retain(|e| *e != toggled);
                                    if on {
                                        list.push(toggled.clone());
                                        list.sort();
                                    }
                                });
                            } />
                        {env}
                    </label>
                }
            }).collect_view()}
        </fieldset>
    }
}

/// The alternative matcher sets, one text area each.
#[component]
fn MatcherSets(sets: RwSignal<Vec<String>>) -> impl IntoView {
    let count = Memo::new(move |_| sets.with(Vec::len));
    view! {
        <fieldset class="field">
            <legend class="field__label">"Trips on: alerts matching every line of one set (Alertmanager matchers: = != =~ !~)"</legend>
            {move || (0..count.get()).map(|i| {
                let id = format!("breaker-set-{i}");
                view! {
                    <div class="field">
                        <label class="field__label field__label--small" for=id.clone()>{format!("Set {}", i + 1)}</label>
                        <textarea id=id class="field__input" rows="3"
                            placeholder="alertname=PaymentsErrorRate\nservice=~checkout.*"
                            prop:value=move || sets.with(|s| s.get(i).cloned().unwrap_or_default())
                            on:input=move |ev| {
                                let text = event_target_value(&ev);
                                sets.update(|s| if let Some(set) = s.get_mut(i) { *set = text; });
                            }
                        />
                        <button type="button" class="button button--quiet" aria-label=format!("Remove set {}", i + 1)
                            on:click=move |_| sets.update(|s| { if i < s.len() { s.remove(i); } })>
                            "Remove"
                        </button>
                    </div>
                }
            }).collect_view()}
            <button type="button" class="button" on:click=move |_| sets.update(|s| s.push(String::new()))>"Add a set"</button>
        </fieldset>
    }
}

/// Which of the recent alerts the definition as typed would catch.
#[component]
fn Preview(breaker: Memo<Option<Breaker>>, recent: Signal<Vec<Recent>>) -> impl IntoView {
    let caught = Memo::new(move |_| {
        breaker.with(|breaker| {
            let Some(breaker) = breaker else {
                return Vec::new();
            };
            recent.with(|all| {
                all.iter()
                    .filter(|r| breaker.catches(&r.alert))
                    .cloned()
                    .collect::<Vec<_>>()
            })
        })
    });
    view! {
        <div class="card" role="region" aria-label="Alerts it would catch">
            <p aria-live="polite">
                {move || format!("Would have caught {} of the {} alerts received lately.", caught.with(Vec::len), recent.with(Vec::len))}
            </p>
            <Show when=move || caught.with(|c| !c.is_empty())>
                <table class="table">
                    <thead><tr><th scope="col">"Alert"</th><th scope="col">"Received"</th><th scope="col">"Then"</th></tr></thead>
                    <tbody>
                        {move || caught.get().into_iter().map(|r| view! {
                            <tr><td><AlertLine alert=r.alert /></td><td>{r.at}</td><td>{r.fate}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </Show>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;
    use setpoint_core::{
        Change, ChangeKind, ClosePolicy,
        breaker::{Alert, AlertStatus},
    };

    use super::{Draft, recent};
    use crate::api::UnroutedAlert;

    fn alert(fingerprint: &str, name: &str) -> Alert {
        Alert {
            fingerprint: fingerprint.into(),
            status: AlertStatus::Firing,
            labels: BTreeMap::from([("alertname".into(), name.into())]),
            annotations: BTreeMap::new(),
            starts_at: "2026-12-01T00:00:00Z".into(),
            generator_url: String::new(),
        }
    }

    #[test]
    fn a_draft_reads_its_text_as_a_definition_and_back() {
        let draft = Draft {
            name: "payments".into(),
            sets: vec![
                "alertname=A\n\n  service=~check.* ".into(),
                "  \n".into(),
                "alertname=B".into(),
            ],
            auto_after: " 10m ".into(),
            ..Draft::default()
        };
        let breaker = draft.breaker().expect("valid");
        assert_eq!(
            breaker.trips_on,
            vec![
                vec!["alertname=A".to_string(), "service=~check.*".into()],
                vec!["alertname=B".into()]
            ],
            "blank lines and sets are left out, lines trimmed"
        );
        assert_eq!(breaker.close, ClosePolicy::AutoAfter("10m".into()));
        assert!(draft.problems(&[]).is_empty(), "{:?}", draft.problems(&[]));
        let again = Draft::of("payments", &breaker);
        assert_eq!(again.breaker().expect("valid"), breaker);
    }

    #[test]
    fn the_cores_check_and_the_forms_own_show_as_problems() {
        let bad = Draft {
            name: "payments".into(),
            sets: vec!["alertname~~A".into()],
            threshold: "3".into(),
            ..Draft::default()
        };
        assert_eq!(bad.problems(&[])[0].path, "trips_on[0][0]");
        let no_count = Draft {
            threshold: "lots".into(),
            ..bad.clone()
        };
        assert_eq!(no_count.problems(&[])[0].path, "flapping.threshold");
        let none = Draft {
            sets: vec![String::new()],
            ..bad.clone()
        };
        assert_eq!(none.problems(&[])[0].code, "no_matchers");
        let taken = Draft {
            sets: vec!["alertname=A".into()],
            ..bad
        };
        assert_eq!(taken.problems(&["payments".into()])[0].code, "name_taken");
        assert!(taken.problems(&["other".into()]).is_empty());
    }

    #[test]
    fn recent_alerts_are_the_firing_the_trips_and_the_unrouted_newest_first_each_once() {
        let trip = |revision, fingerprint: &str, at: &str| Change {
            revision,
            service: Some("checkout".into()),
            item: Some("payments".into()),
            environment: Some("prod".into()),
            actor: format!("alert:{fingerprint}"),
            at: at.into(),
            reason: String::new(),
            kind: ChangeKind::BreakerTransition,
            before: None,
            after: Some(
                json!({"state": "open", "cause": {"by": "alert", "alert": alert(fingerprint, "Errors")}}),
            ),
        };
        let by_hand = Change {
            after: Some(
                json!({"state": "open", "cause": {"by": "person", "actor": "user:olga", "reason": "drill"}}),
            ),
            ..trip(3, "x", "2026-12-01T03:00:00Z")
        };
        let transitions = [
            by_hand,
            trip(2, "fp1", "2026-12-01T02:00:00Z"),
            trip(1, "fp1", "2026-12-01T01:00:00Z"),
        ];
        let unrouted = vec![UnroutedAlert {
            alert: alert("fp2", "DiskFull"),
            receiver: "setpoint".into(),
            received_at: "2026-12-01T02:30:00Z".into(),
        }];
        let mut firing = alert("fp3", "Errors");
        firing.starts_at = "2026-12-01T04:00:00Z".into();
        let board: super::BreakerView = serde_json::from_value(json!({
            "service": "checkout", "breaker": "payments", "state": "open",
            "firing": [firing], "close_policy": "manual", "trips_in_window": 1,
            "flap_window": "1h", "flapping": false
        }))
        .expect("a board entry");
        let all = recent(unrouted, &transitions, vec![("prod".into(), vec![board])]);
        let seen: Vec<_> = all
            .iter()
            .map(|r| (r.alert.fingerprint.as_str(), r.at.as_str(), r.fate.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "fp3",
                    "2026-12-01T04:00:00Z",
                    "firing on checkout/payments in prod"
                ),
                ("fp2", "2026-12-01T02:30:00Z", "matched no breaker"),
                (
                    "fp1",
                    "2026-12-01T02:00:00Z",
                    "tripped checkout/payments in prod"
                ),
            ]
        );
    }
}
