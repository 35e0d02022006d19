//! The official observability flags of `lattice up`: which signals are exported over
//! OTLP, where, and at which level. The host exports its own traces, metrics and logs
//! with them (`lattice_telemetry`), and hands them to providers in HostData
//! (`otel_config`), field by field as wasmCloud 1.9.2 does. Also the host's own logging
//! (`init_logging`): stderr, the OTLP export and the flame graph.

use std::path::{Path, PathBuf};

use clap::Args;
use lattice_proto::{Level, OtelConfig, OtelProtocol};

use crate::args::parse_log_level;

#[derive(Debug, Args)]
pub(crate) struct ObservabilityArgs {
    /// Export traces, metrics and logs over OTLP (to the local collector unless an
    /// endpoint is given). Each signal can be set on its own instead with
    /// --enable-traces/--enable-metrics/--enable-logs true|false.
    #[arg(
        long,
        env = "WASMCLOUD_OBSERVABILITY_ENABLED",
        conflicts_with_all = ["enable_traces", "enable_metrics", "enable_logs"]
    )]
    enable_observability: bool,
    /// Export traces (true|false).
    #[arg(long, env = "WASMCLOUD_TRACES_ENABLED", hide = true)]
    enable_traces: Option<bool>,
    /// Export metrics (true|false).
    #[arg(long, env = "WASMCLOUD_METRICS_ENABLED", hide = true)]
    enable_metrics: Option<bool>,
    /// Export logs (true|false).
    #[arg(long, env = "WASMCLOUD_LOGS_ENABLED", hide = true)]
    enable_logs: Option<bool>,
    /// OTLP endpoint for every signal. Default: http://127.0.0.1:4318/v1/{signal} over
    /// HTTP, http://127.0.0.1:4317 over gRPC.
    #[arg(
        long = "override-observability-endpoint",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT"
    )]
    observability_endpoint: Option<String>,
    /// OTLP endpoint for traces, used as given.
    #[arg(
        long = "override-traces-endpoint",
        env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        hide = true
    )]
    traces_endpoint: Option<String>,
    /// OTLP endpoint for metrics, used as given.
    #[arg(
        long = "override-metrics-endpoint",
        env = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        hide = true
    )]
    metrics_endpoint: Option<String>,
    /// OTLP endpoint for logs, used as given.
    #[arg(
        long = "override-logs-endpoint",
        env = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        hide = true
    )]
    logs_endpoint: Option<String>,
    /// OTLP transport: http (protobuf, the default) or grpc.
    #[arg(long, env = "WASMCLOUD_OBSERVABILITY_PROTOCOL", hide = true, value_parser = parse_protocol)]
    observability_protocol: Option<OtelProtocol>,
    /// Level of the spans exported as traces (and handed to providers): error, warn,
    /// info, debug, trace, or 1 (error) to 5 (trace).
    #[arg(long, env = "WASMCLOUD_TRACE_LEVEL", default_value = "info", value_parser = parse_log_level)]
    pub(crate) trace_level: tracing::Level,
    /// Write the host's spans (at --trace-level) to FILE as folded stacks, the input of
    /// `inferno-flamegraph`; complete once the host has stopped.
    #[arg(long, env = "WASMCLOUD_FLAME_GRAPH", value_name = "FILE")]
    pub(crate) flame_graph: Option<std::path::PathBuf>,
}

fn parse_protocol(s: &str) -> Result<OtelProtocol, String> {
    match s {
        "http" => Ok(OtelProtocol::Http),
        "grpc" => Ok(OtelProtocol::Grpc),
        other => Err(format!(
            "unsupported protocol `{other}`: expected http or grpc"
        )),
    }
}

impl ObservabilityArgs {
    /// The settings, with `ca_paths` (`--tls-ca-path`) trusted by the exporters.
    pub(crate) fn otel_config(&self, ca_paths: &[PathBuf]) -> OtelConfig {
        OtelConfig {
            enable_observability: self.enable_observability,
            enable_traces: self.enable_traces,
            enable_metrics: self.enable_metrics,
            enable_logs: self.enable_logs,
            observability_endpoint: self.observability_endpoint.clone(),
            traces_endpoint: self.traces_endpoint.clone(),
            metrics_endpoint: self.metrics_endpoint.clone(),
            logs_endpoint: self.logs_endpoint.clone(),
            protocol: self.observability_protocol.unwrap_or_default(),
            additional_ca_paths: ca_paths.to_vec(),
            trace_level: level(self.trace_level),
            ..Default::default()
        }
    }
}

/// The wire level for a tracing level.
pub(crate) fn level(level: tracing::Level) -> Level {
    match level {
        tracing::Level::ERROR => Level::Error,
        tracing::Level::WARN => Level::Warn,
        tracing::Level::INFO => Level::Info,
        tracing::Level::DEBUG => Level::Debug,
        tracing::Level::TRACE => Level::Trace,
    }
}

/// What `--flame-graph` writes into; flushed when the host has stopped.
pub(super) type FlameGuard = tracing_flame::FlushGuard<std::io::BufWriter<std::fs::File>>;

/// Logs to stderr (as JSON lines with `structured`), plus whatever `telemetry` exports,
/// plus the spans at `trace_level` as folded stacks into `flame_graph` (as 1.9.2 does).
pub(super) fn init_logging(
    level: tracing::Level,
    structured: bool,
    telemetry: &lattice_telemetry::Telemetry,
    trace_level: tracing::Level,
    flame_graph: Option<&Path>,
) -> anyhow::Result<Option<FlameGuard>> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // async-nats reports every (re)connect at info; keep that for debug runs.
    let default = format!("{},async_nats=warn", level.as_str().to_ascii_lowercase());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match structured {
        true => fmt.json().with_filter(filter).boxed(),
        false => fmt.with_filter(filter).boxed(),
    };
    let (flame, guard) = match flame_graph {
        Some(path) => {
            let (layer, guard) = tracing_flame::FlameLayer::with_file(path).map_err(|error| {
                anyhow::anyhow!(
                    "cannot write the flame graph (--flame-graph) to {}: {error}",
                    path.display()
                )
            })?;
            let only_spans = tracing_subscriber::filter::LevelFilter::from_level(trace_level);
            (Some(layer.with_filter(only_spans)), Some(guard))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(fmt)
        .with(telemetry.layer(trace_level, level))
        .with(flame)
        .init();
    Ok(guard)
}
