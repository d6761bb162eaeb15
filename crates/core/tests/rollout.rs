//! The rollout state machine: checks, steps, guards and people's steps,
//! with time given as milliseconds.

use std::collections::BTreeMap;

use serde_json::json;
use setpoint_core::{
    Breaker, Flag, Serve, ServiceDoc,
    eval::pick,
    rollout::{Guard, Rollout, RolloutPlan, RolloutRefused, RolloutState, Steer},
};

const MINUTE: i64 = 60_000;
const T0: i64 = 1_800_000_000_000;

fn example() -> ServiceDoc {
    serde_json::from_str(include_str!("../../../examples/checkout.json")).expect("example parses")
}

fn flag() -> Flag {
    example().flags["new-checkout-flow"].clone()
}

fn breakers() -> BTreeMap<String, Breaker> {
    example().breakers
}

fn plan(steps: &[(u32, &str)]) -> RolloutPlan {
    serde_json::from_value(json!({
        "variant": "on",
        "steps": steps.iter().map(|(p, h)| json!({"percent": p, "hold": h})).collect::<Vec<_>>(),
        "guards": [{"alert": ["alertname=CheckoutErrors", "env=prod"]}, {"breaker": "payments-provider"}],
    }))
    .expect("plan parses")
}

fn codes(plan: &RolloutPlan, environment: &str) -> Vec<(String, &'static str)> {
    match plan.check(&flag(), environment, &breakers()) {
        Ok(_) => Vec::new(),
        Err(list) => list
            .iter()
            .map(|v| (v.path.to_string(), v.code()))
            .collect(),
    }
}

fn started() -> Rollout {
    let plan = plan(&[(5, "10m"), (25, "10m"), (100, "10m")]);
    let base = plan.check(&flag(), "prod", &breakers()).expect("valid");
    Rollout::start(plan, base, "user:pm".into(), T0)
}

#[test]
fn a_plan_rolls_out_from_what_the_default_serves() {
    let plan = plan(&[(5, "10m"), (100, "1h")]);
    assert_eq!(plan.check(&flag(), "prod", &breakers()), Ok("off".into()));
}

#[test]
fn a_bad_plan_is_refused_with_every_problem_and_its_path() {
    let mut bad = plan(&[(5, "10m"), (5, "soon"), (101, "31d")]);
    bad.variant = "maybe".into();
    bad.guards = vec![
        Guard::Alert(vec![]),
        Guard::Alert(vec!["alertname".into()]),
        Guard::Breaker("nope".into()),
    ];
    assert_eq!(
        codes(&bad, "prod"),
        vec![
            ("variant".into(), "invalid_rollout"),
            ("steps[1].percent".into(), "invalid_rollout"),
            ("steps[1].hold".into(), "invalid_rollout"),
            ("steps[2].percent".into(), "invalid_rollout"),
            ("steps[2].hold".into(), "invalid_rollout"),
            ("guards[0].alert".into(), "invalid_rollout"),
            ("guards[1].alert[0]".into(), "invalid_rollout"),
            ("guards[2].breaker".into(), "invalid_rollout"),
        ]
    );
}

#[test]
fn a_plan_needs_an_enabled_single_variant_default() {
    let plan = plan(&[(50, "1m")]);
    // Staging already serves "on" to everyone.
    assert_eq!(
        codes(&plan, "staging"),
        vec![("variant".into(), "invalid_rollout")]
    );
    assert_eq!(
        codes(&plan, "dev"),
        vec![(String::new(), "invalid_rollout")]
    );
    let mut disabled = flag();
    disabled.environments.get_mut("prod").expect("prod").enabled = false;
    assert!(plan.check(&disabled, "prod", &breakers()).is_err());
}

#[test]
fn steps_advance_once_each_has_held_and_the_last_completes() {
    let mut r = started();
    assert_eq!((r.state, r.percent), (RolloutState::Running, 5));
    assert_eq!(r.tick(T0 + 9 * MINUTE), r, "not before its hold ran out");
    r = r.tick(T0 + 10 * MINUTE);
    assert_eq!((r.step, r.percent, r.held), (1, 25, Some(0)));
    assert_eq!(r.due_at(), Some(T0 + 20 * MINUTE), "the hold starts over");
    r = r.tick(T0 + 20 * MINUTE).tick(T0 + 30 * MINUTE);
    assert_eq!((r.state, r.percent), (RolloutState::Completed, 100));
    assert_eq!(r.tick(T0 + 99 * MINUTE), r, "a completed plan stays");
    assert_eq!(r.serve(), Serve::Variant("on".into()));
}

