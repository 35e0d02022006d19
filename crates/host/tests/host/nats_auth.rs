//! NATS credentials (issue #14, item 6) against a `nats-server` in operator mode (JWT
//! auth, as `nsc` sets one up): a host connects its control and rpc connections with a
//! user JWT and seed, or with a `.creds` file; its providers connect with the rpc
//! credentials the host hands them; a host with a user of an account the server does
//! not know, or with none, is refused, naming the connection.

use std::time::Duration;

use lattice_host::{Host, HostConfig, NatsAuth};
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::EventWatcher;
use lattice_test_support::nats_auth::OperatorNats;
use serde_json::json;

fn config(nats: &OperatorNats, auth: NatsAuth) -> HostConfig {
    let mut config = HostConfig::new(nats.url());
    config.ctl_nats.auth = auth.clone();
    config.rpc_nats.auth = auth;
    config.allow_file_load = true;
    config.runtime.max_components = 16;
    config.runtime.max_linear_memory_bytes = 64 << 20;
    config
}

#[tokio::test]
async fn jwt_and_creds_files_connect_hosts_and_providers_and_strangers_are_refused() {
    let nats = OperatorNats::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let driver = nats.user("driver").unwrap();
    let driver_creds = driver.write(dir.path(), "driver.creds").unwrap();
    let client = async_nats::ConnectOptions::with_credentials_file(&driver_creds)
        .await
        .unwrap()
        .connect(nats.url())
        .await
        .unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");

    // A user JWT and seed, on both connections.
    let user = nats.user("host").unwrap();
    let host = Host::start(config(
        &nats,
        NatsAuth::Jwt {
            jwt: user.jwt.clone(),
            seed: user.seed.clone(),
        },
    ))
    .await
    .expect("a host with a user JWT and seed starts");
    // Its provider connects with the rpc credentials it is given, and answers health.
    let provider =
        lattice_test_support::workspace_bin("lattice-test-provider", "lattice-test-provider")
            .unwrap();
    let start = json!({"provider_id": "p", "provider_ref": format!("file://{}", provider.display()),
        "host_id": host.id()});
    let reply =
        lattice_test_support::ctl_request(&client, subjects.provider_start(host.id()), start).await;
    assert!(reply.success, "{}", reply.message);
    events
        .next_matching("health_check_passed", |e| e.data["provider_id"] == "p")
        .await
        .unwrap();
    // Links and config go through the buckets of the account.
    let reply =
        lattice_test_support::ctl_request(&client, subjects.config_put("c"), json!({"k": "v"}))
            .await;
    assert!(reply.success, "{}", reply.message);
    host.shutdown(Duration::from_secs(5)).await;

    // A .creds file.
    let creds = nats
        .user("creds")
        .unwrap()
        .write(dir.path(), "host.creds")
        .unwrap();
    let host = Host::start(config(&nats, NatsAuth::CredsFile(creds)))
        .await
        .expect("a host with a creds file starts");
    let reply =
        lattice_test_support::ctl_request(&client, subjects.host_get(host.id()), json!(null)).await;
    assert!(reply.success, "{}", reply.message);
    host.shutdown(Duration::from_secs(5)).await;

    // A user of an account the server does not trust, and no credentials at all.
    let stranger = nats.stranger().unwrap();
    for (who, auth) in [
        (
            "a stranger",
            NatsAuth::Jwt {
                jwt: stranger.jwt,
                seed: stranger.seed,
            },
        ),
        ("no credentials", NatsAuth::Anonymous),
    ] {
        let refused = match Host::start(config(&nats, auth)).await {
            Ok(_) => panic!("a host with {who} started"),
            Err(error) => error.to_string(),
        };
        assert!(
            refused.contains("ctl") && refused.to_lowercase().contains("authoriz"),
            "{who}: {refused}"
        );
    }
}
