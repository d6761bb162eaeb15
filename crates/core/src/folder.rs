//! A folder of service documents, one service per file and each file named
//! for its service, checked as a whole: every document on its own, then
//! what no single document can show — two files defining one service, a
//! file named for another service than the one it defines.
//!
//! Reading the files (and turning YAML into JSON) is the caller's; this
//! module only judges what was read, so the command line and the server
//! give the same verdict with the same messages.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{
    DiffEntry, FieldPath, Limits, ServiceDoc, Tombstone, Violation, ViolationKind, check_document,
    diff_services,
};

/// A problem, in the file it was found in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileViolation {
    /// The file, as the caller named it.
    pub file: String,
    /// What is wrong, and where in the document.
    #[serde(flatten)]
    pub violation: Violation,
}

impl std::fmt::Display for FileViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.violation)
    }
}

/// A valid document and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced {
    /// The file, as the caller named it.
    pub file: String,
    /// The document.
    pub doc: ServiceDoc,
}

/// Checks every file — `(name, JSON text)`, the name a path such as
/// `payments/checkout.yaml` — and the folder as a whole. Returns the
/// documents by service, or every problem found in every file.
pub fn check_folder(
    files: &[(&str, &str)],
    limits: &Limits,
) -> Result<BTreeMap<String, Sourced>, Vec<FileViolation>> {
    let mut problems = Vec::new();
    let mut found = Vec::new();
    for &(file, text) in files {
        match check_document(text, limits) {
            Ok(doc) => found.push(Sourced {
                file: file.to_string(),
                doc,
            }),
            Err(violations) => {
                problems.extend(violations.into_iter().map(|violation| FileViolation {
                    file: file.to_string(),
                    violation,
                }));
            }
        }
    }
    let at_service = FieldPath::root().key("service");
    let mut by_service: BTreeMap<&str, Vec<&Sourced>> = BTreeMap::new();
    for sourced in &found {
        by_service
            .entry(sourced.doc.service.as_str())
            .or_default()
            .push(sourced);
        let named = named_service(&sourced.file);
        if named != sourced.doc.service {
            problems.push(FileViolation {
                file: sourced.file.clone(),
                violation: Violation::new(
                    at_service.clone(),
                    ViolationKind::NameNotFile {
                        service: sourced.doc.service.clone(),
                        file: named.to_string(),
                    },
                ),
            });
        }
    }
    for (service, claims) in &by_service {
        if claims.len() < 2 {
            continue;
        }
        for claim in claims {
            let others = claims
                .iter()
                .filter(|other| other.file != claim.file)
                .map(|other| other.file.clone())
                .collect();
            problems.push(FileViolation {
                file: claim.file.clone(),
                violation: Violation::new(
                    at_service.clone(),
                    ViolationKind::ClaimedTwice {
                        service: (*service).to_string(),
                        others,
                    },
                ),
            });
        }
    }
    if !problems.is_empty() {
        problems.sort_by(|a, b| a.file.cmp(&b.file));
        return Err(problems);
    }
    Ok(found
        .into_iter()
        .map(|sourced| (sourced.doc.service.clone(), sourced))
        .collect())
}

/// Which files a service is managed by: recorded by the server when a
/// folder is applied, so that the next apply knows what it owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManagedBy {
    /// The set of files — one folder, applied as a whole — it belongs to.
    /// A file removed from the folder tombstones only services of its own
    /// set: two repositories can apply to one server.
    pub set: String,
    /// The file, relative to the folder.
    pub file: String,
    /// Where the files came from when the service last changed from them:
    /// a git commit, say.
    pub source: String,
    /// The service's revision as that apply left it. A later one means the
    /// service was changed elsewhere since: it drifts from its file.
    pub revision: u64,
}

