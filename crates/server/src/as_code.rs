//! Config as code on the command line: `setpoint plan`, `apply` and
//! `sync` read a folder of per-service documents (YAML turned into JSON
//! here, at the edge), check it as `validate` does, and send it to
//! `POST /api/v1/apply`, where the plan is made against the state the
//! commit will be checked against. Exit codes as `terraform plan
//! -detailed-exitcode`: 0 nothing to do, 2 changes (plan only), 1 invalid,
//! refused, or the server could not be reached.

use std::{
    collections::BTreeSet,
    fmt::Write as _,
    path::Path,
    process::{Command, ExitCode},
    time::{Duration, Instant},
};

use notify::{RecursiveMode, Watcher as _};
use serde_json::{Value, json};
use setpoint_core::{
    DiffOp, FileViolation, Limits, Plan, Planned, ViolationKind, check_folder,
    folder::named_service,
};
use tokio::sync::mpsc;

use crate::{
    cli::{ApplyArgs, FolderArgs, PlanArgs, SyncArgs},
    http::files::{Applied, ApplyRequest, FileDocument},
    validate_files::{read_folder, report},
};

/// Plans, prints the plan, and says by the exit code whether there is
/// anything to apply.
pub async fn plan(args: &PlanArgs) -> ExitCode {
    let folder = &args.folder;
    let Some(read) = read_strictly(folder) else {
        return ExitCode::FAILURE;
    };
    let request = request(folder, read, None, |request| request.dry_run = true);
    match send(folder, &request).await {
        Ok(applied) => {
            print_plan(&applied.plan, folder.json);
            if applied.plan.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Err(failure) => failure.report(folder, &request.files),
    }
}

/// Applies the folder in one change set and prints what it did.
pub async fn apply(args: &ApplyArgs) -> ExitCode {
    let Some(read) = read_strictly(&args.folder) else {
        return ExitCode::FAILURE;
    };
    let request = request(&args.folder, read, Some(args), |_| {});
    match send(&args.folder, &request).await {
        Ok(applied) => {
            print_applied(&applied, args.folder.json);
            ExitCode::SUCCESS
        }
        Err(failure) => failure.report(&args.folder, &request.files),
    }
}

/// Applies the folder, then (`--watch`) again on every change to it until
/// stopped. A file that cannot be used is reported and held: its service
/// keeps its last good state and the rest is applied.
pub async fn sync(args: &SyncArgs) -> ExitCode {
    let folder = &args.apply.folder;
    let (wake, mut woken) = mpsc::channel(1);
    // Dropping the watcher stops it: it lives as long as the loop.
    let _watcher = args.watch.then(|| watch(&folder.dir, &wake)).flatten();
    let mut applied: Option<Vec<(String, String)>> = None;
    loop {
        let (texts, unreadable) = read_folder(&folder.dir);
        let current = Some(texts.clone());
        if current != applied {
            let started = Instant::now();
            let read = read_leniently(folder, texts, &unreadable);
            let request = request(folder, read, Some(&args.apply), |_| {});
            match send(folder, &request).await {
                Ok(done) => {
                    print_applied(&done, folder.json);
                    if !folder.json {
                        println!("Synced in {} ms.", started.elapsed().as_millis());
                    }
                    applied = current;
                }
                Err(failure) => {
                    let code = failure.report(folder, &request.files);
                    if !args.watch {
                        return code;
                    }
                }
            }
        }
        if !args.watch {
            return ExitCode::SUCCESS;
        }
        // A burst of events (an editor's save, a checkout) is one pass.
        let _ = tokio::time::timeout(args.poll, woken.recv()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        while woken.try_recv().is_ok() {}
    }
}

/// Wakes `wake` on any event under `dir`; `None` where the file system
/// gives none (the poll then reads alone).
fn watch(dir: &Path, wake: &mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    let wake = wake.clone();
    let mut watcher = notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
        // Full means a pass is already due.
        let _ = wake.try_send(());
    })
    .map_err(|e| eprintln!("setpoint sync: no file events ({e}); polling"))
    .ok()?;
    watcher
        .watch(dir, RecursiveMode::Recursive)
        .map_err(|e| {
            eprintln!(
                "setpoint sync: cannot watch {} ({e}); polling",
                dir.display()
            );
        })
        .ok()?;
    Some(watcher)
}

