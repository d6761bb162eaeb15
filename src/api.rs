//! The typed client of the server's API. Errors arrive in the server's one
//! envelope and become [`ApiError`], whose details have the same shape as
//! the core's violations, so the console shows both the same way.

use std::cell::RefCell;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
pub use setpoint_core::Role;
pub use setpoint_core::request::{RequestState, Verdict as ReviewVerdict};
use setpoint_core::{
    BreakerState, Change, Flag, Policy, ServiceDoc,
    fleet::ClusterStatus,
    rollout::{RolloutPlan, Steer},
};

pub use setpoint_wire::{
    BreakerStep, BreakerView, ChangeFilter, ChangePage, EnvironmentView, ImportPlan, Imported, Me,
    Problem, RequestFilter, RollbackPreview, RolloutFilter, RolloutLine, RolloutList,
    ServiceSummary, TokenView, UnroutedAlert, UserChange, UserView, ValuesPatch, Verdict,
};
use setpoint_wire::{ErrorEnvelope, FlagWrite, Login};

use crate::route::encode as segment;

/// The base path of the API.
const BASE: &str = "/api/v1";

thread_local! {
    /// The session's CSRF token, sent with every write. Set by [`login`] and
    /// [`me`]; a module-level cell because every write needs it and the
    /// browser runs one thread.
    static CSRF: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A failed call: the server's envelope with the status it came with, or
/// a transport failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (0 when the server could not be reached).
    pub status: u16,
    /// Stable machine code, e.g. `validation_failed`.
    pub code: String,
    /// For people.
    pub message: String,
    /// Field-level problems.
    pub details: Vec<Problem>,
    /// With `409 stale_revision`: the current state of what was edited.
    pub current: Option<Value>,
}

impl ApiError {
    fn transport(message: impl std::fmt::Display) -> Self {
        Self {
            status: 0,
            code: "unreachable".into(),
            message: format!("cannot reach the server: {message}"),
            details: Vec::new(),
            current: None,
        }
    }

    /// Whether the caller must log in (again).
    pub fn is_unauthenticated(&self) -> bool {
        self.status == 401
    }

    /// Whether the server held the write as a change request (`202`): it
    /// is not applied, and the message says what happens next.
    pub fn is_held(&self) -> bool {
        self.status == 202
    }

    /// Whether the edit was based on a stale revision.
    pub fn is_conflict(&self) -> bool {
        self.status == 409 && self.code == "stale_revision"
    }
}

pub use setpoint_core::{ManagedBy, Tombstone};

/// `GET /api/v1/services/{service}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ServiceRecord {
    /// The document.
    pub doc: ServiceDoc,
    /// The revision every edit must name as its base.
    pub revision: u64,
    /// Set while deleted.
    #[serde(default)]
    pub tombstone: Option<Tombstone>,
    /// The files it is managed by (`setpoint apply`).
    #[serde(default)]
    pub managed_by: Option<ManagedBy>,
}

impl ServiceRecord {
    /// "Managed by files: …" for people, when it is; with whether it was
    /// changed here since.
    pub fn managed_note(&self) -> Option<String> {
        let managed = self.managed_by.as_ref()?;
        let drift = if managed.revision == self.revision {
            String::new()
        } else {
            format!(
                " Changed here since (revision {} → {}): the next apply refuses to overwrite it unless forced.",
                managed.revision, self.revision
            )
        };
        Some(format!(
            "Managed by files: {} in set {}, from {}.{drift}",
            managed.file, managed.set, managed.source
        ))
    }
}

/// The answer to a write: the change it made.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Written {
    /// The revision of the change.
    pub revision: u64,
}

/// `POST /api/v1/validate` with a service document's text, sent as is so
/// that the server reports syntax errors with their position too.
pub async fn validate(document: &str) -> Result<Verdict, ApiError> {
    let request = Method::Post
        .request(&format!("{BASE}/validate"))
        .header("Content-Type", "application/json")
        .body(document.to_owned())
        .map_err(ApiError::transport)?;
    decode(request.send().await).await
}

/// `POST /api/v1/session`: logs in; the cookie is set by the browser.
pub async fn login(username: &str, password: &str) -> Result<Me, ApiError> {
    let me: Me = send(
        Method::Post,
        "/session",
        &Login {
            username: username.to_owned(),
            password: password.to_owned(),
        },
    )
    .await?;
    remember_csrf(&me);
    Ok(me)
}

