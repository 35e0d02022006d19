//! Links (spec §2): the control-plane [`Link`] that names configs, and the
//! provider-facing [`InterfaceLinkDefinition`] that carries resolved values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::default_link_name;

/// A link as the control interface, the KV specs and the `linkdef_*` events carry it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Link {
    /// The component or provider that calls.
    pub source_id: String,
    /// The component or provider that is called.
    pub target: String,
    /// Link name (default `"default"`).
    #[serde(default = "default_link_name")]
    pub name: String,
    /// WIT namespace, e.g. `wasi`.
    pub wit_namespace: String,
    /// WIT package, e.g. `keyvalue`.
    pub wit_package: String,
    /// WIT interfaces, e.g. `["store"]`.
    pub interfaces: Vec<String>,
    /// Names of configs (or `SECRET*` references) for the source side.
    #[serde(default)]
    pub source_config: Vec<String>,
    /// Names of configs (or `SECRET*` references) for the target side.
    #[serde(default)]
    pub target_config: Vec<String>,
}

/// A link as a provider receives it: config names resolved to values, secrets sealed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceLinkDefinition {
    /// The component or provider that calls.
    pub source_id: String,
    /// The component or provider that is called.
    pub target: String,
    /// Link name (default `"default"`).
    #[serde(default = "default_link_name")]
    pub name: String,
    /// WIT namespace.
    pub wit_namespace: String,
    /// WIT package.
    pub wit_package: String,
    /// WIT interfaces.
    pub interfaces: Vec<String>,
    /// Merged source-side config.
    #[serde(default)]
    pub source_config: BTreeMap<String, String>,
    /// Merged target-side config.
    #[serde(default)]
    pub target_config: BTreeMap<String, String>,
    /// Source-side secrets, xkey-sealed for the receiving provider; always serialized.
    #[serde(default)]
    pub source_secrets: Option<Vec<u8>>,
    /// Target-side secrets, xkey-sealed for the receiving provider; always serialized.
    #[serde(default)]
    pub target_secrets: Option<Vec<u8>>,
}

/// Body of ctl `link.del`: a link's identity (target and interfaces are not part of it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteInterfaceLinkDefinitionRequest {
    /// Source of the link.
    pub source_id: String,
    /// Link name (default `"default"`).
    #[serde(default = "default_link_name")]
    pub name: String,
    /// WIT namespace.
    pub wit_namespace: String,
    /// WIT package.
    pub wit_package: String,
}

impl InterfaceLinkDefinition {
    /// `link` as a provider receives it, with each side's config already resolved
    /// and no secrets.
    pub fn resolved(
        link: &Link,
        source_config: BTreeMap<String, String>,
        target_config: BTreeMap<String, String>,
    ) -> Self {
        InterfaceLinkDefinition {
            source_id: link.source_id.clone(),
            target: link.target.clone(),
            name: link.name.clone(),
            wit_namespace: link.wit_namespace.clone(),
            wit_package: link.wit_package.clone(),
            interfaces: link.interfaces.clone(),
            source_config,
            target_config,
            source_secrets: None,
            target_secrets: None,
        }
    }

    /// The identity-only form a host sends on `linkdefs.del`: config emptied, secrets null.
    pub fn for_delete(link: &Link) -> Self {
        Self::resolved(link, BTreeMap::new(), BTreeMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_name_defaults_and_secrets_are_always_written() {
        let def: InterfaceLinkDefinition = serde_json::from_str(
            r#"{"source_id":"a","target":"b","wit_namespace":"wasi","wit_package":"kv","interfaces":["store"]}"#,
        )
        .unwrap();
        assert_eq!(def.name, "default");
        let json = serde_json::to_value(&def).unwrap();
        assert!(json["source_secrets"].is_null());
        assert!(json.as_object().unwrap().contains_key("target_secrets"));
    }

    #[test]
    fn ctl_link_requires_interfaces() {
        let err = serde_json::from_str::<Link>(
            r#"{"source_id":"a","target":"b","wit_namespace":"wasi","wit_package":"kv"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("interfaces"), "{err}");
    }
}
