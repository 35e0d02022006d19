//! `lattice`: run a host (`lattice up`) and drive a lattice over its control interface.
//!
//! `main` parses the command line, runs the command, and maps errors to a message and a
//! non-zero exit status.
//!
//! Invoked as `wasmcloud` (a link or a copy named so), the binary takes the official
//! host's command line: `wasmcloud --nats-host …` is `lattice up --nats-host …`, so a
//! container or unit that runs the official binary works by swapping the binary.

use std::process::ExitCode;

use clap::Parser as _;

mod args;
mod artifact_commands;
mod commands;
mod component_commands;
mod output;
mod provider_commands;
mod secrets_commands;
mod state_commands;
mod up;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = args::Cli::parse_from(official_shape(std::env::args_os().collect()));
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `wasmcloud ARGS…` becomes `wasmcloud up ARGS…`; any other name is left as it is.
fn official_shape(mut argv: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let invoked_as = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .map(str::to_string);
    if invoked_as.as_deref() == Some("wasmcloud") {
        argv.insert(1, "up".into());
    }
    argv
}

async fn run(cli: args::Cli) -> anyhow::Result<()> {
    match cli.command {
        args::Command::Up(up) => up::run(&cli.global, *up).await,
        args::Command::Par(command) => {
            init_client_logging();
            artifact_commands::par(&cli.global, command).await
        }
        args::Command::Secrets(command) => {
            init_client_logging();
            secrets_commands::run(&cli.global, command).await
        }
        args::Command::Claims(command) => {
            init_client_logging();
            artifact_commands::claims(&cli.global, command).await
        }
        args::Command::Push(push) => {
            init_client_logging();
            artifact_commands::push(&cli.global, push).await
        }
        command => {
            init_client_logging();
            commands::run(&cli.global, command).await
        }
    }
}

fn init_client_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
