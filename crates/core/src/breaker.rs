//! The breaker state machine: how alerts and people move one breaker, in
//! one environment, between `closed`, `open` and `awaiting_close`.
//!
//! Pure like the rest of the core: the caller passes "now" in. Every event
//! is idempotent, and an event that arrives late (Alertmanager retries,
//! reorders and repeats notifications) changes nothing wrongly:
//! - an alert is known by its fingerprint *and* the `startsAt` of its
//!   occurrence, so a firing notification of an occurrence already seen
//!   resolved is stale and ignored, while the same fingerprint firing again
//!   later (a new `startsAt`) is a new occurrence;
//! - state follows each alert's `status`, never its `endsAt`;
//! - a breaker leaves `open` only when no matching alert is still firing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    Breaker, BreakerState, ClosePolicy, FlapPolicy, ServiceDoc,
    alert::set_matches,
    time::{format_timestamp, parse_duration, parse_timestamp},
};

/// The labels that select the environment an alert is about; an alert
/// without either trips the breaker in every environment it exists in.
pub const ENVIRONMENT_LABELS: [&str; 2] = ["environment", "env"];

/// Resolved occurrences remembered per breaker to recognise stale
/// deliveries; older ones are forgotten first.
const REMEMBERED_RESOLUTIONS: usize = 64;

/// Trip times kept per breaker, for flap detection and the timeline.
const REMEMBERED_TRIPS: usize = 50;

/// Firing alerts kept per breaker. An alert past this many still opens the
/// breaker but is not listed: the state is stored and sent whole, and one
/// noisy rule must not grow it without bound. Alertmanager repeats firing
/// alerts, so one left out that still fires after the listed ones resolve
/// trips the breaker again.
pub const MAX_FIRING: usize = 64;

/// The shortest `auto_after` delay: an automatic close is a decision taken
/// without a person, so it waits at least this long after the last alert
/// resolved (milliseconds).
pub const MIN_AUTO_AFTER_MS: u64 = 60_000;

/// Whether an alert is firing or resolved, as Alertmanager says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AlertStatus {
    /// The alert is active.
    Firing,
    /// The alert has ended.
    Resolved,
}

/// One alert, as the breakers need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    /// Alertmanager's fingerprint: a hash of the labels.
    pub fingerprint: String,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// Its labels (`alertname`, `service`, …).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Its annotations (`summary`, `description`, `runbook_url`, …).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// When this occurrence started (RFC 3339).
    pub starts_at: String,
    /// The link to the expression that fired, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generator_url: String,
}

impl Alert {
    /// The `alertname` label, or the fingerprint when there is none.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").unwrap_or(&self.fingerprint)
    }

    /// The environment its labels name, if they name one.
    pub fn environment(&self) -> Option<&str> {
        ENVIRONMENT_LABELS
            .iter()
            .find_map(|label| self.labels.get(*label))
            .map(String::as_str)
    }

    fn started(&self) -> i64 {
        parse_timestamp(&self.starts_at).unwrap_or(i64::MIN)
    }
}

/// What opened a breaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Cause {
    /// A person, by hand.
    Person {
        /// `user:<name>` or `token:<name>`.
        actor: String,
        /// Why.
        reason: String,
    },
    /// An alert.
    Alert {
        /// The alert that tripped it.
        alert: Alert,
    },
}

/// One breaker's state in one environment, with what it needs to decide
/// the next transition.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerStatus {
    /// Closed, open or awaiting close.
    pub state: BreakerState,
    /// When it entered this state (RFC 3339); absent if it never moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// What opened it; kept until it closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// Matching alerts still firing, by fingerprint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub firing: BTreeMap<String, Alert>,
    /// Occurrences known resolved: fingerprint → their `startsAt`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resolved: BTreeMap<String, String>,
    /// Under `auto_after`: when it closes by itself (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_at: Option<String>,
    /// When it tripped, oldest first (the most recent few).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trips: Vec<String>,
}

/// Something that may move a breaker.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Alertmanager delivered this alert, which matches the breaker.
    Alert(&'a Alert),
    /// A person trips it.
    Trip {
        /// Who.
        actor: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// A person closes it (the confirmation of `awaiting_close`). `force`
    /// closes it even though matching alerts are still firing.
    Close {
        /// Whether to close despite firing alerts.
        force: bool,
    },
    /// Time passed: an `auto_after` delay may have run out.
    Tick,
}

/// Why a person's event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Tripping an open breaker.
    #[error("the breaker is already open")]
    AlreadyOpen,
    /// Closing a closed breaker.
    #[error("the breaker is already closed")]
    AlreadyClosed,
    /// Closing while alerts fire, without force.
    #[error("alerts still firing ({}): close with force and a reason to override", .0.join(", "))]
    StillFiring(Vec<String>),
}

