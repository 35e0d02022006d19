//! A provider only ever receives links in which it is the source or the target (issue
//! #14, item 6): every link put the host publishes on the lattice's provider subjects is
//! watched, and each names its recipient.

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

#[tokio::test]
async fn a_provider_receives_only_the_links_it_is_part_of() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let host = nats.start_host(|c| c.allow_file_load = true).await.unwrap();
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
