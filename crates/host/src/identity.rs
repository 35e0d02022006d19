//! Who a host is: its server nkey, friendly name, per-process xkey and built-in labels.

use std::collections::BTreeMap;

use nkeys::{KeyPair, KeyPairType, XKey};
use rand::Rng as _;
use rand::seq::IndexedRandom as _;

use crate::config::ConfigError;

/// Prefix of the built-in labels. A host's start config may replace them (as `--label`
/// does in the 1.x host); control requests (`label.put`, `label.del`) may not.
pub const RESERVED_LABEL_PREFIX: &str = "hostcore.";

/// True for `hostcore.*` keys, compared case-insensitively (as the 1.x `label.put` does).
pub fn is_reserved_label(key: &str) -> bool {
    key.len() >= RESERVED_LABEL_PREFIX.len()
        && key[..RESERVED_LABEL_PREFIX.len()].eq_ignore_ascii_case(RESERVED_LABEL_PREFIX)
}

/// Parses a server nkey seed (`SN…`).
pub(crate) fn server_key_from_seed(seed: &str) -> Result<KeyPair, ConfigError> {
    let key = KeyPair::from_seed(seed).map_err(|e| ConfigError::HostSeed(e.to_string()))?;
    if key.key_pair_type() != KeyPairType::Server {
        return Err(ConfigError::HostSeed(format!(
            "expected a server seed (SN…), got a {:?} seed",
            key.key_pair_type()
        )));
    }
    Ok(key)
}

/// A host's identity for the lifetime of its process.
pub(crate) struct HostIdentity {
    /// The host ID (`N…`): the public key of its server nkey.
    pub(crate) id: String,
    /// Human-friendly name.
    pub(crate) friendly_name: String,
    /// Curve key of this host process; link secrets are sealed with it for providers.
    pub(crate) xkey: XKey,
}

impl HostIdentity {
    pub(crate) fn new(
        seed: Option<&str>,
        friendly_name: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let key = match seed {
            Some(seed) => server_key_from_seed(seed)?,
            None => KeyPair::new_server(),
        };
        Ok(HostIdentity {
            id: key.public_key(),
            friendly_name: friendly_name.map_or_else(random_friendly_name, str::to_string),
            xkey: XKey::new(),
        })
    }
}

/// The `hostcore.*` labels: Rust's `ARCH`, `OS` and `FAMILY`.
pub(crate) fn builtin_labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "hostcore.arch".to_string(),
            std::env::consts::ARCH.to_string(),
        ),
        ("hostcore.os".to_string(), std::env::consts::OS.to_string()),
        (
            "hostcore.osfamily".to_string(),
            std::env::consts::FAMILY.to_string(),
        ),
    ])
}

const ADJECTIVES: &[&str] = &[
    "amber", "bold", "brisk", "calm", "clever", "crimson", "dapper", "eager", "fancy", "gentle",
    "golden", "hidden", "icy", "jolly", "keen", "lively", "mellow", "nimble", "odd", "plain",
    "quiet", "rapid", "silent", "steady", "swift", "tidy", "vivid", "wild", "young", "zesty",
];

const NOUNS: &[&str] = &[
    "anchor", "badger", "beacon", "brook", "canyon", "cedar", "comet", "delta", "ember", "falcon",
    "fjord", "glacier", "harbor", "heron", "island", "lantern", "meadow", "nebula", "orchid",
    "otter", "pebble", "quartz", "raven", "ridge", "summit", "thicket", "tundra", "valley",
    "willow", "zephyr",
];

/// A random `adjective-noun-NNNN` name.
pub(crate) fn random_friendly_name() -> String {
    let mut rng = rand::rng();
    let adjective = ADJECTIVES.choose(&mut rng).expect("word list is not empty");
    let noun = NOUNS.choose(&mut rng).expect("word list is not empty");
    format!("{adjective}-{noun}-{:04}", rng.random_range(0..10_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_labels_are_case_insensitive() {
        assert!(is_reserved_label("hostcore.os"));
        assert!(is_reserved_label("HOSTCORE.anything"));
        assert!(!is_reserved_label("hostcore"));
        assert!(!is_reserved_label("zone"));
    }

    #[test]
    fn seeds_must_be_server_seeds() {
        let server = KeyPair::new_server();
        let id = HostIdentity::new(Some(&server.seed().unwrap()), Some("h")).unwrap();
        assert_eq!(id.id, server.public_key());
        assert_eq!(id.friendly_name, "h");
        let user = KeyPair::new_user();
        assert!(HostIdentity::new(Some(&user.seed().unwrap()), None).is_err());
    }

    #[test]
    fn friendly_names_have_three_parts() {
        let name = random_friendly_name();
        let parts: Vec<_> = name.split('-').collect();
        assert_eq!(parts.len(), 3, "{name}");
        assert_eq!(parts[2].len(), 4);
    }
}
