//! `lattice up`: run a host until Ctrl-C, SIGTERM or a control `host.stop`.
//!
//! With no NATS address given it uses `nats://127.0.0.1:4222` when a NATS server answers
//! there, and otherwise starts an embedded `nats-server` with JetStream (store under
//! `--data-dir`), which it stops after the host has stopped.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use lattice_host::{Host, HostConfig, NatsAuth, NatsConnectConfig};
use tokio::signal::unix::{SignalKind, signal};
use url::Url;

use crate::args::{GlobalArgs, default_data_dir, parse_label, parse_log_level};
use nats::{auth_from, nats_answers, parse_nats_url, require_tls, set_address, start_embedded};

const DEFAULT_NATS_HOST: &str = "127.0.0.1";
const DEFAULT_NATS_PORT: u16 = 4222;

/// Options of `lattice up`: the official `wasmcloud` flags and variables for what
/// lattice implements, then lattice's own (`LATTICE_*`).
#[derive(Debug, Args)]
#[command(
    after_help = "Labels also come from WASMCLOUD_LABEL_{key}={value} variables (--label wins).\n\
The nats-server binary for the embedded default is --nats-server-bin, else LATTICE_NATS_SERVER, else `nats-server` on PATH."
)]
pub(crate) struct UpArgs {
    /// Registries, signatures, secrets and policy.
    #[command(flatten)]
    trust: trust::TrustArgs,
    /// OpenTelemetry export.
    #[command(flatten)]
    observability: observability::ObservabilityArgs,
    /// How component memory is reset.
    #[command(flatten)]
    pub(crate) memory_copy: memory_copy::MemoryCopyArgs,
    /// Serve `/livez`, `/readyz` and `/metrics` on this address, e.g. `127.0.0.1:9090`.
    #[arg(long, env = "WASMCLOUD_HTTP_ADMIN")]
    http_admin: Option<std::net::SocketAddr>,
    /// Log level of the host, also handed to providers: error, warn, info, debug, trace,
    /// or 1 (error) to 5 (trace).
    #[arg(
        long,
        alias = "structured-log-level",
        env = "WASMCLOUD_LOG_LEVEL",
        default_value = "info",
        value_parser = parse_log_level
    )]
    log_level: tracing::Level,
    /// Log as JSON lines and ask providers to do the same.
    #[arg(long, env = "WASMCLOUD_STRUCTURED_LOGGING_ENABLED")]
    enable_structured_logging: bool,
    /// At start, ask the config service (a request on `wasmbus.cfg.{lattice}.req` with
    /// the host's labels) for registry credentials; the --oci-* flags win over them.
    #[arg(long, env = "WASMCLOUD_CONFIG_SERVICE")]
    config_service_enabled: bool,

    /// NATS host for both connections.
    #[arg(long, env = "WASMCLOUD_NATS_HOST")]
    nats_host: Option<String>,
    /// NATS port for both connections.
    #[arg(long, env = "WASMCLOUD_NATS_PORT")]
    nats_port: Option<u16>,
    /// NATS user JWT for both connections (needs --nats-seed).
    #[arg(
        long,
        env = "WASMCLOUD_NATS_JWT",
        requires = "nats_seed",
        hide_env_values = true
    )]
    nats_jwt: Option<String>,
    /// NATS user nkey seed for both connections.
    #[arg(
        long,
        env = "WASMCLOUD_NATS_SEED",
        requires = "nats_jwt",
        hide_env_values = true
    )]
    nats_seed: Option<String>,
    /// NATS credentials file for both connections.
    #[arg(long, env = "WASMCLOUD_NATS_CREDS", conflicts_with_all = ["nats_jwt", "nats_seed"])]
    nats_creds: Option<PathBuf>,

    /// Server nkey seed (SN…) fixing the host ID; random when unset.
    #[arg(long, env = "WASMCLOUD_HOST_SEED", hide_env_values = true)]
    host_seed: Option<String>,
    /// A label `KEY=VALUE` (repeatable; the value cannot hold `=`). A `hostcore.*` key
    /// replaces the built-in label.
    #[arg(short = 'l', long = "label", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// JetStream domain, reported in `host.ping`.
    #[arg(long, alias = "wasmcloud-js-domain", env = "WASMCLOUD_JS_DOMAIN")]
    js_domain: Option<String>,

    /// Control connection host (default: the NATS host).
    #[arg(long, env = "WASMCLOUD_CTL_HOST")]
    ctl_host: Option<String>,
    /// Control connection port (default: the NATS port).
    #[arg(long, env = "WASMCLOUD_CTL_PORT")]
    ctl_port: Option<u16>,
    /// Control connection user JWT.
    #[arg(
        long,
        env = "WASMCLOUD_CTL_JWT",
        requires = "ctl_seed",
        hide_env_values = true
    )]
    ctl_jwt: Option<String>,
    /// Control connection user seed.
    #[arg(
        long,
        env = "WASMCLOUD_CTL_SEED",
        requires = "ctl_jwt",
        hide_env_values = true
    )]
    ctl_seed: Option<String>,
    /// Control connection credentials file (wins over the --nats-* credentials).
    #[arg(long, env = "WASMCLOUD_CTL_CREDS", conflicts_with_all = ["ctl_jwt", "ctl_seed"])]
    ctl_creds: Option<PathBuf>,
    /// Require TLS on the control connection.
    #[arg(long, env = "WASMCLOUD_CTL_TLS")]
    ctl_tls: bool,

    /// RPC connection host (default: the NATS host).
    #[arg(long, env = "WASMCLOUD_RPC_HOST")]
    rpc_host: Option<String>,
    /// RPC connection port (default: the NATS port).
    #[arg(long, env = "WASMCLOUD_RPC_PORT")]
    rpc_port: Option<u16>,
    /// RPC connection user JWT.
    #[arg(
        long,
        env = "WASMCLOUD_RPC_JWT",
        requires = "rpc_seed",
        hide_env_values = true
    )]
    rpc_jwt: Option<String>,
    /// RPC connection user seed.
    #[arg(
        long,
        env = "WASMCLOUD_RPC_SEED",
        requires = "rpc_jwt",
        hide_env_values = true
    )]
    rpc_seed: Option<String>,
    /// RPC connection credentials file (wins over the --nats-* credentials).
    #[arg(long, env = "WASMCLOUD_RPC_CREDS", conflicts_with_all = ["rpc_jwt", "rpc_seed"])]
    rpc_creds: Option<PathBuf>,
    /// Require TLS on the RPC connection (providers are told with a `tls://` URL).
    #[arg(long, env = "WASMCLOUD_RPC_TLS")]
    rpc_tls: bool,
    /// Request timeout on the RPC connection, in milliseconds (also sent to providers).
    #[arg(long, env = "WASMCLOUD_RPC_TIMEOUT_MS", default_value_t = 2000)]
    rpc_timeout_ms: u64,

    /// Allow providers from file:// references (executables or provider archives).
    #[arg(long, env = "WASMCLOUD_ALLOW_FILE_LOAD")]
    allow_file_load: bool,
    /// How long a provider has to exit after the shutdown request, in milliseconds,
    /// before SIGTERM (lattice's default is 1000; the 1.x host SIGKILLs after 300). With
    /// --provider-term-grace, the whole stop fits in the 2 s wash waits by default.
    #[arg(
        long,
        alias = "provider-shutdown-delay",
        env = "WASMCLOUD_PROV_SHUTDOWN_DELAY_MS",
        default_value_t = 1000
    )]
    provider_shutdown_delay_ms: u64,
    /// Longest a component invocation may run, in milliseconds.
    #[arg(
        long,
        env = "WASMCLOUD_MAX_EXECUTION_TIME_MS",
        default_value_t = 600_000
    )]
    max_execution_time_ms: u64,
    /// Largest linear memory of a component instance, in bytes (256 MiB).
    #[arg(long, env = "WASMCLOUD_MAX_LINEAR_MEMORY", default_value_t = 256 << 20)]
    max_linear_memory_bytes: u64,
    /// Largest component instance metadata, in bytes (50 MiB; as in 1.9.2, not a limit on
    /// the size of the wasm file).
    #[arg(long, env = "WASMCLOUD_MAX_COMPONENT_SIZE", default_value_t = 50 << 20)]
    max_component_size_bytes: u64,
    /// Component instances alive at once on this host: the pool's slots.
    #[arg(long, env = "WASMCLOUD_MAX_COMPONENTS", default_value_t = 10_000)]
    max_components: u32,
    /// Core instances per component instance.
    #[arg(
        long,
        env = "WASMCLOUD_MAX_CORE_INSTANCES_PER_COMPONENT",
        default_value_t = 30
    )]
    max_core_instances_per_component: u32,
    /// PEM files of certificate authorities to trust besides the system's, for NATS
    /// servers with certificates from a private CA (repeatable or comma-separated).
    /// In lattice they apply to the host's ctl and rpc connections.
    #[arg(
        long,
        env = "WASMCLOUD_TLS_CA_PATH",
        value_delimiter = ',',
        value_name = "PEM"
    )]
    tls_ca_path: Vec<PathBuf>,
    /// Experimental features of the official host, comma-separated. The builtin
    /// providers (`builtin-http-server`, `builtin-http-client`, `builtin-messaging-nats`)
    /// are on by default in lattice, so naming them changes nothing; the other 1.9.2
    /// features are not supported yet and stop the start.
    #[arg(
        long = "feature",
        env = "WASMCLOUD_EXPERIMENTAL_FEATURES",
        value_delimiter = ','
    )]
    feature: Vec<String>,
    /// Turn a builtin provider off: http-server, http-client or messaging-nats
    /// (repeatable or comma-separated; a start of it then gets an error reply). Lattice
    /// addition: the builtins are on by default.
    #[arg(
        long,
        env = "LATTICE_DISABLE_BUILTINS",
        value_delimiter = ',',
        value_name = "BUILTIN"
    )]
    disable_builtin: Vec<lattice_host::BuiltinKind>,
    /// Bytes of each component linear memory kept resident between instances (reset in
    /// place rather than returned to the kernel): fewer page faults per instantiation, at
    /// up to this much memory per pool slot used; 0 returns everything (lattice
    /// addition; default 32 MiB).
    #[arg(long, env = "LATTICE_MEMORY_KEEP_RESIDENT", default_value_t = 32 << 20, value_name = "BYTES")]
    memory_keep_resident: u64,
    /// As --memory-keep-resident, for each component table (default 1 MiB).
    #[arg(long, env = "LATTICE_TABLE_KEEP_RESIDENT", default_value_t = 1 << 20, value_name = "BYTES")]
    table_keep_resident: u64,
    /// As --memory-keep-resident, for each invocation's stack (default 512 KiB).
    #[arg(long, env = "LATTICE_STACK_KEEP_RESIDENT", default_value_t = 512 << 10, value_name = "BYTES")]
    stack_keep_resident: u64,
    /// When the component pool cannot be reserved, run components with on-demand
    /// allocation (and say so) instead of refusing to start (lattice addition).
    #[arg(long, env = "LATTICE_ALLOW_POOL_FALLBACK")]
    allow_pool_fallback: bool,
    /// Whether this host bids in provider auctions (`true` or `false`; default true).
    #[arg(
        long,
        env = "WASMCLOUD_PROVIDER_AUCTION_ENABLED",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    enable_provider_auction: bool,
    /// Whether this host answers component auctions (`true` or `false`; default true).
    /// lattice hosts run no components yet and never bid; `false` drops the subscription.
    #[arg(
        long,
        env = "WASMCLOUD_COMPONENT_AUCTION_ENABLED",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    enable_component_auction: bool,

    /// Seconds between `host_heartbeat` events.
    #[arg(long, env = "WASMCLOUD_HEARTBEAT_INTERVAL", default_value_t = 30)]
    heartbeat_interval_seconds: u64,

    /// Human-friendly host name (lattice addition); random adjective-noun-NNNN when unset.
    #[arg(long, env = "LATTICE_FRIENDLY_NAME")]
    friendly_name: Option<String>,
    /// Where lattice keeps its data, such as the embedded nats-server's JetStream store
    /// (lattice addition). Default: $XDG_DATA_HOME/lattice or ~/.local/share/lattice.
    #[arg(long, env = "LATTICE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The nats-server binary for the embedded default (lattice addition).
    #[arg(long, env = "LATTICE_NATS_SERVER")]
    nats_server_bin: Option<PathBuf>,
    /// Deadline of a stop (signal, or `host.stop` without a timeout), e.g. `10s` (lattice addition).
    #[arg(long, env = "LATTICE_STOP_TIMEOUT", value_parser = humantime::parse_duration, default_value = "10s")]
    stop_timeout: Duration,
    /// How long after SIGTERM a stopping provider is SIGKILLed, e.g. `500ms` (lattice addition).
    #[arg(long, env = "LATTICE_PROVIDER_TERM_GRACE", value_parser = humantime::parse_duration, default_value = "500ms")]
    provider_term_grace: Duration,
    /// Time between health checks of a provider that has answered, e.g. `30s` (lattice
    /// addition; the first check is right after start and retried until it answers).
    #[arg(long, env = "LATTICE_HEALTH_INTERVAL", value_parser = humantime::parse_duration, default_value = "30s")]
    health_interval: Duration,
    /// Restart a provider after this many health checks in a row got no answer while the
    /// host was connected; 0 never restarts for health (lattice addition). A provider
    /// that answers `healthy: false` is reported, never restarted.
    #[arg(long, env = "LATTICE_HEALTH_FAILURES", default_value_t = 3)]
    health_failures: u32,
    /// Give up on a provider started this many times within --restart-window: it is
    /// stopped (`provider_stopped` with reason `failed`). 0, the default, restarts a
    /// crash-looping provider forever, with backoff (lattice addition).
    #[arg(long, env = "LATTICE_RESTART_MAX_STARTS", default_value_t = 0)]
    restart_max_starts: u32,
    /// The window --restart-max-starts counts in, e.g. `60s` (lattice addition).
    #[arg(long, env = "LATTICE_RESTART_WINDOW", value_parser = humantime::parse_duration, default_value = "60s")]
    restart_window: Duration,
    /// Longest wait between restarts; the first is immediate, then 100 ms doubling (lattice addition).
    #[arg(long, env = "LATTICE_RESTART_MAX_BACKOFF", value_parser = humantime::parse_duration, default_value = "5m")]
    restart_max_backoff: Duration,
    /// Output lines kept per provider for `lattice logs` (lattice addition).
    #[arg(long, env = "LATTICE_PROVIDER_LOG_LINES", default_value_t = 1000)]
    provider_log_lines: usize,
    /// At most this many control requests are handled at once (lattice addition).
    #[arg(long, env = "LATTICE_MAX_CONCURRENT_CTL", default_value_t = 64)]
    max_concurrent_ctl: usize,
    /// Copies of the lattice's KV buckets (links, config, claims) kept by a JetStream
    /// cluster, 1 to 5 (lattice addition; 1.9.2 creates them with 1, so losing the node
    /// that holds them stops link and config changes). Existing buckets with fewer are
    /// raised to this many, for every host of the lattice, official ones included.
    #[arg(long, env = "LATTICE_KV_REPLICAS", default_value_t = 1)]
    kv_replicas: usize,
}