/// `DELETE /api/v1/session`.
pub async fn logout() -> Result<(), ApiError> {
    let request = Method::Delete.request(&format!("{BASE}/session"));
    let response = request.send().await.map_err(ApiError::transport)?;
    CSRF.with(|c| c.borrow_mut().take());
    if response.ok() || response.status() == 401 {
        Ok(())
    } else {
        decode::<Value>(Ok(response)).await.map(|_| ())
    }
}

/// `GET /api/v1/me`.
pub async fn me() -> Result<Me, ApiError> {
    let me: Me = get("/me").await?;
    remember_csrf(&me);
    Ok(me)
}

/// `GET /api/v1/environments`.
pub async fn environments() -> Result<Vec<EnvironmentView>, ApiError> {
    get("/environments").await
}

/// `GET /api/v1/fleet`: every cluster's agent, cut to the user's scope.
pub async fn fleet() -> Result<Vec<ClusterStatus>, ApiError> {
    get("/fleet").await
}

/// `GET /api/v1/services`.
pub async fn services() -> Result<Vec<ServiceSummary>, ApiError> {
    get("/services").await
}

/// `GET /api/v1/services/{service}`.
pub async fn service(name: &str) -> Result<ServiceRecord, ApiError> {
    get(&format!("/services/{}", segment(name))).await
}

/// `POST /api/v1/services`: creates a service from a whole document.
pub async fn create_service(document: &Value, reason: &str) -> Result<Written, ApiError> {
    send(
        Method::Post,
        "/services",
        &serde_json::json!({"document": document, "reason": reason}),
    )
    .await
}

/// `DELETE /api/v1/services/{service}` at `base_revision`: a tombstone,
/// restorable until reclaimed.
pub async fn delete_service(
    name: &str,
    base_revision: u64,
    reason: &str,
) -> Result<Written, ApiError> {
    delete_at(
        &format!("/services/{}", segment(name)),
        base_revision,
        reason,
    )
    .await
}

/// `POST /api/v1/import`: with `dry_run`, only what it would change.
pub async fn import(document: &Value, reason: &str, dry_run: bool) -> Result<Imported, ApiError> {
    send(
        Method::Post,
        "/import",
        &serde_json::json!({"document": document, "reason": reason, "dry_run": dry_run}),
    )
    .await
}

/// Where the browser downloads everything as one document.
pub const EXPORT_URL: &str = "/api/v1/export";

/// `POST /api/v1/environments`.
pub async fn create_environment(
    name: &str,
    description: &str,
    reason: &str,
) -> Result<Written, ApiError> {
    send(
        Method::Post,
        "/environments",
        &serde_json::json!({"name": name, "description": description, "reason": reason}),
    )
    .await
}

/// `POST /api/v1/services/{service}/restore`.
pub async fn restore(name: &str, reason: &str) -> Result<Written, ApiError> {
    send(
        Method::Post,
        &format!("/services/{}/restore", segment(name)),
        &serde_json::json!({"reason": reason}),
    )
    .await
}

/// `PATCH /api/v1/services/{service}/values/{environment}`, at once or at
/// `apply_at`.
pub async fn patch_values(
    service: &str,
    environment: &str,
    patch: &ValuesPatch,
    apply_at: Option<&str>,
) -> Result<Written, ApiError> {
    send_at(
        Method::Patch,
        &format!(
            "/services/{}/values/{}",
            segment(service),
            segment(environment)
        ),
        patch,
        apply_at,
    )
    .await
}

/// `PUT /api/v1/services/{service}/flags/{flag}`, at once or at
/// `apply_at`.
pub async fn put_flag(
    service: &str,
    key: &str,
    flag: &Flag,
    base_revision: u64,
    reason: &str,
    apply_at: Option<&str>,
) -> Result<Written, ApiError> {
    send_at(
        Method::Put,
        &format!("/services/{}/flags/{}", segment(service), segment(key)),
        &FlagWrite {
            flag: flag.clone(),
            base_revision: Some(base_revision),
            reason: Some(reason.to_owned()),
        },
        apply_at,
    )
    .await
}

