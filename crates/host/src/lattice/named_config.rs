//! `config.put`, `config.get` and `config.del` (spec §3.1, §5.3): one key per named
//! config in `CONFIGDATA_{lattice}`, holding the JSON string map as given.

use std::collections::BTreeMap;

use lattice_proto::subjects::is_subject_token;

use super::LatticeState;

/// Why a config operation failed; `Display` is the reply text.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NamedConfigError {
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
    /// Stores config `name`. Every host sees the write and re-delivers what changed to
    /// its providers (merged configs, and links that use it, as re-puts).
    pub(crate) async fn put_config(
        &self,
        name: &str,
        payload: &[u8],
    ) -> Result<(), NamedConfigError> {
        check_name(name)?;
        let config: super::ConfigMap =
            serde_json::from_slice(payload).map_err(NamedConfigError::NotAStringMap)?;
        let revision = self
            .buckets
            .config
            .put(name, payload.to_vec().into())
            .await
            .map_err(|e| NamedConfigError::Store(e.to_string()))?;
        // Components and providers here see it before the write is acknowledged.
        self.config_written(name, revision, config).await;
        Ok(())
    }

    /// The config, if it exists.
    pub(crate) async fn get_config(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, NamedConfigError> {
        check_name(name)?;
        let bytes = self.stored(name).await?;
        bytes
            .map(|b| {
                serde_json::from_slice(&b).map_err(|e| {
                    NamedConfigError::Store(format!("`{name}` holds an undecodable config: {e}"))
                })
            })
            .transpose()
    }

    /// Deletes (purges) config `name`; it then counts as empty wherever it is used.
    pub(crate) async fn delete_config(&self, name: &str) -> Result<(), NamedConfigError> {
        check_name(name)?;
        self.buckets
            .config
            .purge(name)
            .await
            .map_err(|e| NamedConfigError::Store(e.to_string()))
    }

    /// The stored bytes of config `name`, if any.
    async fn stored(&self, name: &str) -> Result<Option<bytes::Bytes>, NamedConfigError> {
        let stored = self.buckets.config.get(name).await;
        stored.map_err(|e| NamedConfigError::Store(e.to_string()))
    }
}

fn check_name(name: &str) -> Result<(), NamedConfigError> {
    if is_subject_token(name) {
        Ok(())
    } else {
        Err(NamedConfigError::Name(name.to_string()))
    }
}
