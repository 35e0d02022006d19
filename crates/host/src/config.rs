//! Host configuration: a plain, typed struct the binary builds from flags and env and
//! tests build directly. [`HostConfig::validate`] checks everything before anything starts.

use std::collections::BTreeMap;
use std::time::Duration;

use lattice_proto::Level;

use crate::providers::ProviderSettings;
use lattice_proto::subjects::{DEFAULT_CTL_PREFIX, is_subject_token};

pub use lattice_nats::{NatsAuth, NatsConnectConfig};

/// Everything a host needs to run.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Lattice name (one subject token).
    pub lattice: String,
    /// Control-interface subject prefix (default `wasmbus.ctl`).
    pub ctl_prefix: String,
    /// Server nkey seed (`SN…`); a new key is generated when `None`.
    pub host_seed: Option<String>,
    /// Human-friendly name; a random `adjective-noun-NNNN` when `None`.
    pub friendly_name: Option<String>,
    /// Labels added to the built-in `hostcore.*` ones; a `hostcore.*` key here replaces
    /// the built-in value (as `--label` does in the 1.x host; `label.put` cannot).
    pub labels: BTreeMap<String, String>,
    /// The control connection: ctl interface, events, JetStream.
    pub ctl_nats: NatsConnectConfig,
    /// The rpc connection: everything provider-facing.
    pub rpc_nats: NatsConnectConfig,
    /// JetStream domain, if any.
    pub js_domain: Option<String>,
    /// Replicas of the lattice's KV buckets in a JetStream cluster (1 to 5; default 1,
    /// as 1.9.2 creates them). An existing bucket with fewer is raised to this many.
    pub kv_replicas: usize,
    /// Interval between `host_heartbeat` events.
    pub heartbeat_interval: Duration,
    /// Request timeout on the rpc connection, also sent to providers.
    pub rpc_timeout: Duration,
    /// Deadline of a `host.stop` that names none.
    pub default_stop_timeout: Duration,
    /// At most this many control requests are handled at once.
    pub max_concurrent_ctl: usize,
    /// Control requests with a larger payload are refused.
    pub max_ctl_payload: usize,
    /// Log level handed to providers.
    pub log_level: Level,
    /// Whether providers are asked for structured logs.
    pub structured_logging: bool,
    /// OpenTelemetry settings handed to providers in HostData (`otel_config`), as the
    /// observability flags set them; the process that runs the host exports its own
    /// telemetry with the same settings (`lattice_telemetry`).
    pub otel: lattice_proto::OtelConfig,
    /// Whether `file://` provider references may be loaded (default false, as in 1.x).
    pub allow_file_load: bool,
    /// Serve `/livez`, `/readyz` and `/metrics` on this address (`--http-admin`).
    pub http_admin: Option<std::net::SocketAddr>,
    /// Whether this host answers `provider.auction` (default true, as in 1.x).
    pub provider_auction: bool,
    /// Whether this host answers `component.auction` (default true, as in 1.x; lattice
    /// hosts run no components yet, so they never bid).
    pub component_auction: bool,
    /// How providers are supervised.
    pub providers: ProviderSettings,
    /// The component engine: the official component limits, the compile cache.
    pub runtime: lattice_runtime::RuntimeConfig,
    /// Which builtin providers (`wasmcloud+builtin://…`) may run (all by default).
    pub builtins: crate::builtins::BuiltinSettings,
    /// PEM files of CAs trusted besides the system's for the host's NATS connections
    /// (`--tls-ca-path`).
    pub tls_ca_paths: Vec<std::path::PathBuf>,
    /// Registries: `:latest`, plain-HTTP registries, credentials, the blob cache.
    pub oci: OciSettings,
    /// Refuse providers and components that carry no signed claims (lattice addition;
    /// without it an unsigned start gets an `artifact_unsigned` warning event).
    pub require_signed: bool,
    /// The subject prefix of secrets backends (`--secrets-topic`); without it, an entity
    /// that references a secret does not start.
    pub secrets_topic: Option<String>,
    /// The policy service (`--policy-topic`, …); none: everything is permitted.
    pub policy: crate::policy::PolicySettings,
    /// Ask the config service (`wasmbus.cfg.{lattice}.req`) for registry credentials
    /// at start (`--config-service-enabled`).
    pub config_service: bool,
}

/// How this host pulls from registries (`--allow-latest`, `--allowed-insecure`,
/// `--oci-registry`/`--oci-user`/`--oci-password`; CAs come from `tls_ca_paths`).
#[derive(Clone, Debug, Default)]
pub struct OciSettings {
    /// Whether `:latest` (or no tag) may be pulled.
    pub allow_latest: bool,
    /// Registries (`host[:port]`) reached over plain HTTP.
    pub allowed_insecure: Vec<String>,
    /// Credentials by registry; `registry.put` adds to them at run time.
    pub credentials: BTreeMap<String, lattice_artifacts::Credential>,
    /// The blob cache shared by the hosts of a machine, and its size bound.
    pub cache: lattice_artifacts::CacheSettings,
}

