//! The official `wasmcloud_control_interface::Client` drives lattice hosts on a real
//! `nats-server`: ping, inventory, labels, stop; and the official types decode the
//! `host_started`, `host_heartbeat` and `host_stopped` CloudEvents.

use std::time::Duration;

use anyhow::{Context as _, anyhow};
use lattice_test_support::{EventWatcher, TestNats, WAIT};

type OfficialResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn oracle<T>(result: OfficialResult<T>) -> anyhow::Result<T> {
    result.map_err(|e| anyhow!("official client: {e}"))
}

async fn official_client(nats: &TestNats) -> anyhow::Result<wasmcloud_control_interface::Client> {
    let nc = async_nats_039::connect(nats.url()).await?;
    Ok(wasmcloud_control_interface::ClientBuilder::new(nc)
        .lattice("default")
        .timeout(WAIT)
        .auction_timeout(Duration::from_millis(500))
        .build())
}

/// Decodes a raw event with the official CloudEvents SDK and returns its type and JSON data.
fn official_event(payload: &[u8]) -> anyhow::Result<(String, serde_json::Value)> {
    use cloudevents::AttributesReader as _;
    let event: cloudevents::Event =
        serde_json::from_slice(payload).context("cloudevents-sdk rejects the event")?;
    assert_eq!(event.specversion(), cloudevents::event::SpecVersion::V10);
    assert_eq!(event.datacontenttype(), Some("application/json"));
    assert!(event.time().is_some());
    let data = match event.data() {
        Some(cloudevents::Data::Json(value)) => value.clone(),
        other => anyhow::bail!("event data is not inline JSON: {other:?}"),
    };
    Ok((event.ty().to_string(), data))
}

async fn next_official(events: &EventWatcher, name: &str) -> anyhow::Result<serde_json::Value> {
    let ty = format!("com.wasmcloud.lattice.{name}");
    loop {
        let message = events.next_raw().await?;
        let (event_ty, data) = official_event(&message.payload)?;
        if event_ty == ty {
            assert_eq!(
                message.subject.as_str(),
                format!("wasmbus.evt.default.{name}")
            );
            return Ok(data);
        }
    }
}

