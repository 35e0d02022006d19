//! Secrets for what this host runs (spec §8): secret references in an entity's config
//! names resolved through the backends under `--secrets-topic`, presented with the
//! entity's claims JWT and this host's own JWT (spec §11: self-signed by a per-process
//! account key). Values are held as `SecretValue`, whose `Debug` prints none.

use std::collections::BTreeMap;
use std::sync::Arc;

use lattice_proto::SecretValue;
use lattice_secrets::types::{Application, Context, SECRET_PREFIX, SecretReference};
use lattice_secrets::{SecretsClient, SecretsError};

use lattice_proto::InterfaceLinkDefinition;

use crate::lattice::LatticeState;
use crate::lattice::resolve::{LinkSecretRefs, SecretRefs};

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

/// What this host presents to secrets backends, and the xkey it seals link secrets
/// with. Cheap to clone.
#[derive(Clone)]
pub(crate) struct HostSecrets {
    client: Option<Arc<SecretsClient>>,
    host_jwt: Arc<str>,
    host_xkey: Arc<nkeys::XKey>,
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
        host_xkey: &nkeys::XKey,
    ) -> Self {
        let seed = host_xkey.seed().expect("the host's xkey has its seed");
        HostSecrets {
            client: topic.map(|t| Arc::new(SecretsClient::new(ctl, t, timeout))),
            host_jwt: host_jwt(host_id, friendly_name).into(),
            host_xkey: Arc::new(nkeys::XKey::from_seed(&seed).expect("a seed round-trips")),
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
        let mut refs: SecretRefs = Vec::new();
        for config in names.iter().filter(|n| n.starts_with(SECRET_PREFIX)) {
            let stored = lattice
                .get_config(config)
                .await
                .map_err(|e| ResolveError::Reference(format!("cannot read `{config}`: {e}")))?;
            refs.push((config.clone(), stored));
        }
        self.fetch(&refs, entity_jwt, application).await
    }

    /// The secrets `refs` name, fetched for the entity with claims `entity_jwt`.
    pub(crate) async fn fetch(
        &self,
        refs: &SecretRefs,
        entity_jwt: Option<&str>,
        application: Option<&str>,
    ) -> Result<BTreeMap<String, SecretValue>, ResolveError> {
        let mut secrets = BTreeMap::new();
        for (config, stored) in refs {
            let fail = |source| ResolveError::Fetch {
                config: config.clone(),
                source,
            };
            let client = self
                .client
                .as_ref()
                .ok_or_else(|| fail(SecretsError::NotConfigured))?;
            let stored = stored.as_ref().ok_or_else(|| {
                ResolveError::Reference(format!("the secret reference `{config}` does not exist"))
            })?;
            let reference =
                SecretReference::from_config(config, stored).map_err(ResolveError::Reference)?;
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

    /// Fills `link`'s sealed secrets for the provider instance whose xkey is
    /// `provider_xkey`: each side's secrets fetched for that provider (its claims
    /// `entity_jwt`, as 1.9.2 does for both sides) and sealed with the host's xkey to
    /// it. A side without secret references stays `None`.
    pub(crate) async fn seal_link(
        &self,
        link: &mut InterfaceLinkDefinition,
        refs: &LinkSecretRefs,
        entity_jwt: Option<&str>,
        provider_xkey: &str,
    ) -> Result<(), ResolveError> {
        let recipient = nkeys::XKey::from_public_key(provider_xkey).map_err(|e| {
            ResolveError::Reference(format!("the provider's xkey is not usable: {e}"))
        })?;
        for (refs, sealed) in [
            (&refs.source, &mut link.source_secrets),
            (&refs.target, &mut link.target_secrets),
        ] {
            if refs.is_empty() {
                continue;
            }
            let secrets = self.fetch(refs, entity_jwt, None).await?;
            let plain = serde_json::to_vec(&secrets).expect("secrets encode");
            *sealed = Some(self.host_xkey.seal(&plain, &recipient).map_err(|e| {
                ResolveError::Reference(format!("cannot seal the link's secrets: {e}"))
            })?);
        }
        Ok(())
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
