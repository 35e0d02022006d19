//! Secrets for what this host runs (spec §8): secret references in an entity's config
//! names resolved through the backends under `--secrets-topic`, presented with the
//! entity's claims JWT and this host's own JWT (spec §11: self-signed by a per-process
//! account key). Values are held as `SecretValue`, whose `Debug` prints none.

use std::collections::BTreeMap;
use std::sync::Arc;

use lattice_proto::SecretValue;
use lattice_secrets::types::{Application, Context, SECRET_PREFIX, SecretReference};
use lattice_secrets::{SecretsClient, SecretsError};

use crate::lattice::LatticeState;

/// Why an entity's secrets could not be resolved; names the reference, never a value.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResolveError {
    /// Fetching failed (no backend configured, no entity JWT, the backend's answer).
    #[error("cannot fetch the secret of `{config}`: {source}")]
    Fetch {
        /// The config name of the reference.
        config: String,
        #[source]
        source: SecretsError,
    },
    /// The reference itself is missing or incomplete.
    #[error("{0}")]
    Reference(String),
}

/// What this host presents to secrets backends. Cheap to clone.
#[derive(Clone)]
pub(crate) struct HostSecrets {
    client: Option<Arc<SecretsClient>>,
    host_jwt: Arc<str>,
}

impl HostSecrets {
    /// With `topic` (`--secrets-topic`), secrets are fetched through `ctl`; without,
    /// any secret reference fails to resolve (as in 1.9.2, but with its reason).
    pub(crate) fn new(
        ctl: async_nats::Client,
        topic: Option<&str>,
        timeout: std::time::Duration,
        host_id: &str,
        friendly_name: &str,
    ) -> Self {
        HostSecrets {
            client: topic.map(|t| Arc::new(SecretsClient::new(ctl, t, timeout))),
            host_jwt: host_jwt(host_id, friendly_name).into(),
        }
    }

    /// The secrets map for the `SECRET*` names among `names`: each reference read from
    /// named config and fetched for the entity with claims `entity_jwt`. No secret
    /// names: an empty map, whatever the configuration.
    pub(crate) async fn resolve(
        &self,
        lattice: &LatticeState,
        names: &[String],
        entity_jwt: Option<&str>,
        application: Option<&str>,
    ) -> Result<BTreeMap<String, SecretValue>, ResolveError> {
        let mut secrets = BTreeMap::new();
        for config in names.iter().filter(|n| n.starts_with(SECRET_PREFIX)) {
            let fail = |source| ResolveError::Fetch {
                config: config.clone(),
                source,
            };
            let client = self
                .client
                .as_ref()
                .ok_or_else(|| fail(SecretsError::NotConfigured))?;
            let stored = lattice
                .get_config(config)
                .await
                .map_err(|e| ResolveError::Reference(format!("cannot read `{config}`: {e}")))?
                .ok_or_else(|| {
                    ResolveError::Reference(format!(
                        "the secret reference `{config}` does not exist"
                    ))
                })?;
            let reference =
                SecretReference::from_config(config, &stored).map_err(ResolveError::Reference)?;
            let context = Context {
                entity_jwt: entity_jwt.unwrap_or_default().to_string(),
                host_jwt: self.host_jwt.to_string(),
                application: Application {
                    name: application.map(str::to_string),
                    policy: reference.policy.clone(),
                },
            };
            let value = client.get(&reference, &context).await.map_err(fail)?;
            secrets.insert(reference.name.clone(), value);
        }
        Ok(secrets)
    }
}

/// The host's JWT for secrets backends (spec §11): claims about the host (`sub` = its
/// ID, `wascap` = its name and `labels.self_signed`), signed by a fresh account key.
fn host_jwt(host_id: &str, friendly_name: &str) -> String {
    let issuer = nkeys::KeyPair::new_account();
    let claims = lattice_artifacts::jwt::new_claims(
        &issuer.public_key(),
        host_id,
        serde_json::json!({"name": friendly_name, "labels": {"self_signed": "true"}}),
    );
    lattice_artifacts::jwt::sign(&claims, &issuer).expect("a fresh account key signs")
}
