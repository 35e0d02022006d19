//! The builtin messaging-nats end to end: a real `nats-server`, a real host, a component
//! that handles messages and publishes through the provider (`wasmcloud:messaging@0.2.0`
//! both ways), and request-reply through it.

use std::time::Duration;

use futures::StreamExt as _;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::components::{MESSAGING_ECHO, write_component};
use lattice_test_support::{EventWatcher, TestNats, WAIT, ctl_request};
use serde_json::json;

fn subjects() -> CtlSubjects {
    CtlSubjects::new("wasmbus.ctl", "default")
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_reach_a_component_and_its_publishes_and_replies_reach_nats() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let host = nats.start_host(|c| c.allow_file_load = true).await.unwrap();
    let host_id = host.id().to_string();
    let ok = async |subject: String, body: serde_json::Value| {
        let reply = ctl_request(&client, subject.clone(), body).await;
        assert!(reply.success, "{subject}: {}", reply.message);
    };

    let echo = write_component(dir.path(), "echo.wasm", MESSAGING_ECHO);
    ok(
        subjects().component_scale(&host_id),
        json!({"component_id": "echo", "component_ref": format!("file://{}", echo.display()),
            "count": 4, "host_id": host_id}),
    )
    .await;
    events
        .next_matching_within(
            "component_scaled",
            lattice_test_support::COMPILE_WAIT,
            |e| e.data["component_id"] == "echo",
        )
        .await
        .unwrap();

    ok(
        subjects().config_put("messaging"),
        json!({"cluster_uris": nats.url()}),
    )
    .await;
    ok(
        subjects().config_put("subscriptions"),
        json!({"subscriptions": "echo.in, echo.work|workers"}),
    )
    .await;
    ok(
        subjects().provider_start(&host_id),
        json!({"provider_id": "messaging", "provider_ref": "wasmcloud+builtin://messaging-nats",
            "host_id": host_id, "config": ["messaging"]}),
    )
    .await;
    let started = events
        .next_matching("provider_started", |e| e.data["provider_id"] == "messaging")
        .await
        .unwrap();
    assert_eq!(started.data["image_ref"], "messaging-nats");
    // Messages in: the provider calls the component's handler.
    ok(
        subjects().link_put(),
        json!({"source_id": "messaging", "target": "echo", "wit_namespace": "wasmcloud",
            "wit_package": "messaging", "interfaces": ["handler"], "source_config": ["subscriptions"]}),
    )
    .await;
    // Messages out: the component's consumer calls reach the provider.
    ok(
        subjects().link_put(),
        json!({"source_id": "echo", "target": "messaging", "wit_namespace": "wasmcloud",
            "wit_package": "messaging", "interfaces": ["consumer"]}),
    )
    .await;

    let mut out = client.subscribe("echo.out").await.unwrap();
    client.flush().await.unwrap();
    // The links reach the provider a moment after they are stored: publish until the
    // echo comes back.
    let deadline = tokio::time::Instant::now() + WAIT;
    let echoed = loop {
        client.publish("echo.in", "hello".into()).await.unwrap();
        match tokio::time::timeout(Duration::from_millis(200), out.next()).await {
            Ok(Some(message)) => break message,
            _ => assert!(
                tokio::time::Instant::now() < deadline,
                "no echo on echo.out within {WAIT:?}"
            ),
        }
    };
    assert_eq!(&echoed.payload[..], b"hello");

    // Request-reply: the component publishes to the request's reply subject; a queue
    // group subscription takes it too.
    for subject in ["echo.in", "echo.work"] {
        let reply = tokio::time::timeout(WAIT, client.request(subject, "ping".into()))
            .await
            .expect("a reply in time")
            .expect("a reply");
        assert_eq!(&reply.payload[..], b"ping", "{subject}");
    }
}