impl BreakerStatus {
    /// The status after `event` at `now` (milliseconds since the epoch),
    /// under the breaker's policies. Equal to `self` when the event changes
    /// nothing (a duplicate, a stale delivery, a tick before the deadline).
    pub fn step(&self, event: Event<'_>, breaker: &Breaker, now: i64) -> Result<Self, Refused> {
        let mut next = self.clone();
        match event {
            Event::Alert(alert) => match alert.status {
                AlertStatus::Firing => next.fire(alert, now),
                AlertStatus::Resolved => next.resolve(alert, breaker, now),
            },
            Event::Trip { actor, reason } => {
                if self.state == BreakerState::Open {
                    return Err(Refused::AlreadyOpen);
                }
                next.open(
                    Cause::Person {
                        actor: actor.into(),
                        reason: reason.into(),
                    },
                    now,
                );
            }
            Event::Close { force } => {
                if self.state == BreakerState::Closed {
                    return Err(Refused::AlreadyClosed);
                }
                if !force && !self.firing.is_empty() {
                    return Err(Refused::StillFiring(
                        self.firing.values().map(|a| a.name().to_owned()).collect(),
                    ));
                }
                // Firing alerts are kept: their repeats are duplicates and
                // must not undo a forced close; a new occurrence still trips.
                next.enter(BreakerState::Closed, now);
            }
            Event::Tick => {
                let due = self
                    .close_at
                    .as_deref()
                    .and_then(|at| parse_timestamp(at).ok())
                    .is_some_and(|at| at <= now);
                if self.state == BreakerState::AwaitingClose && due {
                    next.enter(BreakerState::Closed, now);
                }
            }
        }
        Ok(next)
    }

    fn fire(&mut self, alert: &Alert, now: i64) {
        let seen_resolved = self
            .resolved
            .get(&alert.fingerprint)
            .and_then(|at| parse_timestamp(at).ok())
            .is_some_and(|resolved| alert.started() <= resolved);
        if seen_resolved || self.firing.contains_key(&alert.fingerprint) {
            return;
        }
        self.resolved.remove(&alert.fingerprint);
        if self.firing.len() < MAX_FIRING {
            self.firing.insert(alert.fingerprint.clone(), alert.clone());
        }
        if self.state != BreakerState::Open {
            self.open(
                Cause::Alert {
                    alert: alert.clone(),
                },
                now,
            );
        }
    }

    fn resolve(&mut self, alert: &Alert, breaker: &Breaker, now: i64) {
        let ended = match self.firing.get(&alert.fingerprint) {
            // A resolution of an older occurrence leaves a newer one firing.
            Some(firing) => firing.started() <= alert.started(),
            None => false,
        };
        self.remember_resolved(alert);
        if !ended {
            return;
        }
        self.firing.remove(&alert.fingerprint);
        let opened_by_alert = matches!(self.cause, Some(Cause::Alert { .. }));
        if self.state != BreakerState::Open || !self.firing.is_empty() || !opened_by_alert {
            // Open by hand stays open until a person closes it.
            return;
        }
        self.enter(BreakerState::AwaitingClose, now);
        // A flapping breaker waits for a person whatever its policy: closing
        // it by itself would only open it again.
        if let ClosePolicy::AutoAfter(delay) = &breaker.close
            && !self.flapping(&breaker.flapping, now)
        {
            // Documents are validated to hold at least the minimum; one
            // stored before that rule gets the minimum, never less.
            let delay = parse_duration(delay)
                .unwrap_or(MIN_AUTO_AFTER_MS)
                .max(MIN_AUTO_AFTER_MS);
            let delay = i64::try_from(delay).unwrap_or(i64::MAX);
            self.close_at = Some(format_timestamp(now.saturating_add(delay)));
        }
    }

