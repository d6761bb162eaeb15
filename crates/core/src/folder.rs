//! A folder of service documents, one service per file and each file named
//! for its service, checked as a whole: every document on its own, then
//! what no single document can show — two files defining one service, a
//! file named for another service than the one it defines.
//!
//! Reading the files (and turning YAML into JSON) is the caller's; this
//! module only judges what was read, so the command line and the server
//! give the same verdict with the same messages.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{
    DiffEntry, FieldPath, Limits, ServiceDoc, Violation, ViolationKind, check_document,
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
        let named = stem(&sourced.file);
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

/// What applying a folder would do to the services a server holds.
/// Services the server has and the folder does not are left alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Services in the folder the server does not have.
    pub create: Vec<Planned>,
    /// Services whose document differs from the folder's.
    pub change: Vec<Planned>,
    /// Services already as the folder says.
    pub unchanged: Vec<String>,
}

/// One service of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    /// The service.
    pub service: String,
    /// The file that defines it.
    pub file: String,
    /// From the server's document to the file's (empty for a creation).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<DiffEntry>,
}

impl Plan {
    /// Whether applying would change nothing.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.change.is_empty()
    }
}

/// The plan that makes `server`'s services what `folder` (checked by
/// [`check_folder`]) says, in order of service name.
pub fn plan(folder: &BTreeMap<String, Sourced>, server: &[ServiceDoc]) -> Plan {
    let held: BTreeMap<&str, &ServiceDoc> =
        server.iter().map(|d| (d.service.as_str(), d)).collect();
    let mut plan = Plan::default();
    for (service, sourced) in folder {
        let planned = |diff| Planned {
            service: service.clone(),
            file: sourced.file.clone(),
            diff,
        };
        match held.get(service.as_str()) {
            None => plan.create.push(planned(Vec::new())),
            Some(current) => {
                let diff = diff_services(current, &sourced.doc);
                if diff.is_empty() {
                    plan.unchanged.push(service.clone());
                } else {
                    plan.change.push(planned(diff));
                }
            }
        }
    }
    plan
}

/// The file's name without its folders and its last extension:
/// `payments/checkout.api.yaml` → `checkout.api`.
fn stem(file: &str) -> &str {
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
        let server: Vec<ServiceDoc> = [&checkout, &search, &doc("other")]
            .iter()
            .map(|text| check_document(text, &Limits::default()).expect("valid"))
            .collect();
        let plan = plan(&folder, &server);
        let names = |planned: &[Planned]| {
            planned
                .iter()
                .map(|p| p.service.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&plan.create), ["limits"]);
        assert_eq!(names(&plan.change), ["checkout"]);
        assert_eq!(
            plan.unchanged,
            ["search"],
            "and `other`, not in the folder, is left alone"
        );
        let change = &plan.change[0].diff;
        assert_eq!(change.len(), 1);
        assert_eq!(change[0].path.to_string(), "schema.n.default");
        assert!(!plan.is_empty());
    }
}
