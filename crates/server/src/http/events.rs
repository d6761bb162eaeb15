//! `GET /api/v1/environments/{env}/events`: Server-Sent Events, one per
//! change that affects the environment, `id` = revision; `GET
//! /api/v1/events`: every change the caller may read, in every environment
//! (one connection for a page that watches them all — browsers allow only
//! six per server over HTTP/1.1). A reconnecting client sends
//! `Last-Event-ID` and first gets what it missed, from the log.

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
    store::ChangeQuery,
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

#[utoipa::path(get, path = "/api/v1/environments/{environment}/events", tag = "distribution", summary = "Server-Sent Events, one per change", params(("environment" = String, Path, description = "Environment name"), ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this revision")), responses((status = 200, description = "text/event-stream"), (status = "4XX", description = "Error envelope", body = crate::error::ErrorResponse)))]
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

#[utoipa::path(get, path = "/api/v1/events", tag = "distribution", summary = "Server-Sent Events of every environment", params(("Last-Event-ID" = Option<u64>, Header, description = "Resume after this revision")), responses((status = 200, description = "text/event-stream"), (status = "4XX", description = "Error envelope", body = crate::error::ErrorResponse)))]
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
    // Each event is the change's frame, rendered once for all watchers
    // (`Published::frame`). A quiet stream gets a comment now and then, so
    // proxies and load balancers do not close it as idle.
    let frames = stream::unfold(follower, |mut follower| async move {
        // `next` may be dropped at its await points: a dropped broadcast
        // receive loses nothing, and a dropped catch-up read is redone.
        let frame = match tokio::time::timeout(KEEP_ALIVE, follower.next()).await {
            Ok(published) => published?.frame.clone(),
            Err(_) => Bytes::from_static(b":\n\n"),
        };
        Some((Ok::<_, Infallible>(frame), follower))
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
