//! Links and named config through the official `wasmcloud_control_interface::Client`,
//! delivered by lattice hosts to a provider built with the official SDK.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use futures::StreamExt as _;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::{EventWatcher, TestNats, WAIT};
use serde_json::{Value, json};

const OFFICIAL_PROVIDER: &str = env!("CARGO_BIN_EXE_official-sdk-provider");

fn oracle<T>(result: Result<T, Box<dyn std::error::Error + Send + Sync>>) -> anyhow::Result<T> {
    result.map_err(|e| anyhow!("official client: {e}"))
}

struct Seen(async_nats::Subscriber);

impl Seen {
    async fn next(&mut self) -> anyhow::Result<Value> {
        let message = tokio::time::timeout(WAIT, self.0.next())
            .await
            .context("no report")?
            .context("closed")?;
        Ok(serde_json::from_slice(&message.payload)?)
    }
}

#[tokio::test]
async fn the_official_client_and_sdk_work_with_lattice_links_and_config() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let client = nats.client().await?;
    let events = EventWatcher::new(&client, "default").await?;
    let host_a = nats.start_host(|c| c.allow_file_load = true).await?;
    let host_b = nats.start_host(|c| c.allow_file_load = true).await?;
    let official =
        wasmcloud_control_interface::ClientBuilder::new(async_nats_039::connect(nats.url()).await?)
            .lattice("default")
            .timeout(WAIT)
            .build();

    // Config through the official client.
    let put = oracle(
        official
            .put_config(
                "redis",
                HashMap::from([("URL".to_string(), "redis://one".to_string())]),
            )
            .await,
    )?;
    assert!(put.succeeded(), "{}", put.message());
    assert_eq!(put.message(), "successfully put config");
    oracle(
        official
            .put_config(
                "own",
                HashMap::from([("MODE".to_string(), "a".to_string())]),
            )
            .await,
    )?;
    let got = oracle(official.get_config("redis").await)?
        .into_data()
        .context("config data")?;
    assert_eq!(got["URL"], "redis://one");
    let missing = oracle(official.get_config("nope").await)?;
    assert!(missing.succeeded() && missing.data().is_none());
    assert_eq!(missing.message(), "Configuration not found");

    // The official-SDK provider runs on host B with config `own`.
    let mut seen = Seen(client.subscribe("oracle.kv.seen").await?);
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let body = json!({"provider_id": "kv", "provider_ref": format!("file://{OFFICIAL_PROVIDER}"), "config": ["own"]});
    client
        .request(
            subjects.provider_start(host_b.id()),
            serde_json::to_vec(&body)?.into(),
        )
        .await?;
    events
        .next_matching("health_check_passed", |e| e.data["provider_id"] == "kv")
        .await?;

    // A link through the official client reaches it with the resolved config.
    let link = wasmcloud_control_interface::Link::builder()
        .source_id("comp")
        .target("kv")
        .name("default")
        .wit_namespace("wasi")
        .wit_package("keyvalue")
        .interfaces(vec!["store".to_string()])
        .target_config(vec!["redis".to_string()])
        .build()
        .map_err(|e| anyhow!("{e}"))?;
    let put = oracle(official.put_link(link).await)?;
    assert_eq!(put.message(), "successfully set link");
    let report = seen.next().await?;
    assert_eq!(
        report,
        json!({"kind": "link_put", "role": "target", "source_id": "comp", "config": {"URL": "redis://one"}, "secrets": {}})
    );
    let links = oracle(official.get_links().await)?
        .into_data()
        .context("links")?;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].target_config(), &vec!["redis".to_string()]);

    // Its own config changes: the official SDK gets the merged map.
    oracle(
        official
            .put_config(
                "own",
                HashMap::from([("MODE".to_string(), "b".to_string())]),
            )
            .await,
    )?;
    assert_eq!(
        seen.next().await?,
        json!({"kind": "config", "config": {"MODE": "b"}})
    );

    // The link's config changes: the link is never removed (the official SDK ignores
    // the re-put of a link it holds and keeps its values, as with 1.x hosts). What it
    // sees next is the next change of its own config, not a delete.
    oracle(
        official
            .put_config(
                "redis",
                HashMap::from([("URL".to_string(), "redis://two".to_string())]),
            )
            .await,
    )?;
    oracle(
        official
            .put_config(
                "own",
                HashMap::from([("MODE".to_string(), "c".to_string())]),
            )
            .await,
    )?;
    assert_eq!(
        seen.next().await?,
        json!({"kind": "config", "config": {"MODE": "c"}})
    );

    // Deleting the link reaches it.
    let deleted = oracle(
        official
            .delete_link("comp", "default", "wasi", "keyvalue")
            .await,
    )?;
    assert_eq!(deleted.message(), "successfully deleted link");
    assert_eq!(
        seen.next().await?,
        json!({"kind": "link_del", "role": "target", "source_id": "comp"})
    );
    assert!(
        oracle(official.get_links().await)?
            .into_data()
            .unwrap_or_default()
            .is_empty()
    );

    let deleted = oracle(official.delete_config("redis").await)?;
    assert_eq!(deleted.message(), "successfully deleted config");
    assert!(oracle(official.get_config("redis").await)?.data().is_none());
    for host in [host_a, host_b] {
        host.shutdown(Duration::from_secs(5)).await;
    }
    Ok(())
}

