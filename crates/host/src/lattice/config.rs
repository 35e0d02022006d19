//! `config.put`, `config.get` and `config.del` (spec §3.1, §5.3): one key per named
//! config in `CONFIGDATA_{lattice}`, holding the JSON string map as given.

use std::collections::BTreeMap;

use lattice_proto::provider::LinkDeleteReason;
use lattice_proto::subjects::{ProviderSubjects, is_subject_token};

use super::LatticeState;
use super::links::send_delete;

/// Why a config operation failed; `Display` is the reply text.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error(
        "invalid config name `{0}`: it must be one NATS subject token (no `.`, `*`, `>` or spaces)"
    )]
    Name(String),
    #[error("invalid config.put request: a config must be a JSON object with string values: {0}")]
    NotAStringMap(serde_json::Error),
    #[error("cannot update config in JetStream: {0}")]
    Store(String),
}

impl LatticeState {
    /// Stores config `name`. Links that use it and will change are deleted at their
    /// providers first (confirmed routed by the server); every host re-delivers them
    /// once the write is seen.
    pub(crate) async fn put_config(
        &self,
        name: &str,
        payload: &[u8],
        rpc: &async_nats::Client,
        subjects: &ProviderSubjects,
    ) -> Result<(), ConfigError> {
        check_name(name)?;
        let map: BTreeMap<String, String> =
            serde_json::from_slice(payload).map_err(ConfigError::NotAStringMap)?;
        let current = self.stored(name).await?;
        if !same_config(current.as_deref(), &map) {
            self.retract_links_using(name, rpc, subjects).await;
        }
        self.buckets
            .config
            .put(name, payload.to_vec().into())
            .await
            .map_err(|e| ConfigError::Store(e.to_string()))?;
        Ok(())
    }

    /// The config, if it exists.
    pub(crate) async fn get_config(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, ConfigError> {
        check_name(name)?;
        let bytes = self.stored(name).await?;
        bytes
            .map(|b| {
                serde_json::from_slice(&b).map_err(|e| {
                    ConfigError::Store(format!("`{name}` holds an undecodable config: {e}"))
                })
            })
            .transpose()
    }

    /// Deletes (purges) config `name`; it then counts as empty wherever it is used.
    pub(crate) async fn delete_config(
        &self,
        name: &str,
        rpc: &async_nats::Client,
        subjects: &ProviderSubjects,
    ) -> Result<(), ConfigError> {
        check_name(name)?;
        let current = self.stored(name).await?;
        if current.is_some() {
            self.retract_links_using(name, rpc, subjects).await;
        }
        self.buckets
            .config
            .purge(name)
            .await
            .map_err(|e| ConfigError::Store(e.to_string()))
    }

    /// The stored bytes of config `name`, if any.
    async fn stored(&self, name: &str) -> Result<Option<bytes::Bytes>, ConfigError> {
        let stored = self.buckets.config.get(name).await;
        stored.map_err(|e| ConfigError::Store(e.to_string()))
    }

    async fn retract_links_using(
        &self,
        name: &str,
        rpc: &async_nats::Client,
        subjects: &ProviderSubjects,
    ) {
        let links = self.links_using(name).await.unwrap_or_default();
        for link in &links {
            send_delete(link, Some(LinkDeleteReason::ConfigChanged), rpc, subjects).await;
        }
        // The deletes go out on the rpc connection, the write on the ctl connection, and
        // nothing orders two connections. Once a round trip through the server on the rpc
        // connection returns, the server has routed the deletes, so they reach providers
        // before the re-puts that hosts send after they see the write.
        if !links.is_empty()
            && let Err(error) = crate::nats::server_round_trip(rpc).await
        {
            tracing::warn!(%error, "cannot confirm link deletes reached the server");
        }
    }
}

fn check_name(name: &str) -> Result<(), ConfigError> {
    if is_subject_token(name) {
        Ok(())
    } else {
        Err(ConfigError::Name(name.to_string()))
    }
}

/// `true` if `map` is what `bytes` holds (both as string maps).
fn same_config(bytes: Option<&[u8]>, map: &BTreeMap<String, String>) -> bool {
    bytes
        .and_then(|b| serde_json::from_slice::<BTreeMap<String, String>>(b).ok())
        .is_some_and(|old| &old == map)
}
