//! `lattice up`: run a host until Ctrl-C, SIGTERM or a control `host.stop`.
//!
//! With no NATS address given it uses `nats://127.0.0.1:4222` when a NATS server answers
//! there, and otherwise starts an embedded `nats-server` with JetStream (store under
//! `--data-dir`), which it stops after the host has stopped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use lattice_host::nats_server::{NatsServer, NatsServerConfig, find_nats_server};
use lattice_host::{Host, HostConfig, NatsAuth, NatsConnectConfig};
use lattice_proto::Level;
use tokio::io::AsyncBufReadExt as _;
use tokio::signal::unix::{SignalKind, signal};

use crate::args::{GlobalArgs, default_data_dir, parse_key_value};

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
    /// Log level of the host, also handed to providers (error, warn, info, debug, trace, critical).
    #[arg(long, env = "WASMCLOUD_LOG_LEVEL", default_value = "info")]
    log_level: Level,
    /// Log as JSON lines and ask providers to do the same.
    #[arg(long, env = "WASMCLOUD_STRUCTURED_LOGGING_ENABLED")]
    enable_structured_logging: bool,

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
    #[arg(long, env = "WASMCLOUD_NATS_CREDS", conflicts_with = "nats_jwt")]
    nats_creds: Option<PathBuf>,

    /// Server nkey seed (SN…) fixing the host ID; random when unset.
    #[arg(long, env = "WASMCLOUD_HOST_SEED", hide_env_values = true)]
    host_seed: Option<String>,
    /// A label `KEY=VALUE` (repeatable).
    #[arg(short = 'l', long = "label", value_parser = parse_key_value)]
    labels: Vec<(String, String)>,
    /// JetStream domain, reported in `host.ping`.
    #[arg(long, env = "WASMCLOUD_JS_DOMAIN")]
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
    /// Control connection credentials file.
    #[arg(long, env = "WASMCLOUD_CTL_CREDS", conflicts_with = "ctl_jwt")]
    ctl_creds: Option<PathBuf>,

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
    /// RPC connection credentials file.
    #[arg(long, env = "WASMCLOUD_RPC_CREDS", conflicts_with = "rpc_jwt")]
    rpc_creds: Option<PathBuf>,
    /// Request timeout on the RPC connection, in milliseconds (also sent to providers).
    #[arg(long, env = "WASMCLOUD_RPC_TIMEOUT_MS", default_value_t = 2000)]
    rpc_timeout_ms: u64,

    /// Allow providers from file:// references (executables or provider archives).
    #[arg(long, env = "WASMCLOUD_ALLOW_FILE_LOAD")]
    allow_file_load: bool,
    /// How long a provider has to exit after the shutdown request, in milliseconds,
    /// before SIGTERM (lattice's default is 3000; the 1.x host SIGKILLs after 300).
    #[arg(long, env = "WASMCLOUD_PROV_SHUTDOWN_DELAY_MS", default_value_t = 3000)]
    provider_shutdown_delay_ms: u64,

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
    /// How long after SIGTERM a stopping provider is SIGKILLed, e.g. `2s` (lattice addition).
    #[arg(long, env = "LATTICE_PROVIDER_TERM_GRACE", value_parser = humantime::parse_duration, default_value = "2s")]
    provider_term_grace: Duration,
    /// Time between health checks of a provider that has answered, e.g. `30s` (lattice
    /// addition; the first check is right after start and retried until it answers).
    #[arg(long, env = "LATTICE_HEALTH_INTERVAL", value_parser = humantime::parse_duration, default_value = "30s")]
    health_interval: Duration,
    /// Restart a provider after this many failed or unanswered health checks in a row;
    /// 0 never restarts for health (lattice addition).
    #[arg(long, env = "LATTICE_HEALTH_FAILURES", default_value_t = 3)]
    health_failures: u32,
    /// A provider started this many times within --restart-window is put in Failed
    /// instead of being restarted again (lattice addition).
    #[arg(long, env = "LATTICE_RESTART_MAX_STARTS", default_value_t = 5)]
    restart_max_starts: u32,
    /// The window --restart-max-starts counts in, e.g. `60s` (lattice addition).
    #[arg(long, env = "LATTICE_RESTART_WINDOW", value_parser = humantime::parse_duration, default_value = "60s")]
    restart_window: Duration,
    /// Longest wait between restarts; the first is immediate, then 100 ms doubling (lattice addition).
    #[arg(long, env = "LATTICE_RESTART_MAX_BACKOFF", value_parser = humantime::parse_duration, default_value = "30s")]
    restart_max_backoff: Duration,
    /// Output lines kept per provider for `lattice logs` (lattice addition).
    #[arg(long, env = "LATTICE_PROVIDER_LOG_LINES", default_value_t = 1000)]
    provider_log_lines: usize,
    /// At most this many control requests are handled at once (lattice addition).
    #[arg(long, env = "LATTICE_MAX_CONCURRENT_CTL", default_value_t = 64)]
    max_concurrent_ctl: usize,
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

    fn base_address(&self, global: &GlobalArgs) -> anyhow::Result<(String, u16)> {
        if let Some(url) = &global.nats_url {
            let parsed =
                url::Url::parse(url).with_context(|| format!("invalid --nats-url `{url}`"))?;
            let host = parsed
                .host_str()
                .with_context(|| format!("--nats-url `{url}` names no host"))?;
            return Ok((host.to_string(), parsed.port().unwrap_or(DEFAULT_NATS_PORT)));
        }
        Ok((
            self.nats_host
                .clone()
                .unwrap_or_else(|| DEFAULT_NATS_HOST.to_string()),
            self.nats_port.unwrap_or(DEFAULT_NATS_PORT),
        ))
    }

    fn connection(
        &self,
        (host, port): (&str, u16),
        (own_host, own_port): (&Option<String>, Option<u16>),
        (jwt, seed, creds): (&Option<String>, &Option<String>, &Option<PathBuf>),
    ) -> NatsConnectConfig {
        let host = own_host.as_deref().unwrap_or(host);
        let port = own_port.unwrap_or(port);
        let auth = match (
            jwt.as_ref().or(self.nats_jwt.as_ref()),
            seed.as_ref().or(self.nats_seed.as_ref()),
            creds.as_ref().or(self.nats_creds.as_ref()),
        ) {
            (Some(jwt), Some(seed), _) => NatsAuth::Jwt {
                jwt: jwt.clone(),
                seed: seed.clone(),
            },
            (_, _, Some(creds)) => NatsAuth::CredsFile(creds.clone()),
            _ => NatsAuth::Anonymous,
        };
        NatsConnectConfig {
            url: format!("nats://{host}:{port}"),
            auth,
        }
    }

    fn host_config(&self, global: &GlobalArgs, base: (&str, u16)) -> HostConfig {
        let mut config = HostConfig::new(format!("nats://{}:{}", base.0, base.1));
        config.ctl_nats = self.connection(
            base,
            (&self.ctl_host, self.ctl_port),
            (&self.ctl_jwt, &self.ctl_seed, &self.ctl_creds),
        );
        config.rpc_nats = self.connection(
            base,
            (&self.rpc_host, self.rpc_port),
            (&self.rpc_jwt, &self.rpc_seed, &self.rpc_creds),
        );
        config.lattice = global.lattice.clone();
        config.ctl_prefix = global.ctl_topic_prefix.clone();
        config.host_seed = self.host_seed.clone();
        config.friendly_name = self.friendly_name.clone();
        config.labels = labels_from_env(std::env::vars());
        config.labels.extend(self.labels.iter().cloned());
        config.js_domain = self.js_domain.clone();
        config.heartbeat_interval = Duration::from_secs(self.heartbeat_interval_seconds);
        config.rpc_timeout = Duration::from_millis(self.rpc_timeout_ms);
        config.default_stop_timeout = self.stop_timeout;
        config.max_concurrent_ctl = self.max_concurrent_ctl;
        config.log_level = self.log_level;
        config.structured_logging = self.enable_structured_logging;
        config.allow_file_load = self.allow_file_load;
        let providers = &mut config.providers;
        providers.shutdown_grace = Duration::from_millis(self.provider_shutdown_delay_ms);
        providers.term_grace = self.provider_term_grace;
        providers.health_interval = self.health_interval;
        providers.health_failures = (self.health_failures > 0).then_some(self.health_failures);
        providers.restart.max_starts = self.restart_max_starts;
        providers.restart.window = self.restart_window;
        providers.restart.max_backoff = self.restart_max_backoff;
        providers.log_lines = self.provider_log_lines;
        if let Some(dir) = &self.data_dir {
            providers.cache_dir = dir.join("providers");
        }
        config
    }
}