/// One connection's own flags: `--ctl-*` or `--rpc-*`.
struct ConnectionFlags<'a> {
    /// `ctl` or `rpc`, as in the flag names.
    which: &'static str,
    host: Option<&'a str>,
    port: Option<u16>,
    /// Its own credentials (creds file, or JWT and seed), which win over `--nats-*`.
    auth: Option<NatsAuth>,
    tls: bool,
}

impl UpArgs {
    fn nats_explicit(&self, global: &GlobalArgs) -> bool {
        global.nats_url.is_some()
            || self.nats_host.is_some()
            || self.nats_port.is_some()
            || self.ctl_host.is_some()
            || self.ctl_port.is_some()
            || self.rpc_host.is_some()
            || self.rpc_port.is_some()
    }

    /// What both connections start from: `--nats-url` (scheme, credentials, host, port),
    /// else `nats://127.0.0.1:4222`; `--nats-host`/`--nats-port` replace host and port.
    fn base_url(&self, global: &GlobalArgs) -> anyhow::Result<Url> {
        let mut url = match &global.nats_url {
            Some(given) => parse_nats_url(given)?,
            None => Url::parse(&format!("nats://{DEFAULT_NATS_HOST}:{DEFAULT_NATS_PORT}"))?,
        };
        set_address(&mut url, "nats", self.nats_host.as_deref(), self.nats_port)?;
        Ok(url)
    }