/// `DELETE /api/v1/services/{service}/flags/{flag}` at `base_revision`.
pub async fn delete_flag(
    service: &str,
    key: &str,
    base_revision: u64,
    reason: &str,
) -> Result<Written, ApiError> {
    delete_at(
        &format!("/services/{}/flags/{}", segment(service), segment(key)),
        base_revision,
        reason,
    )
    .await
}

/// `PUT /api/v1/services/{service}/schema`.
pub async fn put_schema(
    service: &str,
    schema: &std::collections::BTreeMap<String, setpoint_core::KeySpec>,
    base_revision: u64,
    reason: &str,
) -> Result<Written, ApiError> {
    send(
        Method::Put,
        &format!("/services/{}/schema", segment(service)),
        &serde_json::json!({"schema": schema, "base_revision": base_revision, "reason": reason}),
    )
    .await
}

/// `GET /api/v1/flags`: every flag the user may see, across services.
pub async fn flags() -> Result<Vec<setpoint_wire::FlagLine>, ApiError> {
    get("/flags").await
}

/// `GET /api/v1/changes`: one page of what `filter` asks for.
pub async fn changes(filter: &ChangeFilter) -> Result<ChangePage, ApiError> {
    get(&format!("/changes{}", query_of(filter))).await
}

/// `POST /api/v1/services/{service}/rollback`: a preview (dry run) without
/// a base, the rollback itself with the base its preview was computed at.
pub async fn rollback(
    service: &str,
    to_revision: u64,
    environment: Option<&str>,
    base_revision: Option<u64>,
    reason: &str,
) -> Result<RollbackPreview, ApiError> {
    send(
        Method::Post,
        &format!("/services/{}/rollback", segment(service)),
        &serde_json::json!({
            "to_revision": to_revision,
            "environment": environment,
            "base_revision": base_revision,
            "dry_run": base_revision.is_none(),
            "reason": reason,
        }),
    )
    .await
}

/// `PUT /api/v1/services/{service}/breakers/{breaker}`: create or replace
/// a definition.
pub async fn put_breaker(
    service: &str,
    name: &str,
    breaker: &setpoint_core::Breaker,
    base_revision: u64,
    reason: &str,
) -> Result<Written, ApiError> {
    send(
        Method::Put,
        &format!("/services/{}/breakers/{}", segment(service), segment(name)),
        &serde_json::json!({"breaker": breaker, "base_revision": base_revision, "reason": reason}),
    )
    .await
}

/// `DELETE /api/v1/services/{service}/breakers/{breaker}` at `base_revision`.
pub async fn delete_breaker(
    service: &str,
    name: &str,
    base_revision: u64,
    reason: &str,
) -> Result<Written, ApiError> {
    delete_at(
        &format!("/services/{}/breakers/{}", segment(service), segment(name)),
        base_revision,
        reason,
    )
    .await
}

/// `GET /api/v1/environments/{env}/breakers`.
pub async fn breakers(environment: &str) -> Result<Vec<BreakerView>, ApiError> {
    get(&format!("/environments/{}/breakers", segment(environment))).await
}

/// A breaker on the board, read for its state alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct BreakerStateOnly {
    /// Closed, open or awaiting close.
    pub state: BreakerState,
}

/// `GET /api/v1/environments/{env}/breakers`, keeping only each breaker's
/// state: the overview counts states, and decoding the whole board (alerts,
/// causes, matchers) would put that code in the overview's wasm chunk, which
/// every login loads.
pub async fn breaker_states(environment: &str) -> Result<Vec<BreakerStateOnly>, ApiError> {
    get(&format!("/environments/{}/breakers", segment(environment))).await
}

/// `GET /api/v1/alerts/unrouted`.
pub async fn unrouted() -> Result<Vec<UnroutedAlert>, ApiError> {
    get("/alerts/unrouted").await
}

/// What an operator does to a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerAction {
    /// Open it.
    Trip,
    /// Close it (confirming `awaiting_close`).
    Close,
    /// Close it although alerts still fire.
    ForceClose,
}