    fn remember_resolved(&mut self, alert: &Alert) {
        let newer = self
            .resolved
            .get(&alert.fingerprint)
            .and_then(|at| parse_timestamp(at).ok())
            .is_none_or(|known| known < alert.started());
        if newer {
            self.resolved
                .insert(alert.fingerprint.clone(), alert.starts_at.clone());
        }
        while self.resolved.len() > REMEMBERED_RESOLUTIONS {
            let oldest = self
                .resolved
                .iter()
                .min_by_key(|(_, at)| parse_timestamp(at).unwrap_or(i64::MIN))
                .map(|(fingerprint, _)| fingerprint.clone());
            if let Some(fingerprint) = oldest {
                self.resolved.remove(&fingerprint);
            }
        }
    }

    fn open(&mut self, cause: Cause, now: i64) {
        self.enter(BreakerState::Open, now);
        self.cause = Some(cause);
        self.trips.push(format_timestamp(now));
        if self.trips.len() > REMEMBERED_TRIPS {
            self.trips.remove(0);
        }
    }

    fn enter(&mut self, state: BreakerState, now: i64) {
        self.state = state;
        self.since = Some(format_timestamp(now));
        self.close_at = None;
        if state == BreakerState::Closed {
            self.cause = None;
        }
    }

    /// How many times it tripped within `policy`'s window up to `now`.
    pub fn trips_in_window(&self, policy: &FlapPolicy, now: i64) -> usize {
        let window = parse_duration(&policy.window).unwrap_or(3_600_000);
        self.trips_within(window, now)
    }

    /// Whether it tripped more often than `policy` allows within its window
    /// up to `now`.
    pub fn flapping(&self, policy: &FlapPolicy, now: i64) -> bool {
        self.trips_in_window(policy, now) > usize::try_from(policy.threshold).unwrap_or(usize::MAX)
    }

    /// How many times it tripped in the `window` milliseconds up to `now`.
    pub fn trips_within(&self, window: u64, now: i64) -> usize {
        let from = now.saturating_sub(i64::try_from(window).unwrap_or(i64::MAX));
        self.trips
            .iter()
            .filter_map(|at| parse_timestamp(at).ok())
            .filter(|at| *at >= from)
            .count()
    }

    /// What the change log records of a transition: the state and its
    /// cause, without the bookkeeping.
    pub fn summary(&self) -> serde_json::Value {
        let mut out = serde_json::json!({ "state": self.state });
        if let Some(cause) = &self.cause {
            out["cause"] = serde_json::to_value(cause).unwrap_or_default();
        }
        if let Some(close_at) = &self.close_at {
            out["close_at"] = close_at.clone().into();
        }
        out
    }
}

impl Breaker {
    /// Whether one of its matcher sets holds for `alert`'s labels.
    pub fn matches(&self, alert: &Alert) -> bool {
        self.trips_on
            .iter()
            .any(|set| set_matches(set, &alert.labels))
    }

    /// Whether `alert` trips it in some environment: it matches, and the
    /// environment the alert's labels name, if any, is one it exists in.
    /// What the console previews a definition against.
    pub fn catches(&self, alert: &Alert) -> bool {
        self.matches(alert) && alert.environment().is_none_or(|env| self.exists_in(env))
    }
}

