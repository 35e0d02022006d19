//! Connections to a real `nats-server` that requires a password.

use super::*;
use crate::test_server::TestServer;

/// A server that only lets `user`/`password` in.
struct PasswordServer(TestServer);

impl PasswordServer {
    async fn start(user: &str, password: &str) -> Self {
        PasswordServer(TestServer::start(&["--user", user, "--pass", password]).await)
    }

    fn config(&self, scheme: &str, userinfo: &str) -> NatsConnectConfig {
        NatsConnectConfig::anonymous(format!("{scheme}://{userinfo}127.0.0.1:{}", self.0.port))
    }
}

#[tokio::test]
async fn user_and_password_in_the_url_are_sent() {
    let server = PasswordServer::start("lat", "s3cr%t").await;

    let client = connect("ctl", &server.config("nats", "lat:s3cr%25t@"), None, &[])
        .await
        .unwrap();
    server_round_trip(&client).await.unwrap();

    let err = connect("rpc", &server.config("nats", "lat:wrong@"), None, &[])
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        matches!(err, NatsError::Connect { which: "rpc", .. }),
        "{shown}"
    );
    assert!(shown.contains("nats://lat:***@127.0.0.1"), "{shown}");
    assert!(
        !shown.contains("wrong"),
        "the password is not shown: {shown}"
    );

    let anonymous = connect("ctl", &server.config("nats", ""), None, &[]).await;
    assert!(anonymous.is_err(), "the server does require the password");

    let client_url = server.config("nats", "lat:s3cr%25t@").url;
    let options = with_url_credentials(ConnectOptions::new(), &client_url).unwrap();
    let client = options.connect(client_url.as_str()).await.unwrap();
    server_round_trip(&client).await.unwrap();

    let options = ConnectOptions::new().name("a-client");
    let client = connect_with("client", &server.config("nats", "lat:s3cr%25t@"), options)
        .await
        .unwrap();
    server_round_trip(&client).await.unwrap();
}

#[tokio::test]
async fn a_tls_url_requires_tls() {
    let server = PasswordServer::start("lat", "pw").await;
    let plain = connect("ctl", &server.config("nats", "lat:pw@"), None, &[]).await;
    assert!(plain.is_ok(), "{:?}", plain.err());
    let err = connect("ctl", &server.config("tls", "lat:pw@"), None, &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("tls://lat:***@127.0.0.1"), "{err}");
}

#[test]
fn provider_credentials_come_from_jwt_or_creds_file() {
    assert_eq!(
        provider_credentials(&NatsAuth::Anonymous).unwrap(),
        (String::new(), String::new())
    );
    let jwt = NatsAuth::Jwt {
        jwt: "eyJ.a.b".into(),
        seed: "SUAXYZ".into(),
    };
    assert_eq!(
        provider_credentials(&jwt).unwrap(),
        ("eyJ.a.b".into(), "SUAXYZ".into())
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("user.creds");
    std::fs::write(
        &path,
        "-----BEGIN NATS USER JWT-----\neyJ.c.d\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\n\
         -----BEGIN USER NKEY SEED-----\nSUAABC\n------END USER NKEY SEED------\n",
    )
    .unwrap();
    assert_eq!(
        provider_credentials(&NatsAuth::CredsFile(path.clone())).unwrap(),
        ("eyJ.c.d".into(), "SUAABC".into())
    );

    std::fs::write(&path, "nothing here").unwrap();
    let err = provider_credentials(&NatsAuth::CredsFile(path)).unwrap_err();
    assert!(matches!(err, NatsError::CredsFile { .. }), "{err}");
    assert!(err.to_string().contains("no user JWT"), "{err}");
}
