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
mod json_values;
mod output;
mod provider_commands;
mod secrets_commands;
mod state_commands;
mod up;

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = args::Cli::parse_from(official_shape(argv.clone()));
    let result = match cli.command {
        args::Command::Up(up) => {
            // A host may re-execute itself here, before any thread exists
            // (up/memory_copy.rs).
            let memory_copy = up.memory_copy.apply(&argv);
            runtime().and_then(|rt| rt.block_on(up::run(&cli.global, *up, memory_copy)))
        }
        command => runtime().and_then(|rt| rt.block_on(run(args::Cli { command, ..cli }))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
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

/// A client command: its control requests carry its trace, exported when the standard
/// OTEL_EXPORTER_OTLP_* variables name a collector.
async fn run(cli: args::Cli) -> anyhow::Result<()> {
    let telemetry = lattice_telemetry::Telemetry::start("lattice-cli", &client_otel_config())
        .map_err(anyhow::Error::from)?;
    init_client_logging(&telemetry);
    // The subcommand's name: the first word of its debug form (`Config(Put …)`).
    let command = format!("{:?}", cli.command);
    let command = command
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default();
    let span = tracing::info_span!("lattice", command = command.to_lowercase());
    let result = tracing::Instrument::instrument(client_command(cli), span).await;
    telemetry.shutdown().await;
    result
}

async fn client_command(cli: args::Cli) -> anyhow::Result<()> {
    match cli.command {
        args::Command::Up(_) => unreachable!("handled by run"),
        args::Command::Par(command) => artifact_commands::par(&cli.global, command).await,
        args::Command::Secrets(command) => secrets_commands::run(&cli.global, command).await,
        args::Command::Claims(command) => artifact_commands::claims(&cli.global, command).await,
        args::Command::Push(push) => artifact_commands::push(&cli.global, push).await,
        command => commands::run(&cli.global, command).await,
    }
}

/// Traces of client commands go where `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
/// `OTEL_EXPORTER_OTLP_ENDPOINT` says, over `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`, else
/// HTTP); without either endpoint, nothing is exported.
fn client_otel_config() -> lattice_proto::OtelConfig {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let traces_endpoint = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    let observability_endpoint = var("OTEL_EXPORTER_OTLP_ENDPOINT");
    let protocol = match var("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref() {
        Some("grpc") => lattice_proto::OtelProtocol::Grpc,
        _ => lattice_proto::OtelProtocol::Http,
    };
    lattice_proto::OtelConfig {
        enable_traces: Some(traces_endpoint.is_some() || observability_endpoint.is_some()),
        traces_endpoint,
        observability_endpoint,
        protocol,
        ..Default::default()
    }
}

fn init_client_logging(telemetry: &lattice_telemetry::Telemetry) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter);
    tracing_subscriber::registry()
        .with(fmt)
        .with(telemetry.layer(tracing::Level::INFO, tracing::Level::WARN))
        .init();
}
