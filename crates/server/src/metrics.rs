//! Prometheus metrics, in the text exposition format: requests by route and
//! status, write latency, connected watchers, revision per environment.
//! Hand-rolled: a handful of series does not need a metrics framework.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write,
    sync::{
        Arc, PoisonError, RwLock,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::http::Method;
use setpoint_core::fleet::ClusterState;

use crate::ofrep::{OUTCOMES, Tally};

/// Upper bounds of the write-latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// One route's request counters, by method name and status. Keyed by the
/// folded name, never the method as sent: a client inventing methods must
/// not invent series (nor the memory they take).
type RouteCounters = HashMap<(&'static str, u16), AtomicU64>;

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Counters by route, then method and status. Every request counts
    /// itself, so the common case — a series seen before — takes a shared
    /// lock and an atomic add, and allocates nothing.
    requests: RwLock<HashMap<String, RouteCounters>>,
    write_buckets: [AtomicU64; BUCKETS.len()],
    write_count: AtomicU64,
    write_sum_micros: AtomicU64,
    watchers: AtomicI64,
    commits: AtomicU64,
    committed_writes: AtomicU64,
    ofrep: [AtomicU64; OUTCOMES.len()],
}

/// Counts a watcher (SSE stream or long-poll) while it lives.
#[derive(Debug)]
pub struct WatcherGuard(Arc<Metrics>);

impl Drop for WatcherGuard {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, route: &str, method: &Method, status: u16) {
        let key = (method_name(method), status);
        {
            let requests = self.requests.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(counter) = requests.get(route).and_then(|by| by.get(&key)) {
                counter.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut requests = self
            .requests
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        requests
            .entry(route.to_string())
            .or_default()
            .entry(key)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long a write took from request to durable commit.
    pub fn write(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.write_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.write_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.write_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts one durable commit of `writes` acknowledged writes; their
    /// ratio is the group-commit batch size.
    pub fn commit(&self, writes: usize) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.committed_writes
            .fetch_add(u64::try_from(writes).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Adds one OFREP request's evaluations.
    pub fn ofrep(&self, tally: &Tally) {
        for (counter, count) in self.ofrep.iter().zip(tally.0) {
            if count > 0 {
                counter.fetch_add(count, Ordering::Relaxed);
            }
        }
    }

    /// Event streams and waiting long-polls open now.
    pub fn watchers(&self) -> i64 {
        self.watchers.load(Ordering::Relaxed)
    }

    /// Counts a watcher until the guard drops.
    pub fn watcher(self: &Arc<Self>) -> WatcherGuard {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        WatcherGuard(Arc::clone(self))
    }

    /// The exposition text; `revisions` are per environment.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "setpoint_http_requests_total",
            "counter",
            "HTTP requests answered, by route, method and status.",
        );
        let sorted: BTreeMap<(String, &str, u16), u64> = {
            let requests = self.requests.read().unwrap_or_else(PoisonError::into_inner);
            requests
                .iter()
                .flat_map(|(route, by)| {
                    by.iter().map(move |((method, status), count)| {
                        (
                            (route.clone(), *method, *status),
                            count.load(Ordering::Relaxed),
                        )
                    })
                })
                .collect()
        };
        for ((route, method, status), count) in sorted {
            let _ = writeln!(
                out,
                "setpoint_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {count}",
                escape(&route)
            );
        }
        header(
            &mut out,
            "setpoint_write_duration_seconds",
            "histogram",
            "Time from a write request to its durable commit.",
        );
        for (bound, bucket) in BUCKETS.iter().zip(&self.write_buckets) {
            let _ = writeln!(
                out,
                "setpoint_write_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.write_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "setpoint_write_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.write_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "setpoint_write_duration_seconds_sum {sum}");
        let _ = writeln!(out, "setpoint_write_duration_seconds_count {count}");
        single(
            &mut out,
            "setpoint_commits_total",
            "counter",
            "Store transactions committed by the writer.",
            self.commits.load(Ordering::Relaxed),
        );
        single(
            &mut out,
            "setpoint_committed_writes_total",
            "counter",
            "Writes acknowledged by those commits (group commit: many per transaction).",
            self.committed_writes.load(Ordering::Relaxed),
        );
        single(
            &mut out,
            "setpoint_watchers",
            "gauge",
            "Connected watchers: event streams and waiting long-polls.",
            self.watchers.load(Ordering::Relaxed),
        );
        header(
            &mut out,
            "setpoint_ofrep_evaluations_total",
            "counter",
            "OFREP flag evaluations, by reason and, for errors, error code.",
        );
        for ((reason, code), counter) in OUTCOMES.iter().zip(&self.ofrep) {
            let count = counter.load(Ordering::Relaxed);
            let _ = if code.is_empty() {
                writeln!(
                    out,
                    "setpoint_ofrep_evaluations_total{{reason=\"{reason}\"}} {count}"
                )
            } else {
                writeln!(
                    out,
                    "setpoint_ofrep_evaluations_total{{reason=\"{reason}\",error_code=\"{code}\"}} {count}"
                )
            };
        }
        render_gauges(&mut out, gauges);
        out
    }
}

/// What `/metrics` reads from the current state rather than counts.
#[derive(Debug, Default)]
pub struct Gauges {
    /// Each environment's snapshot revision.
    pub revisions: Vec<(String, u64)>,
    /// Breakers per environment and state (`closed`, `open`,
    /// `awaiting_close`), every combination listed.
    pub breakers: Vec<(String, &'static str, usize)>,
    /// Unrouted alerts kept.
    pub unrouted: usize,
    /// Clusters per environment and state, with the largest lag in
    /// revisions among them.
    pub fleet: Vec<(String, ClusterState, usize, u64)>,
}

/// A metric's `# HELP` and `# TYPE` lines.
/// The gauges read from the current state.
fn render_gauges(out: &mut String, gauges: &Gauges) {
    header(
        out,
        "setpoint_revision",
        "gauge",
        "The revision of each environment's current snapshot.",
    );
    for (environment, revision) in &gauges.revisions {
        let _ = writeln!(
            out,
            "setpoint_revision{{environment=\"{}\"}} {revision}",
            escape(environment)
        );
    }
    header(
        out,
        "setpoint_breakers",
        "gauge",
        "Breakers by environment and state (alert on open and awaiting_close).",
    );
    for (environment, state, count) in &gauges.breakers {
        let _ = writeln!(
            out,
            "setpoint_breakers{{environment=\"{}\",state=\"{state}\"}} {count}",
            escape(environment)
        );
    }
    header(
        out,
        "setpoint_fleet_clusters",
        "gauge",
        "Agents (clusters and namespaces) by environment and state: in_sync, behind, failing, stale.",
    );
    for (environment, state, count, _) in &gauges.fleet {
        let _ = writeln!(
            out,
            "setpoint_fleet_clusters{{environment=\"{}\",state=\"{}\"}} {count}",
            escape(environment),
            state.as_str()
        );
    }
    header(
        out,
        "setpoint_fleet_lag_revisions",
        "gauge",
        "The most revisions any cluster of the environment, in each state, is behind the desired one.",
    );
    for (environment, state, _, lag) in &gauges.fleet {
        let _ = writeln!(
            out,
            "setpoint_fleet_lag_revisions{{environment=\"{}\",state=\"{}\"}} {lag}",
            escape(environment),
            state.as_str()
        );
    }
    single(
        out,
        "setpoint_unrouted_alerts",
        "gauge",
        "Alerts kept because they matched no breaker.",
        gauges.unrouted,
    );
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A metric with one unlabelled sample.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// A method's name for a label; extension methods are folded into `other`
/// so that clients cannot invent series.
fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
