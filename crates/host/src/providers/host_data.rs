//! Building the HostData for one spawn of a provider (spec §1): fresh `instance_id`
//! every time, the provider's xkey kept across restarts.

use std::collections::BTreeMap;

use lattice_proto::{DEFAULT_LINK_NAME, HostData, InterfaceLinkDefinition, Level, OtelConfig};

/// What every provider of this host gets in its HostData: fixed when the host starts.
#[derive(Clone, Debug)]
pub(crate) struct HostDataTemplate {
    pub(crate) host_id: String,
    pub(crate) lattice: String,
    pub(crate) rpc_url: String,
    /// The rpc connection's JWT and seed (both empty: anonymous).
    pub(crate) rpc_credentials: (String, String),
    pub(crate) host_xkey_public: String,
    pub(crate) rpc_timeout_ms: u64,
    pub(crate) structured_logging: bool,
    pub(crate) log_level: Level,
    pub(crate) otel_config: OtelConfig,
}

/// What varies per provider.
pub(crate) struct ProviderBootstrap<'a> {
    pub(crate) provider_id: &'a str,
    pub(crate) provider_xkey_seed: &'a str,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) links: Vec<InterfaceLinkDefinition>,
}

impl HostDataTemplate {
    /// HostData for a new process of the provider in `bootstrap`.
    pub(crate) fn host_data(&self, bootstrap: ProviderBootstrap<'_>) -> HostData {
        let (jwt, seed) = self.rpc_credentials.clone();
        HostData {
            host_id: self.host_id.clone(),
            lattice_rpc_prefix: self.lattice.clone(),
            link_name: DEFAULT_LINK_NAME.to_string(),
            lattice_rpc_user_jwt: jwt,
            lattice_rpc_user_seed: seed,
            lattice_rpc_url: self.rpc_url.clone(),
            provider_key: bootstrap.provider_id.to_string(),
            env_values: BTreeMap::new(),
            instance_id: uuid::Uuid::new_v4().to_string(),
            link_definitions: bootstrap.links,
            cluster_issuers: Vec::new(),
            config: bootstrap.config,
            secrets: BTreeMap::new(),
            host_xkey_public_key: self.host_xkey_public.clone(),
            provider_xkey_private_key: bootstrap.provider_xkey_seed.to_string(),
            default_rpc_timeout_ms: Some(self.rpc_timeout_ms),
            structured_logging: self.structured_logging,
            log_level: Some(self.log_level),
            otel_config: self.otel_config.clone(),
        }
    }
}
