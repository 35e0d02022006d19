//! The official flags (and variables) that lattice does not implement yet, accepted by
//! the parser only so that `lattice up` can refuse them by name (see `official.rs`).

use clap::Args;

/// Hidden; every field is one `Fate::NotYet` row of the official table.
#[derive(Debug, Default, Args)]
pub(crate) struct Unsupported {
    #[arg(long, env = "WASMCLOUD_TRACE_LEVEL", hide = true)]
    trace_level: Option<String>,
    #[arg(long, env = "WASMCLOUD_CONFIG_SERVICE", hide = true, num_args = 0..=1, default_missing_value = "true")]
    config_service_enabled: Option<String>,
    #[arg(long, env = "WASMCLOUD_OBSERVABILITY_ENABLED", hide = true, num_args = 0..=1, default_missing_value = "true")]
    enable_observability: Option<String>,
    #[arg(long, env = "WASMCLOUD_TRACES_ENABLED", hide = true, num_args = 0..=1, default_missing_value = "true")]
    enable_traces: Option<String>,
    #[arg(long, env = "WASMCLOUD_METRICS_ENABLED", hide = true, num_args = 0..=1, default_missing_value = "true")]
    enable_metrics: Option<String>,
    #[arg(long, env = "WASMCLOUD_LOGS_ENABLED", hide = true, num_args = 0..=1, default_missing_value = "true")]
    enable_logs: Option<String>,
    #[arg(long, hide = true)]
    override_observability_endpoint: Option<String>,
    #[arg(long, hide = true)]
    override_traces_endpoint: Option<String>,
    #[arg(long, hide = true)]
    override_metrics_endpoint: Option<String>,
    #[arg(long, hide = true)]
    override_logs_endpoint: Option<String>,
    #[arg(long, env = "WASMCLOUD_OBSERVABILITY_PROTOCOL", hide = true)]
    observability_protocol: Option<String>,
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "true")]
    flame_graph: Option<String>,
}

impl Unsupported {
    /// Whether the official flag `flag` (or its variable) was given a value that asks
    /// for something (a switch set to `false` asks for nothing).
    pub(crate) fn given(&self, flag: &str) -> bool {
        let value = match flag {
            "trace-level" => &self.trace_level,
            "config-service-enabled" => &self.config_service_enabled,
            "enable-observability" => &self.enable_observability,
            "enable-traces" => &self.enable_traces,
            "enable-metrics" => &self.enable_metrics,
            "enable-logs" => &self.enable_logs,
            "override-observability-endpoint" => &self.override_observability_endpoint,
            "override-traces-endpoint" => &self.override_traces_endpoint,
            "override-metrics-endpoint" => &self.override_metrics_endpoint,
            "override-logs-endpoint" => &self.override_logs_endpoint,
            "observability-protocol" => &self.observability_protocol,
            "flame-graph" => &self.flame_graph,
            _ => return false,
        };
        value.as_deref().is_some_and(|v| {
            !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "false" | "0" | "no" | "off"
            )
        })
    }
}
