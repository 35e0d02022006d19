//! Opening the host's NATS connections with the configured credentials, and the
//! round trip that proves the server has processed a connection's subscriptions.

use std::time::Duration;

use async_nats::{Client, ConnectOptions};
use futures::StreamExt as _;

use crate::config::{ConfigError, NatsAuth, NatsConnectConfig, UrlCredentials};
use crate::error::HostError;

/// The client name every wasmCloud host connection uses.
const CLIENT_NAME: &str = "wasmbus";

/// Connects to `config` without retrying: a host that cannot reach NATS says so at once.
/// Credentials in the URL are sent (async-nats itself ignores them); a `tls://` URL
/// requires TLS.
pub(crate) async fn connect(
    which: &'static str,
    config: &NatsConnectConfig,
    request_timeout: Option<Duration>,
) -> Result<Client, HostError> {
    let fail = |reason: String| HostError::NatsConnect {
        which,
        url: config.display_url(),
        reason,
    };
    let mut options = ConnectOptions::new()
        .name(CLIENT_NAME)
        .request_timeout(request_timeout)
        .connection_timeout(Duration::from_secs(5));
    options = add_url_credentials(options, config.url_credentials(which)?);
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

/// Adds the credentials in `url` (`user:password@` or `token@`, on one server URL or on
/// each of a comma-separated list) to `options`: async-nats accepts them in a URL but
/// never sends them. For any client connecting to a URL a user gave, such as the CLI's.
pub fn with_url_credentials(
    options: ConnectOptions,
    url: &str,
) -> Result<ConnectOptions, ConfigError> {
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::nats_server::{NatsServer, NatsServerConfig, find_nats_server};

    /// A `nats-server` that only lets `user`/`password` in, on a free loopback port. (The
    /// harness starts the binary it is given with its own flags, so a script adds these.)
    async fn server_with_password(user: &str, password: &str) -> (NatsServer, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("nats-server-with-password");
        let binary = find_nats_server(None).unwrap();
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nexec '{}' --user '{user}' --pass '{password}' \"$@\"\n",
                binary.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let server = NatsServer::start(&NatsServerConfig::loopback(script, None))
            .await
            .unwrap();
        (server, dir)
    }

    fn url_with(server: &NatsServer, scheme: &str, userinfo: &str) -> NatsConnectConfig {
        NatsConnectConfig::anonymous(format!("{scheme}://{userinfo}127.0.0.1:{}", server.port()))
    }

    #[tokio::test]
    async fn user_and_password_in_the_url_are_sent() {
        let (server, _dir) = server_with_password("lat", "s3cr%t").await;

        let client = connect("ctl", &url_with(&server, "nats", "lat:s3cr%25t@"), None)
            .await
            .unwrap();
        server_round_trip(&client).await.unwrap();

        let err = connect("rpc", &url_with(&server, "nats", "lat:wrong@"), None)
            .await
            .unwrap_err();
        let shown = err.to_string();
        assert!(
            matches!(err, HostError::NatsConnect { which: "rpc", .. }),
            "{shown}"
        );
        assert!(shown.contains("nats://lat:***@127.0.0.1"), "{shown}");
        assert!(
            !shown.contains("wrong"),
            "the password is not shown: {shown}"
        );

        let anonymous = connect("ctl", &url_with(&server, "nats", ""), None).await;
        assert!(anonymous.is_err(), "the server does require the password");

        let client_url = url_with(&server, "nats", "lat:s3cr%25t@").url;
        let options = with_url_credentials(ConnectOptions::new(), &client_url).unwrap();
        let client = options.connect(client_url.as_str()).await.unwrap();
        server_round_trip(&client).await.unwrap();
        server.stop(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn a_tls_url_requires_tls() {
        let (server, _dir) = server_with_password("lat", "pw").await;
        let plain = connect("ctl", &url_with(&server, "nats", "lat:pw@"), None).await;
        assert!(plain.is_ok(), "{:?}", plain.err());
        let err = connect("ctl", &url_with(&server, "tls", "lat:pw@"), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("tls://lat:***@127.0.0.1"), "{err}");
        server.stop(Duration::from_secs(5)).await;
    }
}
