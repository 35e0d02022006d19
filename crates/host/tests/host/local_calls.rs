//! A component's call through a link to a component on the same host is made
//! in-process; one to a component on another host goes over NATS. Both give the same
//! answer; a subscription beside the target's own shows which of them crossed NATS.

use std::time::Duration;

use futures::StreamExt as _;
use lattice_test_support::components::{CALC, MATH, write_component};
use lattice_test_support::{EventWatcher, TestNats};
use lattice_wrpc::WrpcClient;
use serde_json::json;

use crate::components::{components, double_21_once_linked, put_link, scale_each};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_linked_component_on_the_same_host_is_called_in_process_and_one_elsewhere_over_nats() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let math = write_component(dir.path(), "math.wasm", MATH);
    let calc = write_component(dir.path(), "calc.wasm", CALC);
    let a = nats.start_host(components(dir.path())).await.unwrap();
    let b = nats.start_host(components(dir.path())).await.unwrap();
    scale_each(&client, &events, a.id(), &["math"], &math).await;
    scale_each(&client, &events, a.id(), &["near"], &calc).await;
    scale_each(&client, &events, b.id(), &["far"], &calc).await;
    for source in ["near", "far"] {
        let link = json!({"source_id": source, "target": "math", "wit_namespace": "local",
            "wit_package": "test", "interfaces": ["math"]});
        put_link(&client, link).await;
    }
    // Every message to math's functions, seen beside math's own queue subscription.
    let mut seen = client.subscribe("default.math.wrpc.>").await.unwrap();
    client.flush().await.unwrap();
    let wrpc = WrpcClient::new(client.clone()).await.unwrap();

    assert_eq!(
        double_21_once_linked(&wrpc, "near").await,
        42,
        "21 + 21 by math"
    );
    // Sent after the answer: had near's call crossed NATS, it would have come first.
    client
        .publish("default.math.wrpc.marker", "after near".into())
        .await
        .unwrap();
    let first = tokio::time::timeout(WAIT, seen.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first.subject.as_str(),
        "default.math.wrpc.marker",
        "near (on math's host) called math in-process, not over NATS"
    );

    assert_eq!(
        double_21_once_linked(&wrpc, "far").await,
        42,
        "21 + 21 by math"
    );
    let call = tokio::time::timeout(WAIT, seen.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        call.subject.as_str(),
        "default.math.wrpc.0.0.1.local:test/math@0.1.0.add"
    );
    let source = call.headers.as_ref().and_then(|h| h.get("source-id"));
    assert_eq!(
        source.map(|v| v.as_str()),
        Some("far"),
        "far (on another host) called math over NATS"
    );
    for host in [a, b] {
        host.shutdown(Duration::from_secs(5)).await;
    }
}
