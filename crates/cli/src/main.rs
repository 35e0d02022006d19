//! `lattice`: run a host (`lattice up`) and drive a lattice over its control interface.
//!
//! `main` parses the command line, runs the command, and maps errors to a message and a
//! non-zero exit status.

use std::process::ExitCode;

use clap::Parser as _;

mod args;
mod commands;
mod component_commands;
mod output;
mod provider_commands;
mod state_commands;
mod up;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: args::Cli) -> anyhow::Result<()> {
    match cli.command {
        args::Command::Up(up) => up::run(&cli.global, *up).await,
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
