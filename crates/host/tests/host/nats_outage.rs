//! A NATS outage under a running lattice: the server stops for a few seconds and comes
//! back on the same port with the same store. The host and its provider reconnect by
//! themselves, the provider is not restarted, links and config are all still there and
//! new ones still reach the provider, and the host answers again promptly (the time is
//! printed; docs/reliability.md has the figures).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::{EventWatcher, TestNats, WAIT, ctl_request, workspace_bin};
use serde_json::{Value, json};

fn test_provider() -> PathBuf {
    workspace_bin("lattice-test-provider", "lattice-test-provider").unwrap()
}

fn subjects() -> CtlSubjects {
    CtlSubjects::new("wasmbus.ctl", "default")
}

async fn ok(client: &async_nats::Client, subject: String, body: Value) -> Value {
    let reply = ctl_request(client, subject.clone(), body).await;
    assert!(reply.success, "{subject}: {}", reply.message);
    reply.response.unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_nats_outage_hosts_and_providers_reconnect_and_nothing_is_lost() {
    let mut nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let host = nats
        .start_host(|c| {
            c.allow_file_load = true;
            c.providers.health_interval = Duration::from_millis(200);
        })
        .await
        .unwrap();
    let host_id = host.id().to_string();
    ok(
        &client,
        subjects().config_put("kept"),
        json!({"KEY": "value"}),
    )
    .await;
    let body = json!({"provider_id": "steady", "provider_ref": format!("file://{}", test_provider().display()),
        "config": ["kept"]});
    ok(&client, subjects().provider_start(&host_id), body).await;
    events
        .next_matching("health_check_passed", |e| e.data["provider_id"] == "steady")
        .await
        .unwrap();
    let link = json!({"source_id": "comp", "target": "steady", "wit_namespace": "wasi",
        "wit_package": "keyvalue", "interfaces": ["store"]});
    ok(&client, subjects().link_put(), link).await;
    let inventory = ok(&client, subjects().host_get(&host_id), Value::Null).await;
    let pid = inventory["providers"][0]["pid"].clone();
    assert!(pid.is_u64(), "{inventory}");
    drop(events);
    drop(client);

    nats.restart_after(Duration::from_secs(3)).await.unwrap();
    let back = Instant::now();
    // A fresh client (its own reconnect is not what is measured) asks until the host answers.
    let client = nats.client().await.unwrap();
    let answered = loop {
        let ping = client.request(subjects().host_ping(), "".into());
        if let Ok(Ok(reply)) = tokio::time::timeout(Duration::from_millis(50), ping).await
            && !reply.payload.is_empty()
        {
            break back.elapsed();
        }
        assert!(
            back.elapsed() < WAIT,
            "the host did not answer within {WAIT:?} of NATS being back"
        );
    };
    eprintln!("host answered {answered:?} after nats-server was back (down 3 s)");

    // Same provider process, not restarted, healthy again: the first answer after the
    // outage (the host probes every 200 ms) is its health event.
    let events = EventWatcher::new(&client, "default").await.unwrap();
    events
        .next_matching_within("health_check_status", WAIT, |e| {
            e.data["provider_id"] == "steady"
        })
        .await
        .unwrap();
    let inventory = ok(&client, subjects().host_get(&host_id), Value::Null).await;
    let provider = &inventory["providers"][0];
    assert_eq!(
        provider["pid"], pid,
        "the provider was restarted: {inventory}"
    );
    assert_eq!(provider["restarts"], 0, "{inventory}");
    assert!(
        provider["healthy"] == true && provider["state"] == "running",
        "not healthy again: {inventory}"
    );
    // Nothing lost, and changes still reach the provider.
    let config = ok(&client, subjects().config_get("kept"), Value::Null).await;
    assert_eq!(config, json!({"KEY": "value"}));
    let links = ok(&client, subjects().link_get(), Value::Null).await;
    assert_eq!(links.as_array().map(Vec::len), Some(1), "{links}");
    let mut seen = client.subscribe("lattice.test.steady.seen").await.unwrap();
    client.flush().await.unwrap();
    let link = json!({"source_id": "other", "target": "steady", "wit_namespace": "wasi",
        "wit_package": "blobstore", "interfaces": ["blobstore"]});
    ok(&client, subjects().link_put(), link).await;
    // The host may also re-send the links the provider held (it does after a re-watch);
    // what matters is that the new one arrives.
    use futures::StreamExt as _;
    let report = tokio::time::timeout(WAIT, async {
        loop {
            let report = seen.next().await.expect("the subscription ends");
            let report: Value = serde_json::from_slice(&report.payload).unwrap();
            if report["link"]["source_id"] == "other" {
                break report;
            }
        }
    })
    .await
    .expect("the new link did not reach the provider");
    assert_eq!(report["kind"], "link_put", "{report}");
    drop(events);
    host.shutdown(Duration::from_secs(5)).await;
}