/// `POST …/breakers/{breaker}/environments/{env}/trip` or `…/close`.
pub async fn operate_breaker(
    breaker: &BreakerView,
    environment: &str,
    action: BreakerAction,
    reason: &str,
) -> Result<Change, ApiError> {
    let (verb, force) = match action {
        BreakerAction::Trip => ("trip", false),
        BreakerAction::Close => ("close", false),
        BreakerAction::ForceClose => ("close", true),
    };
    let body = BreakerStep {
        reason: reason.to_owned(),
        force,
    };
    send(
        Method::Post,
        &format!(
            "/services/{}/breakers/{}/environments/{}/{verb}",
            segment(&breaker.service),
            segment(&breaker.breaker),
            segment(environment)
        ),
        &body,
    )
    .await
}

/// A change request as the console reads it: its edit stays JSON, shown
/// through its diff.
pub type ChangeRequest = setpoint_core::request::ChangeRequest<Value>;

#[derive(Deserialize)]
struct ChangeRequests {
    change_requests: Vec<ChangeRequest>,
}

#[derive(Deserialize)]
struct OneRequest {
    change_request: ChangeRequest,
}

/// `GET /api/v1/change-requests`: what `filter` asks for.
pub async fn change_requests(filter: &RequestFilter) -> Result<Vec<ChangeRequest>, ApiError> {
    get::<ChangeRequests>(&format!("/change-requests{}", query_of(filter)))
        .await
        .map(|list| list.change_requests)
}

/// `PUT /api/v1/environments/{env}/policy` (admins for every service).
pub async fn put_policy(
    environment: &str,
    policy: &Policy,
    reason: &str,
) -> Result<Change, ApiError> {
    send(
        Method::Put,
        &format!("/environments/{}/policy", segment(environment)),
        &serde_json::json!({"policy": policy, "reason": reason}),
    )
    .await
}

/// How many open requests the user may approve now: the navigation's
/// badge. Counted without decoding them, so that the shell's module, which
/// every login loads, carries none of a request's decoding.
pub async fn awaiting_me() -> Result<usize, ApiError> {
    #[derive(Deserialize)]
    struct Count {
        change_requests: Vec<serde::de::IgnoredAny>,
    }
    let mine = RequestFilter {
        awaiting_me: Some(true),
        ..RequestFilter::default()
    };
    get::<Count>(&format!("/change-requests{}", query_of(&mine)))
        .await
        .map(|c| c.change_requests.len())
}

/// `GET /api/v1/rollouts`: what `filter` asks for, cut to the user's
/// scope.
pub async fn rollouts(filter: &RolloutFilter) -> Result<Vec<RolloutLine>, ApiError> {
    get::<RolloutList>(&format!("/rollouts{}", query_of(filter)))
        .await
        .map(|list| list.rollouts)
}

/// Rollouts running, paused or halted.
pub async fn active_rollouts() -> Result<Vec<RolloutLine>, ApiError> {
    rollouts(&RolloutFilter {
        state: Some("active".into()),
        ..RolloutFilter::default()
    })
    .await
}

/// Where a rollout runs: a flag in one environment of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutAt {
    /// Service.
    pub service: String,
    /// Flag key.
    pub flag: String,
    /// Environment.
    pub environment: String,
}

impl RolloutAt {
    fn path(&self) -> String {
        format!(
            "/services/{}/flags/{}/environments/{}/rollout",
            segment(&self.service),
            segment(&self.flag),
            segment(&self.environment)
        )
    }
}

/// `PUT …/rollout`: starts `plan` from the flag as saved at
/// `base_revision`, at once or at `apply_at`.
pub async fn start_rollout(
    at: &RolloutAt,
    plan: &RolloutPlan,
    base_revision: u64,
    reason: &str,
    apply_at: Option<&str>,
) -> Result<Written, ApiError> {
    send_at(
        Method::Put,
        &at.path(),
        &serde_json::json!({"plan": plan, "base_revision": base_revision, "reason": reason}),
        apply_at,
    )
    .await
}

