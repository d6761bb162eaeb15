//! Progressive rollouts guarded by alerts: one flag's default in one
//! environment moved to a new variant step by step, each step held for a
//! while, and pulled back to the last step that held when a guard fires —
//! an alert its matchers catch, or a breaker of the service opening. Then
//! it waits for a person, as a breaker does.
//!
//! ```text
//!              tick (hold ran out)         tick (last step held)
//!   start ──▶ Running ───────────▶ Running ───────────────────▶ Completed
//!             │  ▲  ▲ resume/retry          │
//!       pause │  │  └─────────────┐         │ guard fires: back to the last
//!             ▼  │ resume/retry   │         ▼ step that held (or 0 %)
//!             Paused ──guard──▶ Halted ◀────┘
//!   abort (from any of the three): Aborted, back to 0 %
//! ```
//!
//! The split is sticky: the new variant comes first in bucket order, so
//! raising its share only moves users into it and lowering it only moves
//! users back. The machine is pure — the server feeds it ticks, guard
//! events and people's steps, and writes the percent it serves.

use serde::{Deserialize, Serialize};

use crate::{
    Breaker, FieldPath, Flag, Serve, Split, Violation, ViolationKind, Weighted,
    alert::Matcher,
    time::{format_timestamp, parse_duration, parse_timestamp},
};

/// The most steps a plan may have.
pub const MAX_STEPS: usize = 20;
/// The most guards a plan may have.
pub const MAX_GUARDS: usize = 16;
/// The longest a step may be held: a plan is a rollout, not a schedule.
pub const MAX_HOLD_MS: u64 = 30 * 24 * 3_600_000;

/// What a person asks for: the variant to roll out, the steps and the
/// guards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutPlan {
    /// The variant to roll out.
    pub variant: String,
    /// Shares of the new variant, rising, each held for a while.
    pub steps: Vec<RolloutStep>,
    /// What stops the rollout and pulls it back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guards: Vec<Guard>,
    /// The context attribute hashed for bucketing (default `targetingKey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_by: Option<String>,
}

/// One step: a share, and how long it must hold before the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutStep {
    /// The new variant's share, in percent.
    pub percent: u32,
    /// How long it must run with no guard firing, e.g. `30m`.
    pub hold: String,
}

/// What a rollout watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Guard {
    /// Alerts whose labels satisfy every matcher (breakers' syntax).
    Alert(Vec<String>),
    /// A breaker of the service, in the rollout's environment, opening.
    Breaker(String),
}

impl Guard {
    /// Whether a firing alert with these labels trips this guard.
    pub fn catches(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        match self {
            Self::Alert(matchers) => crate::alert::set_matches(matchers, labels),
            Self::Breaker(_) => false,
        }
    }
}

impl RolloutPlan {
    /// Checks the plan against the flag it rolls out in `environment` and
    /// the service's breakers, and returns the variant everyone else keeps
    /// getting: the one the environment's default serves now.
    pub fn check(
        &self,
        flag: &Flag,
        environment: &str,
        breakers: &std::collections::BTreeMap<String, Breaker>,
    ) -> Result<String, Vec<Violation>> {
        let root = FieldPath::root();
        let mut violations = Vec::new();
        let mut invalid = |path: FieldPath, message: String| {
            violations.push(Violation::new(path, ViolationKind::InvalidRollout(message)));
        };
        if !flag.variants.contains_key(&self.variant) {
            invalid(
                root.key("variant"),
                format!("the flag has no variant {:?}", self.variant),
            );
        }
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            invalid(
                root.key("steps"),
                format!("a plan has from 1 to {MAX_STEPS} steps"),
            );
        }
        let mut last = 0;
        for (i, step) in self.steps.iter().enumerate() {
            let path = root.key("steps").index(i);
            if step.percent <= last || step.percent > 100 {
                invalid(
                    path.key("percent"),
                    "shares rise from step to step, from 1 to 100 percent".into(),
                );
            }
            last = last.max(step.percent);
            match parse_duration(&step.hold) {
                Err(e) => invalid(path.key("hold"), e),
                Ok(ms) if ms > MAX_HOLD_MS => {
                    invalid(path.key("hold"), "a step is held at most 30 days".into());
                }
                Ok(_) => {}
            }
        }
        if self.guards.len() > MAX_GUARDS {
            invalid(root.key("guards"), format!("at most {MAX_GUARDS} guards"));
        }
        for (i, guard) in self.guards.iter().enumerate() {
            let path = root.key("guards").index(i);
            match guard {
                Guard::Alert(matchers) if matchers.is_empty() => invalid(
                    path.key("alert"),
                    "a matcher set must not be empty: it would match every alert".into(),
                ),
                Guard::Alert(matchers) => {
                    for (j, text) in matchers.iter().enumerate() {
                        if let Err(reason) = Matcher::parse(text) {
                            invalid(path.key("alert").index(j), reason);
                        }
                    }
                }
                Guard::Breaker(name) => {
                    if !breakers.get(name).is_some_and(|b| b.exists_in(environment)) {
                        invalid(
                            path.key("breaker"),
                            format!("the service has no breaker {name:?} in {environment:?}"),
                        );
                    }
                }
            }
        }
        let base = self
            .base(flag, environment)
            .map_err(|(path, message)| invalid(path, message))
            .ok();
        match base {
            Some(base) if violations.is_empty() => Ok(base),
            _ => Err(violations),
        }
    }

    /// The variant the environment's default serves to everyone now: what
    /// a rollout starts from.
    fn base(&self, flag: &Flag, environment: &str) -> Result<String, (FieldPath, String)> {
        let root = FieldPath::root();
        let targeting = flag.environments.get(environment).ok_or_else(|| {
            (
                root.clone(),
                format!("the flag has no targeting in {environment:?}: add it first"),
            )
        })?;
        if !targeting.enabled {
            return Err((
                root,
                format!("the flag is disabled in {environment:?}: a rollout would serve no one"),
            ));
        }
        match &targeting.default {
            Serve::Variant(base) if *base != self.variant => Ok(base.clone()),
            Serve::Variant(_) => Err((
                root.key("variant"),
                format!(
                    "{environment:?} already serves {:?} to everyone",
                    self.variant
                ),
            )),
            Serve::Split(_) => Err((
                root,
                format!(
                    "the default in {environment:?} is already a split: serve one variant before rolling out another"
                ),
            )),
        }
    }
}

