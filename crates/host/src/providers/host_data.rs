//! Building the HostData for one spawn of a provider (spec §1): fresh `instance_id`
//! every time, the provider's xkey kept across restarts.

use std::collections::BTreeMap;

use lattice_proto::{DEFAULT_LINK_NAME, HostData, InterfaceLinkDefinition, OtelConfig};

use crate::HostContext;

/// What varies per provider.
pub(crate) struct ProviderBootstrap<'a> {
    pub(crate) provider_id: &'a str,
    pub(crate) provider_xkey_seed: &'a str,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) links: Vec<InterfaceLinkDefinition>,
}

impl HostContext {
    /// HostData for a new process of the provider in `bootstrap`.
    pub(crate) fn host_data(&self, bootstrap: ProviderBootstrap<'_>) -> HostData {
        let (jwt, seed) = self.rpc_credentials.clone();
        HostData {
            host_id: self.identity.id.clone(),
            lattice_rpc_prefix: self.config.lattice.clone(),
            link_name: DEFAULT_LINK_NAME.to_string(),
            lattice_rpc_user_jwt: jwt,
            lattice_rpc_user_seed: seed,
            lattice_rpc_url: self.config.rpc_nats.url.clone(),
            provider_key: bootstrap.provider_id.to_string(),
            env_values: BTreeMap::new(),
            instance_id: uuid::Uuid::new_v4().to_string(),
            link_definitions: bootstrap.links,
            cluster_issuers: Vec::new(),
            config: bootstrap.config,
            secrets: BTreeMap::new(),
            host_xkey_public_key: self.identity.xkey.public_key(),
            provider_xkey_private_key: bootstrap.provider_xkey_seed.to_string(),
            default_rpc_timeout_ms: Some(self.config.rpc_timeout.as_millis() as u64),
            structured_logging: self.config.structured_logging,
            log_level: Some(self.config.log_level),
            otel_config: OtelConfig::default(),
        }
    }
}
