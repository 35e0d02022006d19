//! What wash, wadm and the official client rely on, against a real `nats-server` and
//! real hosts: ping's `ctl_host`, reads that reflect acknowledged writes whichever host
//! answers, auctions a host can honour, and no link or config lost while a provider is
//! spawning.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt as _;
use lattice_host::HostConfig;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::{EventWatcher, ProviderReports, TestNats, ctl_request, workspace_bin};
use serde_json::{Value, json};

fn test_provider() -> PathBuf {
    workspace_bin("lattice-test-provider", "lattice-test-provider")
        .expect("the test provider builds")
}

fn subjects() -> CtlSubjects {
    CtlSubjects::new("wasmbus.ctl", "default")
}

async fn ok(client: &async_nats::Client, subject: String, body: Value) -> Value {
    let reply = ctl_request(client, subject.clone(), body).await;
    assert!(reply.success, "{subject}: {}", reply.message);
    reply.response.unwrap_or(Value::Null)
}

#[tokio::test]
async fn ping_reports_the_ctl_url_as_ctl_host() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let port = nats.url().rsplit(':').next().unwrap().to_string();
    let ctl_url = format!("nats://localhost:{port}");
    let host = nats
        .start_host(|c| c.ctl_nats.url = ctl_url.clone())
        .await
        .unwrap();
    let pong = ok(&client, subjects().host_ping(), Value::Null).await;
    assert_eq!(pong["ctl_host"], ctl_url.as_str());
    assert_eq!(pong["rpc_host"], nats.url());
    host.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn reads_through_any_host_reflect_every_acknowledged_write() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let mut hosts = Vec::new();
    for _ in 0..3 {
        hosts.push(nats.start_host(|_| {}).await.unwrap());
    }
    reads_follow_writes(&client, 30).await;
    for host in hosts {
        host.shutdown(Duration::from_secs(5)).await;
    }
}

/// `rounds` times: a link put, deleted, a config put, deleted, each followed at once by
/// a read (answered by whichever host the queue group picks) that must reflect it.
pub(crate) async fn reads_follow_writes(client: &async_nats::Client, rounds: usize) {
    let del = json!({"source_id": "src", "wit_namespace": "wasi", "wit_package": "keyvalue"});
    for n in 0..rounds {
        let link = json!({"source_id": "src", "target": format!("t{n}"), "wit_namespace": "wasi",
            "wit_package": "keyvalue", "interfaces": ["store"]});
        ok(client, subjects().link_put(), link).await;
        let links = ok(client, subjects().link_get(), Value::Null).await;
        assert_eq!(links.as_array().unwrap().len(), 1, "round {n}: {links}");
        assert_eq!(links[0]["target"], format!("t{n}"), "round {n}");
        ok(client, subjects().link_del(), del.clone()).await;
        let links = ok(client, subjects().link_get(), Value::Null).await;
        assert_eq!(links, json!([]), "round {n}: a deleted link is not listed");

        let value = format!("v{n}");
        ok(client, subjects().config_put("cfg"), json!({"k": value})).await;
        let got = ok(client, subjects().config_get("cfg"), Value::Null).await;
        assert_eq!(got, json!({"k": value}), "round {n}");
        ok(client, subjects().config_del("cfg"), Value::Null).await;
        let reply = ctl_request(client, subjects().config_get("cfg"), Value::Null).await;
        assert_eq!(reply.message, "Configuration not found", "round {n}");
    }
}

/// Every bid that arrives for `provider_ref` within a short window (auctions collect
/// replies for a while; a host that does not bid stays silent).
async fn bidders(client: &async_nats::Client, provider_ref: &str, expected: usize) -> Vec<String> {
    let body = json!({"provider_ref": provider_ref, "provider_id": "bid", "constraints": {}});
    auction(client, subjects().provider_auction(), body, expected).await
}

/// The hosts that bid in a component auction for `component_ref`.
async fn component_bidders(
    client: &async_nats::Client,
    component_ref: &str,
    expected: usize,
) -> Vec<String> {
    let body = json!({"component_ref": component_ref, "component_id": "bid", "constraints": {}});
    auction(client, subjects().component_auction(), body, expected).await
}

