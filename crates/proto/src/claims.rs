//! Claims as hosts store them in `LATTICEDATA_{lattice}` under `CLAIMS_{subject}` and
//! serve them on `claims.get` (spec §3.1, §5.1).
//!
//! Stored provider claims are `{"issuer","name","revision","subject","version",
//! "config_schema"?}` (all strings), component claims `{"call_alias","issuer","name",
//! "revision","subject","tags":[…],"version"}`; decoding also accepts `iss`/`rev`/`sub`
//! and `tags` as a comma-joined string, as the 1.x host does. `claims.get` answers a
//! list of string maps carrying both the long and the short key names.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// Key prefix of stored claims.
pub const CLAIMS_PREFIX: &str = "CLAIMS_";

/// Stored claims of a component or a provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StoredClaims {
    /// A component's claims (it has `call_alias` and `tags`).
    Component(StoredComponentClaims),
    /// A provider's claims.
    Provider(StoredProviderClaims),
}

/// A component's stored claims.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredComponentClaims {
    /// Call alias (`""` when none).
    pub call_alias: String,
    /// Issuer (account key `A…`).
    #[serde(alias = "iss")]
    pub issuer: String,
    /// Name (`""` when none).
    pub name: String,
    /// Revision as a decimal string.
    #[serde(alias = "rev")]
    pub revision: String,
    /// Subject (module key `M…`).
    #[serde(alias = "sub")]
    pub subject: String,
    /// Tags.
    #[serde(deserialize_with = "list_or_comma_string")]
    pub tags: Vec<String>,
    /// Version (`""` when none).
    pub version: String,
}

/// A provider's stored claims.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredProviderClaims {
    /// Issuer (account key `A…`).
    #[serde(alias = "iss")]
    pub issuer: String,
    /// Name (`""` when none).
    pub name: String,
    /// Revision as a decimal string (`"0"` when none).
    #[serde(alias = "rev")]
    pub revision: String,
    /// Subject (service key `V…`).
    #[serde(alias = "sub")]
    pub subject: String,
    /// Version (`""` when none).
    pub version: String,
    /// The provider's config schema, as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<String>,
}

impl StoredClaims {
    /// The subject the claims are stored under.
    pub fn subject(&self) -> &str {
        match self {
            StoredClaims::Component(c) => &c.subject,
            StoredClaims::Provider(c) => &c.subject,
        }
    }

    /// The KV key: `CLAIMS_{subject}`.
    pub fn key(&self) -> String {
        format!("{CLAIMS_PREFIX}{}", self.subject())
    }

    /// The `claims.get` entry, with both the long and the short key names.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let pairs = match self.clone() {
            StoredClaims::Component(c) => vec![
                ("call_alias", c.call_alias),
                ("iss", c.issuer.clone()),
                ("issuer", c.issuer),
                ("name", c.name),
                ("rev", c.revision.clone()),
                ("revision", c.revision),
                ("sub", c.subject.clone()),
                ("subject", c.subject),
                ("tags", c.tags.join(",")),
                ("version", c.version),
            ],
            StoredClaims::Provider(c) => vec![
                ("iss", c.issuer.clone()),
                ("issuer", c.issuer),
                ("name", c.name),
                ("rev", c.revision.clone()),
                ("revision", c.revision),
                ("sub", c.subject.clone()),
                ("subject", c.subject),
                ("version", c.version),
                ("config_schema", c.config_schema.unwrap_or_default()),
            ],
        };
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

fn list_or_comma_string<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Tags {
        List(Vec<String>),
        Joined(String),
    }
    Ok(match Tags::deserialize(d)? {
        Tags::List(list) => list,
        Tags::Joined(s) if s.is_empty() => Vec::new(),
        Tags::Joined(s) => s.split(',').map(String::from).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_and_component_claims_decode_with_either_key_names() {
        let provider: StoredClaims = serde_json::from_str(
            r#"{"iss":"AISS","name":"kv","rev":"3","sub":"VSUB","version":"0.1.0"}"#,
        )
        .unwrap();
        assert!(
            matches!(&provider, StoredClaims::Provider(p) if p.issuer == "AISS" && p.revision == "3")
        );
        assert_eq!(provider.key(), "CLAIMS_VSUB");
        let component: StoredClaims = serde_json::from_str(
            r#"{"call_alias":"","issuer":"AISS","name":"c","revision":"1","subject":"MSUB","tags":"a,b","version":""}"#,
        )
        .unwrap();
        let StoredClaims::Component(c) = &component else {
            panic!("{component:?}")
        };
        assert_eq!(c.tags, ["a", "b"]);
        assert_eq!(component.to_map()["tags"], "a,b");
        assert_eq!(component.to_map()["sub"], "MSUB");
    }

    #[test]
    fn provider_entries_carry_the_1x_keys() {
        let claims = StoredClaims::Provider(StoredProviderClaims {
            issuer: "AISS".into(),
            name: "kv".into(),
            revision: "0".into(),
            subject: "VSUB".into(),
            version: "1.0".into(),
            config_schema: None,
        });
        let map = claims.to_map();
        let keys: Vec<_> = map.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "config_schema",
                "iss",
                "issuer",
                "name",
                "rev",
                "revision",
                "sub",
                "subject",
                "version"
            ]
        );
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"issuer":"AISS","name":"kv","revision":"0","subject":"VSUB","version":"1.0"})
        );
    }
}
