//! A secrets backend users can run (`lattice secrets serve`), speaking the protocol of
//! spec §8 and the management subjects of wasmCloud 1.9.2's `secrets-nats-kv`, so either
//! side can be swapped for the other:
//!
//! - `{topic}.v1alpha1.{name}.server_xkey`: the transit public xkey;
//! - `….get`: a sealed `SecretRequest`; the entity's and the host's JWTs are verified
//!   (signature, `exp`, `nbf`), the reference's policy must be of the properties type
//!   (or empty), the entity (its claims' `sub`) must be mapped to the key; the answer is
//!   sealed to the requester's ephemeral xkey;
//! - `….put_secret`: a sealed `PutSecretRequest`; the value is stored sealed with the
//!   encryption xkey (to itself), which only the backend holds;
//! - `….add_mapping.{entity}` / `….remove_mapping.{entity}`: a JSON list of keys the
//!   entity may (no longer) read.
//!
//! Values live in the KV bucket `WASMCLOUD_SECRETS` (history kept: `version` is the KV
//! revision), mappings in `SECRETS_{name}_state` (entity key → JSON list of keys).
//! Unlike 1.9.2's: a malformed xkey header is an error reply (not a crash), mappings can
//! be removed, and binary secrets are returned decrypted.

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::StreamExt as _;

use crate::types::{
    API_VERSION, GetSecretError, HOST_XKEY_HEADER, PutSecretRequest, PutSecretResponse,
    RESPONSE_XKEY_HEADER, Secret, SecretRequest, SecretResponse,
};

/// How a backend runs.
pub struct BackendConfig {
    /// The subject prefix (hosts' `--secrets-topic`), e.g. `wasmcloud.secrets`.
    pub topic: String,
    /// The backend's name (`backend` in secret references), e.g. `nats-kv`.
    pub name: String,
    /// The bucket of values.
    pub bucket: String,
    /// Requests are sealed to this key's public key.
    pub transit: nkeys::XKey,
    /// Values are stored sealed with this key.
    pub encryption: nkeys::XKey,
}

/// Why the backend cannot run.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A bucket cannot be opened or created.
    #[error("cannot open the bucket {bucket}: {reason} (is JetStream enabled on the server?)")]
    Bucket {
        /// The bucket.
        bucket: String,
        /// Why.
        reason: String,
    },
    /// The subscription failed.
    #[error("cannot subscribe to {subject}: {reason}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// Why.
        reason: String,
    },
}

/// The state bucket of backend `name`.
pub fn state_bucket(name: &str) -> String {
    format!("SECRETS_{name}_state")
}

/// The subject prefix of backend `name` under `topic`.
pub fn subject_base(topic: &str, name: &str) -> String {
    format!("{topic}.{API_VERSION}.{name}")
}

async fn open(
    js: &jetstream::Context,
    bucket: &str,
    history: i64,
) -> Result<kv::Store, BackendError> {
    if let Ok(store) = js.get_key_value(bucket).await {
        return Ok(store);
    }
    let config = kv::Config {
        bucket: bucket.to_string(),
        history,
        ..Default::default()
    };
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        Err(e) => js
            .get_key_value(bucket)
            .await
            .map_err(|_| BackendError::Bucket {
                bucket: bucket.to_string(),
                reason: e.to_string(),
            }),
    }
}

/// A running backend's state.
struct Backend {
    config: BackendConfig,
    nats: async_nats::Client,
    secrets: kv::Store,
    state: kv::Store,
}

/// Serves until `stop` resolves. Returns once subscribed through `ready` (if given).
pub async fn serve(
    nats: async_nats::Client,
    config: BackendConfig,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
    stop: impl Future<Output = ()>,
) -> Result<(), BackendError> {
    let js = jetstream::new(nats.clone());
    let secrets = open(&js, &config.bucket, 64).await?;
    let state = open(&js, &state_bucket(&config.name), 1).await?;
    let base = subject_base(&config.topic, &config.name);
    let subject = format!("{base}.>");
    let mut requests = nats
        .queue_subscribe(
            subject.clone(),
            format!("wasmcloud_secrets.{}", config.name),
        )
        .await
        .map_err(|e| BackendError::Subscribe {
            subject: subject.clone(),
            reason: e.to_string(),
        })?;
    // Subscribed for real (the server has processed it) before saying ready.
    lattice_nats::server_round_trip(&nats)
        .await
        .map_err(|e| BackendError::Subscribe {
            subject: subject.clone(),
            reason: e.to_string(),
        })?;
    tracing::info!(%subject, transit = %config.transit.public_key(), "secrets backend serving");
    if let Some(ready) = ready {
        let _ = ready.send(());
    }
    let backend = std::sync::Arc::new(Backend {
        config,
        nats,
        secrets,
        state,
    });
    let tasks = tokio_util::task::TaskTracker::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            message = requests.next() => {
                let Some(message) = message else { break };
                let Some(reply) = message.reply.clone() else { continue };
                let operation = message.subject.as_str().strip_prefix(&base).and_then(|r| r.strip_prefix('.')).unwrap_or_default().to_string();
                let backend = backend.clone();
                tasks.spawn(async move {
                    let (headers, body) = backend.handle(&operation, &message).await;
                    let sent = match headers {
                        Some(headers) => backend.nats.publish_with_headers(reply, headers, body).await,
                        None => backend.nats.publish(reply, body).await,
                    };
                    if let Err(error) = sent {
                        tracing::warn!(%error, operation, "cannot answer");
                    }
                });
            }
        }
    }
    tasks.close();
    tasks.wait().await;
    Ok(())
}