/// A folder as sent: its usable files, and the services of the files that
/// are not.
struct Read {
    files: Vec<FileDocument>,
    hold: Vec<String>,
}

/// The folder, or `None` (its problems reported) if any file is unusable.
fn read_strictly(folder: &FolderArgs) -> Option<Read> {
    let (texts, unreadable) = read_folder(&folder.dir);
    let name = |file: &str| folder.dir.join(file).display().to_string();
    if !unreadable.is_empty() {
        report(&name, &[], &unreadable, &[], folder.json);
        return None;
    }
    if let Err(problems) = check(&texts) {
        report(&name, &texts, &[], &problems, folder.json);
        return None;
    }
    Some(Read {
        files: documents(texts),
        hold: Vec::new(),
    })
}

/// The folder's usable files; the others are reported and their services
/// held — the one each file is named for and the one it defines, if it
/// says.
fn read_leniently(
    folder: &FolderArgs,
    mut texts: Vec<(String, String)>,
    unreadable: &[(String, String)],
) -> Read {
    let name = |file: &str| folder.dir.join(file).display().to_string();
    let mut hold: BTreeSet<String> = unreadable
        .iter()
        .map(|(file, _)| named_service(file).to_string())
        .collect();
    if let Err(problems) = check(&texts) {
        report(&name, &texts, &[], &problems, folder.json);
        let bad: BTreeSet<&str> = problems.iter().map(|p| p.file.as_str()).collect();
        for problem in &problems {
            if let ViolationKind::ClaimedTwice { service, .. }
            | ViolationKind::NameNotFile { service, .. } = &problem.violation.kind
            {
                hold.insert(service.clone());
            }
        }
        hold.extend(bad.iter().map(|file| named_service(file).to_string()));
        texts.retain(|(file, _)| !bad.contains(file.as_str()));
    }
    if !unreadable.is_empty() {
        report(&name, &[], unreadable, &[], folder.json);
    }
    Read {
        files: documents(texts),
        hold: hold.into_iter().collect(),
    }
}

/// The checks the folder can have without the server; the server checks
/// environments too.
fn check(texts: &[(String, String)]) -> Result<(), Vec<FileViolation>> {
    let texts: Vec<(&str, &str)> = texts
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    check_folder(&texts, &Limits::default()).map(drop)
}

fn documents(texts: Vec<(String, String)>) -> Vec<FileDocument> {
    texts
        .into_iter()
        .filter_map(|(file, text)| {
            let document = serde_json::from_str(&text).ok()?;
            Some(FileDocument { file, document })
        })
        .collect()
}

fn request(
    folder: &FolderArgs,
    read: Read,
    apply: Option<&ApplyArgs>,
    adjust: impl FnOnce(&mut ApplyRequest),
) -> ApplyRequest {
    let mut request = ApplyRequest {
        set: folder
            .set
            .clone()
            .unwrap_or_else(|| default_set(&folder.dir)),
        source: apply
            .and_then(|a| a.source.clone())
            .unwrap_or_else(|| source_of(&folder.dir)),
        files: read.files,
        hold: read.hold,
        force: apply.is_some_and(|a| a.force),
        dry_run: false,
        reason: apply.and_then(|a| a.reason.clone()),
    };
    adjust(&mut request);
    request
}

/// The folder's own name, made a valid set name: other characters become
/// `-`, and it starts with a letter or digit (`.config` → `config`).
fn default_set(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(128)
        .collect();
    if name.is_empty() {
        "files".into()
    } else {
        name
    }
}