/// A service as the server holds it, as far as a plan needs to know.
#[derive(Debug, Clone, Copy)]
pub struct Held<'a> {
    /// Its document.
    pub doc: &'a ServiceDoc,
    /// Its revision: what writes name as their base.
    pub revision: u64,
    /// Set while it is deleted.
    pub tombstone: Option<&'a Tombstone>,
    /// The files it is managed by, if any.
    pub managed_by: Option<&'a ManagedBy>,
}

impl Held<'_> {
    /// Whether it was changed by anything but its files since they were
    /// last applied.
    pub fn drifts(&self) -> bool {
        self.managed_by.is_some_and(|m| m.revision != self.revision)
    }
}

/// What applying a folder would do to the services a server holds.
/// Services the folder does not name are left alone, unless its own set
/// manages them: then their file was removed, and they are tombstoned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Services in the folder the server does not have.
    pub create: Vec<Planned>,
    /// Services whose document differs from the folder's.
    pub change: Vec<Planned>,
    /// Deleted services whose file is back (with the file's changes, if
    /// any).
    pub restore: Vec<Planned>,
    /// Services of this set whose file is gone: deleted, and kept in
    /// snapshots until reclaimed, so that a removal by mistake is undone
    /// by adding the file back.
    pub tombstone: Vec<Planned>,
    /// Services already as their file says that are not yet recorded as
    /// managed by it (created elsewhere, or the file moved): only that
    /// record is written.
    pub adopt: Vec<Planned>,
    /// Services already as the folder says.
    pub unchanged: Vec<String>,
}

/// One service of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Planned {
    /// The service.
    pub service: String,
    /// The file that defines it (that defined it, for a tombstone).
    pub file: String,
    /// The service's revision the step is based on (0 for a creation): a
    /// server applying the plan refuses the step if it moved since.
    pub base: u64,
    /// From the server's document to the file's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<DiffEntry>,
    /// Why applying this step would overwrite what was not written from
    /// the folder: refused unless forced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<Conflict>,
}

/// Why a step of a [`Plan`] would overwrite someone else's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Conflict {
    /// Changed by other means (the console, the API, a rollback) since its
    /// files were last applied.
    Drifted {
        /// The revision the last apply left it at.
        applied: u64,
        /// Its revision now.
        current: u64,
    },
    /// Never applied from files: created and kept some other way.
    NotManaged,
    /// Managed by another set of files.
    OtherSet {
        /// That set.
        set: String,
    },
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Drifted { applied, current } => write!(
                f,
                "changed outside its file since it was applied (revision {applied}, now {current})"
            ),
            Self::NotManaged => write!(f, "not managed by files"),
            Self::OtherSet { set } => write!(f, "managed by the set {set:?}"),
        }
    }
}

impl Plan {
    /// Whether applying would change nothing.
    pub fn is_empty(&self) -> bool {
        self.steps().next().is_none()
    }

    /// Every step that writes, in the order an apply takes them.
    pub fn steps(&self) -> impl Iterator<Item = &Planned> {
        self.create
            .iter()
            .chain(&self.restore)
            .chain(&self.change)
            .chain(&self.adopt)
            .chain(&self.tombstone)
    }

    /// The steps that would overwrite what was not written from the
    /// folder.
    pub fn conflicts(&self) -> impl Iterator<Item = (&Planned, &Conflict)> {
        self.steps()
            .filter_map(|step| step.conflict.as_ref().map(|conflict| (step, conflict)))
    }
}