/// Plays an official host's part: the official-SDK provider is started by the test
/// with HostData it builds, outside any lattice host, holding a link whose config a
/// lattice host then changes. The provider must keep the link.
#[tokio::test]
async fn a_provider_on_another_host_keeps_its_link_through_a_config_change() -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt as _;

    let nats = TestNats::start().await?;
    let client = nats.client().await?;
    let host = nats.start_host(|_| {}).await?;
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let ok = |reply: async_nats::Message| -> anyhow::Result<()> {
        let reply: Value = serde_json::from_slice(&reply.payload)?;
        anyhow::ensure!(reply["success"] == true, "{reply}");
        Ok(())
    };
    ok(client
        .request(
            subjects.config_put("redis"),
            r#"{"URL":"redis://one"}"#.into(),
        )
        .await?)?;
    let link = json!({"source_id": "comp", "target": "ext", "name": "default", "wit_namespace": "wasi",
        "wit_package": "keyvalue", "interfaces": ["store"], "target_config": ["redis"]});
    ok(client
        .request(subjects.link_put(), serde_json::to_vec(&link)?.into())
        .await?)?;

    // The "other host": HostData with the link resolved, as a 1.x host builds it.
    let host_xkey = nkeys::XKey::new();
    let provider_xkey = nkeys::XKey::new();
    let data = lattice_proto::HostData {
        host_id: nkeys::KeyPair::new_server().public_key(),
        lattice_rpc_prefix: "default".into(),
        link_name: "default".into(),
        lattice_rpc_url: nats.url().to_string(),
        provider_key: "ext".into(),
        instance_id: "00000000-0000-0000-0000-000000000001".into(),
        link_definitions: vec![serde_json::from_value(
            json!({"source_id": "comp", "target": "ext",
            "name": "default", "wit_namespace": "wasi", "wit_package": "keyvalue",
            "interfaces": ["store"], "source_config": {}, "target_config": {"URL": "redis://one"}}),
        )?],
        host_xkey_public_key: host_xkey.public_key(),
        provider_xkey_private_key: provider_xkey.seed()?,
        ..serde_json::from_value(json!({"env_values": {}, "link_definitions": []}))?
    };
    let mut seen = Seen(client.subscribe("oracle.ext.seen").await?);
    let mut child = tokio::process::Command::new(OFFICIAL_PROVIDER)
        .stdin(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    stdin.write_all(&data.to_stdin_line()).await?;
    drop(stdin);
    assert_eq!(
        seen.next().await?,
        json!({"kind": "link_put", "role": "target", "source_id": "comp", "config": {"URL": "redis://one"}, "secrets": {}}),
        "the startup link"
    );
    // Once it answers health it has subscribed.
    let health = "wasmbus.rpc.default.ext.health".to_string();
    let deadline = tokio::time::Instant::now() + WAIT;
    while client.request(health.clone(), "".into()).await.is_err() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the provider never answered health"
        );
    }

    // A lattice host handles the change of the link's config.
    ok(client
        .request(
            subjects.config_put("redis"),
            r#"{"URL":"redis://two"}"#.into(),
        )
        .await?)?;
    // The next thing the provider hears is what we send it now, not a delete.
    client
        .publish(
            "wasmbus.rpc.default.ext.config.update",
            r#"{"after":"change"}"#.into(),
        )
        .await?;
    assert_eq!(
        seen.next().await?,
        json!({"kind": "config", "config": {"after": "change"}})
    );
    child.kill().await?;
    host.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
