//! Managing a backend's secrets and mappings over NATS, as `secrets-nats-kv put` and
//! `add-mapping`/`remove-mapping` do (what `lattice secrets put|allow|deny` run).

use std::time::Duration;

use crate::server::subject_base;
use crate::types::{HOST_XKEY_HEADER, PutSecretRequest, PutSecretResponse};

/// Why a management request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No backend answered.
    #[error(
        "no secrets backend `{name}` answered on {subject}: {reason} (is `lattice secrets serve` running?)"
    )]
    NoAnswer {
        /// The backend.
        name: String,
        /// The subject asked.
        subject: String,
        /// No responders, a timeout, a transport error.
        reason: String,
    },
    /// The backend refused.
    #[error("the secrets backend refused: {0}")]
    Refused(String),
}

/// Where a backend listens.
#[derive(Clone, Debug)]
pub struct BackendAddress {
    /// Its subject prefix (`--secrets-topic` of hosts).
    pub topic: String,
    /// Its name.
    pub name: String,
    /// How long to wait for answers.
    pub timeout: Duration,
}

impl BackendAddress {
    async fn request(
        &self,
        nats: &async_nats::Client,
        operation: &str,
        headers: Option<async_nats::HeaderMap>,
        body: Vec<u8>,
    ) -> Result<async_nats::Message, AdminError> {
        let subject = format!("{}.{operation}", subject_base(&self.topic, &self.name));
        let no_answer = |reason: String| AdminError::NoAnswer {
            name: self.name.clone(),
            subject: subject.clone(),
            reason,
        };
        let sent = async {
            match headers {
                Some(h) => {
                    nats.request_with_headers(subject.clone(), h, body.into())
                        .await
                }
                None => nats.request(subject.clone(), body.into()).await,
            }
        };
        tokio::time::timeout(self.timeout, sent)
            .await
            .map_err(|_| no_answer(format!("nothing within {:?}", self.timeout)))?
            .map_err(|e| no_answer(e.to_string()))
    }

    /// Stores `value` under `key`: sealed to the backend's transit key by a fresh key.
    /// Returns the new revision (what a reference's `version` names).
    pub async fn put(
        &self,
        nats: &async_nats::Client,
        key: &str,
        value: lattice_proto::SecretValue,
    ) -> Result<u64, AdminError> {
        let server = self.request(nats, "server_xkey", None, Vec::new()).await?;
        let server = nkeys::XKey::from_public_key(String::from_utf8_lossy(&server.payload).trim())
            .map_err(|e| AdminError::Refused(format!("its xkey is not usable: {e}")))?;
        let (string_secret, binary_secret) = match value {
            lattice_proto::SecretValue::String(s) => (Some(s), None),
            lattice_proto::SecretValue::Bytes(b) => (None, Some(b)),
        };
        let request = PutSecretRequest {
            key: key.to_string(),
            version: String::new(),
            string_secret,
            binary_secret,
        };
        let ephemeral = nkeys::XKey::new();
        let sealed = ephemeral
            .seal(&serde_json::to_vec(&request).expect("encodes"), &server)
            .map_err(|e| AdminError::Refused(format!("cannot seal: {e}")))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(HOST_XKEY_HEADER, ephemeral.public_key().as_str());
        let reply = self
            .request(nats, "put_secret", Some(headers), sealed)
            .await?;
        match serde_json::from_slice::<PutSecretResponse>(&reply.payload) {
            Ok(PutSecretResponse {
                error: None,
                revision,
            }) => Ok(revision),
            Ok(PutSecretResponse { error: Some(e), .. }) => Err(AdminError::Refused(e)),
            Err(_) => Err(AdminError::Refused(
                String::from_utf8_lossy(&reply.payload).into_owned(),
            )),
        }
    }

    /// Lets `entity` (a component's or provider's public key) read `keys`, or (with
    /// `allow` false) no longer.
    pub async fn map(
        &self,
        nats: &async_nats::Client,
        entity: &str,
        keys: &[String],
        allow: bool,
    ) -> Result<(), AdminError> {
        let operation = format!(
            "{}.{entity}",
            if allow {
                "add_mapping"
            } else {
                "remove_mapping"
            }
        );
        let body = serde_json::to_vec(keys).expect("encodes");
        let reply = self.request(nats, &operation, None, body).await?;
        match reply.payload.as_ref() {
            b"ok" => Ok(()),
            other => Err(AdminError::Refused(
                String::from_utf8_lossy(other).into_owned(),
            )),
        }
    }
}
