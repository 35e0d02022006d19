//! The requester's side (a host): the backend's xkey fetched once per backend, a fresh
//! ephemeral xkey per request, the request sealed to the backend, the answer opened.

use std::collections::HashMap;
use std::time::Duration;

use lattice_proto::SecretValue;
use tokio::sync::Mutex;

use crate::types::{
    API_VERSION, Context, GetSecretError, HOST_XKEY_HEADER, RESPONSE_XKEY_HEADER, SecretReference,
    SecretRequest, SecretResponse,
};

/// Why a secret could not be fetched. No variant carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The host has no `--secrets-topic`.
    #[error(
        "secret store not configured, could not fetch secrets (start the host with --secrets-topic, WASMCLOUD_SECRETS_TOPIC)"
    )]
    NotConfigured,
    /// The entity has no claims JWT to present.
    #[error(
        "entity did not have an embedded JWT, cannot fetch secrets (sign it: `lattice par create`, `lattice claims sign`)"
    )]
    NoEntityJwt,
    /// The backend refused.
    #[error("secrets backend `{backend}` refused `{key}`: {error}")]
    Backend {
        /// The backend.
        backend: String,
        /// The key asked for.
        key: String,
        /// Its answer.
        error: GetSecretError,
    },
    /// The backend could not be reached or answered something unreadable.
    #[error("secrets backend `{backend}`: {reason}")]
    Transport {
        /// The backend.
        backend: String,
        /// What went wrong.
        reason: String,
    },
}

/// Fetches secrets for one host. Cheap to share (`Arc`).
pub struct SecretsClient {
    nats: async_nats::Client,
    topic: String,
    timeout: Duration,
    /// The backends' public xkeys, asked once each.
    server_keys: Mutex<HashMap<String, String>>,
}

impl SecretsClient {
    /// A client for backends under `topic` (e.g. `wasmcloud.secrets`).
    pub fn new(nats: async_nats::Client, topic: impl Into<String>, timeout: Duration) -> Self {
        SecretsClient {
            nats,
            topic: topic.into(),
            timeout,
            server_keys: Mutex::new(HashMap::new()),
        }
    }

    fn subject(&self, backend: &str, operation: &str) -> String {
        format!("{}.{API_VERSION}.{backend}.{operation}", self.topic)
    }

    async fn server_key(&self, backend: &str) -> Result<String, SecretsError> {
        if let Some(key) = self.server_keys.lock().await.get(backend) {
            return Ok(key.clone());
        }
        let transport = |reason: String| SecretsError::Transport {
            backend: backend.to_string(),
            reason,
        };
        let reply = tokio::time::timeout(
            self.timeout,
            self.nats
                .request(self.subject(backend, "server_xkey"), "".into()),
        )
        .await
        .map_err(|_| transport(format!("no answer for its xkey within {:?}", self.timeout)))?
        .map_err(|e| transport(format!("asking for its xkey: {e}")))?;
        let key = String::from_utf8_lossy(&reply.payload).trim().to_string();
        nkeys::XKey::from_public_key(&key)
            .map_err(|e| transport(format!("its xkey `{key}` is not a curve public key: {e}")))?;
        self.server_keys
            .lock()
            .await
            .insert(backend.to_string(), key.clone());
        Ok(key)
    }

    /// Fetches the secret `reference` names for the entity in `context`. A backend that
    /// says `InvalidXKey` or `DecryptionError` (its key changed) gets its xkey asked
    /// again and the request once more.
    pub async fn get(
        &self,
        reference: &SecretReference,
        context: &Context,
    ) -> Result<SecretValue, SecretsError> {
        if context.entity_jwt.trim().is_empty() {
            return Err(SecretsError::NoEntityJwt);
        }
        match self.get_once(reference, context).await {
            // The backend's key changed (a restart with a new transit key): a request
            // sealed to the old one cannot be opened there. Ask for the key again.
            Err(SecretsError::Backend {
                error: GetSecretError::InvalidXKey | GetSecretError::DecryptionError,
                ..
            }) => {
                self.server_keys.lock().await.remove(&reference.backend);
                self.get_once(reference, context).await
            }
            other => other,
        }
    }

    async fn get_once(
        &self,
        reference: &SecretReference,
        context: &Context,
    ) -> Result<SecretValue, SecretsError> {
        let backend = reference.backend.as_str();
        let transport = |reason: String| SecretsError::Transport {
            backend: backend.to_string(),
            reason,
        };
        let server = nkeys::XKey::from_public_key(&self.server_key(backend).await?)
            .map_err(|e| transport(e.to_string()))?;
        let ephemeral = nkeys::XKey::new();
        let request = SecretRequest {
            key: reference.key.clone(),
            field: reference.field.clone(),
            version: reference.version.clone(),
            context: context.clone(),
        };
        let body = serde_json::to_vec(&request).expect("requests encode");
        let sealed = ephemeral
            .seal(&body, &server)
            .map_err(|e| transport(format!("cannot seal the request: {e}")))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(HOST_XKEY_HEADER, ephemeral.public_key().as_str());
        let reply = tokio::time::timeout(
            self.timeout,
            self.nats
                .request_with_headers(self.subject(backend, "get"), headers, sealed.into()),
        )
        .await
        .map_err(|_| transport(format!("no answer within {:?}", self.timeout)))?
        .map_err(|e| transport(format!("asking for `{}`: {e}", reference.key)))?;
        let refused = |error| SecretsError::Backend {
            backend: backend.to_string(),
            key: reference.key.clone(),
            error,
        };
        let response_key = reply
            .headers
            .as_ref()
            .and_then(|h| h.get(RESPONSE_XKEY_HEADER))
            .map(|v| v.as_str().to_string());
        let response: SecretResponse = match response_key {
            Some(key) => {
                let sender = nkeys::XKey::from_public_key(&key)
                    .map_err(|e| transport(format!("its response xkey is not usable: {e}")))?;
                let opened = ephemeral
                    .open(&reply.payload, &sender)
                    .map_err(|e| transport(format!("cannot open its answer: {e}")))?;
                serde_json::from_slice(&opened)
                    .map_err(|e| transport(format!("its answer is not a SecretResponse: {e}")))?
            }
            None => serde_json::from_slice(&reply.payload)
                .map_err(|e| transport(format!("its answer is not a SecretResponse: {e}")))?,
        };
        if let Some(error) = response.error {
            return Err(refused(error));
        }
        response
            .secret
            .and_then(|s| s.value())
            .ok_or_else(|| transport(format!("its answer for `{}` holds no value", reference.key)))
    }
}