/// `POST …/rollout/{pause,resume,retry,abort}`: a person steers a plan.
pub async fn steer_rollout(
    at: &RolloutAt,
    steer: &Steer,
    reason: &str,
) -> Result<Written, ApiError> {
    let (verb, body) = match *steer {
        Steer::Pause => ("pause", serde_json::json!({"reason": reason})),
        Steer::Resume { force } => (
            "resume",
            serde_json::json!({"reason": reason, "force": force}),
        ),
        Steer::Retry { step, force } => (
            "retry",
            serde_json::json!({"reason": reason, "step": step, "force": force}),
        ),
        Steer::Abort => ("abort", serde_json::json!({"reason": reason})),
    };
    send(Method::Post, &format!("{}/{verb}", at.path()), &body).await
}

/// `GET /api/v1/users`.
pub async fn users() -> Result<Vec<UserView>, ApiError> {
    get("/users").await
}

/// `POST /api/v1/users`.
pub async fn create_user(
    username: &str,
    password: &str,
    role: Role,
    services: Option<&[String]>,
) -> Result<UserView, ApiError> {
    send(
        Method::Post,
        "/users",
        &serde_json::json!({"username": username, "password": password, "role": role, "services": services}),
    )
    .await
}

/// `PATCH /api/v1/users/{username}`: ends the user's sessions.
pub async fn update_user(username: &str, change: &UserChange) -> Result<UserView, ApiError> {
    send(
        Method::Patch,
        &format!("/users/{}", segment(username)),
        change,
    )
    .await
}

/// `DELETE /api/v1/users/{username}`.
pub async fn delete_user(username: &str) -> Result<(), ApiError> {
    delete_for_nothing(&format!("/users/{}", segment(username))).await
}

/// `GET /api/v1/tokens`.
pub async fn tokens() -> Result<Vec<TokenView>, ApiError> {
    get("/tokens").await
}

/// `POST /api/v1/tokens`: the answer holds the bearer string, once.
pub async fn create_token(
    name: &str,
    role: Role,
    services: Option<&[String]>,
    environment: Option<&str>,
) -> Result<TokenView, ApiError> {
    send(
        Method::Post,
        "/tokens",
        &serde_json::json!({"name": name, "role": role, "services": services, "environment": environment}),
    )
    .await
}

/// `DELETE /api/v1/tokens/{id}`.
pub async fn revoke_token(id: &str) -> Result<(), ApiError> {
    delete_for_nothing(&format!("/tokens/{}", segment(id))).await
}

/// A step of a change request, by whoever may take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestStep {
    /// Approve, reject or comment, with words.
    Review(ReviewVerdict, String),
    /// The author takes it back.
    Withdraw,
    /// The author remakes the same edit on the current revision.
    Rebase,
    /// Try again to apply an approved request that could not.
    Apply,
}

/// `POST /api/v1/change-requests/{id}/…`: the request after the step.
pub async fn step_request(id: u64, step: &RequestStep) -> Result<ChangeRequest, ApiError> {
    let (verb, body) = match step {
        RequestStep::Review(verdict, text) => (
            "reviews",
            serde_json::json!({"verdict": verdict, "text": text}),
        ),
        RequestStep::Withdraw => ("withdraw", serde_json::json!({})),
        RequestStep::Rebase => ("rebase", serde_json::json!({})),
        RequestStep::Apply => ("apply", serde_json::json!({})),
    };
    send::<OneRequest>(
        Method::Post,
        &format!("/change-requests/{id}/{verb}"),
        &body,
    )
    .await
    .map(|one| one.change_request)
}

/// The query string of a filter the wire crate declares: its fields as
/// the server reads them, those absent left out.
pub fn query_of(filter: &impl Serialize) -> String {
    let Ok(Value::Object(fields)) = serde_json::to_value(filter) else {
        return String::new();
    };
    let pairs: Vec<(String, String)> = fields
        .into_iter()
        .filter_map(|(name, value)| match value {
            Value::Null => None,
            Value::String(text) => Some((name, text)),
            other => Some((name, other.to_string())),
        })
        .collect();
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    query(&borrowed)
}

/// The methods the API answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Reads.
    Get,
    /// Creates, and steps (log in, trip, approve…).
    Post,
    /// Creates or replaces a whole item.
    Put,
    /// Changes part of an item (values, a user).
    Patch,
    /// Removes.
    Delete,
}