#[test]
fn a_guard_pulls_back_to_the_last_step_that_held_and_waits() {
    let r = started().tick(T0 + 10 * MINUTE);
    assert_eq!(r.percent, 25);
    let halted = r.guard_fired(
        Some("fp1"),
        "CheckoutErrors firing: 5xx above 2%",
        T0 + 12 * MINUTE,
    );
    assert_eq!((halted.state, halted.percent), (RolloutState::Halted, 5));
    assert_eq!(
        halted.note.as_deref(),
        Some("CheckoutErrors firing: 5xx above 2%")
    );
    assert_eq!(
        halted.tick(T0 + 99 * MINUTE),
        halted,
        "a halted plan does not advance"
    );

    // On its first step nothing held yet: back to 0 %.
    let first = started().guard_fired(None, "breaker payments-provider opened", T0 + MINUTE);
    assert_eq!(
        (first.percent, first.serve()),
        (0, Serve::Variant("off".into()))
    );
}

#[test]
fn resuming_waits_for_the_guards_unless_forced() {
    let halted = started().tick(T0 + 10 * MINUTE).guard_fired(
        Some("fp1"),
        "CheckoutErrors firing",
        T0 + 12 * MINUTE,
    );
    let resume = Steer::Resume { force: false };
    assert_eq!(
        halted.steer(&resume, &[], T0 + 13 * MINUTE),
        Err(RolloutRefused::StillFiring(vec![
            "CheckoutErrors firing".into()
        ]))
    );
    let resolved = halted.guard_resolved("fp1");
    assert!(matches!(
        resolved.steer(&resume, &["breaker payments-provider is open".into()], T0),
        Err(RolloutRefused::StillFiring(_))
    ));
    // Resumed, it tries the step that failed again, with its full hold.
    let again = resolved
        .steer(&resume, &[], T0 + 15 * MINUTE)
        .expect("resumes");
    assert_eq!(
        (again.state, again.step, again.percent),
        (RolloutState::Running, 1, 25)
    );
    assert_eq!(again.due_at(), Some(T0 + 25 * MINUTE));
    let forced = halted
        .steer(&Steer::Resume { force: true }, &[], T0)
        .expect("force overrides");
    assert!(forced.firing.is_empty());
}

#[test]
fn people_pause_retry_from_a_step_and_abort() {
    let r = started().tick(T0 + 10 * MINUTE);
    let paused = r
        .steer(&Steer::Pause, &[], T0 + 11 * MINUTE)
        .expect("pauses");
    assert_eq!((paused.state, paused.percent), (RolloutState::Paused, 25));
    assert_eq!(paused.due_at(), None);
    assert!(matches!(
        paused.steer(&Steer::Pause, &[], T0),
        Err(RolloutRefused::State { .. })
    ));
    let resumed = paused
        .steer(&Steer::Resume { force: false }, &[], T0 + 20 * MINUTE)
        .expect("resumes");
    assert_eq!(
        (resumed.step, resumed.percent),
        (1, 25),
        "a paused plan resumes where it was"
    );

    let retried = paused
        .steer(
            &Steer::Retry {
                step: 0,
                force: false,
            },
            &[],
            T0,
        )
        .expect("retries");
    assert_eq!((retried.step, retried.percent, retried.held), (0, 5, None));
    assert_eq!(
        paused.steer(
            &Steer::Retry {
                step: 3,
                force: false
            },
            &[],
            T0
        ),
        Err(RolloutRefused::NoSuchStep { last: 2 })
    );

    let aborted = r.steer(&Steer::Abort, &[], T0).expect("aborts");
    assert_eq!((aborted.state, aborted.percent), (RolloutState::Aborted, 0));
    assert!(aborted.steer(&Steer::Abort, &[], T0).is_err());
    assert_eq!(
        aborted.guard_fired(Some("fp"), "late", T0),
        aborted,
        "an ended plan ignores guards"
    );
}

#[test]
fn raising_the_share_only_moves_users_into_the_new_variant() {
    let r = started();
    let shares = [5, 25, 50, 100];
    let served: Vec<Vec<String>> = shares
        .iter()
        .map(|&percent| {
            let serve = Rollout {
                percent,
                ..r.clone()
            }
            .serve();
            (0..2_000)
                .map(|i| match &serve {
                    Serve::Variant(v) => v.clone(),
                    Serve::Split(split) => {
                        pick(&split.weights, "new-checkout-flow", &format!("user-{i}"))
                            .expect("weights")
                            .to_string()
                    }
                })
                .collect()
        })
        .collect();
    for pair in served.windows(2) {
        for (before, after) in pair[0].iter().zip(&pair[1]) {
            assert!(
                before == after || (before == "off" && after == "on"),
                "{before} → {after}"
            );
        }
    }
    let on_at_25 = served[1].iter().filter(|v| *v == "on").count();
    assert!(
        (400..600).contains(&on_at_25),
        "about a quarter: {on_at_25}"
    );
}