/// A plan under way, as the server keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// What was asked for.
    pub plan: RolloutPlan,
    /// The variant everyone outside the new variant's share gets.
    pub base: String,
    /// Where it stands.
    pub state: RolloutState,
    /// The step it is on (or was on, once it stopped).
    pub step: usize,
    /// The last step that held its time, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<usize>,
    /// The share the flag serves now.
    pub percent: u32,
    /// When the current state or step began (RFC 3339).
    pub since: String,
    /// Who started it.
    pub started_by: String,
    /// Why it halted or paused, or how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Guard alerts firing now: fingerprint → what fired.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub firing: std::collections::BTreeMap<String, String>,
}

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RolloutState {
    /// Advancing as its steps hold.
    Running,
    /// Stopped by a person; the share stays.
    Paused,
    /// Stopped by a guard and pulled back; waits for a person.
    Halted,
    /// Every step held.
    Completed,
    /// Ended by a person; back to 0 %.
    Aborted,
}

impl RolloutState {
    /// The name used in filters and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Halted => "halted",
            Self::Completed => "completed",
            Self::Aborted => "aborted",
        }
    }

    /// Whether it has ended.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Aborted)
    }
}

/// Something that moves a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Steer {
    /// A person stops it where it is.
    Pause,
    /// A person lets it go on: a paused plan from its step, a halted one
    /// from the step after the last that held. Refused while a guard fires
    /// unless forced.
    Resume {
        /// Resume although guards still fire.
        #[serde(default)]
        force: bool,
    },
    /// A person restarts it from a step (0-based).
    Retry {
        /// The step.
        step: usize,
        /// Retry although guards still fire.
        #[serde(default)]
        force: bool,
    },
    /// A person ends it; the flag goes back to the base variant.
    Abort,
}

/// Why a person's step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolloutRefused {
    /// The plan cannot take this step from where it stands.
    #[error("the rollout is {}: it cannot {what}", .state.as_str())]
    State {
        /// Where it stands.
        state: RolloutState,
        /// What was asked.
        what: &'static str,
    },
    /// Guards still fire.
    #[error("guards still fire ({}): resume with force to override", .0.join(", "))]
    StillFiring(Vec<String>),
    /// No such step.
    #[error("the plan has steps 0 to {last}")]
    NoSuchStep {
        /// The last step's index.
        last: usize,
    },
}

impl Rollout {
    /// A plan started at `now` (milliseconds since the epoch) on its first
    /// step.
    pub fn start(plan: RolloutPlan, base: String, started_by: String, now: i64) -> Self {
        let percent = plan.steps.first().map_or(0, |s| s.percent);
        Self {
            plan,
            base,
            state: RolloutState::Running,
            step: 0,
            held: None,
            percent,
            since: format_timestamp(now),
            started_by,
            note: None,
            firing: std::collections::BTreeMap::new(),
        }
    }

    /// When the current step will have held, if it is running.
    pub fn due_at(&self) -> Option<i64> {
        if self.state != RolloutState::Running {
            return None;
        }
        let hold = parse_duration(&self.plan.steps.get(self.step)?.hold).ok()?;
        let since = parse_timestamp(&self.since).ok()?;
        Some(since.saturating_add(i64::try_from(hold).unwrap_or(i64::MAX)))
    }

