//! `setpoint plan DIR --server URL --token T`: what applying a folder of
//! per-service documents would do to a running server — services created,
//! and changed with a per-item diff — without changing anything. Exit
//! codes as `terraform plan -detailed-exitcode`: 0 nothing to do, 2
//! changes, 1 invalid (or the server could not be read).

use std::process::ExitCode;

use serde_json::json;
use setpoint_core::{DiffOp, Limits, Plan, check_folder, folder::plan};

use crate::{
    cli::PlanArgs,
    http::transfer::Export,
    validate_files::{read_folder, report},
};

/// Plans, prints the plan, and says by the exit code whether there is
/// anything to apply.
pub async fn run(args: &PlanArgs) -> ExitCode {
    let (files, unreadable) = read_folder(&args.dir);
    let name = |file: &str| args.dir.join(file).display().to_string();
    if !unreadable.is_empty() {
        report(&name, &[], &unreadable, &[], args.json);
        return ExitCode::FAILURE;
    }
    let server = match fetch(args).await {
        Ok(export) => export,
        Err(error) => {
            eprintln!("setpoint plan: cannot read {}: {error}", args.server);
            return ExitCode::FAILURE;
        }
    };
    let limits = Limits {
        environments: Some(server.environments.iter().map(|e| e.name.clone()).collect()),
        ..Limits::default()
    };
    let texts: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    let folder = match check_folder(&texts, &limits) {
        Ok(folder) => folder,
        Err(problems) => {
            // Reported as `validate` reports them; nothing is planned.
            report(&name, &files, &[], &problems, args.json);
            return ExitCode::FAILURE;
        }
    };
    let plan = plan(&folder, &server.services);
    if args.json {
        println!("{}", json!(plan));
    } else {
        print!("{}", human(&plan));
    }
    if plan.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

async fn fetch(args: &PlanArgs) -> Result<Export, String> {
    let url = format!("{}/api/v1/export", args.server.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&args.token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("not an export: {e}"))
}

/// The plan as a person reads it: `+` created, `~` changed with its diff,
/// then the count.
fn human(plan: &Plan) -> String {
    use std::fmt::Write as _;
    let show =
        |v: &Option<serde_json::Value>| v.as_ref().map(ToString::to_string).unwrap_or_default();
    let mut out = String::new();
    for created in &plan.create {
        let _ = writeln!(out, "+ {} ({}): create", created.service, created.file);
    }
    for changed in &plan.change {
        let _ = writeln!(out, "~ {} ({}):", changed.service, changed.file);
        for entry in &changed.diff {
            let (path, before, after) = (&entry.path, show(&entry.before), show(&entry.after));
            let _ = match entry.op {
                DiffOp::Added => writeln!(out, "    + {path}: {after}"),
                DiffOp::Removed => writeln!(out, "    - {path}: {before}"),
                DiffOp::Changed => writeln!(out, "    ~ {path}: {before} -> {after}"),
            };
        }
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
            "Plan: {} to create, {} to change, {} unchanged.",
            plan.create.len(),
            plan.change.len(),
            plan.unchanged.len()
        )
    };
    out
}