/// The breakers of `doc` that `alert` trips, with the environments it trips
/// them in. `environments` are all environments; a breaker listing none
/// exists in each. An alert labelled with an environment trips only there.
pub fn routes(doc: &ServiceDoc, alert: &Alert, environments: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, breaker) in &doc.breakers {
        if !breaker.matches(alert) {
            continue;
        }
        for env in environments.iter().filter(|e| breaker.exists_in(e)) {
            if alert.environment().is_none_or(|wanted| wanted == env) {
                out.push((name.clone(), env.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_790_000_000_000;
    const MINUTE: i64 = 60_000;

    fn alert(fingerprint: &str, status: AlertStatus, started: i64) -> Alert {
        Alert {
            fingerprint: fingerprint.into(),
            status,
            labels: BTreeMap::from([("alertname".into(), format!("Alert{fingerprint}"))]),
            annotations: BTreeMap::new(),
            starts_at: format_timestamp(started),
            generator_url: String::new(),
        }
    }

    fn firing(fp: &str) -> Alert {
        alert(fp, AlertStatus::Firing, T0)
    }

    fn resolved(fp: &str) -> Alert {
        alert(fp, AlertStatus::Resolved, T0)
    }

    fn breaker(close: ClosePolicy) -> Breaker {
        Breaker {
            description: String::new(),
            environments: Vec::new(),
            trips_on: Vec::new(),
            close,
            flapping: FlapPolicy::default(),
        }
    }

    fn step(status: &BreakerStatus, event: Event<'_>, now: i64) -> BreakerStatus {
        status
            .step(event, &breaker(ClosePolicy::Manual), now)
            .expect("accepted")
    }

    #[test]
    fn an_alert_opens_and_its_resolution_awaits_a_person() {
        let closed = BreakerStatus::default();
        let open = step(&closed, Event::Alert(&firing("a")), T0);
        assert_eq!(open.state, BreakerState::Open);
        assert!(matches!(&open.cause, Some(Cause::Alert { alert }) if alert.fingerprint == "a"));
        assert_eq!(open.trips.len(), 1);

        let awaiting = step(&open, Event::Alert(&resolved("a")), T0 + MINUTE);
        assert_eq!(awaiting.state, BreakerState::AwaitingClose);
        assert!(awaiting.state.is_open(), "services still read it as open");
        assert!(awaiting.cause.is_some(), "what tripped it stays visible");

        let confirmed = step(&awaiting, Event::Close { force: false }, T0 + 2 * MINUTE);
        assert_eq!(confirmed.state, BreakerState::Closed);
        assert_eq!(confirmed.cause, None);
        assert_eq!(confirmed.since, Some(format_timestamp(T0 + 2 * MINUTE)));
    }

    #[test]
    fn duplicates_change_nothing() {
        let open = step(&BreakerStatus::default(), Event::Alert(&firing("a")), T0);
        assert_eq!(step(&open, Event::Alert(&firing("a")), T0 + MINUTE), open);
        let awaiting = step(&open, Event::Alert(&resolved("a")), T0 + MINUTE);
        assert_eq!(
            step(&awaiting, Event::Alert(&resolved("a")), T0 + 2 * MINUTE),
            awaiting
        );
        let closed = BreakerStatus::default();
        let after_unknown = step(&closed, Event::Alert(&resolved("z")), T0);
        assert_eq!(after_unknown.state, BreakerState::Closed);
    }

    #[test]
    fn a_late_firing_of_a_resolved_occurrence_is_ignored() {
        let open = step(&BreakerStatus::default(), Event::Alert(&firing("a")), T0);
        let awaiting = step(&open, Event::Alert(&resolved("a")), T0 + MINUTE);
        // The firing notification, retried, arrives after the resolution.
        let late = step(&awaiting, Event::Alert(&firing("a")), T0 + 2 * MINUTE);
        assert_eq!(late, awaiting);
        // Resolution first, then the firing of the same occurrence: closed
        // stays closed.
        let closed = BreakerStatus::default();
        let resolved_first = step(&closed, Event::Alert(&resolved("b")), T0);
        let then_firing = step(&resolved_first, Event::Alert(&firing("b")), T0);
        assert_eq!(then_firing.state, BreakerState::Closed);
        // A new occurrence (later startsAt) of the same fingerprint trips.
        let again = alert("b", AlertStatus::Firing, T0 + 10 * MINUTE);
        let reopened = step(&then_firing, Event::Alert(&again), T0 + 10 * MINUTE);
        assert_eq!(reopened.state, BreakerState::Open);
    }

    #[test]
    fn an_old_resolution_leaves_a_newer_occurrence_firing() {
        let newer = alert("a", AlertStatus::Firing, T0 + 10 * MINUTE);
        let open = step(
            &BreakerStatus::default(),
            Event::Alert(&newer),
            T0 + 10 * MINUTE,
        );
        let old_resolution = step(&open, Event::Alert(&resolved("a")), T0 + 11 * MINUTE);
        assert_eq!(old_resolution.state, BreakerState::Open);
        assert!(old_resolution.firing.contains_key("a"));
    }

    #[test]
    fn stays_open_while_another_matching_alert_fires() {
        let open = step(&BreakerStatus::default(), Event::Alert(&firing("a")), T0);
        let both = step(&open, Event::Alert(&firing("b")), T0 + MINUTE);
        assert_eq!(both.trips.len(), 1, "a second alert is not a second trip");
        let one_left = step(&both, Event::Alert(&resolved("a")), T0 + 2 * MINUTE);
        assert_eq!(one_left.state, BreakerState::Open);
        let none_left = step(&one_left, Event::Alert(&resolved("b")), T0 + 3 * MINUTE);
        assert_eq!(none_left.state, BreakerState::AwaitingClose);
    }

    #[test]
    fn refiring_while_awaiting_close_reopens() {
        let open = step(&BreakerStatus::default(), Event::Alert(&firing("a")), T0);
        let awaiting = step(&open, Event::Alert(&resolved("a")), T0 + MINUTE);
        let other = step(&awaiting, Event::Alert(&firing("b")), T0 + 2 * MINUTE);
        assert_eq!(other.state, BreakerState::Open);
        assert_eq!(other.trips.len(), 2);
    }

    #[test]
    fn people_trip_and_close_with_rules() {
        let closed = BreakerStatus::default();
        assert_eq!(
            closed.step(
                Event::Close { force: false },
                &breaker(ClosePolicy::Manual),
                T0
            ),
            Err(Refused::AlreadyClosed)
        );
        let trip = Event::Trip {
            actor: "user:ops",
            reason: "provider outage",
        };
        let open = step(&closed, trip, T0);
        assert_eq!(open.state, BreakerState::Open);
        assert_eq!(
            open.step(trip, &breaker(ClosePolicy::Manual), T0),
            Err(Refused::AlreadyOpen)
        );
        // An alert resolving does not close what a person opened.
        let with_alert = step(&open, Event::Alert(&firing("a")), T0 + MINUTE);
        let resolved_alert = step(&with_alert, Event::Alert(&resolved("a")), T0 + 2 * MINUTE);
        assert_eq!(resolved_alert.state, BreakerState::Open);
        let closed_again = step(
            &resolved_alert,
            Event::Close { force: false },
            T0 + 3 * MINUTE,
        );
        assert_eq!(closed_again.state, BreakerState::Closed);
    }

    #[test]
    fn closing_over_a_firing_alert_needs_force_and_holds() {
        let open = step(&BreakerStatus::default(), Event::Alert(&firing("a")), T0);
        assert_eq!(
            open.step(
                Event::Close { force: false },
                &breaker(ClosePolicy::Manual),
                T0
            ),
            Err(Refused::StillFiring(vec!["Alerta".into()]))
        );
        let forced = step(&open, Event::Close { force: true }, T0 + MINUTE);
        assert_eq!(forced.state, BreakerState::Closed);
        // Alertmanager repeats the notification: still the same occurrence.
        let repeated = step(&forced, Event::Alert(&firing("a")), T0 + 5 * MINUTE);
        assert_eq!(repeated.state, BreakerState::Closed);
    }

    #[test]
    fn auto_after_closes_once_the_delay_has_passed() {
        let policy = breaker(ClosePolicy::AutoAfter("5m".into()));
        let open = BreakerStatus::default()
            .step(Event::Alert(&firing("a")), &policy, T0)
            .expect("opens");
        let waiting = open
            .step(Event::Alert(&resolved("a")), &policy, T0 + MINUTE)
            .expect("resolves");
        assert_eq!(waiting.state, BreakerState::AwaitingClose);
        assert_eq!(waiting.close_at, Some(format_timestamp(T0 + 6 * MINUTE)));
        let early = waiting
            .step(Event::Tick, &policy, T0 + 5 * MINUTE)
            .expect("ticks");
        assert_eq!(early, waiting);
        let due = waiting
            .step(Event::Tick, &policy, T0 + 6 * MINUTE)
            .expect("ticks");
        assert_eq!(due.state, BreakerState::Closed);

        // A delay below the minimum (stored before the rule) waits the
        // minimum: an alert's resolution never closes a breaker at once.
        let immediate = breaker(ClosePolicy::AutoAfter("0".into()));
        let held = open
            .step(Event::Alert(&resolved("a")), &immediate, T0 + MINUTE)
            .expect("resolves");
        assert_eq!(
            (held.state, held.close_at),
            (
                BreakerState::AwaitingClose,
                Some(format_timestamp(T0 + 2 * MINUTE))
            )
        );
        // Firing again before the deadline cancels the automatic close.
        let refired = waiting
            .step(Event::Alert(&firing("b")), &policy, T0 + 2 * MINUTE)
            .expect("fires");
        assert_eq!(
            (refired.state, refired.close_at),
            (BreakerState::Open, None)
        );
    }

    #[test]
    fn a_flapping_breaker_waits_for_a_person_whatever_its_policy() {
        let policy = breaker(ClosePolicy::AutoAfter("5m".into()));
        let mut status = BreakerStatus::default();
        for i in 0..4 {
            let at = T0 + i * 10 * MINUTE;
            status = status
                .step(
                    Event::Alert(&alert("a", AlertStatus::Firing, at)),
                    &policy,
                    at,
                )
                .expect("fires");
            status = status
                .step(
                    Event::Alert(&alert("a", AlertStatus::Resolved, at)),
                    &policy,
                    at + MINUTE,
                )
                .expect("resolves");
            let flapping = i >= 3;
            assert_eq!(status.flapping(&policy.flapping, at + MINUTE), flapping);
            assert_eq!(
                (status.state, status.close_at.is_some()),
                (BreakerState::AwaitingClose, !flapping),
                "trip {i}"
            );
        }
        let later = status
            .step(Event::Tick, &policy, T0 + 100 * MINUTE)
            .expect("ticks");
        assert_eq!(
            later.state,
            BreakerState::AwaitingClose,
            "no close while held"
        );
    }

    #[test]
    fn firing_alerts_are_listed_up_to_a_bound_and_still_trip() {
        let mut status = BreakerStatus::default();
        for i in 0..MAX_FIRING + 10 {
            status = step(&status, Event::Alert(&firing(&i.to_string())), T0);
        }
        assert_eq!(status.firing.len(), MAX_FIRING);
        assert_eq!(status.state, BreakerState::Open);
    }

    #[test]
    fn counts_trips_in_the_flap_window() {
        let mut status = BreakerStatus::default();
        for i in 0..5 {
            let occurrence = alert("a", AlertStatus::Firing, T0 + i * 10 * MINUTE);
            status = step(&status, Event::Alert(&occurrence), T0 + i * 10 * MINUTE);
            let end = alert("a", AlertStatus::Resolved, T0 + i * 10 * MINUTE);
            status = step(&status, Event::Alert(&end), T0 + i * 10 * MINUTE + MINUTE);
        }
        assert_eq!(status.trips.len(), 5);
        assert_eq!(status.trips_within(3_600_000, T0 + 45 * MINUTE), 5);
        assert_eq!(status.trips_within(3_600_000, T0 + 85 * MINUTE), 2);
    }

    #[test]
    fn routes_by_matchers_and_environment_label() {
        let doc: ServiceDoc = serde_json::from_value(serde_json::json!({
            "service": "checkout",
            "breakers": {
                "payments-provider": {
                    "trips_on": [["alertname=PaymentsErrorRate", "service=checkout"]]
                },
                "eu-only": {
                    "environments": ["prod"],
                    "trips_on": [["alertname=~Payments.*"]]
                }
            }
        }))
        .expect("doc");
        let envs = vec!["staging".to_string(), "prod".to_string()];
        let mut a = firing("x");
        a.labels = BTreeMap::from([
            ("alertname".into(), "PaymentsErrorRate".into()),
            ("service".into(), "checkout".into()),
        ]);
        assert_eq!(
            routes(&doc, &a, &envs),
            vec![
                ("eu-only".to_string(), "prod".to_string()),
                ("payments-provider".to_string(), "staging".to_string()),
                ("payments-provider".to_string(), "prod".to_string()),
            ]
        );
        a.labels.insert("environment".into(), "staging".into());
        assert_eq!(
            routes(&doc, &a, &envs),
            vec![("payments-provider".to_string(), "staging".to_string())]
        );
        a.labels.insert("alertname".into(), "DiskFull".into());
        assert!(routes(&doc, &a, &envs).is_empty());
    }

    #[test]
    fn a_definition_catches_what_it_would_route() {
        let breaker: Breaker = serde_json::from_value(serde_json::json!({
            "environments": ["prod"],
            "trips_on": [["alertname=~Payments.*", "severity!=info"], ["alertname=Down"]]
        }))
        .expect("breaker");
        let mut a = firing("x");
        a.labels = BTreeMap::from([("alertname".into(), "PaymentsLatency".into())]);
        assert!(breaker.catches(&a), "one set holds; no environment named");
        a.labels.insert("severity".into(), "info".into());
        assert!(!breaker.catches(&a), "every matcher of a set must hold");
        a.labels.insert("alertname".into(), "Down".into());
        assert!(breaker.catches(&a), "any set may hold");
        a.labels.insert("env".into(), "staging".into());
        assert!(
            breaker.matches(&a) && !breaker.catches(&a),
            "it does not exist in the environment the alert names"
        );
    }
}
