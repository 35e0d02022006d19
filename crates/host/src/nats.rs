//! Opening the host's NATS connections with the configured credentials, and the
//! round trip that proves the server has processed a connection's subscriptions.

use std::time::Duration;

use async_nats::{Client, ConnectOptions};
use futures::StreamExt as _;

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

/// The user JWT and seed providers get in HostData for `auth` (providers support no
/// other kind of credentials): a creds file is read and split.
pub(crate) fn provider_credentials(auth: &NatsAuth) -> Result<(String, String), HostError> {
    match auth {
        NatsAuth::Anonymous => Ok((String::new(), String::new())),
        NatsAuth::Jwt { jwt, seed } => Ok((jwt.clone(), seed.clone())),
        NatsAuth::CredsFile(path) => {
            let fail = |reason: String| HostError::Credentials {
                path: path.clone(),
                reason,
            };
            let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
            let after = |marker: &str| {
                let mut lines = text.lines().skip_while(|l| !l.contains(marker));
                lines.next();
                lines
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .map(str::to_string)
            };
            let jwt =
                after("BEGIN NATS USER JWT").ok_or_else(|| fail("no user JWT in it".into()))?;
            let seed =
                after("BEGIN USER NKEY SEED").ok_or_else(|| fail("no user seed in it".into()))?;
            Ok((jwt, seed))
        }
    }
}

/// Returns once the server has processed everything `client` sent before the call, such
/// as subscriptions. (`Client::flush` only empties the local write buffer.) Works by
/// sending a message to a private inbox and waiting for it to come back: the server
/// handles one connection's commands in order.
pub async fn server_round_trip(client: &Client) -> Result<(), async_nats::Error> {
    let inbox = client.new_inbox();
    let mut echo = client.subscribe(inbox.clone()).await?;
    client.publish(inbox, bytes::Bytes::new()).await?;
    client.flush().await?;
    match tokio::time::timeout(Duration::from_secs(10), echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err("the connection closed during a round trip".into()),
        Err(_) => Err("no round trip through the NATS server within 10s".into()),
    }
}
