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
        json!({"kind": "link_put", "role": "target", "source_id": "comp", "config": {"URL": "redis://one"}})
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

    // The link's config changes: delete then put, which the official SDK applies.
    oracle(
        official
            .put_config(
                "redis",
                HashMap::from([("URL".to_string(), "redis://two".to_string())]),
            )
            .await,
    )?;
    assert_eq!(seen.next().await?["kind"], "link_del");
    assert_eq!(seen.next().await?["config"]["URL"], "redis://two");

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
