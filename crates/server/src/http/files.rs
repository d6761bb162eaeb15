//! Config as code: `POST /api/v1/apply` takes a folder of per-service
//! documents, plans against the current state and applies the plan in one
//! change set — or, as a dry run, only answers the plan (`setpoint plan`).
//! The plan is made here, from the world the commit will be checked
//! against, so a service that moves between the plan and the commit is a
//! `409`, never overwritten.

use std::collections::{BTreeMap, BTreeSet};

use axum::{
    Json,
    extract::{Request, State},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use setpoint_core::{
    Change, FieldPath, Limits, ManagedBy, Plan, Planned, Violation, check_folder,
    folder::{Held, plan},
    validate::is_valid_name,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, JsonBody, transfer::MAX_IMPORT_BYTES, write};
use crate::{
    ApiError,
    auth::{Permission, Principal, Visible},
    world::{Command, FileStep, World},
};

/// The config-as-code routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(apply))
}

/// A folder of service documents to apply.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// The set the files belong to: one folder, applied as a whole. Only
    /// services of this set are tombstoned when their file is gone.
    pub set: String,
    /// Where the files come from (a git commit, say): recorded with each
    /// service they change, and named in the change set's reason.
    pub source: String,
    /// Every file of the folder.
    pub files: Vec<FileDocument>,
    /// Services whose file is there but unusable (unreadable or invalid):
    /// they keep their last good state and are not tombstoned.
    #[serde(default)]
    pub hold: Vec<String>,
    /// Overwrite services changed by other means since their files were
    /// last applied (or not managed by files at all).
    #[serde(default)]
    pub force: bool,
    /// Only answer the plan.
    #[serde(default)]
    pub dry_run: bool,
    /// Why, beside the source.
    #[serde(default)]
    pub reason: Option<String>,
}

/// One file of a folder, converted to JSON.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileDocument {
    /// Its path in the folder, as `payments/checkout.yaml`.
    pub file: String,
    /// Its service document.
    #[schema(value_type = Object)]
    pub document: Value,
}

/// What an apply did (or, dry, would do).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Applied {
    /// The plan.
    #[schema(value_type = Object)]
    pub plan: Plan,
    /// The changes committed, in one change set (none for a dry run).
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<Change>,
}

/// The longest set name, source or file path.
const MAX_NAME: usize = 300;

#[utoipa::path(post, path = "/api/v1/apply", tag = "transfer", summary = "Apply a folder of service documents (or plan it)", request_body = ApplyRequest, responses((status = 200, body = Applied), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn apply(
    State(state): State<AppState>,
    principal: Principal,
    request: Request,
) -> Result<Json<Applied>, ApiError> {
    // Anyone who reads may plan; what the body asks is known only once
    // read, so reading it takes the large bodies' turn either way.
    principal.require(Permission::Read, None, None)?;
    let _turn = state.admission.import().await?;
    let request: ApplyRequest = JsonBody::read(request, MAX_IMPORT_BYTES).await?.parse()?;
    if !request.dry_run {
        principal.require(Permission::Administer, None, None)?;
    }
    check_names(&request)?;
    let world = state.engine.world();
    let plan = plan_of(&world, &principal, &request)?;
    if request.dry_run {
        return Ok(Json(Applied {
            plan,
            changes: Vec::new(),
        }));
    }
    let conflicts: Vec<String> = plan
        .conflicts()
        .map(|(step, conflict)| format!("{} ({}): {conflict}", step.service, step.file))
        .collect();
    if !conflicts.is_empty() && !request.force {
        return Err(ApiError::Conflict {
            code: "managed_elsewhere",
            message: format!(
                "applying would overwrite what was not written from these files (force to overwrite): {}",
                conflicts.join("; ")
            ),
            current: Some(serde_json::json!(plan)),
        });
    }
    let reason = match write::reason(request.reason)? {
        reason if reason.is_empty() => format!("apply {} at {}", request.set, request.source),
        reason => format!("{reason} (apply {} at {})", request.set, request.source),
    };
    let commands = commands(&plan, request.files, &request.set, &request.source)?;
    let changes = if commands.is_empty() {
        Vec::new()
    } else {
        write::commit_all(&state, &principal, commands, &reason).await?
    };
    Ok(Json(Applied { plan, changes }))
}

