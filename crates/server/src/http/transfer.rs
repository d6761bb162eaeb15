//! Export and import of everything — environments and service documents —
//! as one document. An import is validated whole and applied all or
//! nothing, in one transaction.

use std::borrow::Cow;

use axum::{
    Json,
    extract::{Request, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use setpoint_core::{FieldPath, Limits, ServiceDoc, diff::diff_services, validate_document};

use setpoint_wire::{ImportPlan, Imported, ReplacedService};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, JsonBody, write};
use crate::{
    ApiError,
    auth::{Permission, Principal, Visible},
    world::{Command, World},
};

/// The format tag of export documents.
pub const FORMAT: &str = "setpoint/1";

/// The largest import body: an export of tens of thousands of services.
/// Read only for an admin, one import at a time
/// ([`crate::admission::Admission::import`]), so what imports may cost in
/// memory is bounded.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

/// The transfer routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export))
        .routes(routes!(import))
}

/// Everything, as one document.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// Always `setpoint/1`.
    pub format: String,
    /// The revision exported (informational on import).
    #[serde(default)]
    pub revision: u64,
    /// Environments.
    pub environments: Vec<EnvironmentSpec>,
    /// Live services (deleted ones are not exported).
    #[schema(value_type = Vec<Object>)]
    pub services: Vec<ServiceDoc>,
}

/// An environment in an export.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// Name.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
}

/// The export of `world`.
pub fn export_of(world: &World) -> Export {
    Export {
        format: FORMAT.into(),
        revision: world.revision,
        environments: world
            .environments
            .values()
            .map(|e| EnvironmentSpec {
                name: e.name.clone(),
                description: e.description.clone(),
            })
            .collect(),
        services: world
            .services
            .values()
            .filter(|r| r.tombstone.is_none())
            .map(|r| r.doc.clone())
            .collect(),
    }
}

/// The commands that make `world` hold everything in `export`: new
/// environments and services are created, existing services replaced where
/// they differ; nothing is deleted. Every document is validated first and
/// all problems are reported, with paths inside the export.
pub fn import_commands(world: &World, export: Export) -> Result<Vec<Command>, ApiError> {
    if export.format != FORMAT {
        return Err(ApiError::bad_request(
            "unsupported_format",
            format!("expected format {FORMAT:?}, got {:?}", export.format),
        ));
    }
    let mut environments = world.environment_names();
    environments.extend(export.environments.iter().map(|e| e.name.clone()));
    let limits = Limits {
        environments: Some(environments),
        ..Limits::default()
    };
    let mut violations = Vec::new();
    for (i, doc) in export.services.iter().enumerate() {
        let at = FieldPath::root().key("services").index(i);
        violations.extend(validate_document(doc, &limits).into_iter().map(|mut v| {
            v.path = at.join(&v.path);
            v
        }));
    }
    if !violations.is_empty() {
        return Err(ApiError::Validation(violations));
    }
    let mut commands: Vec<Command> = export
        .environments
        .into_iter()
        .filter(|e| !world.environments.contains_key(&e.name))
        .map(|e| Command::CreateEnvironment {
            name: e.name,
            description: e.description,
        })
        .collect();
    for doc in export.services {
        match world.services.get(&doc.service) {
            None => commands.push(Command::CreateService { doc }),
            Some(record) if record.tombstone.is_some() => {
                return Err(ApiError::Conflict {
                    code: "service_deleted",
                    message: format!(
                        "service {:?} is deleted; restore it before importing over it",
                        doc.service
                    ),
                    current: None,
                });
            }
            Some(record) if record.doc == doc => {}
            Some(record) => commands.push(Command::ReplaceService {
                doc,
                base: record.revision,
            }),
        }
    }
    Ok(commands)
}

#[utoipa::path(get, path = "/api/v1/export", tag = "transfer", summary = "Everything as one document", responses((status = 200, body = Export), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn export(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Export>, ApiError> {
    principal.require(Permission::Read, None, None)?;
    let mut export = export_of(&state.engine.world());
    if !principal.sees_everything() {
        export
            .environments
            .retain(|env| principal.sees_environment(&env.name));
        export.services = export
            .services
            .iter()
            .filter_map(|doc| doc.visible_to(&principal).map(Cow::into_owned))
            .collect();
    }
    Ok(Json(export))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ImportRequest {
    document: Export,
    #[serde(default)]
    reason: Option<String>,
    /// Plan only: answer what the import would change, change nothing.
    #[serde(default)]
    dry_run: bool,
}

/// The plan of `commands`, which [`import_commands`] made from a document
/// of `services` services against `world`.
fn plan_of(world: &World, commands: &[Command], services: usize) -> ImportPlan {
    let mut plan = ImportPlan::default();
    for command in commands {
        match command {
            Command::CreateEnvironment { name, .. } => plan.environments.push(name.clone()),
            Command::CreateService { doc } => plan.created.push(doc.service.clone()),
            Command::ReplaceService { doc, .. } => plan.replaced.push(ReplacedService {
                service: doc.service.clone(),
                diff: world
                    .services
                    .get(&doc.service)
                    .map(|record| diff_services(&record.doc, doc))
                    .unwrap_or_default(),
            }),
            _ => {}
        }
    }
    plan.unchanged = services.saturating_sub(plan.created.len() + plan.replaced.len());
    plan
}

#[utoipa::path(post, path = "/api/v1/import", tag = "transfer", summary = "Import all or nothing", request_body = ImportRequest, responses((status = 200, body = Imported), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn import(
    State(state): State<AppState>,
    principal: Principal,
    request: Request,
) -> Result<(StatusCode, Json<Imported>), ApiError> {
    // Who may send this much is settled before a byte of it is read.
    principal.require(Permission::Administer, None, None)?;
    let _turn = state.admission.import().await?;
    let request: ImportRequest = JsonBody::read(request, MAX_IMPORT_BYTES).await?.parse()?;
    let services = request.document.services.len();
    let (commands, plan) = {
        let world = state.engine.world();
        let commands = import_commands(&world, request.document)?;
        let plan = plan_of(&world, &commands, services);
        (commands, plan)
    };
    let reason = write::reason(request.reason)?;
    let changes = if request.dry_run {
        Vec::new()
    } else {
        write::commit_all(&state, &principal, commands, &reason).await?
    };
    Ok((StatusCode::OK, Json(Imported { changes, plan })))
}
