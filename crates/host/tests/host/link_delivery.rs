//! A provider only ever receives links in which it is the source or the target (issue
//! #14, item 6): every link put the host publishes on the lattice's provider subjects is
//! watched, and each names its recipient.

use std::time::Duration;

use futures::StreamExt as _;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::{EventWatcher, TestNats, WAIT, ctl_request, workspace_bin};
use serde_json::json;

/// `provider`'s xkey public key: the subject token its link puts go to.
async fn xkey_of(client: &async_nats::Client, provider: &str) -> String {
    let reply = client
        .request(format!("lattice.test.{provider}.dump"), "".into())
        .await
        .unwrap();
    let dump: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    let seed = dump["host_data"]["provider_xkey_private_key"]
        .as_str()
        .unwrap();
    nkeys::XKey::from_seed(seed).unwrap().public_key()
}

fn link(source: &str, target: &str, package: &str) -> serde_json::Value {
    json!({"source_id": source, "target": target, "wit_namespace": "wasi",
        "wit_package": package, "interfaces": ["store"]})
}

/// A server, a client following its events, and a host that may load files.
async fn a_host() -> (
    TestNats,
    async_nats::Client,
    EventWatcher,
    lattice_host::Host,
) {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let host = nats.start_host(|c| c.allow_file_load = true).await.unwrap();
    (nats, client, events, host)
}

#[tokio::test]
async fn a_provider_receives_only_the_links_it_is_part_of() {
    let (_nats, client, events, host) = a_host().await;
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let provider = workspace_bin("lattice-test-provider", "lattice-test-provider").unwrap();
    for id in ["pa", "pb"] {
        let body = json!({"provider_id": id, "provider_ref": format!("file://{}", provider.display()),
            "host_id": host.id()});
        let reply = ctl_request(&client, subjects.provider_start(host.id()), body).await;
        assert!(reply.success, "{}", reply.message);
        events
            .next_matching("health_check_passed", |e| e.data["provider_id"] == id)
            .await
            .unwrap();
    }
    let recipients = [
        (xkey_of(&client, "pa").await, "pa"),
        (xkey_of(&client, "pb").await, "pb"),
    ];
    let mut puts = client
        .subscribe("wasmbus.rpc.default.*.linkdefs.put")
        .await
        .unwrap();
    client.flush().await.unwrap();

    // Links of each provider, between components only, and between the two; the last
    // one (its own package) reaches both, after everything before it.
    for link in [
        link("pa", "c1", "keyvalue"),
        link("c2", "pb", "keyvalue"),
        link("c3", "c4", "keyvalue"),
        link("c5", "pa", "blobstore"),
        link("pb", "pa", "last"),
    ] {
        let reply = ctl_request(&client, subjects.link_put(), link).await;
        assert!(reply.success, "{}", reply.message);
    }
    let mut delivered = Vec::new();
    let mut last_seen = 0;
    while last_seen < 2 {
        let message = tokio::time::timeout(WAIT, puts.next())
            .await
            .expect("link puts reach the providers")
            .unwrap();
        let token = message
            .subject
            .as_str()
            .split('.')
            .nth(3)
            .unwrap()
            .to_string();
        let (_, provider) = recipients
            .iter()
            .find(|(key, _)| *key == token)
            .unwrap_or_else(|| panic!("a link put to an unknown recipient: {}", message.subject));
        let link: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        let (source, target) = (
            link["source_id"].as_str().unwrap(),
            link["target"].as_str().unwrap(),
        );
        assert!(
            source == *provider || target == *provider,
            "{provider} received a link between {source} and {target}"
        );
        if link["wit_package"] == "last" {
            last_seen += 1;
        }
        delivered.push(format!("{source}->{target} to {provider}"));
    }
    delivered.sort();
    assert_eq!(
        delivered,
        [
            "c2->pb to pb",
            "c5->pa to pa",
            "pa->c1 to pa",
            "pb->pa to pa",
            "pb->pa to pb"
        ]
    );
}

/// The host's watches of the lattice buckets lose their consumers while its connection
/// stays up (deleted on the server): links and config put afterwards still reach its
/// provider. A watch whose consumer is gone misses two 5 s heartbeats, errs, and is
/// reopened with its bucket re-read, so the change arrives within about 10 s.
#[tokio::test]
async fn links_and_config_still_arrive_after_the_bucket_watches_are_deleted() {
    let (_nats, client, events, host) = a_host().await;
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let provider = workspace_bin("lattice-test-provider", "lattice-test-provider").unwrap();
    let reply = ctl_request(
        &client,
        subjects.config_put("watched-cfg"),
        json!({"v": "1"}),
    )
    .await;
    assert!(reply.success, "{}", reply.message);
    let body = json!({"provider_id": "watched", "config": ["watched-cfg"],
        "provider_ref": format!("file://{}", provider.display())});
    let reply = ctl_request(&client, subjects.provider_start(host.id()), body).await;
    assert!(reply.success, "{}", reply.message);
    events
        .next_matching("health_check_passed", |e| {
            e.data["provider_id"] == "watched"
        })
        .await
        .unwrap();
    let reports = lattice_test_support::ProviderReports::follow(&client, "watched")
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let mut deleted = 0;
    for stream in ["KV_LATTICEDATA_default", "KV_CONFIGDATA_default"] {
        let stream = js.get_stream(stream).await.unwrap();
        let names: Vec<String> = stream.consumer_names().map(|n| n.unwrap()).collect().await;
        for name in names {
            stream.delete_consumer(&name).await.unwrap();
            deleted += 1;
        }
    }
    assert!(deleted >= 2, "the host watches both buckets: {deleted}");
    let link = json!({"source_id": "watched", "target": "kv", "wit_namespace": "wasi",
        "wit_package": "keyvalue", "interfaces": ["store"]});
    let reply = ctl_request(&client, subjects.link_put(), link).await;
    assert!(reply.success, "{}", reply.message);
    let seen = reports.next().await.unwrap();
    assert_eq!(
        (seen["kind"].as_str(), seen["link"]["target"].as_str()),
        (Some("link_put"), Some("kv")),
        "{seen}"
    );
    let reply = ctl_request(
        &client,
        subjects.config_put("watched-cfg"),
        json!({"v": "2"}),
    )
    .await;
    assert!(reply.success, "{}", reply.message);
    let seen = reports.next_within(WAIT * 3).await.unwrap();
    assert_eq!(
        seen,
        json!({"kind": "config", "config": {"v": "2"}}),
        "{seen}"
    );
    host.shutdown(Duration::from_secs(5)).await;
}