fn check_names(request: &ApplyRequest) -> Result<(), ApiError> {
    if !is_valid_name(&request.set) {
        return Err(ApiError::bad_request(
            "invalid_set",
            format!(
                "{:?} is not a set name (letters, digits, `.`, `_`, `-`)",
                request.set
            ),
        ));
    }
    let long = [&request.source]
        .into_iter()
        .chain(request.files.iter().map(|f| &f.file))
        .any(|name| name.len() > MAX_NAME || name.is_empty());
    if long {
        return Err(ApiError::bad_request(
            "invalid_name",
            format!("sources and file paths are 1 to {MAX_NAME} bytes"),
        ));
    }
    Ok(())
}

/// The plan of `request` against what `principal` sees of `world`: a
/// scoped principal plans against its part alone, and its diffs show
/// nothing outside it.
fn plan_of(world: &World, principal: &Principal, request: &ApplyRequest) -> Result<Plan, ApiError> {
    let texts: Vec<(&str, String)> = request
        .files
        .iter()
        .map(|f| (f.file.as_str(), f.document.to_string()))
        .collect();
    let texts: Vec<(&str, &str)> = texts.iter().map(|(f, t)| (*f, t.as_str())).collect();
    let limits = Limits {
        environments: Some(world.environment_names()),
        ..Limits::default()
    };
    let folder = check_folder(&texts, &limits).map_err(|problems| {
        let index: BTreeMap<&str, usize> = request
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.file.as_str(), i))
            .collect();
        ApiError::Validation(
            problems
                .into_iter()
                .map(|problem| {
                    let at = FieldPath::root()
                        .key("files")
                        .index(
                            index
                                .get(problem.file.as_str())
                                .copied()
                                .unwrap_or_default(),
                        )
                        .key("document");
                    Violation {
                        path: at.join(&problem.violation.path),
                        ..problem.violation
                    }
                })
                .collect(),
        )
    })?;
    let visible: Vec<_> = world
        .services
        .values()
        .filter_map(|record| record.visible_to(principal))
        .collect();
    let server: BTreeMap<&str, Held<'_>> = visible
        .iter()
        .map(|record| (record.doc.service.as_str(), record.held()))
        .collect();
    let hold: BTreeSet<String> = request.hold.iter().cloned().collect();
    Ok(plan(&folder, &server, &request.set, &hold))
}

/// One command per step, in the plan's order.
fn commands(
    plan: &Plan,
    files: Vec<FileDocument>,
    set: &str,
    source: &str,
) -> Result<Vec<Command>, ApiError> {
    let mut documents: BTreeMap<String, Value> =
        files.into_iter().map(|f| (f.file, f.document)).collect();
    let mut doc_of = |step: &Planned| {
        let value = documents.remove(&step.file).unwrap_or_default();
        // Checked whole by the plan already.
        serde_json::from_value(value)
            .map_err(|e| ApiError::bad_request("invalid_document", e.to_string()))
    };
    let mut commands = Vec::new();
    let mut push = |step: &Planned, what: FileStep| {
        commands.push(Command::FromFiles {
            service: step.service.clone(),
            step: what,
            managed: ManagedBy {
                set: set.to_string(),
                file: step.file.clone(),
                source: source.to_string(),
                revision: 0,
            },
            base: step.base,
        });
    };
    for step in &plan.create {
        push(step, FileStep::Create(doc_of(step)?));
    }
    for step in &plan.restore {
        let doc = if step.diff.is_empty() {
            None
        } else {
            Some(doc_of(step)?)
        };
        push(step, FileStep::Restore(doc));
    }
    for step in &plan.change {
        push(step, FileStep::Change(doc_of(step)?));
    }
    for step in &plan.adopt {
        push(step, FileStep::Adopt);
    }
    for step in &plan.tombstone {
        push(step, FileStep::Tombstone);
    }
    Ok(commands)
}
