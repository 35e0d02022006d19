//! Links as a provider sees them: its role, its side's config, and its side's secrets
//! opened with the provider's xkey.

use std::collections::{BTreeMap, HashMap};

use lattice_proto::{InterfaceLinkDefinition, SecretValue};
use nkeys::XKey;

/// Which end of a link this provider is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkRole {
    /// The provider calls `target`.
    Source,
    /// `source_id` calls the provider.
    Target,
}

/// A link put, from this provider's point of view.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// The link as delivered (both sides' config; secrets still sealed).
    pub link: InterfaceLinkDefinition,
    /// This provider's role.
    pub role: LinkRole,
    /// This provider's side of the config.
    pub config: BTreeMap<String, String>,
    /// This provider's side of the secrets, opened.
    pub secrets: BTreeMap<String, SecretValue>,
}

impl LinkConfig {
    /// The other end of the link.
    pub fn peer(&self) -> &str {
        match self.role {
            LinkRole::Source => &self.link.target,
            LinkRole::Target => &self.link.source_id,
        }
    }
}

/// Why a delivered link was dropped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    #[error("the link names neither {0} as source nor as target")]
    NotOurs(String),
    #[error("cannot open the link's secrets: {0}")]
    Seal(String),
    #[error("the link's secrets are not a map of secret values: {0}")]
    Secrets(serde_json::Error),
}

/// The provider's role in `link`, if it has one.
pub(crate) fn role_of(link: &InterfaceLinkDefinition, provider_id: &str) -> Option<LinkRole> {
    if link.source_id == provider_id {
        Some(LinkRole::Source)
    } else if link.target == provider_id {
        Some(LinkRole::Target)
    } else {
        None
    }
}

/// Resolves `link` for this provider: role, config and opened secrets.
pub(crate) fn resolve(
    link: InterfaceLinkDefinition,
    provider_id: &str,
    keys: Option<(&XKey, &XKey)>,
) -> Result<LinkConfig, LinkError> {
    let role =
        role_of(&link, provider_id).ok_or_else(|| LinkError::NotOurs(provider_id.to_string()))?;
    let (config, sealed) = match role {
        LinkRole::Source => (link.source_config.clone(), link.source_secrets.as_deref()),
        LinkRole::Target => (link.target_config.clone(), link.target_secrets.as_deref()),
    };
    let secrets = match (sealed, keys) {
        (Some(sealed), Some((provider_key, host_key))) => {
            let plain = provider_key
                .open(sealed, host_key)
                .map_err(|e| LinkError::Seal(e.to_string()))?;
            let map: HashMap<String, SecretValue> =
                serde_json::from_slice(&plain).map_err(LinkError::Secrets)?;
            map.into_iter().collect()
        }
        (Some(_), None) => return Err(LinkError::Seal("the host sent no xkeys".into())),
        (None, _) => BTreeMap::new(),
    };
    Ok(LinkConfig {
        link,
        role,
        config,
        secrets,
    })
}

/// Identity of a link for duplicate detection, as the official SDK keys it.
pub(crate) fn identity(link: &InterfaceLinkDefinition) -> (String, String, String, String, String) {
    (
        link.source_id.clone(),
        link.target.clone(),
        link.wit_namespace.clone(),
        link.wit_package.clone(),
        link.name.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> InterfaceLinkDefinition {
        InterfaceLinkDefinition {
            source_id: "comp".into(),
            target: "kv".into(),
            name: "default".into(),
            wit_namespace: "wasi".into(),
            wit_package: "keyvalue".into(),
            interfaces: vec!["store".into()],
            source_config: BTreeMap::from([("s".into(), "1".into())]),
            target_config: BTreeMap::from([("t".into(), "2".into())]),
            source_secrets: None,
            target_secrets: None,
        }
    }

    #[test]
    fn sealed_secrets_open_for_the_right_side() {
        let host = XKey::new();
        let provider = XKey::new();
        let provider_public = XKey::from_public_key(&provider.public_key()).unwrap();
        let secrets = serde_json::to_vec(&BTreeMap::from([(
            "password".to_string(),
            SecretValue::String("hunter2".into()),
        )]))
        .unwrap();
        let mut l = link();
        l.target_secrets = Some(host.seal(&secrets, &provider_public).unwrap());
        let host_public = XKey::from_public_key(&host.public_key()).unwrap();
        let resolved = resolve(l, "kv", Some((&provider, &host_public))).unwrap();
        assert_eq!(resolved.role, LinkRole::Target);
        assert_eq!(resolved.peer(), "comp");
        assert_eq!(resolved.config["t"], "2");
        assert_eq!(
            resolved.secrets["password"],
            SecretValue::String("hunter2".into())
        );
    }

    #[test]
    fn links_of_others_are_refused() {
        assert!(matches!(
            resolve(link(), "other", None),
            Err(LinkError::NotOurs(_))
        ));
    }
}
