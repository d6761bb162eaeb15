//! `GET /api/v1/environments/{env}/events`: Server-Sent Events, one per
//! change that affects the environment, `id` = revision; `GET
//! /api/v1/events`: every change the caller may read, in every environment
//! (one connection for a page that watches them all — browsers allow only
//! six per server over HTTP/1.1). A reconnecting client sends
//! `Last-Event-ID` and first gets what it missed, from the log.
//!
//! Agents' reports ride the same streams as `event: fleet` frames without
//! an `id`: they are the latest word of a cluster, not history, so a
//! reconnect does not replay them (the fleet view reads `GET
//! /api/v1/fleet` when it opens).

use std::{borrow::Cow, collections::VecDeque, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures_util::stream;
use tokio::sync::broadcast::{self, error::RecvError};

use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, PathParams};
use crate::{
    ApiError,
    admission::StreamTurn,
    auth::{Permission, Principal, Visible},
    engine::{Engine, Published},
    fleet,
    store::{ChangeQuery, StoredReport},
};

/// How many changes one catch-up read fetches.
const PAGE: u32 = 500;

/// How long a stream may stay silent before it gets a comment line.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The events route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events))
        .routes(routes!(all_events))
}

struct Follower {
    engine: Arc<Engine>,
    /// One environment, or all (`None`).
    environment: Option<String>,
    /// Who follows: changes they may not read are skipped.
    principal: Principal,
    /// The last revision sent (or the resume point).
    last: u64,
    /// Whether the log may hold changes after `last` not yet read.
    behind: bool,
    pending: VecDeque<Arc<Published>>,
    live: broadcast::Receiver<Arc<Published>>,
    /// Holds the stream's place (and counts it in `setpoint_watchers`)
    /// while it is open.
    _turn: StreamTurn,
}

impl Follower {
    /// The event for `published` as this follower may see it: the shared
    /// frame when nothing needs cutting, a frame of its own otherwise.
    fn visible(&self, published: Arc<Published>) -> Option<Arc<Published>> {
        let change = &published.change;
        if let (Some(mine), Some(theirs)) = (&self.environment, &change.environment)
            && mine != theirs
        {
            return None;
        }
        match change.visible_to(&self.principal)? {
            Cow::Borrowed(_) => Some(published),
            Cow::Owned(cut) => Some(Arc::new(Published::new(cut))),
        }
    }

    /// Reads the next page of the log after `last`.
    async fn catch_up(&mut self) -> bool {
        let query = ChangeQuery {
            environment: self.environment.clone(),
            after_revision: Some(self.last),
            limit: PAGE,
            ..ChangeQuery::default()
        };
        match self.engine.changes(&query).await {
            Ok(changes) => {
                self.behind = changes.len() == PAGE as usize;
                self.pending
                    .extend(changes.into_iter().map(|c| Arc::new(Published::new(c))));
                true
            }
            Err(error) => {
                tracing::error!(%error, "event stream cannot read the change log");
                false
            }
        }
    }

    async fn next(&mut self) -> Option<Arc<Published>> {
        loop {
            if let Some(published) = self.pending.pop_front() {
                if published.change.revision > self.last {
                    self.last = published.change.revision;
                    if let Some(visible) = self.visible(published) {
                        return Some(visible);
                    }
                }
                continue;
            }
            if self.behind {
                if !self.catch_up().await {
                    return None;
                }
                continue;
            }
            match self.live.recv().await {
                Ok(change) => self.pending.push_back(change),
                // Missed some: the log has them.
                Err(RecvError::Lagged(_)) => self.behind = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// One stream's frames: the changes of its [`Follower`], and agents'
/// reports as they arrive.
struct Frames {
    changes: Follower,
    fleet: broadcast::Receiver<Arc<StoredReport>>,
}

impl Frames {
    /// The next frame: a change, or an agent's report.
    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            tokio::select! {
                published = self.changes.next() => return Some(published?.frame.clone()),
                report = self.fleet.recv() => match report {
                    Ok(stored) => {
                        if let Some(frame) = self.fleet_frame(&stored) {
                            return Some(frame);
                        }
                    }
                    // A report is superseded by the next; missing some
                    // loses nothing the view needs.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }

    /// The `fleet` event for a report, as this follower may see it.
    fn fleet_frame(&self, stored: &StoredReport) -> Option<Bytes> {
        let changes = &self.changes;
        if changes
            .environment
            .as_ref()
            .is_some_and(|env| *env != stored.report.environment)
        {
            return None;
        }
        let status = fleet::status(stored, changes.engine.snapshots(), changes.engine.now());
        let visible = status.visible_to(&changes.principal)?;
        let json = serde_json::to_string(&*visible).ok()?;
        Some(Bytes::from(format!("event: fleet\ndata: {json}\n\n")))
    }
}

#[utoipa::path(get, path = "/api/v1/environments/{environment}/events", tag = "distribution", summary = "Server-Sent Events, one per change", params(("environment" = String, Path, description = "Environment name"), ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this revision")), responses((status = 200, description = "text/event-stream"), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn events(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(environment): PathParams<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal.require(Permission::Read, None, Some(&environment))?;
    if !state.engine.world().environments.contains_key(&environment) {
        return Err(ApiError::NotFound(format!(
            "environment {environment:?} does not exist"
        )));
    }
    stream(&state, principal, Some(environment), &headers)
}

#[utoipa::path(get, path = "/api/v1/events", tag = "distribution", summary = "Server-Sent Events of every environment", params(("Last-Event-ID" = Option<u64>, Header, description = "Resume after this revision")), responses((status = 200, description = "text/event-stream"), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn all_events(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal.require(Permission::Read, None, None)?;
    stream(&state, principal, None, &headers)
}

/// The event stream of one environment or all, for `principal`.
fn stream(
    state: &AppState,
    principal: Principal,
    environment: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let resume = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                // Revisions are SQL integers: none lies beyond i64.
                .filter(|r| i64::try_from(*r).is_ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_last_event_id",
                        "Last-Event-ID must be a revision number",
                    )
                })?,
        ),
    };
    let turn = state.admission.stream(&principal, state.engine.metrics())?;
    // Subscribe before reading the log, so nothing falls between the two.
    let live = state.engine.subscribe();
    let fleet = state.fleet.subscribe();
    let follower = Follower {
        last: resume.unwrap_or_else(|| state.engine.world().revision),
        behind: resume.is_some(),
        engine: Arc::clone(&state.engine),
        environment,
        principal,
        pending: VecDeque::new(),
        live,
        _turn: turn,
    };
    let frames = Frames {
        changes: follower,
        fleet,
    };
    // Each event is the change's frame, rendered once for all watchers
    // (`Published::frame`). A quiet stream gets a comment now and then, so
    // proxies and load balancers do not close it as idle.
    let frames = stream::unfold(frames, |mut frames| async move {
        // `next` may be dropped at its await points: a dropped broadcast
        // receive loses nothing, and a dropped catch-up read is redone.
        let frame = match tokio::time::timeout(KEEP_ALIVE, frames.next_frame()).await {
            Ok(frame) => frame?,
            Err(_) => Bytes::from_static(b":\n\n"),
        };
        Some((Ok::<_, Infallible>(frame), frames))
    });
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::from_stream(frames),
    )
        .into_response())
}