    /// Time passed: a step that held its time gives way to the next, and
    /// the last completes the plan. Unchanged when nothing is due.
    #[must_use]
    pub fn tick(&self, now: i64) -> Self {
        let mut next = self.clone();
        if self.due_at().is_none_or(|due| now < due) {
            return next;
        }
        next.held = Some(self.step);
        next.since = format_timestamp(now);
        if self.step + 1 >= self.plan.steps.len() {
            next.state = RolloutState::Completed;
            next.note = Some("every step held".into());
        } else {
            next.step = self.step + 1;
            next.percent = self.plan.steps[next.step].percent;
        }
        next
    }

    /// A guard fired (`what`: the alert's labels and summary, or the
    /// breaker). A running or paused plan halts and goes back to the last
    /// step that held, or to 0 %. `fingerprint` keeps an alert on record
    /// until it resolves.
    #[must_use]
    pub fn guard_fired(&self, fingerprint: Option<&str>, what: &str, now: i64) -> Self {
        let mut next = self.clone();
        if self.state.is_final() {
            return next;
        }
        if let Some(fingerprint) = fingerprint {
            next.firing.insert(fingerprint.to_owned(), what.to_owned());
        }
        if matches!(self.state, RolloutState::Running | RolloutState::Paused) {
            next.state = RolloutState::Halted;
            next.percent = self.held.map_or(0, |h| self.plan.steps[h].percent);
            next.since = format_timestamp(now);
            next.note = Some(what.to_owned());
        }
        next
    }

    /// A guard alert resolved: it no longer stands in a resume's way.
    #[must_use]
    pub fn guard_resolved(&self, fingerprint: &str) -> Self {
        let mut next = self.clone();
        next.firing.remove(fingerprint);
        next
    }

    /// A person's step. `firing` names the guards firing now besides the
    /// alerts on record (open breakers, which the server knows).
    pub fn steer(
        &self,
        steer: &Steer,
        firing: &[String],
        now: i64,
    ) -> Result<Self, RolloutRefused> {
        let refuse = |what| RolloutRefused::State {
            state: self.state,
            what,
        };
        let still_firing = |force: bool| {
            let mut all: Vec<String> = self.firing.values().cloned().collect();
            all.extend(firing.iter().cloned());
            if all.is_empty() || force {
                Ok(())
            } else {
                Err(RolloutRefused::StillFiring(all))
            }
        };
        let mut next = self.clone();
        next.since = format_timestamp(now);
        match *steer {
            Steer::Pause => {
                if self.state != RolloutState::Running {
                    return Err(refuse("pause"));
                }
                next.state = RolloutState::Paused;
                next.note = None;
            }
            Steer::Resume { force } => {
                let step = match self.state {
                    RolloutState::Paused => self.step,
                    RolloutState::Halted => self.held.map_or(0, |h| h + 1),
                    _ => return Err(refuse("resume")),
                };
                still_firing(force)?;
                next.run_from(step.min(self.plan.steps.len() - 1));
            }
            Steer::Retry { step, force } => {
                if !matches!(self.state, RolloutState::Paused | RolloutState::Halted) {
                    return Err(refuse("retry"));
                }
                let last = self.plan.steps.len() - 1;
                if step > last {
                    return Err(RolloutRefused::NoSuchStep { last });
                }
                still_firing(force)?;
                next.run_from(step);
            }
            Steer::Abort => {
                if self.state.is_final() {
                    return Err(refuse("abort"));
                }
                next.state = RolloutState::Aborted;
                next.percent = 0;
                next.note = None;
            }
        }
        Ok(next)
    }

    fn run_from(&mut self, step: usize) {
        self.state = RolloutState::Running;
        self.step = step;
        self.held = step.checked_sub(1);
        self.percent = self.plan.steps[step].percent;
        self.note = None;
        self.firing.clear();
    }

    /// What the environment's default serves at the current share: the
    /// new variant first in bucket order, so the split stays sticky.
    pub fn serve(&self) -> Serve {
        match self.percent {
            0 => Serve::Variant(self.base.clone()),
            100.. => Serve::Variant(self.plan.variant.clone()),
            share => Serve::Split(Split {
                weights: vec![
                    Weighted {
                        variant: self.plan.variant.clone(),
                        weight: share,
                    },
                    Weighted {
                        variant: self.base.clone(),
                        weight: 100 - share,
                    },
                ],
                bucket_by: self.plan.bucket_by.clone(),
            }),
        }
    }

    /// `running at 25 % (step 3 of 5)`, for logs and lists.
    pub fn summary(&self) -> String {
        format!(
            "{} at {} % (step {} of {})",
            self.state.as_str(),
            self.percent,
            self.step + 1,
            self.plan.steps.len()
        )
    }
}
