//! The documents of the secrets protocol (spec §8), as wasmCloud 1.9.2's
//! `wasmcloud-secrets-types` writes and reads them.

use std::collections::BTreeMap;

use lattice_proto::SecretValue;
use serde::{Deserialize, Serialize};

/// Config names starting with this are secret references.
pub const SECRET_PREFIX: &str = "SECRET";
/// The API version in every subject.
pub const API_VERSION: &str = "v1alpha1";
/// The header carrying the requester's ephemeral public xkey.
pub const HOST_XKEY_HEADER: &str = "WasmCloud-Host-Xkey";
/// The header carrying the backend's ephemeral public xkey on a success.
pub const RESPONSE_XKEY_HEADER: &str = "Server-Response-Xkey";
/// The `type` of a secret reference.
pub const REFERENCE_TYPE: &str = "secret.wasmcloud.dev/v1alpha1";

/// A secret reference, as stored in named config under a `SECRET…` name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretReference {
    /// The name the entity sees the secret under.
    pub name: String,
    /// The backend (a subject token), e.g. `nats-kv`.
    pub backend: String,
    /// The key in the backend.
    pub key: String,
    /// An optional field of the secret.
    pub field: Option<String>,
    /// An optional version.
    pub version: Option<String>,
    /// The policy, a JSON string (passed to the backend as it is).
    pub policy: String,
}

impl SecretReference {
    /// Reads a reference from the named config `config_name` holds; an error names what is
    /// missing.
    pub fn from_config(
        config_name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let required = |key: &str| {
            config
                .get(key)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or_else(|| format!("the secret reference `{config_name}` has no `{key}`"))
        };
        Ok(SecretReference {
            name: required("name")?,
            backend: required("backend")?,
            key: required("key")?,
            field: config.get("field").cloned().filter(|f| !f.is_empty()),
            version: config.get("version").cloned().filter(|v| !v.is_empty()),
            policy: config.get("policy").cloned().unwrap_or_default(),
        })
    }
}

/// What a requester asks a backend for (sealed to the backend's xkey).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRequest {
    /// The backend key.
    pub key: String,
    /// An optional field.
    pub field: Option<String>,
    /// An optional version.
    pub version: Option<String>,
    /// Who asks.
    pub context: Context,
}

/// Who asks for a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// The claims JWT of the component or provider the secret is for.
    pub entity_jwt: String,
    /// The JWT of the host asking.
    pub host_jwt: String,
    /// The application it belongs to.
    pub application: Application,
}

/// The application an entity belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// The `wasmcloud.dev/appspec` annotation.
    pub name: Option<String>,
    /// The reference's policy (a JSON string).
    #[serde(default)]
    pub policy: String,
}

/// A backend's answer: `{"secret": …}` (sealed) or `{"error": …}` (plain).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretResponse {
    /// The secret, on a success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// Why not, on a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<GetSecretError>,
}

impl std::fmt::Debug for SecretResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretResponse")
            .field("secret", &self.secret.as_ref().map(|_| "<hidden>"))
            .field("error", &self.error)
            .finish()
    }
}

/// A secret as a backend returns it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// Its version.
    #[serde(default)]
    pub version: String,
    /// A text secret.
    #[serde(default)]
    pub string_secret: Option<String>,
    /// A binary secret.
    #[serde(default)]
    pub binary_secret: Option<Vec<u8>>,
}

impl Secret {
    /// The value: the text if there is one, else the bytes.
    pub fn value(self) -> Option<SecretValue> {
        match (self.string_secret, self.binary_secret) {
            (Some(text), _) => Some(SecretValue::String(text)),
            (None, Some(bytes)) => Some(SecretValue::Bytes(bytes)),
            (None, None) => None,
        }
    }
}

/// Why a backend refused (externally tagged, with 1.9.2's variants and texts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum GetSecretError {
    /// The entity's (or the host's) JWT is not valid.
    #[error("Invalid Entity JWT: {0}")]
    InvalidEntityJWT(String),
    /// The host's JWT is not valid.
    #[error("Invalid Host JWT: {0}")]
    InvalidHostJWT(String),
    /// No such secret.
    #[error("Secret not found")]
    SecretNotFound,
    /// The requester's xkey is missing or not usable.
    #[error("Invalid XKey")]
    InvalidXKey,
    /// The answer could not be sealed.
    #[error("Error encrypting secret")]
    EncryptionError,
    /// The request (or the stored value) could not be opened.
    #[error("Error decrypting secret")]
    DecryptionError,
    /// The backend's store failed.
    #[error("Error fetching secret: {0}")]
    UpstreamError(String),
    /// The entity may not read it.
    #[error("Error fetching secret: unauthorized")]
    Unauthorized,
    /// The request is not a `SecretRequest`.
    #[error("Invalid request")]
    InvalidRequest,
    /// The request is empty.
    #[error("Invalid payload")]
    InvalidPayload,
    /// The request has no headers.
    #[error("Invalid headers")]
    InvalidHeaders,
    /// A policy refused.
    #[error("Error processing policies: ${0}")]
    PolicyError(String),
    /// Anything else.
    #[error("Encountered an unknown error fetching secret: {0}")]
    Other(String),
}

/// What `put_secret` carries (sealed to the backend's xkey), as 1.9.2's
/// `secrets-nats-kv` takes it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutSecretRequest {
    /// The backend key.
    pub key: String,
    /// Ignored by the backend (the KV revision is the version), but required on the wire.
    #[serde(default)]
    pub version: String,
    /// A text value.
    #[serde(default)]
    pub string_secret: Option<String>,
    /// A binary value.
    #[serde(default)]
    pub binary_secret: Option<Vec<u8>>,
}

impl std::fmt::Debug for PutSecretRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutSecretRequest")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The answer to `put_secret`: the new revision, or why not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutSecretResponse {
    /// The KV revision written (0 on an error).
    pub revision: u64,
    /// Why not.
    #[serde(default)]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shapes_are_the_official_ones() {
        let errors = serde_json::to_value([
            GetSecretError::SecretNotFound,
            GetSecretError::PolicyError("no".into()),
        ])
        .unwrap();
        assert_eq!(
            errors,
            serde_json::json!(["SecretNotFound", {"PolicyError": "no"}])
        );
        let plain: SecretResponse = serde_json::from_str(r#"{"error":"InvalidXKey"}"#).unwrap();
        assert_eq!(plain.error, Some(GetSecretError::InvalidXKey));
        let request = SecretRequest {
            key: "db".into(),
            field: None,
            version: None,
            context: Context {
                entity_jwt: "e".into(),
                host_jwt: "h".into(),
                application: Application {
                    name: None,
                    policy: "{}".into(),
                },
            },
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            serde_json::json!({"key":"db","field":null,"version":null,"context":{"entity_jwt":"e","host_jwt":"h","application":{"name":null,"policy":"{}"}}})
        );
        let secret = Secret {
            version: "1".into(),
            string_secret: Some("s3cret".into()),
            binary_secret: None,
        };
        let response = SecretResponse {
            secret: Some(secret),
            error: None,
        };
        assert!(!format!("{response:?}").contains("s3cret"));
        let config = BTreeMap::from([("name".to_string(), "pw".to_string())]);
        assert!(
            SecretReference::from_config("SECRET_pw", &config)
                .unwrap_err()
                .contains("`backend`")
        );
    }
}
