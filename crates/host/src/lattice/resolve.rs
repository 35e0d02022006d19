//! Named config merging (spec §7) and link resolution for providers (spec §2.3).

use std::collections::{BTreeMap, HashMap};

use lattice_proto::{InterfaceLinkDefinition, Link};

/// Names starting with this are secret references, not config.
pub(crate) const SECRET_PREFIX: &str = "SECRET";

pub(crate) type ConfigMap = BTreeMap<String, String>;

/// Merges `names` in order (later wins); a missing or deleted config counts as empty;
/// secret references are skipped.
pub(crate) fn merge(configs: &HashMap<String, ConfigMap>, names: &[String]) -> ConfigMap {
    let mut merged = ConfigMap::new();
    for name in names.iter().filter(|n| !n.starts_with(SECRET_PREFIX)) {
        if let Some(config) = configs.get(name) {
            merged.extend(config.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    merged
}

/// The link as a provider receives it: both sides' config names resolved. Secrets are
/// sealed later, per receiving provider (see [`LinkSecretRefs`]).
pub(crate) fn resolve(
    configs: &HashMap<String, ConfigMap>,
    link: &Link,
) -> InterfaceLinkDefinition {
    InterfaceLinkDefinition::resolved(
        link,
        merge(configs, &link.source_config),
        merge(configs, &link.target_config),
    )
}

/// The secret references of one link side: each `SECRET*` config name with the
/// reference it holds now (`None`: it does not exist).
pub(crate) type SecretRefs = Vec<(String, Option<ConfigMap>)>;

/// A link's secret references, by side: what a receiving provider's sealed
/// `source_secrets` / `target_secrets` are made from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LinkSecretRefs {
    pub(crate) source: SecretRefs,
    pub(crate) target: SecretRefs,
}

impl LinkSecretRefs {
    /// `link`'s references, read from `configs`.
    pub(crate) fn of(configs: &HashMap<String, ConfigMap>, link: &Link) -> Self {
        let side = |names: &[String]| {
            names
                .iter()
                .filter(|n| n.starts_with(SECRET_PREFIX))
                .map(|n| (n.clone(), configs.get(n).cloned()))
                .collect()
        };
        LinkSecretRefs {
            source: side(&link.source_config),
            target: side(&link.target_config),
        }
    }

    /// True if neither side names a secret.
    pub(crate) fn is_empty(&self) -> bool {
        self.source.is_empty() && self.target.is_empty()
    }
}

/// True if `link` names config `name` on either side.
pub(crate) fn uses_config(link: &Link, name: &str) -> bool {
    link.source_config
        .iter()
        .chain(&link.target_config)
        .any(|n| n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn later_configs_win_and_missing_ones_are_empty() {
        let configs = HashMap::from([
            ("a".to_string(), map(&[("URL", "one"), ("TTL", "60")])),
            ("b".to_string(), map(&[("URL", "two")])),
        ]);
        let names = ["a", "gone", "b", "SECRET_x"].map(String::from);
        assert_eq!(
            merge(&configs, &names),
            map(&[("URL", "two"), ("TTL", "60")])
        );
        let names = ["b", "a"].map(String::from);
        assert_eq!(merge(&configs, &names)["URL"], "one");
    }
}
