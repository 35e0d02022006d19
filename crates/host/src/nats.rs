//! Opening the host's NATS connections with the configured credentials.

use std::time::Duration;

use async_nats::{Client, ConnectOptions};

use crate::config::{NatsAuth, NatsConnectConfig};
use crate::error::HostError;

/// The client name every wasmCloud host connection uses.
const CLIENT_NAME: &str = "wasmbus";

/// Connects to `config` without retrying: a host that cannot reach NATS says so at once.
pub(crate) async fn connect(
    which: &'static str,
    config: &NatsConnectConfig,
    request_timeout: Option<Duration>,
) -> Result<Client, HostError> {
    let fail = |reason: String| HostError::NatsConnect {
        which,
        url: config.url.clone(),
        reason,
    };
    let mut options = ConnectOptions::new()
        .name(CLIENT_NAME)
        .request_timeout(request_timeout)
        .connection_timeout(Duration::from_secs(5));
    options = match &config.auth {
        NatsAuth::Anonymous => options,
        NatsAuth::Jwt { jwt, seed } => {
            let key = std::sync::Arc::new(
                nkeys::KeyPair::from_seed(seed).map_err(|e| fail(format!("bad seed: {e}")))?,
            );
            options.jwt(jwt.clone(), move |nonce| {
                let key = key.clone();
                async move { key.sign(&nonce).map_err(async_nats::AuthError::new) }
            })
        }
        NatsAuth::CredsFile(path) => options.credentials_file(path).await.map_err(|e| {
            fail(format!(
                "cannot read credentials file {}: {e}",
                path.display()
            ))
        })?,
    };
    options
        .connect(config.url.as_str())
        .await
        .map_err(|e| fail(e.to_string()))
}