/// The plan that makes the services `server` holds what `folder` (checked
/// by [`check_folder`]) says, for the set of files `set`, in order of
/// service name. Services in `held_back` are neither tombstoned nor touched:
/// their file is there but could not be read or is invalid, and its last
/// good state stays.
pub fn plan(
    folder: &BTreeMap<String, Sourced>,
    server: &BTreeMap<&str, Held<'_>>,
    set: &str,
    held_back: &BTreeSet<String>,
) -> Plan {
    let mut plan = Plan::default();
    for (service, sourced) in folder {
        if held_back.contains(service) {
            continue;
        }
        let Some(held) = server.get(service.as_str()) else {
            plan.create.push(Planned {
                service: service.clone(),
                file: sourced.file.clone(),
                base: 0,
                diff: Vec::new(),
                conflict: None,
            });
            continue;
        };
        let diff = diff_services(held.doc, &sourced.doc);
        let recorded = held
            .managed_by
            .is_some_and(|m| m.set == set && m.file == sourced.file);
        let planned = Planned {
            service: service.clone(),
            file: sourced.file.clone(),
            base: held.revision,
            conflict: conflict(held, set, !diff.is_empty() || held.tombstone.is_some()),
            diff,
        };
        if held.tombstone.is_some() {
            plan.restore.push(planned);
        } else if !planned.diff.is_empty() {
            plan.change.push(planned);
        } else if !recorded || held.drifts() {
            plan.adopt.push(planned);
        } else {
            plan.unchanged.push(service.clone());
        }
    }
    for (service, held) in server {
        let ours = held.managed_by.filter(|m| m.set == set);
        if let Some(managed) = ours
            && held.tombstone.is_none()
            && !folder.contains_key(*service)
            && !held_back.contains(*service)
        {
            plan.tombstone.push(Planned {
                service: (*service).to_string(),
                file: managed.file.clone(),
                base: held.revision,
                diff: Vec::new(),
                conflict: conflict(held, set, true),
            });
        }
    }
    plan
}

/// Why the step on `held` would overwrite what its files did not write;
/// `None` if nothing would be lost (`overwrites` false: the document stays
/// as it is).
fn conflict(held: &Held<'_>, set: &str, overwrites: bool) -> Option<Conflict> {
    match held.managed_by {
        Some(managed) if managed.set != set => Some(Conflict::OtherSet {
            set: managed.set.clone(),
        }),
        _ if !overwrites => None,
        None => Some(Conflict::NotManaged),
        Some(managed) if held.drifts() => Some(Conflict::Drifted {
            applied: managed.revision,
            current: held.revision,
        }),
        Some(_) => None,
    }
}