type Answer = (Option<async_nats::HeaderMap>, bytes::Bytes);

fn plain(text: impl Into<String>) -> Answer {
    (None, text.into().into_bytes().into())
}

fn refused(error: GetSecretError) -> Answer {
    let response = SecretResponse {
        secret: None,
        error: Some(error),
    };
    (None, serde_json::to_vec(&response).expect("encodes").into())
}

impl Backend {
    async fn handle(&self, operation: &str, message: &async_nats::Message) -> Answer {
        let mut parts = operation.splitn(2, '.');
        match (parts.next().unwrap_or_default(), parts.next()) {
            ("server_xkey", None) => plain(self.config.transit.public_key()),
            ("get", None) => match self.get(message).await {
                Ok(answer) => answer,
                Err(error) => {
                    tracing::info!(%error, "secret request refused");
                    refused(error)
                }
            },
            ("put_secret", None) => self.put(message).await,
            ("add_mapping", Some(entity)) => self.map(entity, &message.payload, true).await,
            ("remove_mapping", Some(entity)) => self.map(entity, &message.payload, false).await,
            ("add_mapping" | "remove_mapping", None) => plain("no entity provided"),
            (other, _) => plain(format!("unknown operation {other}")),
        }
    }

    /// The sender of a sealed request: the xkey its header names.
    fn sender(message: &async_nats::Message) -> Result<nkeys::XKey, GetSecretError> {
        if message.payload.is_empty() {
            return Err(GetSecretError::InvalidPayload);
        }
        let headers = message
            .headers
            .as_ref()
            .ok_or(GetSecretError::InvalidHeaders)?;
        let sender = headers
            .get(HOST_XKEY_HEADER)
            .and_then(|v| nkeys::XKey::from_public_key(v.as_str()).ok())
            .ok_or(GetSecretError::InvalidXKey)?;
        Ok(sender)
    }

    async fn get(&self, message: &async_nats::Message) -> Result<Answer, GetSecretError> {
        let sender = Self::sender(message)?;
        let opened = self
            .config
            .transit
            .open(&message.payload, &sender)
            .map_err(|_| GetSecretError::DecryptionError)?;
        let request: SecretRequest =
            serde_json::from_slice(&opened).map_err(|_| GetSecretError::InvalidRequest)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        lattice_artifacts::jwt::verify(&request.context.entity_jwt, now)
            .map_err(|e| GetSecretError::InvalidEntityJWT(e.to_string()))?;
        lattice_artifacts::jwt::verify(&request.context.host_jwt, now)
            .map_err(|e| GetSecretError::InvalidHostJWT(e.to_string()))?;
        check_policy(&request.context.application.policy)?;
        let entity = subject_of(&request.context.entity_jwt)
            .ok_or_else(|| GetSecretError::InvalidEntityJWT("the claims have no subject".into()))?;
        let allowed = self
            .mapping(&entity)
            .await
            .map_err(GetSecretError::UpstreamError)?;
        if !allowed.contains(&request.key) {
            return Err(GetSecretError::Unauthorized);
        }
        let (sealed, revision) = match &request.version {
            Some(version) => {
                let wanted: u64 = version
                    .parse()
                    .map_err(|_| GetSecretError::InvalidRequest)?;
                let mut history = self
                    .secrets
                    .history(&request.key)
                    .await
                    .map_err(|e| GetSecretError::UpstreamError(e.to_string()))?;
                let mut found = None;
                while let Some(entry) = history.next().await {
                    let entry = entry.map_err(|e| GetSecretError::UpstreamError(e.to_string()))?;
                    if entry.revision == wanted && entry.operation == kv::Operation::Put {
                        found = Some((entry.value, entry.revision));
                        break;
                    }
                }
                found.ok_or(GetSecretError::SecretNotFound)?
            }
            None => {
                let entry = self
                    .secrets
                    .entry(&request.key)
                    .await
                    .map_err(|e| GetSecretError::UpstreamError(e.to_string()))?
                    .filter(|e| e.operation == kv::Operation::Put)
                    .ok_or(GetSecretError::SecretNotFound)?;
                (entry.value, entry.revision)
            }
        };
        let encryption = &self.config.encryption;
        let value = encryption
            .open(&sealed, encryption)
            .map_err(|_| GetSecretError::DecryptionError)?;
        let secret = match String::from_utf8(value) {
            Ok(text) => Secret {
                version: revision.to_string(),
                string_secret: Some(text),
                binary_secret: None,
            },
            Err(bytes) => Secret {
                version: revision.to_string(),
                string_secret: None,
                binary_secret: Some(bytes.into_bytes()),
            },
        };
        let response = SecretResponse {
            secret: Some(secret),
            error: None,
        };
        let ephemeral = nkeys::XKey::new();
        let body = ephemeral
            .seal(&serde_json::to_vec(&response).expect("encodes"), &sender)
            .map_err(|_| GetSecretError::EncryptionError)?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(RESPONSE_XKEY_HEADER, ephemeral.public_key().as_str());
        Ok((Some(headers), body.into()))
    }

