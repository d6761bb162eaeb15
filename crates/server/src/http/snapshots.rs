//! Distribution: `GET /api/v1/environments/{env}/snapshot[/{service}]`.
//!
//! Each answer is a precomputed, sealed blob: `ETag` is its checksum, so
//! `If-None-Match` gets `304`; `?index=R&wait=30s` blocks until the
//! snapshot's revision passes `R` (at most 300 s) and then answers — or
//! answers with the unchanged snapshot when the wait runs out.

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use setpoint_core::{
    snapshot::{assemble, checksum},
    time::parse_duration,
};

use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, Params, PathParams};
use crate::{
    ApiError,
    auth::{Permission, Principal},
    snapshots::{EnvSnapshot, etag, if_none_match},
};

/// The longest a long-poll may wait.
pub const MAX_WAIT: Duration = Duration::from_mins(5);
/// The wait when `index` is given without `wait`.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// The snapshot routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(environment))
        .routes(routes!(service))
}

/// Long-poll parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Watch {
    /// Answer once the revision is above this.
    index: Option<u64>,
    /// How long to wait for that, e.g. `30s` (at most `300s`).
    wait: Option<String>,
}

impl Watch {
    fn wait(&self) -> Result<Duration, ApiError> {
        let Some(text) = &self.wait else {
            return Ok(DEFAULT_WAIT);
        };
        let millis = parse_duration(text)
            .map_err(|e| ApiError::bad_request("invalid_query", format!("`wait`: {e}")))?;
        let wait = Duration::from_millis(millis);
        if wait > MAX_WAIT {
            return Err(ApiError::bad_request(
                "invalid_query",
                "`wait` is at most 300s",
            ));
        }
        Ok(wait)
    }
}

/// The snapshot's revision, beside the body's.
const REVISION_HEADER: HeaderName = HeaderName::from_static("x-setpoint-revision");

/// A sealed blob with its checksum and revision.
struct Sealed {
    json: Bytes,
    etag: HeaderValue,
    revision: u64,
}

#[utoipa::path(get, path = "/api/v1/environments/{environment}/snapshot", tag = "distribution", summary = "An environment's sealed snapshot (ETag, long-poll); a principal limited to some services gets only theirs, sealed on its own", params(("environment" = String, Path, description = "Environment name"), Watch), responses((status = 200, description = "Canonical JSON snapshot", body = Object), (status = 304, description = "Unchanged"), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn environment(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(environment): PathParams<String>,
    Params(watch): Params<Watch>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal.require(Permission::ReadSnapshot, None, Some(&environment))?;
    let view = match &principal.services {
        None => View::Whole,
        Some(services) => View::Only(services),
    };
    serve(&state, &principal, &environment, view, &watch, &headers).await
}

#[utoipa::path(get, path = "/api/v1/environments/{environment}/snapshot/{service}", tag = "distribution", summary = "One service's sealed snapshot", params(("environment" = String, Path, description = "Environment name"), ("service" = String, Path, description = "Service name"), Watch), responses((status = 200, description = "Canonical JSON snapshot", body = Object), (status = 304, description = "Unchanged"), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn service(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((environment, service)): PathParams<(String, String)>,
    Params(watch): Params<Watch>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal.require(Permission::ReadSnapshot, Some(&service), Some(&environment))?;
    serve(
        &state,
        &principal,
        &environment,
        View::Service(&service),
        &watch,
        &headers,
    )
    .await
}

/// Which part of an environment's snapshot a request sees.
#[derive(Clone, Copy)]
enum View<'a> {
    /// All of it, as sealed by the writer.
    Whole,
    /// One service, as sealed by the writer.
    Service(&'a str),
    /// The services a principal is limited to, sealed for the request.
    Only(&'a [String]),
}

/// What a long-poll waits to see change.
#[derive(PartialEq, Eq)]
enum Version {
    Revision(u64),
    /// A limited view: each visible service's revision. The environment's
    /// revision moves with changes to services the principal does not
    /// see, which must not wake it.
    Parts(Vec<(String, u64)>),
}

impl View<'_> {
    fn version(self, snapshot: &EnvSnapshot) -> Option<Version> {
        match self {
            Self::Whole => Some(Version::Revision(snapshot.revision)),
            Self::Service(name) => snapshot
                .services
                .get(name)
                .map(|part| Version::Revision(part.revision)),
            Self::Only(services) => Some(Version::Parts(
                snapshot
                    .services
                    .iter()
                    .filter(|(name, _)| services.contains(name))
                    .map(|(name, part)| (name.clone(), part.revision))
                    .collect(),
            )),
        }
    }

    /// The revision [`View::seal`] would carry, without sealing.
    fn revision(self, snapshot: &EnvSnapshot) -> Option<u64> {
        match self {
            Self::Whole | Self::Only(_) => Some(snapshot.revision),
            Self::Service(name) => snapshot.services.get(name).map(|part| part.revision),
        }
    }

    fn seal(self, snapshot: &EnvSnapshot) -> Option<Sealed> {
        match self {
            Self::Whole => Some(Sealed {
                json: snapshot.json(),
                etag: snapshot.etag.clone(),
                revision: snapshot.revision,
            }),
            Self::Service(name) => snapshot.services.get(name).map(|part| Sealed {
                json: part.json(&snapshot.environment, name),
                etag: part.etag.clone(),
                revision: part.revision,
            }),
            Self::Only(services) => {
                let visible = || {
                    snapshot
                        .services
                        .iter()
                        .filter(|(name, _)| services.contains(name))
                };
                let checksum = checksum(
                    &snapshot.environment,
                    snapshot.revision,
                    visible().map(|(name, part)| (name.as_str(), part.content.as_str())),
                );
                let json = assemble(
                    &checksum,
                    &snapshot.environment,
                    snapshot.revision,
                    visible().map(|(name, part)| (name.as_str(), &part.canonical[..])),
                );
                Some(Sealed {
                    etag: etag(&checksum),
                    json: Bytes::from(json),
                    revision: snapshot.revision,
                })
            }
        }
    }
}

async fn serve(
    state: &AppState,
    principal: &Principal,
    environment: &str,
    view: View<'_>,
    watch: &Watch,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let wait = watch.wait()?;
    let mut rx =
        state.engine.snapshots().watch(environment).ok_or_else(|| {
            ApiError::NotFound(format!("environment {environment:?} does not exist"))
        })?;
    let not_found = || {
        let service = match view {
            View::Service(name) => name,
            View::Whole | View::Only(_) => "",
        };
        ApiError::NotFound(format!("service {service:?} is not in {environment:?}"))
    };
    if let Some(index) = watch.index {
        let (revision, seen) = {
            let snapshot = rx.borrow();
            (view.revision(&snapshot), view.version(&snapshot))
        };
        if revision.is_some_and(|r| r <= index) {
            let _turn = state.admission.stream(principal, state.engine.metrics())?;
            // Runs out quietly: the answer is then the unchanged snapshot.
            let _ =
                tokio::time::timeout(wait, rx.wait_for(|snapshot| view.version(snapshot) != seen))
                    .await;
        }
    }
    let sealed = view.seal(&rx.borrow_and_update()).ok_or_else(not_found)?;
    Ok(respond(sealed, headers))
}

fn respond(sealed: Sealed, headers: &HeaderMap) -> Response {
    let mut response = if if_none_match(headers, &sealed.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            sealed.json,
        )
            .into_response()
    };
    // Static names and values: this runs for every poll of every service.
    let response_headers = response.headers_mut();
    response_headers.insert(header::ETAG, sealed.etag);
    response_headers.insert(REVISION_HEADER, HeaderValue::from(sealed.revision));
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
