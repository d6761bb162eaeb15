//! The flags overview: every flag the caller may see, across services, with
//! what each serves per environment and who changed it last. Writes to a
//! flag go through its service ([`super::services`]).

use std::collections::BTreeMap;

use axum::{Json, extract::State};
use setpoint_core::{Change, ChangeKind};
use setpoint_wire::{FlagLine, Stamp, Targeting};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use crate::{
    ApiError,
    auth::{Permission, Principal, Visible},
    world::ServiceRecord,
};

/// The flags routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// What moves a flag: a write of it, or a step of one of its rollouts.
const FLAG_KINDS: [ChangeKind; 2] = [ChangeKind::FlagChanged, ChangeKind::RolloutTransition];

#[utoipa::path(get, path = "/api/v1/flags", tag = "flags", summary = "Every flag of every live service, with its targeting per environment and its last change", responses((status = 200, body = [FlagLine]), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<FlagLine>>, ApiError> {
    principal.require(Permission::Read, None, None)?;
    // The log first: a flag written between the two reads then shows its
    // new state with, at worst, the change before — never a change of a
    // state the list does not show.
    let changes = state.engine.latest_by_item(&FLAG_KINDS).await?;
    let mut last: BTreeMap<(&str, &str), &Change> = BTreeMap::new();
    // Oldest first, so the latest the caller may see stays.
    for change in &changes {
        if let (Some(service), Some(item), Some(_)) = (
            change.service.as_deref(),
            change.item.as_deref(),
            change.visible_to(&principal),
        ) {
            last.insert((service, item), change);
        }
    }
    let world = state.engine.world();
    let lines = world
        .services
        .values()
        .filter(|record| record.tombstone.is_none())
        .filter_map(|record| record.visible_to(&principal))
        .flat_map(|record| lines_of(&record, &last))
        .collect();
    Ok(Json(lines))
}

/// The lines of one service's flags, as its record was cut for the caller.
fn lines_of(record: &ServiceRecord, last: &BTreeMap<(&str, &str), &Change>) -> Vec<FlagLine> {
    let doc = &record.doc;
    doc.flags
        .iter()
        .map(|(key, flag)| FlagLine {
            service: doc.service.clone(),
            key: key.clone(),
            description: flag.description.clone(),
            owners: doc.owners.clone(),
            revision: record.revision,
            off: flag.off.clone(),
            environments: flag
                .environments
                .iter()
                .map(|(env, targeting)| {
                    let rollout = record
                        .rollouts
                        .get(env)
                        .and_then(|flags| flags.get(key))
                        .map(|rollout| rollout.state);
                    (
                        env.clone(),
                        Targeting {
                            enabled: targeting.enabled,
                            rules: targeting.rules.len(),
                            default: targeting.default.clone(),
                            rollout,
                        },
                    )
                })
                .collect(),
            last_change: last
                .get(&(doc.service.as_str(), key.as_str()))
                .map(|change| Stamp {
                    revision: change.revision,
                    actor: change.actor.clone(),
                    at: change.at.clone(),
                    reason: change.reason.clone(),
                }),
        })
        .collect()
}