    fn ctl_flags(&self) -> ConnectionFlags<'_> {
        ConnectionFlags {
            which: "ctl",
            host: self.ctl_host.as_deref(),
            port: self.ctl_port,
            auth: auth_from(&self.ctl_jwt, &self.ctl_seed, &self.ctl_creds),
            tls: self.ctl_tls,
        }
    }

    fn rpc_flags(&self) -> ConnectionFlags<'_> {
        ConnectionFlags {
            which: "rpc",
            host: self.rpc_host.as_deref(),
            port: self.rpc_port,
            auth: auth_from(&self.rpc_jwt, &self.rpc_seed, &self.rpc_creds),
            tls: self.rpc_tls,
        }
    }

    /// One connection: the base URL with its own host, port and TLS flag applied, and its
    /// own credentials, else the `--nats-*` ones (the 1.x host's precedence).
    fn connection(
        &self,
        base: &Url,
        own: ConnectionFlags<'_>,
    ) -> anyhow::Result<NatsConnectConfig> {
        let mut url = base.clone();
        set_address(&mut url, own.which, own.host, own.port)?;
        if own.tls {
            require_tls(&mut url, own.which)?;
        }
        let auth = own
            .auth
            .or_else(|| auth_from(&self.nats_jwt, &self.nats_seed, &self.nats_creds))
            .unwrap_or(NatsAuth::Anonymous);
        Ok(NatsConnectConfig {
            url: url.to_string(),
            auth,
        })
    }

    /// The host's config; `env` is the process environment (for `WASMCLOUD_LABEL_*`).
    fn host_config(
        &self,
        global: &GlobalArgs,
        env: impl Iterator<Item = (OsString, OsString)>,
    ) -> anyhow::Result<HostConfig> {
        features::check(&self.feature)?;
        let base = self.base_url(global)?;
        let ctl_nats = self.connection(&base, self.ctl_flags())?;
        let rpc_nats = self.connection(&base, self.rpc_flags())?;
        let mut config = HostConfig::new(ctl_nats.url.clone());
        config.ctl_nats = ctl_nats;
        config.rpc_nats = rpc_nats;
        config.lattice = global.lattice.clone();
        config.ctl_prefix = global.ctl_topic_prefix.clone();
        config.host_seed = self.host_seed.clone();
        config.friendly_name = self.friendly_name.clone();
        config.labels = labels(&self.labels, env);
        config.js_domain = self.js_domain.clone();
        config.heartbeat_interval = Duration::from_secs(self.heartbeat_interval_seconds);
        config.rpc_timeout = Duration::from_millis(self.rpc_timeout_ms);
        config.default_stop_timeout = self.stop_timeout;
        config.max_concurrent_ctl = self.max_concurrent_ctl;
        config.kv_replicas = self.kv_replicas;
        config.log_level = observability::level(self.log_level);
        config.otel = self.observability.otel_config(&self.tls_ca_path);
        config.structured_logging = self.enable_structured_logging;
        config.config_service = self.config_service_enabled;
        config.allow_file_load = self.allow_file_load;
        config.http_admin = self.http_admin;
        config.provider_auction = self.enable_provider_auction;
        config.component_auction = self.enable_component_auction;
        config.builtins.disabled = self.disable_builtin.iter().copied().collect();
        config.tls_ca_paths = self.tls_ca_path.clone();
        let providers = &mut config.providers;
        providers.shutdown_grace = Duration::from_millis(self.provider_shutdown_delay_ms);
        providers.term_grace = self.provider_term_grace;
        providers.health_interval = self.health_interval;
        providers.health_failures = (self.health_failures > 0).then_some(self.health_failures);
        providers.restart.max_starts =
            (self.restart_max_starts > 0).then_some(self.restart_max_starts);
        providers.restart.window = self.restart_window;
        providers.restart.max_backoff = self.restart_max_backoff;
        providers.log_lines = self.provider_log_lines;
        if let Some(dir) = &self.data_dir {
            providers.cache_dir = dir.join("providers");
        }
        let runtime = &mut config.runtime;
        runtime.max_execution_time = Duration::from_millis(self.max_execution_time_ms);
        runtime.max_linear_memory_bytes = self.max_linear_memory_bytes;
        runtime.max_component_size_bytes = self.max_component_size_bytes;
        runtime.max_components = self.max_components;
        runtime.max_core_instances_per_component = self.max_core_instances_per_component;
        runtime.memory_keep_resident = self.memory_keep_resident;
        runtime.table_keep_resident = self.table_keep_resident;
        runtime.stack_keep_resident = self.stack_keep_resident;
        if self.allow_pool_fallback {
            runtime.pool_fallback = lattice_runtime::PoolFallback::OnDemand;
        }
        // Compiled components are kept with the host's data (0700), so a rescale, a
        // restart or another host of this user does not compile the same bytes again.
        let data_dir = self.data_dir.clone().unwrap_or_else(default_data_dir);
        runtime.cache_dir = Some(data_dir.join("compiled"));
        self.trust.apply(&mut config, &data_dir);
        Ok(config)
    }
}