impl Method {
    /// A request with this method; every method but `GET` carries the
    /// session's CSRF token.
    fn request(self, url: &str) -> gloo_net::http::RequestBuilder {
        use gloo_net::http::Request;
        match self {
            Self::Get => Request::get(url),
            Self::Post => with_csrf(Request::post(url)),
            Self::Put => with_csrf(Request::put(url)),
            Self::Patch => with_csrf(Request::patch(url)),
            Self::Delete => with_csrf(Request::delete(url)),
        }
    }
}

/// A query string from pairs, skipping empty values: `?a=1&b=x%20y`.
fn query(pairs: &[(&str, &str)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={}", segment(value)))
        .collect();
    if encoded.is_empty() {
        String::new()
    } else {
        format!("?{}", encoded.join("&"))
    }
}

fn remember_csrf(me: &Me) {
    CSRF.with(|c| c.borrow_mut().clone_from(&me.csrf_token));
}

fn with_csrf(request: gloo_net::http::RequestBuilder) -> gloo_net::http::RequestBuilder {
    match CSRF.with(|c| c.borrow().clone()) {
        Some(token) => request.header("x-csrf-token", &token),
        None => request,
    }
}

async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    decode(Method::Get.request(&format!("{BASE}{path}")).send().await).await
}

async fn send<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: &impl Serialize,
) -> Result<T, ApiError> {
    send_at(method, path, body, None).await
}

/// A write, scheduled when `apply_at` is set: the server then holds it as
/// a change request that applies at that time (`202`, see [`held`]).
async fn send_at<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: &impl Serialize,
    apply_at: Option<&str>,
) -> Result<T, ApiError> {
    let url = format!("{BASE}{path}");
    let mut builder = method.request(&url);
    if let Some(at) = apply_at {
        builder = builder.header("setpoint-apply-at", at);
    }
    let request = builder.json(body).map_err(ApiError::transport)?;
    decode(request.send().await).await
}

/// A `DELETE` of what `path` names as it was at `base_revision`
/// (`If-Match`), with its reason in the query: the API's deletions take no
/// body.
async fn delete_at(path: &str, base_revision: u64, reason: &str) -> Result<Written, ApiError> {
    let url = format!("{BASE}{path}{}", query(&[("reason", reason)]));
    let request = Method::Delete
        .request(&url)
        .header("if-match", &format!("\"{base_revision}\""));
    decode(request.send().await).await
}

/// A `DELETE` answered `204 No Content`.
async fn delete_for_nothing(path: &str) -> Result<(), ApiError> {
    let url = format!("{BASE}{path}");
    let response = Method::Delete
        .request(&url)
        .send()
        .await
        .map_err(ApiError::transport)?;
    if response.ok() {
        Ok(())
    } else {
        decode::<Value>(Ok(response)).await.map(|_| ())
    }
}

/// A write the server held as a change request (`202`): not applied, so
/// the page shows it where it shows refusals, saying what happens next.
async fn held(response: &gloo_net::http::Response) -> ApiError {
    let body: Value = response.json().await.unwrap_or_default();
    let request = &body["change_request"];
    let id = request["id"].as_u64().unwrap_or_default();
    let message = match request["apply_at"].as_str() {
        Some(at) => format!("Scheduled as change request #{id}: it applies at {at}."),
        None => format!(
            "Submitted for review as change request #{id}: it applies once approved ({} approval(s) needed).",
            request["approvals_required"].as_u64().unwrap_or(1)
        ),
    };
    ApiError {
        status: 202,
        code: "held".into(),
        message,
        details: Vec::new(),
        current: None,
    }
}

async fn decode<T: DeserializeOwned>(
    response: Result<gloo_net::http::Response, gloo_net::Error>,
) -> Result<T, ApiError> {
    let response = response.map_err(ApiError::transport)?;
    let status = response.status();
    if status == 202 {
        return Err(held(&response).await);
    }
    if response.ok() {
        return response.json::<T>().await.map_err(ApiError::transport);
    }
    match response.json::<ErrorEnvelope>().await {
        Ok(ErrorEnvelope { error }) => Err(ApiError {
            status,
            code: error.code,
            message: error.message,
            details: error.details,
            current: error.current,
        }),
        Err(_) => Err(ApiError {
            status,
            code: "unexpected_response".into(),
            message: format!("the server answered {status} {}", response.status_text()),
            details: Vec::new(),
            current: None,
        }),
    }
}
