//! `setpoint validate FILE...`: the offline check a team's CI runs on its
//! service documents before merge. Same core, same messages as the server.

use std::process::ExitCode;

use serde_json::json;
use setpoint_core::{Limits, check_document};

use crate::cli::ValidateArgs;

/// Checks every file, prints each problem, and fails if any file has one.
pub fn run(args: &ValidateArgs) -> ExitCode {
    let limits = Limits {
        environments: args.environments.clone(),
        ..Limits::default()
    };
    let mut failed = false;
    for file in &args.files {
        let name = file.display();
        let result = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .map(|text| check_document(&text, &limits));
        match result {
            Err(io) => {
                failed = true;
                if args.json {
                    println!(
                        "{}",
                        json!({"file": name.to_string(), "valid": false, "error": io})
                    );
                } else {
                    eprintln!("{name}: cannot read: {io}");
                }
            }
            Ok(Ok(_)) => {
                if args.json {
                    println!(
                        "{}",
                        json!({"file": name.to_string(), "valid": true, "errors": []})
                    );
                } else {
                    println!("{name}: ok");
                }
            }
            Ok(Err(violations)) => {
                failed = true;
                if args.json {
                    println!(
                        "{}",
                        json!({"file": name.to_string(), "valid": false, "errors": violations})
                    );
                } else {
                    for v in &violations {
                        println!("{name}: {v} [{}]", v.code());
                    }
                    println!("{name}: {} problem(s)", violations.len());
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