    async fn put(&self, message: &async_nats::Message) -> Answer {
        let answer = |revision: u64, error: Option<&str>| {
            let response = PutSecretResponse {
                revision,
                error: error.map(str::to_string),
            };
            (None, serde_json::to_vec(&response).expect("encodes").into())
        };
        let sender = match Self::sender(message) {
            Ok(sender) => sender,
            Err(e) => return answer(0, Some(&format!("{e:?}"))),
        };
        let Ok(opened) = self.config.transit.open(&message.payload, &sender) else {
            return answer(0, Some("DecryptionError"));
        };
        let request: PutSecretRequest = match serde_json::from_slice(&opened) {
            Ok(r) => r,
            Err(_) => return answer(0, Some("InvalidRequest")),
        };
        let value = match (request.string_secret, request.binary_secret) {
            (Some(text), _) => text.into_bytes(),
            (None, Some(bytes)) => bytes,
            (None, None) => return answer(0, Some("InvalidRequest")),
        };
        let encryption = &self.config.encryption;
        let Ok(sealed) = encryption.seal(&value, encryption) else {
            return answer(0, Some("EncryptionError"));
        };
        match self.secrets.put(&request.key, sealed.into()).await {
            Ok(revision) => {
                tracing::info!(key = %request.key, revision, "secret put");
                answer(revision, None)
            }
            Err(e) => answer(0, Some(&format!("UpstreamError: {e}"))),
        }
    }

    /// The keys `entity` may read.
    async fn mapping(&self, entity: &str) -> Result<BTreeSet<String>, String> {
        match self.state.entry(entity).await.map_err(|e| e.to_string())? {
            Some(entry) if entry.operation == kv::Operation::Put => {
                serde_json::from_slice(&entry.value).map_err(|e| e.to_string())
            }
            _ => Ok(BTreeSet::new()),
        }
    }

    /// Adds (or removes) keys to `entity`'s mapping, retrying on concurrent updates.
    async fn map(&self, entity: &str, payload: &[u8], add: bool) -> Answer {
        let keys: BTreeSet<String> = match serde_json::from_slice(payload) {
            Ok(keys) => keys,
            Err(e) => return plain(e.to_string()),
        };
        for _ in 0..10 {
            let (mut current, revision) = match self.state.entry(entity).await {
                Ok(Some(entry)) if entry.operation == kv::Operation::Put => {
                    match serde_json::from_slice::<BTreeSet<String>>(&entry.value) {
                        Ok(set) => (set, Some(entry.revision)),
                        Err(e) => return plain(e.to_string()),
                    }
                }
                Ok(Some(entry)) => (BTreeSet::new(), Some(entry.revision)),
                Ok(None) => (BTreeSet::new(), None),
                Err(e) => return plain(e.to_string()),
            };
            if add {
                current.extend(keys.iter().cloned());
            } else {
                current.retain(|k| !keys.contains(k));
            }
            let value: bytes::Bytes = serde_json::to_vec(&current).expect("encodes").into();
            let written = match revision {
                Some(revision) => self
                    .state
                    .update(entity, value, revision)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                None => self
                    .state
                    .create(entity, value)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            };
            match written {
                Ok(()) => return plain("ok"),
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        plain("the mapping changed concurrently too often; try again")
    }
}

/// The policy type this backend understands (spec §8.1).
const POLICY_TYPE: &str = "properties.secret.wasmcloud.dev/v1alpha1";

/// A reference's policy must be empty or of the properties type; another type is a
/// policy this backend cannot honour, so the request is refused rather than served
/// unchecked.
fn check_policy(policy: &str) -> Result<(), GetSecretError> {
    if policy.trim().is_empty() {
        return Ok(());
    }
    let value: serde_json::Value = serde_json::from_str(policy)
        .map_err(|e| GetSecretError::PolicyError(format!("the policy is not JSON: {e}")))?;
    match value.get("type").and_then(|t| t.as_str()) {
        None | Some(POLICY_TYPE) => Ok(()),
        Some(other) => Err(GetSecretError::PolicyError(format!(
            "policy type `{other}` is not supported (only `{POLICY_TYPE}`)"
        ))),
    }
}

/// `sub` of a JWT's claims.
fn subject_of(jwt: &str) -> Option<String> {
    use base64::Engine as _;
    let claims = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value["sub"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}