/// `git:<commit>` (`+dirty` with uncommitted changes in the folder) when
/// the folder is in a git checkout, else the folder's path.
fn source_of(dir: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(commit) if !commit.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--", "."]).is_some_and(|s| !s.is_empty());
            format!("git:{commit}{}", if dirty { "+dirty" } else { "" })
        }
        _ => {
            let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
            format!("dir:{}", dir.display())
        }
    }
}

/// Why a request did not go through.
enum Failure {
    /// Not sent, or no answer.
    Unreachable(String),
    /// Answered with an error envelope.
    Refused { status: u16, error: Value },
}

async fn send(folder: &FolderArgs, request: &ApplyRequest) -> Result<Applied, Failure> {
    let url = format!("{}/api/v1/apply", folder.server.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&folder.token)
        .json(request)
        .send()
        .await
        .map_err(|e| Failure::Unreachable(e.to_string()))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| Failure::Unreachable(e.to_string()))?;
    if status.is_success() {
        serde_json::from_slice(&body).map_err(|e| Failure::Unreachable(format!("not a plan: {e}")))
    } else {
        let error = serde_json::from_slice::<Value>(&body).map_or_else(
            |_| json!({"message": String::from_utf8_lossy(&body)}),
            |envelope| envelope["error"].clone(),
        );
        Err(Failure::Refused {
            status: status.as_u16(),
            error,
        })
    }
}

impl Failure {
    /// Prints the failure — each problem at its file, where the server
    /// names one — and gives the exit code.
    fn report(&self, folder: &FolderArgs, files: &[FileDocument]) -> ExitCode {
        match self {
            Self::Unreachable(error) => {
                eprintln!("setpoint: cannot reach {}: {error}", folder.server);
            }
            Self::Refused { error, .. } if folder.json => println!("{error}"),
            Self::Refused { status, error } => {
                let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
                println!("refused ({status}): {}", text(&error["message"]));
                for detail in error["details"].as_array().into_iter().flatten() {
                    println!(
                        "  {}: {} [{}]",
                        at_file(&text(&detail["path"]), files),
                        text(&detail["message"]),
                        text(&detail["code"])
                    );
                }
                if let Ok(plan) = serde_json::from_value::<Plan>(error["current"].clone()) {
                    print!("{}", human(&plan));
                }
            }
        }
        ExitCode::FAILURE
    }
}

/// `files[3].document.values.prod` as `payments/checkout.yaml: values.prod`.
fn at_file(path: &str, files: &[FileDocument]) -> String {
    let located = path
        .strip_prefix("files[")
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(index, rest)| {
            let file = files.get(index.parse::<usize>().ok()?)?;
            let inner = rest.strip_prefix(".document").unwrap_or(rest);
            Some(format!("{}: {}", file.file, inner.trim_start_matches('.')))
        });
    located.unwrap_or_else(|| path.to_string())
}

fn print_plan(plan: &Plan, as_json: bool) {
    if as_json {
        println!("{}", json!(plan));
    } else {
        print!("{}", human(plan));
    }
}

fn print_applied(applied: &Applied, as_json: bool) {
    if as_json {
        println!("{}", json!(applied));
        return;
    }
    print!("{}", human(&applied.plan));
    match applied.changes.last() {
        Some(last) => println!(
            "Applied: {} change(s), now at revision {}.",
            applied.changes.len(),
            last.revision
        ),
        None => println!("Nothing applied."),
    }
}

