//! The `setpoint` binary: parses the command line and hands over.

use std::process::ExitCode;

use clap::Parser;
use setpoint_server::cli::{Cli, Command};

// Every request allocates its headers, extractors and response; mimalloc's
// per-thread free lists make that cheaper than glibc's arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            setpoint_server::cli::init_tracing();
            match setpoint_server::cli::serve(args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("setpoint: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Agent(args) => {
            setpoint_server::cli::init_tracing();
            match setpoint_agent::run(*args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("setpoint agent: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Validate(args) => setpoint_server::validate_files::run(&args),
        Command::Plan(args) => setpoint_server::as_code::plan(&args).await,
        Command::Apply(args) => setpoint_server::as_code::apply(&args).await,
        Command::Sync(args) => setpoint_server::as_code::sync(&args).await,
        Command::Export { store } => report(setpoint_server::cli::export(&store).await),
        Command::Import {
            file,
            store,
            reason,
        } => report(setpoint_server::cli::import(&file, &store, &reason).await),
        Command::RestoreBackup { file, store } => {
            report(setpoint_server::cli::restore_backup(&file, &store).await)
        }
        Command::Verify { store } => match setpoint_server::cli::verify(&store).await {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(error) => report(Err(error)),
        },
        Command::User(command) => report(setpoint_server::cli::user(command).await),
        Command::Token(command) => report(setpoint_server::cli::token(command).await),
    }
}

fn report(result: std::io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("setpoint: {error}");
            ExitCode::FAILURE
        }
    }
}