/// The labels: `WASMCLOUD_LABEL_{key}={value}` variables, then `--label`s, which win.
fn labels(
    flags: &[(String, String)],
    vars: impl Iterator<Item = (OsString, OsString)>,
) -> BTreeMap<String, String> {
    let mut labels = labels_from_env(vars);
    for (key, _) in flags {
        if labels.contains_key(key) {
            tracing::warn!(
                key,
                "label provided via args will override label set via environment variable"
            );
        }
    }
    labels.extend(flags.iter().cloned());
    labels
}

/// `WASMCLOUD_LABEL_{key}={value}` variables as labels (the 1.x host takes any key, even
/// an empty one; variables that are not UTF-8 are skipped).
fn labels_from_env(vars: impl Iterator<Item = (OsString, OsString)>) -> BTreeMap<String, String> {
    vars.filter_map(|(name, value)| {
        let key = name.to_str()?.strip_prefix("WASMCLOUD_LABEL_")?;
        Some((key.to_string(), value.into_string().ok()?))
    })
    .collect()
}

/// Runs the host; `memory_copy` is what [`memory_copy::MemoryCopyArgs::apply`] found.
pub(crate) async fn run(
    global: &GlobalArgs,
    args: UpArgs,
    memory_copy: memory_copy::MemoryCopy,
) -> anyhow::Result<()> {
    let otel = args.observability.otel_config(&args.tls_ca_path);
    let telemetry = lattice_telemetry::Telemetry::start("wasmcloud-host", &otel)
        .context("cannot set up OpenTelemetry export")?;
    let flame = observability::init_logging(
        args.log_level,
        args.enable_structured_logging,
        &telemetry,
        args.observability.trace_level,
        args.observability.flame_graph.as_deref(),
    )?;
    memory_copy.log();
    let mut embedded = None;
    if !args.nats_explicit(global) && !nats_answers(DEFAULT_NATS_HOST, DEFAULT_NATS_PORT).await? {
        embedded = Some(start_embedded(&args).await?);
    }
    let config = args.host_config(global, std::env::vars_os())?;
    let via = config.ctl_nats.display_url();
    let mut sigterm = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let result = async {
        let running = Host::start(config).await.context("cannot start the host")?;
        eprintln!(
            "lattice host {} ({}) is up on lattice `{}` via {}{}",
            running.id(),
            running.friendly_name(),
            running.lattice(),
            via,
            if embedded.is_some() {
                " (embedded nats-server)"
            } else {
                ""
            },
        );
        let deadline = tokio::select! {
            deadline = running.stop_requested() => deadline,
            _ = sigint.recv() => args.stop_timeout,
            _ = sigterm.recv() => args.stop_timeout,
        };
        running.shutdown(deadline).await;
        Ok(())
    }
    .await;
    if let Some(server) = embedded {
        server.stop(Duration::from_secs(5)).await;
    }
    telemetry.shutdown().await;
    if let Some(flame) = flame
        && let Err(error) = flame.flush()
    {
        eprintln!("cannot finish the flame graph: {error}");
    }
    result
}

mod features;
pub(crate) mod memory_copy;
mod nats;
mod observability;
#[cfg(test)]
mod official;
#[cfg(test)]
mod tests;
mod trust;