/// The plan as a person reads it: one line per step — `+` create, `~`
/// change (with its diff), `^` restore, `-` tombstone, `=` adopt, `!` on a
/// conflict — then the count.
pub fn human(plan: &Plan) -> String {
    let mut out = String::new();
    let mut step = |mark: &str, what: &str, planned: &Planned| {
        let _ = writeln!(out, "{mark} {} ({}): {what}", planned.service, planned.file);
        if let Some(conflict) = &planned.conflict {
            let _ = writeln!(out, "    ! conflict: {conflict}");
        }
        let show = |v: &Option<Value>| v.as_ref().map(ToString::to_string).unwrap_or_default();
        for entry in &planned.diff {
            let (path, before, after) = (&entry.path, show(&entry.before), show(&entry.after));
            let _ = match entry.op {
                DiffOp::Added => writeln!(out, "    + {path}: {after}"),
                DiffOp::Removed => writeln!(out, "    - {path}: {before}"),
                DiffOp::Changed => writeln!(out, "    ~ {path}: {before} -> {after}"),
            };
        }
    };
    for planned in &plan.create {
        step("+", "create", planned);
    }
    for planned in &plan.restore {
        step("^", "restore (its file is back)", planned);
    }
    for planned in &plan.change {
        step("~", "change", planned);
    }
    for planned in &plan.adopt {
        step("=", "record as managed by this file", planned);
    }
    for planned in &plan.tombstone {
        step("-", "tombstone (its file is gone)", planned);
    }
    let _ = if plan.is_empty() {
        writeln!(
            out,
            "No changes: {} service(s) as the folder says.",
            plan.unchanged.len()
        )
    } else {
        writeln!(
            out,
            "Plan: {} to create, {} to change, {} to restore, {} to tombstone, {} to adopt, {} unchanged{}.",
            plan.create.len(),
            plan.change.len(),
            plan.restore.len(),
            plan.tombstone.len(),
            plan.adopt.len(),
            plan.unchanged.len(),
            match plan.conflicts().count() {
                0 => String::new(),
                n => format!("; {n} conflict(s): apply refuses them without --force"),
            }
        )
    };
    out
}

#[cfg(test)]
mod tests {
    use setpoint_core::{Conflict, DiffEntry, FieldPath};

    use super::*;

    fn step(service: &str, conflict: Option<Conflict>, diff: Vec<DiffEntry>) -> Planned {
        Planned {
            service: service.into(),
            file: format!("team/{service}.yaml"),
            base: 9,
            diff,
            conflict,
        }
    }

    #[test]
    fn a_plan_reads_one_line_per_step_with_its_diff_and_conflicts() {
        let removed = DiffEntry {
            path: FieldPath::root().key("flags").key("old-flow"),
            op: DiffOp::Removed,
            before: Some(json!({"off": "a"})),
            after: None,
        };
        let plan = Plan {
            restore: vec![step("ledger", None, vec![removed])],
            tombstone: vec![step(
                "search",
                Some(Conflict::Drifted {
                    applied: 7,
                    current: 9,
                }),
                Vec::new(),
            )],
            unchanged: vec!["checkout".into()],
            ..Plan::default()
        };
        assert_eq!(
            human(&plan),
            "^ ledger (team/ledger.yaml): restore (its file is back)\n\
             \x20   - flags.old-flow: {\"off\":\"a\"}\n\
             - search (team/search.yaml): tombstone (its file is gone)\n\
             \x20   ! conflict: changed outside its file since it was applied (revision 7, now 9)\n\
             Plan: 0 to create, 0 to change, 1 to restore, 1 to tombstone, 0 to adopt, 1 unchanged; \
             1 conflict(s): apply refuses them without --force.\n"
        );
        let json = json!(plan);
        assert_eq!(
            json["tombstone"][0]["conflict"],
            json!({"reason": "drifted", "applied": 7, "current": 9})
        );
        assert_eq!(
            serde_json::from_value::<Plan>(json).ok(),
            Some(plan),
            "reads back"
        );
    }

    #[test]
    fn the_default_set_is_the_folders_name_made_valid() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, set) in [
            ("team config", "team-config"),
            (".hidden", "hidden"),
            ("...", "files"),
        ] {
            let path = dir.path().join(name);
            std::fs::create_dir(&path).expect("mkdir");
            assert_eq!(default_set(&path), set);
        }
    }
}
