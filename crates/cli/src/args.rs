//! The command line, as clap types. `lattice up` takes the official `wasmcloud`
//! binary's flags and `WASMCLOUD_*` variables for what it implements.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run and drive a lattice of capability-provider hosts (wasmCloud 1.x compatible).
#[derive(Debug, Parser)]
#[command(name = "lattice", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// NATS server URL. For `up`, leaving it (and --nats-host/--nats-port) unset uses
    /// nats://127.0.0.1:4222 if a server answers there, or starts an embedded nats-server.
    /// Other commands default to nats://127.0.0.1:4222.
    #[arg(long, global = true, env = "LATTICE_NATS_URL")]
    pub(crate) nats_url: Option<String>,

    /// Lattice name.
    #[arg(
        short = 'x',
        long,
        global = true,
        env = "WASMCLOUD_LATTICE",
        default_value = "default"
    )]
    pub(crate) lattice: String,

    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,

    /// How long to wait for replies (e.g. `2s`, `500ms`). `get hosts` collects
    /// replies for this long.
    #[arg(long, global = true, value_parser = humantime::parse_duration, default_value = "2s")]
    pub(crate) timeout: Duration,

    /// Control-interface subject prefix.
    #[arg(
        long,
        global = true,
        env = "WASMCLOUD_CTL_TOPIC_PREFIX",
        default_value = "wasmbus.ctl"
    )]
    pub(crate) ctl_topic_prefix: String,
}