impl HostConfig {
    /// Defaults of the official host, with both connections anonymous to `nats_url`.
    pub fn new(nats_url: impl Into<String>) -> Self {
        let nats = NatsConnectConfig::anonymous(nats_url);
        HostConfig {
            lattice: "default".to_string(),
            ctl_prefix: DEFAULT_CTL_PREFIX.to_string(),
            host_seed: None,
            friendly_name: None,
            labels: BTreeMap::new(),
            ctl_nats: nats.clone(),
            rpc_nats: nats,
            js_domain: None,
            kv_replicas: 1,
            heartbeat_interval: Duration::from_secs(30),
            rpc_timeout: Duration::from_millis(2000),
            default_stop_timeout: Duration::from_secs(10),
            max_concurrent_ctl: 64,
            max_ctl_payload: 512 * 1024,
            log_level: Level::Info,
            structured_logging: false,
            otel: lattice_proto::OtelConfig::default(),
            allow_file_load: false,
            http_admin: None,
            provider_auction: true,
            component_auction: true,
            providers: ProviderSettings::default(),
            runtime: lattice_runtime::RuntimeConfig::default(),
            builtins: crate::builtins::BuiltinSettings::default(),
            tls_ca_paths: Vec::new(),
            oci: OciSettings::default(),
            require_signed: false,
            secrets_topic: None,
            policy: Default::default(),
            config_service: false,
        }
    }

    /// Checks every field; the error names the first one that is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !is_subject_token(&self.lattice) {
            return Err(ConfigError::Lattice(self.lattice.clone()));
        }
        let prefix_ok =
            !self.ctl_prefix.is_empty() && self.ctl_prefix.split('.').all(is_subject_token);
        if !prefix_ok {
            return Err(ConfigError::CtlPrefix(self.ctl_prefix.clone()));
        }
        if let Some(seed) = &self.host_seed {
            crate::identity::server_key_from_seed(seed)?;
        }
        for (name, d) in [
            ("heartbeat interval", self.heartbeat_interval),
            ("rpc timeout", self.rpc_timeout),
            ("health check interval", self.providers.health_interval),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        if self.providers.health_failures == Some(0) {
            return Err(ConfigError::ZeroLimit(
                "number of failed health checks before a restart",
            ));
        }
        if self.providers.restart.max_starts == Some(0) {
            return Err(ConfigError::ZeroLimit(
                "number of starts in the restart window",
            ));
        }
        if !(1..=5).contains(&self.kv_replicas) {
            return Err(ConfigError::KvReplicas(self.kv_replicas));
        }
        if self.max_concurrent_ctl == 0 {
            return Err(ConfigError::ZeroLimit("max concurrent control requests"));
        }
        for (which, nats) in [("ctl", &self.ctl_nats), ("rpc", &self.rpc_nats)] {
            nats.url_credentials(which).map_err(ConfigError::from)?;
            if let NatsAuth::Jwt { seed, .. } = &nats.auth {
                nkeys::KeyPair::from_seed(seed).map_err(|e| ConfigError::NatsSeed {
                    which,
                    reason: e.to_string(),
                })?;
            }
        }
        Ok(())
    }
}

/// A configuration value that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The lattice name is not one subject token.
    #[error(
        "invalid lattice name `{0}`: it must be one NATS subject token (no `.`, `*`, `>` or spaces)"
    )]
    Lattice(String),
    /// The ctl prefix is not a dotted list of tokens.
    #[error("invalid control topic prefix `{0}`: it must be dot-separated NATS subject tokens")]
    CtlPrefix(String),
    /// The host seed is not a server nkey seed.
    #[error("invalid host seed: {0}")]
    HostSeed(String),
    /// A bucket replica count JetStream does not allow.
    #[error("invalid KV bucket replicas {0}: JetStream allows 1 to 5")]
    KvReplicas(usize),
    /// A duration that must be positive is zero.
    #[error("the {0} must be greater than zero")]
    ZeroDuration(&'static str),
    /// A limit that must be positive is zero.
    #[error("the {0} must be greater than zero")]
    ZeroLimit(&'static str),
    /// A NATS URL cannot be used.
    #[error("invalid NATS URL `{url}` for the {which} connection: {reason}")]
    NatsUrl {
        /// `ctl` or `rpc`.
        which: &'static str,
        /// The URL, password hidden.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A NATS URL carries credentials and the connection has a JWT or creds file too.
    #[error(
        "the {which} connection has credentials both in its URL `{url}` and as a JWT or creds file; give one"
    )]
    NatsCredentialsTwice {
        /// `ctl` or `rpc`.
        which: &'static str,
        /// The URL, password hidden.
        url: String,
    },
    /// A NATS user seed does not parse.
    #[error("invalid NATS seed for the {which} connection: {reason}")]
    NatsSeed {
        /// `ctl` or `rpc`.
        which: &'static str,
        /// What nkeys said.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        HostConfig::new("nats://127.0.0.1:4222").validate().unwrap();
    }

    #[test]
    fn a_default_staged_stop_fits_in_the_two_seconds_wash_waits() {
        let providers = HostConfig::new("nats://x").providers;
        let whole = providers.shutdown_grace + providers.term_grace;
        assert!(whole < std::time::Duration::from_secs(2), "{whole:?}");
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = HostConfig::new("nats://x");
        c.lattice = "a.b".into();
        assert!(c.validate().unwrap_err().to_string().contains("`a.b`"));

        let mut c = HostConfig::new("ftp://x");
        c.rpc_nats = NatsConnectConfig::anonymous("nats://x");
        let err = c.validate().unwrap_err();
        assert!(
            matches!(err, ConfigError::NatsUrl { which: "ctl", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("`ftp://x`"), "{err}");

        let mut c = HostConfig::new("nats://x");
        c.host_seed = Some("SUnotaseed".into());
        assert!(matches!(c.validate(), Err(ConfigError::HostSeed(_))));

        let mut c = HostConfig::new("nats://x");
        c.heartbeat_interval = Duration::ZERO;
        assert!(c.validate().unwrap_err().to_string().contains("heartbeat"));
    }

    #[test]
    fn hostcore_labels_may_be_given_at_start() {
        let mut c = HostConfig::new("nats://x");
        c.labels.insert("hostcore.os".into(), "plan9".into());
        c.labels
            .insert(String::new(), "1.x takes an empty key too".into());
        c.validate().unwrap();
    }
}