/// The hosts that answer the auction `body` on `subject`, sorted.
async fn auction(
    client: &async_nats::Client,
    subject: String,
    body: Value,
    expected: usize,
) -> Vec<String> {
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client
        .publish_with_reply(subject, inbox, serde_json::to_vec(&body).unwrap().into())
        .await
        .unwrap();
    let mut hosts = Vec::new();
    // Wait for the expected bids, then a little longer for unexpected ones.
    let window = Duration::from_millis(if expected == 0 { 1000 } else { 500 });
    let deadline = tokio::time::Instant::now() + lattice_test_support::WAIT;
    loop {
        let limit = match hosts.len() >= expected {
            true => tokio::time::Instant::now() + window,
            false => deadline,
        };
        match tokio::time::timeout_at(limit, replies.next()).await {
            Ok(Some(msg)) => {
                let reply: Value = serde_json::from_slice(&msg.payload).unwrap();
                hosts.push(reply["response"]["host_id"].as_str().unwrap().to_string());
            }
            _ => {
                hosts.sort();
                return hosts;
            }
        }
    }
}

#[tokio::test]
async fn hosts_bid_only_for_references_they_can_load_and_when_auctions_are_on() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let files = nats.start_host(|c| c.allow_file_load = true).await.unwrap();
    let no_files = nats.start_host(|_| {}).await.unwrap();
    let no_auctions = nats
        .start_host(|c| {
            c.allow_file_load = true;
            c.provider_auction = false;
            c.component_auction = false;
        })
        .await
        .unwrap();
    let file_ref = format!("file://{}", test_provider().display());
    assert_eq!(
        bidders(&client, &file_ref, 1).await,
        [files.id().to_string()],
        "only the host that may load files and holds auctions bids"
    );
    let mut expected = vec![files.id().to_string(), no_files.id().to_string()];
    expected.sort();
    assert_eq!(
        bidders(&client, "ghcr.io/wasmcloud/http-server:0.23.0", 2).await,
        expected,
        "every host with auctions on may pull a pinned registry reference"
    );
    assert_eq!(
        bidders(&client, "ghcr.io/wasmcloud/http-server:latest", 0).await,
        Vec::<String>::new(),
        "`:latest` is refused without --allow-latest, so no host bids"
    );
    // Component auctions follow the same rules, under --enable-component-auction.
    let dir = tempfile::tempdir().unwrap();
    let math = lattice_test_support::components::write_component(
        dir.path(),
        "math.wasm",
        lattice_test_support::components::MATH,
    );
    assert_eq!(
        component_bidders(&client, &format!("file://{}", math.display()), 1).await,
        [files.id().to_string()],
        "only the host that may load files and holds component auctions bids"
    );
    assert_eq!(
        component_bidders(&client, "ghcr.io/wasmcloud/components/http-hello:0.1.0", 2).await,
        expected,
        "every host with component auctions on may pull a pinned registry reference"
    );
    assert_eq!(
        component_bidders(&client, "ghcr.io/wasmcloud/components/http-hello:latest", 0).await,
        Vec::<String>::new(),
        "`:latest` is refused without --allow-latest"
    );
    for host in [files, no_files, no_auctions] {
        host.shutdown(Duration::from_secs(5)).await;
    }
}

/// A script that waits before it runs the test provider: the host has registered it
/// for lattice state (its HostData is written), but it does not listen yet.
fn slow_starter(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("slow.sh");
    let script = format!(
        "#!/bin/sh\nsleep 0.7\nexec '{}'\n",
        test_provider().display()
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn links_and_config_that_change_while_a_provider_spawns_reach_it_once_it_listens() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let adjust = |c: &mut HostConfig| c.allow_file_load = true;
    let host = nats.start_host(adjust).await.unwrap();
    ok(&client, subjects().config_put("own"), json!({"MODE": "a"})).await;
    let reports = ProviderReports::follow(&client, "late").await.unwrap();
    let body = json!({"provider_id": "late", "config": ["own"],
        "provider_ref": format!("file://{}", slow_starter(dir.path()).display())});
    ok(&client, subjects().provider_start(host.id()), body).await;
    events
        .next_matching("provider_started", |e| e.data["provider_id"] == "late")
        .await
        .unwrap();
    // While it sleeps: a new link and a change of its own config.
    let link = json!({"source_id": "late", "target": "kv", "wit_namespace": "wasi",
        "wit_package": "keyvalue", "interfaces": ["store"]});
    ok(&client, subjects().link_put(), link).await;
    ok(&client, subjects().config_put("own"), json!({"MODE": "b"})).await;
    events
        .next_matching("health_check_passed", |e| e.data["provider_id"] == "late")
        .await
        .unwrap();
    let mut seen = [reports.next().await.unwrap(), reports.next().await.unwrap()];
    seen.sort_by_key(|r| r["kind"].as_str().unwrap_or_default().to_string());
    assert_eq!(seen[0], json!({"kind": "config", "config": {"MODE": "b"}}));
    assert_eq!(seen[1]["kind"], "link_put");
    assert_eq!(seen[1]["link"]["target"], "kv");
    host.shutdown(Duration::from_secs(5)).await;
}
