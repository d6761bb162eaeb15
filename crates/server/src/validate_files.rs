//! `setpoint validate FILE|DIR...`: the offline check a team's CI runs on
//! its service documents before merge. Same core, same messages as the
//! server. A folder is checked as config as code: one service per file,
//! each file named for its service (`setpoint_core::folder`).
//!
//! Documents may be JSON or YAML (`.yaml`, `.yml`); YAML is turned into
//! JSON here, at the edge, and the core only ever sees JSON.

use std::{path::Path, process::ExitCode};

use serde_json::json;
use setpoint_core::{FileViolation, Limits, check_document, check_folder};

use crate::cli::ValidateArgs;

/// Checks every file and folder, prints each problem, and fails if any has
/// one.
pub fn run(args: &ValidateArgs) -> ExitCode {
    let limits = Limits {
        environments: args.environments.clone(),
        ..Limits::default()
    };
    let mut failed = false;
    for target in &args.files {
        // A folder is judged as a whole; a file named on its own, alone.
        let in_folder = target.is_dir();
        let (files, unreadable) = if in_folder {
            read_folder(target)
        } else {
            let (file, read) = read_document(target, target);
            match read {
                Ok(text) => (vec![(file, text)], Vec::new()),
                Err(error) => (Vec::new(), vec![(file, error)]),
            }
        };
        let texts: Vec<(&str, &str)> = files
            .iter()
            .map(|(file, text)| (file.as_str(), text.as_str()))
            .collect();
        let problems = if in_folder {
            check_folder(&texts, &limits).err().unwrap_or_default()
        } else {
            texts
                .iter()
                .flat_map(|&(file, text)| {
                    let violations = check_document(text, &limits).err().unwrap_or_default();
                    violations.into_iter().map(move |violation| FileViolation {
                        file: file.to_string(),
                        violation,
                    })
                })
                .collect()
        };
        failed |= !problems.is_empty() || !unreadable.is_empty();
        // Files in a folder are named by their path under it.
        let name = |file: &str| {
            if in_folder {
                target.join(file).display().to_string()
            } else {
                file.to_string()
            }
        };
        report(&name, &files, &unreadable, &problems, args.json);
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A file that could not be turned into JSON text, and why.
pub(crate) type Unreadable = (String, String);

/// Every document under `dir` (hidden entries skipped), named by its path
/// under `dir`, in order of name.
pub(crate) fn read_folder(dir: &Path) -> (Vec<(String, String)>, Vec<Unreadable>) {
    let mut paths = Vec::new();
    let mut unreadable = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(error) => {
                unreadable.push((folder.display().to_string(), error.to_string()));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if is_document(&path) {
                paths.push(path);
            }
        }
    }
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let (file, read) = read_document(dir, &path);
        match read {
            Ok(text) => files.push((file, text)),
            Err(error) => unreadable.push((file, error)),
        }
    }
    (files, unreadable)
}

fn is_document(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("json" | "yaml" | "yml")
    )
}

/// The file's name under `base` and its document as JSON text.
fn read_document(base: &Path, path: &Path) -> (String, Result<String, String>) {
    let name = path
        .strip_prefix(base)
        .ok()
        .filter(|relative| !relative.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"));
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let json = text.and_then(|text| if yaml { yaml_to_json(&text) } else { Ok(text) });
    (name, json)
}

/// YAML turned into the same document as JSON; a YAML syntax error is
/// reported with its own line and column.
fn yaml_to_json(text: &str) -> Result<String, String> {
    let value: serde_json::Value =
        serde_norway::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    Ok(value.to_string())
}

/// Prints each file's verdict: `ok`, or its problems with their codes
/// (`--json`: one object per file); unreadable files on stderr.
pub(crate) fn report(
    name: &dyn Fn(&str) -> String,
    files: &[(String, String)],
    unreadable: &[Unreadable],
    problems: &[FileViolation],
    as_json: bool,
) {
    for (file, error) in unreadable {
        if as_json {
            println!(
                "{}",
                json!({"file": name(file), "valid": false, "error": error})
            );
        } else {
            eprintln!("{}: {error}", name(file));
        }
    }
    for (file, _) in files {
        let own: Vec<_> = problems
            .iter()
            .filter(|p| &p.file == file)
            .map(|p| &p.violation)
            .collect();
        if as_json {
            println!(
                "{}",
                json!({"file": name(file), "valid": own.is_empty(), "errors": own})
            );
        } else if own.is_empty() {
            println!("{}: ok", name(file));
        } else {
            for v in &own {
                println!("{}: {v} [{}]", name(file), v.code());
            }
            println!("{}: {} problem(s)", name(file), own.len());
        }
    }
}