/// `WASMCLOUD_LABEL_{key}={value}` variables as labels.
fn labels_from_env(vars: impl Iterator<Item = (String, String)>) -> BTreeMap<String, String> {
    vars.filter_map(|(name, value)| {
        name.strip_prefix("WASMCLOUD_LABEL_")
            .filter(|key| !key.is_empty())
            .map(|key| (key.to_string(), value))
    })
    .collect()
}

fn init_logging(level: Level, structured: bool) {
    let level = match level {
        Level::Critical => Level::Error,
        other => other,
    };
    // async-nats reports every (re)connect at info; keep that for debug runs.
    let default = format!("{level},async_nats=warn");
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if structured {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Does a NATS server answer at `host:port`? (It greets every client with `INFO {…}`.)
async fn nats_answers(host: &str, port: u16) -> anyhow::Result<bool> {
    let probe = async {
        let stream = tokio::net::TcpStream::connect((host, port)).await?;
        let mut line = String::new();
        tokio::io::BufReader::new(stream)
            .read_line(&mut line)
            .await?;
        Ok::<_, std::io::Error>(line)
    };
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(line)) if line.starts_with("INFO ") => Ok(true),
        Ok(Ok(_)) | Err(_) => bail!(
            "something that is not a NATS server listens on {host}:{port}; stop it or give --nats-url"
        ),
        Ok(Err(_)) => Ok(false),
    }
}

