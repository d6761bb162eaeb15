//! The change log: `GET /api/v1/changes`, filtered and paginated newest
//! first by an opaque cursor.

use std::borrow::Cow;

use axum::{Json, extract::State};
use setpoint_core::time::{format_timestamp, parse_timestamp};
use setpoint_wire::{ChangeFilter, ChangePage};

use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, Params};
use crate::{
    ApiError,
    auth::{Permission, Principal, Visible},
    store::ChangeQuery,
};

/// The change-log route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

fn timestamp(name: &str, text: Option<String>) -> Result<Option<String>, ApiError> {
    text.map(|t| {
        parse_timestamp(&t)
            .map(format_timestamp)
            .map_err(|e| ApiError::bad_request("invalid_query", format!("`{name}`: {e}")))
    })
    .transpose()
}

/// The store query a filter asks for.
pub fn store_query(filter: ChangeFilter) -> Result<ChangeQuery, ApiError> {
    let limit = filter.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`limit` must be from 1 to 500",
        ));
    }
    let before_revision = filter
        .cursor
        .map(|c| {
            // Revisions are stored as SQL integers: beyond i64 none exists.
            c.parse::<u64>()
                .ok()
                .filter(|r| i64::try_from(*r).is_ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_query",
                        "`cursor` is not one this server gave out",
                    )
                })
        })
        .transpose()?;
    Ok(ChangeQuery {
        service: filter.service,
        item: filter.item,
        environment: filter.environment,
        actor: filter.actor,
        kind: filter.kind,
        since: timestamp("since", filter.since)?,
        until: timestamp("until", filter.until)?,
        before_revision,
        after_revision: None,
        limit,
    })
}

/// Reads one page of what `viewer` may see. The cursor is the oldest
/// revision read, seen or not, so paging never skips or repeats a change.
pub async fn page(
    state: &AppState,
    viewer: &Principal,
    query: ChangeQuery,
) -> Result<ChangePage, ApiError> {
    let limit = query.limit as usize;
    let read = state.engine.changes(&query).await?;
    let next_cursor = (read.len() == limit)
        .then(|| read.last().map(|c| c.revision.to_string()))
        .flatten();
    let changes = read
        .iter()
        .filter_map(|change| change.visible_to(viewer).map(Cow::into_owned))
        .collect();
    Ok(ChangePage {
        changes,
        next_cursor,
    })
}

#[utoipa::path(get, path = "/api/v1/changes", tag = "changes", summary = "Read the change log", params(ChangeFilter), responses((status = 200, body = ChangePage), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(filter): Params<ChangeFilter>,
) -> Result<Json<ChangePage>, ApiError> {
    let query = store_query(filter)?;
    principal.require(
        Permission::Read,
        query.service.as_deref(),
        query.environment.as_deref(),
    )?;
    page(&state, &principal, query).await.map(Json)
}