#[tokio::test]
async fn the_official_client_drives_a_lattice_host() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let events = EventWatcher::new(&nats.client().await?, "default").await?;
    let host = nats
        .start_host(|c| {
            c.heartbeat_interval = Duration::from_millis(300);
            c.allow_file_load = true;
            c.friendly_name = Some("oracle-host".into());
            c.labels.insert("zone".into(), "eu".into());
        })
        .await?;
    let id = host.id().to_string();
    let client = official_client(&nats).await?;

    // host_started and the first heartbeat, decoded by the official types. 1.9.2's
    // host_started has no `id` (the host is the envelope's `source`).
    let data = next_official(&events, "host_started").await?;
    assert!(data.get("id").is_none(), "{data}");
    let started: wasmcloud_control_interface::Host = serde_json::from_value(data)?;
    assert_eq!(started.friendly_name(), "oracle-host");
    assert_eq!(started.labels().get("zone").map(String::as_str), Some("eu"));
    let beat: wasmcloud_control_interface::HostInventory =
        serde_json::from_value(next_official(&events, "host_heartbeat").await?)?;
    assert_eq!(beat.host_id(), id);
    let beat: wasmcloud_control_interface::HostInventory =
        serde_json::from_value(next_official(&events, "host_heartbeat").await?)?;
    assert_eq!(beat.friendly_name(), "oracle-host");

    // Ping.
    let hosts = oracle(client.get_hosts().await)?;
    assert_eq!(hosts.len(), 1);
    assert!(hosts[0].succeeded());
    let pinged = hosts[0].data().context("ping reply carries the host")?;
    assert_eq!(pinged.id(), id);
    assert_eq!(pinged.lattice(), "default");
    assert_eq!(pinged.rpc_host(), Some(nats.url()));
    assert_eq!(
        pinged.labels().get("hostcore.os").map(String::as_str),
        Some(std::env::consts::OS)
    );
    assert!(pinged.version().is_some());

    // Inventory.
    let inventory = oracle(client.get_host_inventory(&id).await)?;
    assert!(inventory.succeeded(), "{}", inventory.message());
    let inventory = inventory.into_data().context("inventory")?;
    assert_eq!(inventory.host_id(), id);
    assert!(inventory.providers().is_empty());
    assert_eq!(
        inventory.labels().get("zone").map(String::as_str),
        Some("eu")
    );

    // Labels.
    let put = oracle(client.put_label(&id, "rack", "r7").await)?;
    assert!(put.succeeded(), "{}", put.message());
    assert_eq!(put.message(), "successfully put label");
    let inventory = oracle(client.get_host_inventory(&id).await)?
        .into_data()
        .unwrap();
    assert_eq!(
        inventory.labels().get("rack").map(String::as_str),
        Some("r7")
    );
    let refused = oracle(client.put_label(&id, "hostcore.os", "plan9").await)?;
    assert!(!refused.succeeded());
    assert_eq!(
        refused.message(),
        "hostcore.* labels cannot be set dynamically"
    );
    let deleted = oracle(client.delete_label(&id, "rack").await)?;
    assert_eq!(deleted.message(), "successfully deleted label");
    let inventory = oracle(client.get_host_inventory(&id).await)?
        .into_data()
        .unwrap();
    assert!(!inventory.labels().contains_key("rack"));

    // A provider started and stopped as wash does it: the official client with wash's
    // 2 s timeout, then `provider_started` with the reference as given but without its
    // scheme, and `provider_stopped` within wash's 2 s.
    let wash =
        wasmcloud_control_interface::ClientBuilder::new(async_nats_039::connect(nats.url()).await?)
            .lattice("default")
            .timeout(Duration::from_secs(2))
            .build();
    let provider =
        lattice_test_support::workspace_bin("lattice-test-provider", "lattice-test-provider")?;
    let reference = format!("file://{}", provider.display());
    let started = oracle(
        wash.start_provider(&id, &reference, "washed", None, vec![])
            .await,
    )?;
    assert!(started.succeeded(), "{}", started.message());
    let event = next_official(&events, "provider_started").await?;
    assert_eq!(
        (event["provider_id"].as_str(), event["image_ref"].as_str()),
        (Some("washed"), reference.strip_prefix("file://"))
    );
    let inventory = oracle(wash.get_host_inventory(&id).await)?
        .into_data()
        .context("inventory")?;
    let listed = inventory
        .providers()
        .first()
        .context("the provider is listed")?;
    assert_eq!(
        (listed.id(), listed.image_ref()),
        ("washed", reference.strip_prefix("file://"))
    );
    let asked = std::time::Instant::now();
    let stopped = oracle(wash.stop_provider(&id, "washed").await)?;
    assert!(stopped.succeeded(), "{}", stopped.message());
    let event = next_official(&events, "provider_stopped").await?;
    assert_eq!(event["provider_id"], "washed");
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "provider_stopped after {took:?}"
    );

    // Stop: acknowledged, then one graceful shutdown ending in host_stopped.
    let stop = oracle(client.stop_host(&id, Some(2_000)).await)?;
    assert!(stop.succeeded(), "{}", stop.message());
    assert_eq!(stop.message(), "successfully handled stop host");
    let deadline = tokio::time::timeout(WAIT, host.stop_requested()).await?;
    assert_eq!(deadline, Duration::from_secs(2));
    host.shutdown(deadline).await;
    let stopped: wasmcloud_control_interface::Host =
        serde_json::from_value(next_official(&events, "host_stopped").await?)?;
    assert_eq!(stopped.labels().get("zone").map(String::as_str), Some("eu"));
    assert!(
        oracle(client.get_hosts().await)?.is_empty(),
        "the stopped host no longer answers"
    );
    Ok(())
}

#[tokio::test]
async fn every_host_of_a_lattice_answers_the_official_ping() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let a = nats.start_host(|_| {}).await?;
    let b = nats.start_host(|_| {}).await?;
    let other = nats.start_host(|c| c.lattice = "elsewhere".into()).await?;
    let client = official_client(&nats).await?;
    let mut ids: Vec<String> = oracle(client.get_hosts().await)?
        .into_iter()
        .map(|r| r.into_data().expect("host").id().to_string())
        .collect();
    ids.sort();
    let mut expected = vec![a.id().to_string(), b.id().to_string()];
    expected.sort();
    assert_eq!(ids, expected, "only the hosts of lattice `default` answer");
    for host in [a, b, other] {
        host.shutdown(Duration::from_secs(5)).await;
    }
    Ok(())
}
