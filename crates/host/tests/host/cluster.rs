//! A lattice on a three-node NATS cluster (issue #14, item 1): hosts on different
//! nodes, the lattice's buckets replicated three times (`kv_replicas`), reads that
//! follow writes through any of them, and one node killed. The host that was on it comes
//! back through another node, link and config writes go on, and that host sees them. The
//! recovery times are printed (see docs/reliability.md).

use std::time::{Duration, Instant};

use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::components::{MATH, write_component};
use lattice_test_support::{EventWatcher, TestCluster};
use serde_json::json;

fn subjects() -> CtlSubjects {
    CtlSubjects::new("wasmbus.ctl", "default")
}

/// Sends a ctl request until it succeeds (each try waits 200 ms for a reply, a failed
/// one is followed by a 10 ms pause); returns how long after `since` the first success
/// came.
async fn until_ok(
    client: &async_nats::Client,
    subject: String,
    body: serde_json::Value,
    since: Instant,
) -> Duration {
    let payload: bytes::Bytes = match body {
        serde_json::Value::Null => bytes::Bytes::new(),
        body => serde_json::to_vec(&body).unwrap().into(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = tokio::time::timeout(
            Duration::from_millis(200),
            client.request(subject.clone(), payload.clone()),
        )
        .await;
        let success = match &reply {
            Ok(Ok(message)) => serde_json::from_slice::<serde_json::Value>(&message.payload)
                .is_ok_and(|r| r["success"] == true),
            _ => false,
        };
        if success {
            return since.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{subject} never succeeded: {reply:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_replicated_buckets_the_lattice_survives_losing_a_node() {
    let mut cluster = TestCluster::start(3).await.unwrap();
    let replicated = |c: &mut lattice_host::HostConfig| {
        c.kv_replicas = 3;
        c.allow_file_load = true;
    };
    let a = cluster.start_host(0, replicated).await.unwrap();
    let _b = cluster.start_host(1, replicated).await.unwrap();
    let _c = cluster.start_host(2, replicated).await.unwrap();
    let client = async_nats::connect(cluster.url(2)).await.unwrap();
    // Read your writes on the replicated buckets: hosts on all three nodes answer the
    // reads that follow each acknowledged write (docs/reliability.md on direct gets).
    crate::drop_in::reads_follow_writes(&client, 30).await;
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    for bucket in ["LATTICEDATA_default", "CONFIGDATA_default"] {
        let mut stream = js.get_stream(format!("KV_{bucket}")).await.unwrap();
        assert_eq!(
            stream.info().await.unwrap().config.num_replicas,
            3,
            "{bucket}"
        );
    }
    let start = Instant::now();
    until_ok(
        &client,
        subjects().config_put("before"),
        json!({"k": "1"}),
        start,
    )
    .await;

    // Host A's node goes away without a word.
    cluster.kill(0);
    let killed = Instant::now();
    let answered = until_ok(&client, subjects().host_get(a.id()), json!(null), killed).await;
    let written = until_ok(
        &client,
        subjects().config_put("after"),
        json!({"k": "2"}),
        killed,
    )
    .await;
    let link = json!({"source_id": "math", "target": "elsewhere", "wit_namespace": "local",
        "wit_package": "test", "interfaces": ["math"]});
    let linked = until_ok(&client, subjects().link_put(), link, killed).await;

    // Host A follows the buckets through its new node: a component scaled there with
    // both configs starts (a config it could not see would fail the scale).
    let dir = tempfile::tempdir().unwrap();
    let math = write_component(dir.path(), "math.wasm", MATH);
    let scale = json!({"component_id": "math", "component_ref": format!("file://{}", math.display()),
        "count": 1, "host_id": a.id(), "config": ["before", "after"]});
    until_ok(&client, subjects().component_scale(a.id()), scale, killed).await;
    // The scale's outcome: started, or failed naming why.
    let outcome = loop {
        let message = events.next_raw().await.unwrap();
        let event: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        let kind = event["type"].as_str().unwrap_or_default();
        if kind.ends_with("component_scaled") || kind.ends_with("component_scale_failed") {
            break event;
        }
    };
    assert!(
        outcome["type"]
            .as_str()
            .unwrap()
            .ends_with("component_scaled"),
        "{outcome}"
    );
    let seen = killed.elapsed();
    assert_eq!(outcome["data"]["host_id"], a.id());
    println!(
        "node killed: host A answered after {answered:?}; a config write succeeded after {written:?}, a link write after {linked:?}; host A ran a component with the new config after {seen:?}"
    );
}
