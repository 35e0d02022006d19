//! The official `wasmcloud` 1.9.2 command line (spec §15), in one table: every flag and
//! its variable, each one a flag of `lattice up` that does what it does in 1.9.2. Nothing
//! is ignored silently: a test walks this table, and an official flag `lattice up` does
//! not parse, or a flag of `lattice up` missing from it (and from lattice's own
//! additions), fails that test. (Of `--feature`'s names, those lattice does not
//! implement are refused by name: `features.rs`.)

/// One official flag and its variable.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Official {
    pub(crate) flag: &'static str,
    pub(crate) env: Option<&'static str>,
}

const fn on(flag: &'static str, env: &'static str) -> Official {
    Official {
        flag,
        env: Some(env),
    }
}

/// Every flag of the official binary (spec §15), with its variable.
pub(crate) const OFFICIAL: &[Official] = &[
    on("trace-level", "WASMCLOUD_TRACE_LEVEL"),
    on("log-level", "WASMCLOUD_LOG_LEVEL"),
    on("nats-host", "WASMCLOUD_NATS_HOST"),
    on("nats-port", "WASMCLOUD_NATS_PORT"),
    on("nats-jwt", "WASMCLOUD_NATS_JWT"),
    on("nats-seed", "WASMCLOUD_NATS_SEED"),
    on("nats-creds", "WASMCLOUD_NATS_CREDS"),
    on("lattice", "WASMCLOUD_LATTICE"),
    on("host-seed", "WASMCLOUD_HOST_SEED"),
    on(
        "provider-shutdown-delay-ms",
        "WASMCLOUD_PROV_SHUTDOWN_DELAY_MS",
    ),
    on("allow-latest", "WASMCLOUD_OCI_ALLOW_LATEST"),
    on("allowed-insecure", "WASMCLOUD_OCI_ALLOWED_INSECURE"),
    on("js-domain", "WASMCLOUD_JS_DOMAIN"),
    on("config-service-enabled", "WASMCLOUD_CONFIG_SERVICE"),
    on("allow-file-load", "WASMCLOUD_ALLOW_FILE_LOAD"),
    on(
        "enable-structured-logging",
        "WASMCLOUD_STRUCTURED_LOGGING_ENABLED",
    ),
    Official {
        flag: "label",
        env: None,
    },
    on("ctl-host", "WASMCLOUD_CTL_HOST"),
    on("ctl-port", "WASMCLOUD_CTL_PORT"),
    on("ctl-jwt", "WASMCLOUD_CTL_JWT"),
    on("ctl-seed", "WASMCLOUD_CTL_SEED"),
    on("ctl-creds", "WASMCLOUD_CTL_CREDS"),
    on("ctl-tls", "WASMCLOUD_CTL_TLS"),
    on("ctl-topic-prefix", "WASMCLOUD_CTL_TOPIC_PREFIX"),
    on("rpc-host", "WASMCLOUD_RPC_HOST"),
    on("rpc-port", "WASMCLOUD_RPC_PORT"),
    on("rpc-jwt", "WASMCLOUD_RPC_JWT"),
    on("rpc-seed", "WASMCLOUD_RPC_SEED"),
    on("rpc-creds", "WASMCLOUD_RPC_CREDS"),
    on("rpc-timeout-ms", "WASMCLOUD_RPC_TIMEOUT_MS"),
    on("rpc-tls", "WASMCLOUD_RPC_TLS"),
    on("policy-topic", "WASMCLOUD_POLICY_TOPIC"),
    on("policy-changes-topic", "WASMCLOUD_POLICY_CHANGES_TOPIC"),
    on("policy-timeout-ms", "WASMCLOUD_POLICY_TIMEOUT"),
    on("secrets-topic", "WASMCLOUD_SECRETS_TOPIC"),
    on("oci-registry", "WASMCLOUD_OCI_REGISTRY"),
    on("oci-user", "WASMCLOUD_OCI_REGISTRY_USER"),
    on("oci-password", "WASMCLOUD_OCI_REGISTRY_PASSWORD"),
    on("enable-observability", "WASMCLOUD_OBSERVABILITY_ENABLED"),
    on("enable-traces", "WASMCLOUD_TRACES_ENABLED"),
    on("enable-metrics", "WASMCLOUD_METRICS_ENABLED"),
    on("enable-logs", "WASMCLOUD_LOGS_ENABLED"),
    on(
        "override-observability-endpoint",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ),
    on(
        "override-traces-endpoint",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ),
    on(
        "override-metrics-endpoint",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    ),
    on("override-logs-endpoint", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
    on("observability-protocol", "WASMCLOUD_OBSERVABILITY_PROTOCOL"),
    on("max-execution-time-ms", "WASMCLOUD_MAX_EXECUTION_TIME_MS"),
    on("max-linear-memory-bytes", "WASMCLOUD_MAX_LINEAR_MEMORY"),
    on("max-component-size-bytes", "WASMCLOUD_MAX_COMPONENT_SIZE"),
    on("max-components", "WASMCLOUD_MAX_COMPONENTS"),
    on(
        "max-core-instances-per-component",
        "WASMCLOUD_MAX_CORE_INSTANCES_PER_COMPONENT",
    ),
    on("heartbeat-interval-seconds", "WASMCLOUD_HEARTBEAT_INTERVAL"),
    on(
        "enable-component-auction",
        "WASMCLOUD_COMPONENT_AUCTION_ENABLED",
    ),
    on(
        "enable-provider-auction",
        "WASMCLOUD_PROVIDER_AUCTION_ENABLED",
    ),
    on("http-admin", "WASMCLOUD_HTTP_ADMIN"),
    on("tls-ca-path", "WASMCLOUD_TLS_CA_PATH"),
    on("flame-graph", "WASMCLOUD_FLAME_GRAPH"),
    on("feature", "WASMCLOUD_EXPERIMENTAL_FEATURES"),
];

/// lattice's own flags of `lattice up` (not in the official binary).
pub(crate) const LATTICE_ADDITIONS: &[&str] = &[
    "nats-url",
    "friendly-name",
    "data-dir",
    "nats-server-bin",
    "stop-timeout",
    "provider-term-grace",
    "health-interval",
    "health-failures",
    "restart-max-starts",
    "restart-window",
    "restart-max-backoff",
    "provider-log-lines",
    "max-concurrent-ctl",
    "kv-replicas",
    "allow-pool-fallback",
    "disable-builtin",
    "memory-keep-resident",
    "table-keep-resident",
    "stack-keep-resident",
    "non-temporal-reset",
    "oci-cache-dir",
    "oci-cache-size",
    "require-signed",
    // The CLI's global options that `lattice up` also takes.
    "output",
    "timeout",
];