/// Starts the embedded nats-server on the default address.
async fn start_embedded(args: &UpArgs) -> anyhow::Result<NatsServer> {
    let binary = find_nats_server(args.nats_server_bin.as_deref())?;
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let store = data_dir.join("nats");
    std::fs::create_dir_all(&store)
        .with_context(|| format!("cannot create the JetStream directory {}", store.display()))?;
    let mut config = NatsServerConfig::loopback(binary, Some(store));
    config.port = Some(DEFAULT_NATS_PORT);
    let server = NatsServer::start(&config)
        .await
        .context("cannot start the embedded nats-server")?;
    tracing::info!(url = server.url(), binary = %config.binary.display(), "started embedded nats-server");
    Ok(server)
}

pub(crate) async fn run(global: &GlobalArgs, args: UpArgs) -> anyhow::Result<()> {
    init_logging(args.log_level, args.enable_structured_logging);
    let mut embedded = None;
    if !args.nats_explicit(global) && !nats_answers(DEFAULT_NATS_HOST, DEFAULT_NATS_PORT).await? {
        embedded = Some(start_embedded(&args).await?);
    }
    let (host, port) = args.base_address(global)?;
    let config = args.host_config(global, (&host, port));
    let mut sigterm = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let result = async {
        let running = Host::start(config).await.context("cannot start the host")?;
        eprintln!(
            "lattice host {} ({}) is up on lattice `{}` via {}{}",
            running.id(),
            running.friendly_name(),
            running.lattice(),
            format!("nats://{host}:{port}"),
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
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Cli;
    use clap::Parser as _;

    fn parse(args: &[&str]) -> (GlobalArgs, UpArgs) {
        let cli = Cli::try_parse_from(args).unwrap();
        match cli.command {
            crate::args::Command::Up(up) => (cli.global, *up),
            _ => unreachable!("parsed `up`"),
        }
    }

    #[test]
    fn official_flags_build_the_config() {
        let (global, up) = parse(&[
            "lattice",
            "up",
            "--nats-host",
            "10.1.2.3",
            "--nats-port",
            "4333",
            "--rpc-port",
            "5555",
            "-x",
            "prod",
            "--label",
            "zone=eu",
            "--heartbeat-interval-seconds",
            "5",
            "--rpc-timeout-ms",
            "750",
            "--log-level",
            "debug",
        ]);
        assert!(up.nats_explicit(&global));
        let base = up.base_address(&global).unwrap();
        let config = up.host_config(&global, (&base.0, base.1));
        assert_eq!(config.ctl_nats.url, "nats://10.1.2.3:4333");
        assert_eq!(config.rpc_nats.url, "nats://10.1.2.3:5555");
        assert_eq!(config.lattice, "prod");
        assert_eq!(config.labels["zone"], "eu");
        assert_eq!(config.heartbeat_interval, Duration::from_secs(5));
        assert_eq!(config.rpc_timeout, Duration::from_millis(750));
        assert_eq!(config.log_level, Level::Debug);
        config.validate().unwrap();
    }

    #[test]
    fn no_address_means_the_embedded_default() {
        let (global, up) = parse(&["lattice", "up"]);
        assert!(!up.nats_explicit(&global));
    }

    #[test]
    fn nats_url_sets_the_base_address() {
        let (global, up) = parse(&["lattice", "--nats-url", "nats://example.org:4999", "up"]);
        assert_eq!(
            up.base_address(&global).unwrap(),
            ("example.org".into(), 4999)
        );
    }

    #[test]
    fn env_labels_are_read() {
        let vars = [
            ("WASMCLOUD_LABEL_zone".to_string(), "eu".to_string()),
            ("WASMCLOUD_LABEL_".to_string(), "x".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let labels = labels_from_env(vars.into_iter());
        assert_eq!(
            labels,
            BTreeMap::from([("zone".to_string(), "eu".to_string())])
        );
    }

    #[test]
    fn jwt_needs_a_seed() {
        assert!(Cli::try_parse_from(["lattice", "up", "--nats-jwt", "eyJ"]).is_err());
    }
}
