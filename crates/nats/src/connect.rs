//! Opening connections with the configured credentials, and the round trip that proves
//! the server has processed a connection's subscriptions.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, ConnectOptions};
use futures::StreamExt as _;

use crate::config::{NatsAuth, NatsConnectConfig, UrlCredentials};
use crate::error::NatsError;

/// The client name every wasmCloud host connection uses.
pub const CLIENT_NAME: &str = "wasmbus";

/// How long [`connect`] waits for the server to accept a connection.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The pause before reconnect attempt `attempts` (1 is the first): none, then 10 ms
/// doubling to at most 100 ms. async-nats's own policy grows to seconds, so a host
/// whose server was down for a few seconds stayed away about that long after it was
/// back; at this rate it is back within a tenth of a second, for two connections'
/// worth of TCP connects per 100 ms while the server is down.
pub fn reconnect_delay(attempts: usize) -> Duration {
    match attempts {
        0 | 1 => Duration::ZERO,
        n => Duration::from_millis(10u64 << (n - 2).min(4)).min(Duration::from_millis(100)),
    }
}

/// How long [`server_round_trip`] waits for its echo.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a host connection (`which` is `ctl` or `rpc`, for messages) to `config`
/// without retrying: a host that cannot reach NATS says so at once. Named
/// [`CLIENT_NAME`]; `request_timeout` is the connection's default request timeout.
///
/// `ca_files` (PEM) are trusted besides the system's roots, for servers whose TLS
/// certificate comes from a private CA (`--tls-ca-path`).
pub async fn connect(
    which: &'static str,
    config: &NatsConnectConfig,
    request_timeout: Option<Duration>,
    ca_files: &[std::path::PathBuf],
) -> Result<Client, NatsError> {
    let mut options = ConnectOptions::new()
        .name(CLIENT_NAME)
        .request_timeout(request_timeout)
        .connection_timeout(CONNECTION_TIMEOUT);
    for ca in ca_files {
        if !ca.is_file() {
            return Err(NatsError::Connect {
                which,
                url: config.display_url(),
                reason: format!("the TLS CA file {} does not exist", ca.display()),
            });
        }
        options = options.add_root_certificates(ca.clone());
    }
    connect_with(which, config, options).await
}

/// Connects to `config` with `options` (name, timeouts) plus the credentials: those in
/// the URL are sent (async-nats itself ignores them), then `config.auth`. A `tls://` URL
/// requires TLS.
pub async fn connect_with(
    which: &'static str,
    config: &NatsConnectConfig,
    options: ConnectOptions,
) -> Result<Client, NatsError> {
    let fail = |reason: String| NatsError::Connect {
        which,
        url: config.display_url(),
        reason,
    };
    let mut options = add_url_credentials(options, config.url_credentials(which)?)
        .reconnect_delay_callback(reconnect_delay);
    options = match &config.auth {
        NatsAuth::Anonymous => options,
        NatsAuth::Jwt { jwt, seed } => {
            let key = Arc::new(
                nkeys::KeyPair::from_seed(seed)
                    .map_err(|e| fail(format!("invalid user seed: {e}")))?,
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

/// Adds the credentials in `url` (`user:password@` or `token@`, on one server URL or on
/// each of a comma-separated list) to `options`: async-nats accepts them in a URL but
/// never sends them. For a client that builds its own options; [`connect_with`] does this.
pub fn with_url_credentials(
    options: ConnectOptions,
    url: &str,
) -> Result<ConnectOptions, NatsError> {
    let credentials = NatsConnectConfig::anonymous(url).url_credentials("client")?;
    Ok(add_url_credentials(options, credentials))
}

fn add_url_credentials(
    options: ConnectOptions,
    credentials: Option<UrlCredentials>,
) -> ConnectOptions {
    match credentials {
        None => options,
        Some(UrlCredentials::UserPassword { user, password }) => {
            options.user_and_password(user, password)
        }
        Some(UrlCredentials::Token(token)) => options.token(token),
    }
}

/// The user JWT and seed providers get in HostData for `auth` (providers support no
/// other kind of credentials): a creds file is read and split; anonymous gives two
/// empty strings.
pub fn provider_credentials(auth: &NatsAuth) -> Result<(String, String), NatsError> {
    match auth {
        NatsAuth::Anonymous => Ok((String::new(), String::new())),
        NatsAuth::Jwt { jwt, seed } => Ok((jwt.clone(), seed.clone())),
        NatsAuth::CredsFile(path) => {
            let fail = |reason: String| NatsError::CredsFile {
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
pub async fn server_round_trip(client: &Client) -> Result<(), NatsError> {
    let fail = |reason: String| NatsError::RoundTrip { reason };
    let inbox = client.new_inbox();
    let mut echo = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| fail(e.to_string()))?;
    client
        .publish(inbox, bytes::Bytes::new())
        .await
        .map_err(|e| fail(e.to_string()))?;
    client.flush().await.map_err(|e| fail(e.to_string()))?;
    match tokio::time::timeout(ROUND_TRIP_TIMEOUT, echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(fail("the connection closed during a round trip".into())),
        Err(_) => Err(fail(format!(
            "no round trip through the NATS server within {}s",
            ROUND_TRIP_TIMEOUT.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod reconnect_tests {
    use super::*;

    #[test]
    fn reconnects_come_quickly_and_stay_bounded() {
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        assert_eq!(reconnect_delay(2), Duration::from_millis(10));
        assert_eq!(reconnect_delay(4), Duration::from_millis(40));
        assert_eq!(reconnect_delay(6), Duration::from_millis(100));
        assert_eq!(reconnect_delay(1000), Duration::from_millis(100));
    }
}