/// The service a file is named for: its name without its folders and its
/// last extension (`payments/checkout.api.yaml` → `checkout.api`).
pub fn named_service(file: &str) -> &str {
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(service: &str) -> String {
        format!(r#"{{"service": "{service}", "schema": {{"n": {{"type": "int", "default": 1}}}}}}"#)
    }

    fn codes(problems: &[FileViolation]) -> Vec<(&str, &str)> {
        problems
            .iter()
            .map(|p| (p.file.as_str(), p.violation.code()))
            .collect()
    }

    #[test]
    fn a_folder_of_valid_documents_named_for_their_services_is_accepted() {
        let (checkout, search) = (doc("checkout"), doc("search.api"));
        let files = [
            ("payments/checkout.json", checkout.as_str()),
            ("search.api.yaml", search.as_str()),
        ];
        let found = check_folder(&files, &Limits::default()).expect("valid");
        assert_eq!(found.keys().collect::<Vec<_>>(), ["checkout", "search.api"]);
        assert_eq!(found["checkout"].file, "payments/checkout.json");
    }

    #[test]
    fn two_files_defining_one_service_are_both_reported_naming_the_other() {
        let checkout = doc("checkout");
        let files = [
            ("a/checkout.json", checkout.as_str()),
            ("b/checkout.yaml", checkout.as_str()),
        ];
        let problems = check_folder(&files, &Limits::default()).expect_err("refused");
        assert_eq!(
            codes(&problems),
            [
                ("a/checkout.json", "claimed_twice"),
                ("b/checkout.yaml", "claimed_twice")
            ]
        );
        assert_eq!(
            problems[0].to_string(),
            r#"a/checkout.json: service: "checkout" is also defined in b/checkout.yaml"#
        );
    }

    #[test]
    fn a_file_named_for_another_service_is_reported_at_the_service_field() {
        let search = doc("search");
        let problems = check_folder(&[("checkout.json", search.as_str())], &Limits::default())
            .expect_err("refused");
        assert_eq!(codes(&problems), [("checkout.json", "name_not_file")]);
        assert_eq!(problems[0].violation.path.to_string(), "service");
    }

    #[test]
    fn every_file_is_checked_and_each_problem_names_its_file() {
        let (bad, good) = (
            r#"{"service": "checkout", "schema": {"n": {"type": "int", "default": "x"}}}"#,
            doc("search"),
        );
        let files = [("search.json", good.as_str()), ("checkout.json", bad)];
        let limits = Limits {
            environments: Some(vec!["prod".into()]),
            ..Limits::default()
        };
        let problems = check_folder(&files, &limits).expect_err("refused");
        assert_eq!(codes(&problems), [("checkout.json", "type_mismatch")]);
        assert_eq!(problems[0].violation.path.to_string(), "schema.n.default");
    }

    fn parsed(text: &str) -> ServiceDoc {
        check_document(text, &Limits::default()).expect("valid")
    }

    fn managed(set: &str, file: &str, revision: u64) -> ManagedBy {
        ManagedBy {
            set: set.into(),
            file: file.into(),
            source: "git:abc".into(),
            revision,
        }
    }

    fn names(planned: &[Planned]) -> Vec<&str> {
        planned.iter().map(|p| p.service.as_str()).collect()
    }

    #[test]
    fn a_plan_creates_what_the_server_lacks_and_changes_only_what_differs() {
        let (checkout, search, limits) = (doc("checkout"), doc("search"), doc("limits"));
        let edited = checkout.replace(r#""default": 1"#, r#""default": 2"#);
        let files = [
            ("checkout.json", edited.as_str()),
            ("search.json", search.as_str()),
            ("limits.json", limits.as_str()),
        ];
        let folder = check_folder(&files, &Limits::default()).expect("valid");
        let docs = [parsed(&checkout), parsed(&search), parsed(&doc("other"))];
        let marks = [
            managed("repo", "checkout.json", 4),
            managed("repo", "search.json", 4),
        ];
        let server: BTreeMap<&str, Held<'_>> = docs
            .iter()
            .enumerate()
            .map(|(i, doc)| {
                let held = Held {
                    doc,
                    revision: 4,
                    tombstone: None,
                    managed_by: marks.get(i),
                };
                (doc.service.as_str(), held)
            })
            .collect();
        let plan = plan(&folder, &server, "repo", &BTreeSet::new());
        assert_eq!(names(&plan.create), ["limits"]);
        assert_eq!(names(&plan.change), ["checkout"]);
        assert_eq!(
            plan.unchanged,
            ["search"],
            "and `other`, neither in the folder nor managed by it, is left alone"
        );
        let change = &plan.change[0];
        assert_eq!((change.base, change.conflict.as_ref()), (4, None));
        assert_eq!(change.diff.len(), 1);
        assert_eq!(change.diff[0].path.to_string(), "schema.n.default");
        assert!(!plan.is_empty());
    }

    /// The server as the tests below see it: `checkout` at revision 7,
    /// managed by `repo`'s `checkout.json` as applied at revision
    /// `applied`, and `tombstone` set or not.
    fn checkout_held<'a>(
        doc: &'a ServiceDoc,
        managed_by: Option<&'a ManagedBy>,
        tombstone: Option<&'a Tombstone>,
    ) -> BTreeMap<&'a str, Held<'a>> {
        BTreeMap::from([(
            "checkout",
            Held {
                doc,
                revision: 7,
                tombstone,
                managed_by,
            },
        )])
    }

    #[test]
    fn a_removed_file_tombstones_its_service_only_within_its_own_set() {
        let checkout = parsed(&doc("checkout"));
        let empty = BTreeMap::new();
        let ours = managed("repo", "payments/checkout.json", 7);
        let plan = plan(
            &empty,
            &checkout_held(&checkout, Some(&ours), None),
            "repo",
            &BTreeSet::new(),
        );
        assert_eq!(names(&plan.tombstone), ["checkout"]);
        assert_eq!(plan.tombstone[0].file, "payments/checkout.json");
        assert_eq!(plan.tombstone[0].conflict, None);

        for server in [
            checkout_held(&checkout, Some(&ours), None),
            checkout_held(&checkout, None, None),
        ] {
            let other = super::plan(&empty, &server, "another-repo", &BTreeSet::new());
            assert!(other.is_empty(), "{other:?}");
        }
        let held = BTreeSet::from(["checkout".to_string()]);
        let kept = super::plan(
            &empty,
            &checkout_held(&checkout, Some(&ours), None),
            "repo",
            &held,
        );
        assert!(kept.is_empty(), "a held service keeps its last good state");
    }

    #[test]
    fn a_file_added_back_restores_its_tombstoned_service() {
        let text = doc("checkout");
        let folder =
            check_folder(&[("checkout.json", text.as_str())], &Limits::default()).expect("valid");
        let checkout = parsed(&text);
        let ours = managed("repo", "checkout.json", 7);
        let tombstone = Tombstone {
            tombstoned_at: "2026-12-01T00:00:00Z".into(),
            reclaim_at: "2026-12-08T00:00:00Z".into(),
        };
        let server = checkout_held(&checkout, Some(&ours), Some(&tombstone));
        let plan = plan(&folder, &server, "repo", &BTreeSet::new());
        assert_eq!(names(&plan.restore), ["checkout"]);
        assert_eq!(
            (plan.restore[0].base, plan.restore[0].conflict.as_ref()),
            (7, None)
        );
        assert!(plan.restore[0].diff.is_empty());
    }

    #[test]
    fn overwriting_what_files_did_not_write_is_a_conflict() {
        let text = doc("checkout");
        let edited = text.replace(r#""default": 1"#, r#""default": 2"#);
        let folder =
            check_folder(&[("checkout.json", edited.as_str())], &Limits::default()).expect("valid");
        let checkout = parsed(&text);
        let conflict_of = |managed_by: Option<&ManagedBy>| {
            let server = checkout_held(&checkout, managed_by, None);
            let plan = plan(&folder, &server, "repo", &BTreeSet::new());
            assert_eq!(names(&plan.change), ["checkout"]);
            plan.change[0].conflict.clone()
        };
        assert_eq!(
            conflict_of(Some(&managed("repo", "checkout.json", 7))),
            None
        );
        assert_eq!(
            conflict_of(Some(&managed("repo", "checkout.json", 5))),
            Some(Conflict::Drifted {
                applied: 5,
                current: 7
            })
        );
        assert_eq!(conflict_of(None), Some(Conflict::NotManaged));
        assert_eq!(
            conflict_of(Some(&managed("other", "checkout.json", 7))),
            Some(Conflict::OtherSet {
                set: "other".into()
            })
        );
    }

    #[test]
    fn a_service_already_as_its_file_says_is_adopted_without_conflict() {
        let text = doc("checkout");
        let folder =
            check_folder(&[("checkout.json", text.as_str())], &Limits::default()).expect("valid");
        let checkout = parsed(&text);
        for managed_by in [
            None,
            Some(managed("repo", "checkout.json", 5)),
            Some(managed("repo", "old/checkout.json", 7)),
        ] {
            let server = checkout_held(&checkout, managed_by.as_ref(), None);
            let plan = plan(&folder, &server, "repo", &BTreeSet::new());
            assert_eq!(names(&plan.adopt), ["checkout"], "{managed_by:?}");
            assert_eq!(plan.adopt[0].conflict, None);
        }
        let recorded = managed("repo", "checkout.json", 7);
        let server = checkout_held(&checkout, Some(&recorded), None);
        let plan = plan(&folder, &server, "repo", &BTreeSet::new());
        assert!(plan.is_empty());
        assert_eq!(plan.unchanged, ["checkout"]);
    }
}
