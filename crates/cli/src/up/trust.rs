//! `lattice up`'s flags for where artifacts come from and what is trusted: the official
//! ones (`--allow-latest`, `--allowed-insecure`, `--oci-registry`/`--oci-user`/
//! `--oci-password`, `--secrets-topic`, `--policy-*`) and lattice's (the blob cache,
//! `--require-signed`).

use std::path::PathBuf;

use clap::Args;
use lattice_host::HostConfig;

/// Registries, signatures, secrets and policy of the host.
#[derive(Debug, Args)]
pub(crate) struct TrustArgs {
    /// Allow pulling artifacts tagged `latest` (or untagged). Refused by default: pin a
    /// version or a digest.
    #[arg(long, env = "WASMCLOUD_OCI_ALLOW_LATEST", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    allow_latest: Option<bool>,
    /// Registries reached over plain HTTP instead of HTTPS, as `host:port`
    /// (repeatable or comma-separated), e.g. a local registry `localhost:5000`.
    #[arg(
        long,
        env = "WASMCLOUD_OCI_ALLOWED_INSECURE",
        value_delimiter = ',',
        value_name = "REGISTRY"
    )]
    allowed_insecure: Vec<String>,
    /// A registry (`host[:port]`) to log in to with --oci-user and --oci-password. More
    /// registries' credentials can be given at run time with `registry.put`.
    #[arg(long, env = "WASMCLOUD_OCI_REGISTRY")]
    oci_registry: Option<String>,
    /// User name for --oci-registry.
    #[arg(long, env = "WASMCLOUD_OCI_REGISTRY_USER", requires = "oci_registry")]
    oci_user: Option<String>,
    /// Password for --oci-registry.
    #[arg(
        long,
        env = "WASMCLOUD_OCI_REGISTRY_PASSWORD",
        requires = "oci_registry",
        hide_env_values = true
    )]
    oci_password: Option<String>,
    /// Where pulled layers are cached, by digest; hosts of one user share it, so a layer
    /// is downloaded once per machine (lattice addition). Default: the data directory's
    /// `oci`.
    #[arg(long, env = "LATTICE_OCI_CACHE_DIR", value_name = "DIR")]
    oci_cache_dir: Option<PathBuf>,
    /// Largest size of the layer cache, e.g. `10GiB`; beyond it the least recently used
    /// layers that no instance of this host was loaded from are evicted (lattice
    /// addition).
    #[arg(long, env = "LATTICE_OCI_CACHE_SIZE", default_value = "10GiB", value_parser = parse_size, value_name = "SIZE")]
    oci_cache_size: u64,
    /// Refuse providers and components without signed claims (lattice addition). Without
    /// it they start, with an `artifact_unsigned` warning event.
    #[arg(long, env = "LATTICE_REQUIRE_SIGNED")]
    require_signed: bool,
    /// The subject prefix of secrets backends, e.g. `wasmcloud.secrets` (`lattice secrets
    /// serve` is one). Without it, a provider or component that references a secret
    /// (a `SECRET…` config name) does not start.
    #[arg(long, env = "WASMCLOUD_SECRETS_TOPIC")]
    secrets_topic: Option<String>,
    /// Ask the policy service on this subject before starting a provider or a component
    /// (spec §19); a service that does not answer denies.
    #[arg(long, env = "WASMCLOUD_POLICY_TOPIC")]
    policy_topic: Option<String>,
    /// Follow decision changes on this subject (needs --policy-topic).
    #[arg(
        long,
        env = "WASMCLOUD_POLICY_CHANGES_TOPIC",
        requires = "policy_topic"
    )]
    policy_changes_topic: Option<String>,
    /// How long the policy service may take to answer, in milliseconds (default 1000;
    /// needs --policy-topic).
    #[arg(long, env = "WASMCLOUD_POLICY_TIMEOUT", requires = "policy_topic")]
    policy_timeout_ms: Option<u64>,
}

impl TrustArgs {
    /// Fills the host's registry settings; `data_dir` is where the cache goes by default.
    pub(crate) fn apply(&self, config: &mut HostConfig, data_dir: &std::path::Path) {
        let oci = &mut config.oci;
        oci.allow_latest = self.allow_latest.unwrap_or(false);
        oci.allowed_insecure = self
            .allowed_insecure
            .iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        if let (Some(registry), Some(username), Some(password)) =
            (&self.oci_registry, &self.oci_user, &self.oci_password)
        {
            oci.credentials.insert(
                registry.clone(),
                lattice_artifacts::Credential::Basic {
                    username: username.clone(),
                    password: password.clone(),
                },
            );
        }
        oci.cache.dir = self
            .oci_cache_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("oci"));
        oci.cache.max_bytes = self.oci_cache_size;
        config.require_signed = self.require_signed;
        config.secrets_topic = self.secrets_topic.clone().filter(|t| !t.trim().is_empty());
        config.policy = lattice_host::PolicySettings {
            topic: self.policy_topic.clone().filter(|t| !t.trim().is_empty()),
            changes_topic: self.policy_changes_topic.clone(),
            timeout: self.policy_timeout_ms.map(std::time::Duration::from_millis),
        };
    }
}

/// A size such as `512MiB`, `10GiB`, `2GB` or plain bytes.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 512MiB, 10GiB)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use B, KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}
