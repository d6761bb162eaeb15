//! Services managed by files: one step of applying a folder of service
//! documents (`setpoint apply`), and the record of which files a service
//! is managed by. The plan itself — what to create, change, restore,
//! tombstone — is the core's ([`setpoint_core::folder::plan`]); a step here
//! carries the revision the plan saw, so a service that moved since is a
//! `409`, never overwritten.

use std::sync::Arc;

use setpoint_core::{ChangeKind, ManagedBy, ServiceDoc};

use super::{Entry, Meta, Refusal, World, to_value};

/// What one step of an apply does to its service.
#[derive(Debug, Clone)]
pub enum FileStep {
    /// Create it from its new file.
    Create(ServiceDoc),
    /// Replace its document with its file's.
    Change(ServiceDoc),
    /// Bring it back from its tombstone, replacing its document if the
    /// file differs (`Some`).
    Restore(Option<ServiceDoc>),
    /// Leave the document, which is already as the file says.
    Adopt,
    /// Its file is gone: tombstone it.
    Tombstone,
}

impl World {
    /// Applies one step and records the files the service is managed by
    /// as of the step's result. The record does not move the service's
    /// revision: a later revision is what says it drifts from its file.
    pub(super) fn apply_file_step(
        &mut self,
        service: String,
        step: FileStep,
        mut managed: ManagedBy,
        base: u64,
        meta: &Meta,
        revision: u64,
    ) -> Result<Vec<Entry>, Refusal> {
        let mut entries = Vec::new();
        match step {
            FileStep::Create(doc) => entries.push(self.create_service(doc, revision)?),
            FileStep::Change(doc) => entries.push(self.replace_service(doc, base, revision)?),
            FileStep::Restore(doc) => {
                self.deleted(&service, base)?;
                entries.push(self.restore_service(service.clone(), revision)?);
                if let Some(doc) = doc {
                    entries.push(self.replace_service(doc, revision, revision + 1)?);
                }
            }
            FileStep::Adopt => {
                self.live(&service, base)?;
            }
            FileStep::Tombstone => {
                entries.push(self.delete_service(service.clone(), base, meta, revision)?);
            }
        }
        let record = self
            .services
            .get_mut(&service)
            .ok_or_else(|| Refusal::NotFound(format!("service {service:?} does not exist")))?;
        managed.revision = record.revision;
        if record.managed_by.as_ref() != Some(&managed) {
            let before = record.managed_by.as_ref().map(to_value);
            let after = to_value(&managed);
            Arc::make_mut(record).managed_by = Some(managed);
            entries.push(Entry::new(
                ChangeKind::ServiceManaged,
                Some(service),
                before,
                Some(after),
            ));
        }
        Ok(entries)
    }

    /// A deleted service, checked against the step's base.
    fn deleted(&self, name: &str, base: u64) -> Result<(), Refusal> {
        let record = self
            .services
            .get(name)
            .filter(|r| r.tombstone.is_some())
            .ok_or_else(|| Refusal::NotFound(format!("no deleted service {name:?} to restore")))?;
        if record.revision != base {
            return Err(Refusal::Conflict {
                base,
                current: record.revision,
                state: Arc::clone(record),
            });
        }
        Ok(())
    }
}