/// Output format of client commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Human-readable text.
    Text,
    /// JSON, as the wire carries it.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a host on the lattice until Ctrl-C, SIGTERM or a control `host.stop`.
    Up(Box<crate::up::UpArgs>),
    /// Show hosts or a host's inventory.
    #[command(subcommand)]
    Get(GetCommand),
    /// Set or remove a host label.
    #[command(subcommand)]
    Label(LabelCommand),
    /// Start a provider or a component.
    #[command(subcommand)]
    Start(StartCommand),
    /// Change how many invocations of a component may run at once.
    #[command(subcommand)]
    Scale(ScaleCommand),
    /// Call an exported function of a running component over wRPC.
    ///
    /// Arguments are typed from the function's real signature (asked of the host that
    /// runs the component), one per parameter, as JSON: `5`, `"text"` (or text that is
    /// not JSON), `[1,2]` for lists and tuples, `{"field": …}` for records, `"case"` or
    /// `{"case": payload}` for variants, `null` for an empty option, `{"ok": …}` /
    /// `{"err": …}` for results, `["flag"]` for flags, a hex string for a resource
    /// handle (as results show one). Results print as JSON.
    ///
    /// Example: `lattice call math local:test/math@0.1.0.add 2 3`
    /// A resource: `lattice call counters local:test/counters@0.1.0.[constructor]counter 5`
    /// prints a handle `"4f1c…"`; `… local:test/counters@0.1.0.counter.increment 4f1c…` uses it.
    #[command(verbatim_doc_comment)]
    Call {
        /// Component ID.
        component_id: String,
        /// `INSTANCE.FUNCTION` (e.g. `local:test/math@0.1.0.add`) or a top-level `FUNCTION`;
        /// a resource's functions by their WIT name (`[method]counter.increment`) or
        /// their wire name (`counter.increment`).
        function: String,
        /// One JSON value per parameter (negative numbers welcome).
        #[arg(allow_hyphen_values = true)]
        args: Vec<String>,
        /// How long to wait for the results.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
        call_timeout: Duration,
    },
    /// Put, delete or list links (stored in the lattice, delivered to providers).
    #[command(subcommand)]
    Link(LinkCommand),
    /// Put, get or delete named config (stored in the lattice, merged for providers).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Stop a provider or a host.
    #[command(subcommand)]
    Stop(StopCommand),
    /// Show what a provider printed (its stdout and stderr, kept by its host).
    Logs {
        /// Provider ID.
        provider_id: String,
        /// The host running it; found by asking every host when omitted.
        #[arg(long)]
        host: Option<String>,
        /// Show at most this many of the latest lines.
        #[arg(long)]
        tail: Option<usize>,
        /// Keep printing new lines until Ctrl-C.
        #[arg(short, long)]
        follow: bool,
    },
    /// Follow the lattice's events (`wasmbus.evt.{lattice}.>`), one line each.
    Events,
    /// Provider archives: `lattice par create`.
    #[command(subcommand)]
    Par(crate::artifact_commands::ParCommand),
    /// Push a provider archive or a component to an OCI registry.
    Push(crate::artifact_commands::PushArgs),
    /// Run a secrets backend, and manage its secrets and who may read them.
    #[command(subcommand)]
    Secrets(crate::secrets_commands::SecretsCommand),
    /// Give every host credentials for a registry (`registry.put`).
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Sign a component's claims, or show them: `lattice claims sign|inspect`.
    #[command(subcommand)]
    Claims(crate::artifact_commands::ClaimsCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum RegistryCommand {
    /// Send credentials for REGISTRY (`host[:port]`) to every host; their pulls from it
    /// use them from then on. With neither user nor token, the registry's credentials
    /// are cleared.
    Put {
        /// The registry, as references name it (`ghcr.io`, `localhost:5000`).
        registry: String,
        /// User name (with --password).
        #[arg(long, requires = "password", conflicts_with = "token")]
        user: Option<String>,
        /// Password (with --user).
        #[arg(
            long,
            env = "LATTICE_REGISTRY_PASSWORD",
            requires = "user",
            hide_env_values = true
        )]
        password: Option<String>,
        /// A bearer token instead of a user and password.
        #[arg(long, env = "LATTICE_REGISTRY_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum GetCommand {
    /// List the hosts that answer a ping.
    Hosts,
    /// Show the inventory of one host, or of every host.
    Inventory {
        /// Host ID (`N…`); all hosts when omitted.
        host_id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum LabelCommand {
    /// Set a label: `lattice label put HOST_ID zone=eu-west`.
    Put {
        /// Host ID (`N…`).
        host_id: String,
        /// `KEY=VALUE`.
        #[arg(value_parser = parse_key_value)]
        label: (String, String),
    },
    /// Remove a label: `lattice label del HOST_ID zone`.
    Del {
        /// Host ID (`N…`).
        host_id: String,
        /// Label key.
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum LinkCommand {
    /// Put a link: `lattice link put comp kv wasi keyvalue --interface store --target-config redis`.
    Put {
        /// The caller.
        source_id: String,
        /// The callee.
        target: String,
        /// WIT namespace, e.g. `wasi`.
        wit_namespace: String,
        /// WIT package, e.g. `keyvalue`.
        wit_package: String,
        /// WIT interface (repeatable, at least one).
        #[arg(long = "interface", required = true)]
        interfaces: Vec<String>,
        /// Link name.
        #[arg(long, default_value = "default")]
        link_name: String,
        /// Named config for the source side (repeatable, merged in order).
        #[arg(long = "source-config")]
        source_config: Vec<String>,
        /// Named config for the target side (repeatable, merged in order).
        #[arg(long = "target-config")]
        target_config: Vec<String>,
    },
    /// Delete a link: `lattice link del comp wasi keyvalue`.
    Del {
        /// The caller.
        source_id: String,
        /// WIT namespace.
        wit_namespace: String,
        /// WIT package.
        wit_package: String,
        /// Link name.
        #[arg(long, default_value = "default")]
        link_name: String,
    },
    /// List every link of the lattice.
    Get,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Put a named config from `KEY=VALUE` pairs or a JSON file (an object of strings).
    Put {
        /// Config name (one subject token).
        name: String,
        /// `KEY=VALUE` entries.
        #[arg(value_parser = parse_key_value, required_unless_present = "file")]
        entries: Vec<(String, String)>,
        /// A JSON file holding the whole config.
        #[arg(long, conflicts_with = "entries")]
        file: Option<PathBuf>,
    },
    /// Show a named config.
    Get {
        /// Config name.
        name: String,
    },
    /// Delete a named config (links and providers using it see it as empty).
    Del {
        /// Config name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum StartCommand {
    /// Start a component and wait until it serves (`component_scaled`) or failed.
    ///
    /// REF is `file:///abs/path.wasm` (the host needs --allow-file-load); a plain path is
    /// turned into a file:// reference. Other references are passed to the host untouched.
    #[command(verbatim_doc_comment)]
    Component {
        /// Component reference.
        component_ref: String,
        /// Component ID (one subject token); its exports are served under it.
        component_id: String,
        /// How many invocations may run at once.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Named config for `wasi:config`, merged in order (repeatable).
        #[arg(long = "config")]
        config: Vec<String>,
        /// An annotation `KEY=VALUE` (repeatable).
        #[arg(long = "annotation", value_parser = parse_key_value)]
        annotations: Vec<(String, String)>,
        /// The host to start it on; without it, hosts bid and the first bid wins.
        #[arg(long)]
        host: Option<String>,
        /// Only require labels `KEY=VALUE` of bidding hosts (repeatable).
        #[arg(long = "constraint", value_parser = parse_key_value, conflicts_with = "host")]
        constraints: Vec<(String, String)>,
        /// How long to wait (the first compile of a large component takes a while).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "120s")]
        wait_timeout: Duration,
    },
    /// Start a provider and wait until it runs and is healthy (or failed).
    ///
    /// REF is `file:///abs/path` to an executable or a provider archive (the host needs
    /// --allow-file-load); a plain path is turned into a file:// reference.
    #[command(verbatim_doc_comment)]
    Provider {
        /// Provider reference.
        provider_ref: String,
        /// Provider ID (one subject token); used in every subject the provider serves.
        provider_id: String,
        /// Named config to give the provider, merged in order (repeatable).
        #[arg(long = "config")]
        config: Vec<String>,
        /// An annotation `KEY=VALUE` (repeatable).
        #[arg(long = "annotation", value_parser = parse_key_value)]
        annotations: Vec<(String, String)>,
        /// The host to start it on; without it, hosts bid and the first bid wins.
        #[arg(long)]
        host: Option<String>,
        /// Only require labels `KEY=VALUE` of bidding hosts (repeatable).
        #[arg(long = "constraint", value_parser = parse_key_value, conflicts_with = "host")]
        constraints: Vec<(String, String)>,
        /// Return when the host acknowledges, without waiting for the provider.
        #[arg(long)]
        no_wait: bool,
        /// How long to wait for the provider to become healthy.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
        wait_timeout: Duration,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ScaleCommand {
    /// Rescale a running component (a new serving state; running invocations finish).
    Component {
        /// Component ID.
        component_id: String,
        /// The new concurrency cap (0 stops it).
        #[arg(long)]
        count: u32,
        /// The host running it; found by asking every host when omitted.
        #[arg(long)]
        host: Option<String>,
        /// How long to wait for `component_scaled`.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
        wait_timeout: Duration,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum StopCommand {
    /// Stop a component (scale to 0): invocations in flight finish first.
    Component {
        /// Component ID.
        component_id: String,
        /// The host running it; found by asking every host when omitted.
        #[arg(long)]
        host: Option<String>,
    },
    /// Stop a provider: shutdown request, then SIGTERM, then SIGKILL.
    Provider {
        /// Provider ID.
        provider_id: String,
        /// The host running it; found by asking every host when omitted.
        #[arg(long)]
        host: Option<String>,
    },
    /// Stop a host gracefully.
    Host {
        /// Host ID (`N…`).
        host_id: String,
        /// How long the host may take to stop its work (e.g. `10s`); the host's default
        /// when omitted.
        #[arg(long, value_parser = humantime::parse_duration)]
        host_timeout: Option<Duration>,
    },
}

/// Parses `KEY=VALUE`.
pub(crate) fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

/// Parses a `lattice up --label` as the 1.x host (1.9.2 `src/main.rs::parse_label`) does:
/// exactly one `=`, so a value cannot hold one, and either side may be empty.
pub(crate) fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split('=').collect::<Vec<_>>()[..] {
        [key, value] => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("invalid label format `{s}`. Expected `key=value`")),
    }
}

/// Parses `--log-level` as the 1.x host does (a `tracing::Level`): `error`, `warn`,
/// `info`, `debug`, `trace` in any case, or `1` (error) to `5` (trace).
pub(crate) fn parse_log_level(s: &str) -> Result<tracing::Level, String> {
    s.parse().map_err(|_| {
        format!(
            "unknown log level `{s}`: expected error, warn, info, debug, trace \
             or a number from 1 (error) to 5 (trace)"
        )
    })
}

/// Where `lattice up` keeps its data by default.
pub(crate) fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(dir).join("lattice");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".local/share/lattice");
    }
    std::env::temp_dir().join("lattice")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn key_values() {
        assert_eq!(
            parse_key_value("a=b=c").unwrap(),
            ("a".into(), "b=c".into())
        );
        assert!(parse_key_value("=x").is_err());
        assert!(parse_key_value("x").is_err());
    }

    #[test]
    fn labels_take_exactly_one_equals_sign() {
        assert_eq!(
            parse_label("zone=eu").unwrap(),
            ("zone".into(), "eu".into())
        );
        assert_eq!(
            parse_label("zone=").unwrap(),
            ("zone".into(), String::new())
        );
        assert_eq!(parse_label("=eu").unwrap(), (String::new(), "eu".into()));
        for bad in ["a=b=c", "zone", ""] {
            assert_eq!(
                parse_label(bad).unwrap_err(),
                format!("invalid label format `{bad}`. Expected `key=value`")
            );
        }
    }

    #[test]
    fn log_levels_are_tracing_levels() {
        use tracing::Level;
        for (given, level) in [
            ("1", Level::ERROR),
            ("2", Level::WARN),
            ("3", Level::INFO),
            ("4", Level::DEBUG),
            ("5", Level::TRACE),
            ("error", Level::ERROR),
            ("WARN", Level::WARN),
            ("Info", Level::INFO),
            ("debug", Level::DEBUG),
            ("trace", Level::TRACE),
        ] {
            assert_eq!(parse_log_level(given).unwrap(), level, "{given}");
        }
        for refused in ["critical", "warning", "0", "6", "", "off"] {
            let err = parse_log_level(refused).unwrap_err();
            assert!(err.contains(&format!("`{refused}`")), "{err}");
        }
    }

    #[test]
    fn unknown_flags_are_errors() {
        let err = Cli::try_parse_from(["lattice", "up", "--no-such-flag"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
    }
}
