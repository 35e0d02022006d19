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

/// A host running the `echo` component (4 instances) and the builtin messaging-nats
/// `messaging` (named config `messaging`: the test server's URL).
struct Echo {
    client: async_nats::Client,
    events: EventWatcher,
    _host: lattice_host::Host,
    _dir: tempfile::TempDir,
}

impl Echo {
    async fn start(nats: &TestNats) -> Self {
        let client = nats.client().await.unwrap();
        let events = EventWatcher::new(&client, "default").await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let host = nats.start_host(|c| c.allow_file_load = true).await.unwrap();
        let host_id = host.id().to_string();
        let echo = Echo {
            client,
            events,
            _host: host,
            _dir: dir,
        };
        let wasm = write_component(echo._dir.path(), "echo.wasm", MESSAGING_ECHO);
        echo.ok(
            subjects().component_scale(&host_id),
            json!({"component_id": "echo", "component_ref": format!("file://{}", wasm.display()),
                "count": 4, "host_id": host_id}),
        )
        .await;
        echo.events
            .next_matching_within(
                "component_scaled",
                lattice_test_support::COMPILE_WAIT,
                |e| e.data["component_id"] == "echo",
            )
            .await
            .unwrap();
        echo.ok(
            subjects().config_put("messaging"),
            json!({"cluster_uris": nats.url()}),
        )
        .await;
        echo.ok(
            subjects().provider_start(&host_id),
            json!({"provider_id": "messaging", "provider_ref": "wasmcloud+builtin://messaging-nats",
                "host_id": host_id, "config": ["messaging"]}),
        )
        .await;
        let started = echo
            .events
            .next_matching("provider_started", |e| e.data["provider_id"] == "messaging")
            .await
            .unwrap();
        assert_eq!(started.data["image_ref"], "messaging-nats");
        echo
    }

    async fn ok(&self, subject: String, body: serde_json::Value) {
        let reply = ctl_request(&self.client, subject.clone(), body).await;
        assert!(reply.success, "{subject}: {}", reply.message);
    }

    /// Links the provider to the component's handler with the named config `config`.
    async fn link_handler(&self, name: &str, config: &str) {
        self.ok(
            subjects().link_put(),
            json!({"source_id": "messaging", "target": "echo", "name": name,
                "wit_namespace": "wasmcloud", "wit_package": "messaging",
                "interfaces": ["handler"], "source_config": [config]}),
        )
        .await;
    }

    /// Links the component's consumer to the provider.
    async fn link_consumer(&self) {
        self.ok(
            subjects().link_put(),
            json!({"source_id": "echo", "target": "messaging", "wit_namespace": "wasmcloud",
                "wit_package": "messaging", "interfaces": ["consumer"]}),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_reach_a_component_and_its_publishes_and_replies_reach_nats() {
    let nats = TestNats::start().await.unwrap();
    let echo = Echo::start(&nats).await;
    let client = &echo.client;
    echo.ok(
        subjects().config_put("subscriptions"),
        json!({"subscriptions": "echo.in, echo.work|workers"}),
    )
    .await;
    // Messages in: the provider calls the component's handler.
    echo.link_handler("default", "subscriptions").await;
    // Messages out: the component's consumer calls reach the provider.
    echo.link_consumer().await;

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

/// Polls `consumer`'s info until `done` holds for it.
async fn consumer_until(
    consumer: &mut async_nats::jetstream::consumer::PullConsumer,
    what: &str,
    done: impl Fn(&async_nats::jetstream::consumer::Info) -> bool,
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let info = consumer.info().await.unwrap().clone();
        if done(&info) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} never happened: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn jetstream_consumers_are_pulled_and_a_message_is_acknowledged_only_once_handled() {
    use async_nats::jetstream::{self, consumer::pull, stream};
    let nats = TestNats::start().await.unwrap();
    let echo = Echo::start(&nats).await;
    let client = &echo.client;

    // A stream with three messages waiting, and a durable pull consumer on it.
    let js = jetstream::new(client.clone());
    let orders = js
        .create_stream(stream::Config {
            name: "ORDERS".into(),
            subjects: vec!["orders.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut consumer = orders
        .create_consumer(pull::Config {
            durable_name: Some("workers".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    for body in ["a", "b", "c"] {
        js.publish(format!("orders.{body}"), body.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }

    echo.ok(
        subjects().config_put("orders"),
        json!({"consumers": r#"[{"stream":"ORDERS","consumer":"workers","max_messages":2}]"#}),
    )
    .await;
    // Without its consumer link the component cannot publish, so it fails each message:
    // they are not acknowledged but redelivered.
    echo.link_handler("default", "orders").await;
    consumer_until(&mut consumer, "a redelivery", |info| {
        info.num_redelivered > 0
    })
    .await;

    // With it, every message comes out once handled, and all are acknowledged.
    let mut out = client.subscribe("echo.out").await.unwrap();
    client.flush().await.unwrap();
    echo.link_consumer().await;
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 3 {
        let message = tokio::time::timeout(WAIT, out.next())
            .await
            .expect("the messages come out")
            .unwrap();
        seen.insert(String::from_utf8_lossy(&message.payload).into_owned());
    }
    assert_eq!(seen, ["a", "b", "c"].map(String::from).into());
    consumer_until(&mut consumer, "every message acknowledged", |info| {
        info.num_ack_pending == 0 && info.num_pending == 0
    })
    .await;

    // A consumer that does not exist fails the link, naming it.
    echo.ok(
        subjects().config_put("missing"),
        json!({"consumers": r#"[{"stream":"NOPE","consumer":"x"}]"#}),
    )
    .await;
    echo.link_handler("missing", "missing").await;
    let failed = echo
        .events
        .next_matching("provider_link_failed", |e| e.data["name"] == "missing")
        .await
        .unwrap();
    let reason = failed.data["reason"].as_str().unwrap();
    assert!(reason.contains("stream `NOPE`"), "{reason}");
}
