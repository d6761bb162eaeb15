//! The change log: `GET /api/v1/changes`, filtered and paginated newest
//! first by an opaque cursor.

use std::borrow::Cow;

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use setpoint_core::{
    Change, ChangeKind,
    time::{format_timestamp, parse_timestamp},
};

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

/// Filters and paging of change-log reads.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    service: Option<String>,
    /// The item within the service: a flag key or a breaker name.
    item: Option<String>,
    environment: Option<String>,
    actor: Option<String>,
    kind: Option<String>,
    /// RFC 3339: changes at or after.
    since: Option<String>,
    /// RFC 3339: changes before.
    until: Option<String>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// Page size, 1–500 (default 100).
    limit: Option<u32>,
}

/// One page of changes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page {
    /// Newest first.
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<Change>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn timestamp(name: &str, text: Option<String>) -> Result<Option<String>, ApiError> {
    text.map(|t| {
        parse_timestamp(&t)
            .map(format_timestamp)
            .map_err(|e| ApiError::bad_request("invalid_query", format!("`{name}`: {e}")))
    })
    .transpose()
}

impl PageQuery {
    /// The store query these parameters ask for.
    pub fn into_query(self) -> Result<ChangeQuery, ApiError> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_query",
                "`limit` must be from 1 to 500",
            ));
        }
        let kind = self
            .kind
            .map(|k| {
                ChangeKind::parse(&k).ok_or_else(|| {
                    let known: Vec<&str> = ChangeKind::ALL.iter().map(|k| k.as_str()).collect();
                    ApiError::bad_request(
                        "invalid_query",
                        format!("`kind` {k:?} is not one of {}", known.join(", ")),
                    )
                })
            })
            .transpose()?;
        let before_revision = self
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
            service: self.service,
            item: self.item,
            environment: self.environment,
            actor: self.actor,
            kind,
            since: timestamp("since", self.since)?,
            until: timestamp("until", self.until)?,
            before_revision,
            after_revision: None,
            limit,
        })
    }
}

/// Reads one page of what `viewer` may see. The cursor is the oldest
/// revision read, seen or not, so paging never skips or repeats a change.
pub async fn page(
    state: &AppState,
    viewer: &Principal,
    query: ChangeQuery,
) -> Result<Page, ApiError> {
    let limit = query.limit as usize;
    let read = state.engine.changes(&query).await?;
    let next_cursor = (read.len() == limit)
        .then(|| read.last().map(|c| c.revision.to_string()))
        .flatten();
    let changes = read
        .iter()
        .filter_map(|change| change.visible_to(viewer).map(Cow::into_owned))
        .collect();
    Ok(Page {
        changes,
        next_cursor,
    })
}

#[utoipa::path(get, path = "/api/v1/changes", tag = "changes", summary = "Read the change log", params(PageQuery), responses((status = 200, body = Page), (status = "4XX", description = "Error envelope", body = crate::error::ErrorResponse)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(query): Params<PageQuery>,
) -> Result<Json<Page>, ApiError> {
    let query = query.into_query()?;
    principal.require(
        Permission::Read,
        query.service.as_deref(),
        query.environment.as_deref(),
    )?;
    page(&state, &principal, query).await.map(Json)
}
