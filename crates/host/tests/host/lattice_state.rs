//! Links and named config in JetStream KV, delivered to running providers on every
//! host: real `nats-server` with JetStream, real hosts, real provider processes
//! (lattice's test provider reports what it receives on `lattice.test.{id}.seen`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt as _;
use lattice_host::{Host, HostConfig};
use lattice_proto::HostData;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::{EventWatcher, ProviderReports, TestNats, ctl_request, workspace_bin};
use serde_json::{Value, json};

fn test_provider() -> PathBuf {
    workspace_bin("lattice-test-provider", "lattice-test-provider")
        .expect("the test provider builds")
}

fn allow(c: &mut HostConfig) {
    c.allow_file_load = true;
}

fn subjects() -> CtlSubjects {
    CtlSubjects::new("wasmbus.ctl", "default")
}

fn link(
    source: &str,
    target: &str,
    name: &str,
    source_config: &[&str],
    target_config: &[&str],
) -> Value {
    json!({
        "source_id": source, "target": target, "name": name,
        "wit_namespace": "wasi", "wit_package": "keyvalue", "interfaces": ["store"],
        "source_config": source_config, "target_config": target_config,
    })
}

async fn ok(client: &async_nats::Client, subject: String, body: Value) -> Value {
    let reply = ctl_request(client, subject.clone(), body).await;
    assert!(reply.success, "{subject}: {}", reply.message);
    reply.response.unwrap_or(Value::Null)
}

async fn start_provider(
    client: &async_nats::Client,
    events: &EventWatcher,
    host: &Host,
    id: &str,
    config: &[&str],
) {
    let body = json!({"provider_id": id, "provider_ref": format!("file://{}", test_provider().display()), "config": config});
    ok(client, subjects().provider_start(host.id()), body).await;
    events
        .next_matching("health_check_passed", |e| e.data["provider_id"] == id)
        .await
        .unwrap();
}

async fn host_data_of(client: &async_nats::Client, id: &str) -> HostData {
    let reply = client
        .request(format!("lattice.test.{id}.dump"), "".into())
        .await
        .unwrap();
    let dump: Value = serde_json::from_slice(&reply.payload).unwrap();
    serde_json::from_value(dump["host_data"].clone()).unwrap()
}

#[tokio::test]
async fn links_and_config_written_through_one_host_reach_providers_on_the_others() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let a = nats.start_host(allow).await.unwrap();
    let b = nats.start_host(allow).await.unwrap();
    let c = nats.start_host(allow).await.unwrap();
    ok(
        &client,
        subjects().config_put("redis"),
        json!({"URL": "redis://one"}),
    )
    .await;
    ok(
        &client,
        subjects().config_put("base"),
        json!({"A": "1", "B": "1"}),
    )
    .await;
    ok(
        &client,
        subjects().config_put("override"),
        json!({"B": "2"}),
    )
    .await;
    start_provider(&client, &events, &b, "kv", &["base", "override"]).await;
    start_provider(&client, &events, &c, "http", &[]).await;
    let kv = ProviderReports::follow(&client, "kv").await.unwrap();
    let http = ProviderReports::follow(&client, "http").await.unwrap();
    let data = host_data_of(&client, "kv").await;
    assert_eq!(
        data.config,
        [("A".into(), "1".into()), ("B".into(), "2".into())].into(),
        "merged in list order"
    );

    // A link between providers on hosts B and C, put through whichever host answers.
    ok(
        &client,
        subjects().link_put(),
        link("http", "kv", "default", &[], &["redis"]),
    )
    .await;
    for reports in [&kv, &http] {
        let seen = reports.next().await.unwrap();
        assert_eq!(seen["kind"], "link_put");
        assert_eq!(seen["link"]["target_config"]["URL"], "redis://one");
    }

    // The link's config changes: both ends get it re-resolved as a re-put (no delete:
    // a config change never removes a link), which our SDK applies as a change.
    ok(
        &client,
        subjects().config_put("redis"),
        json!({"URL": "redis://two"}),
    )
    .await;
    for reports in [&kv, &http] {
        let seen = reports.next().await.unwrap();
        assert_eq!(seen["kind"], "link_put");
        assert_eq!(seen["link"]["target_config"]["URL"], "redis://two");
    }

    // The provider's own config changes: one update with the whole merged map.
    ok(
        &client,
        subjects().config_put("base"),
        json!({"A": "9", "B": "1"}),
    )
    .await;
    let seen = kv.next().await.unwrap();
    assert_eq!(
        seen,
        json!({"kind": "config", "config": {"A": "9", "B": "2"}})
    );
    // A deleted config counts as empty.
    ok(&client, subjects().config_del("override"), Value::Null).await;
    assert_eq!(
        kv.next().await.unwrap(),
        json!({"kind": "config", "config": {"A": "9", "B": "1"}})
    );

    // Deleting the link reaches both ends.
    let del = json!({"source_id": "http", "wit_namespace": "wasi", "wit_package": "keyvalue"});
    let reply = ctl_request(&client, subjects().link_del(), del.clone()).await;
    assert_eq!(reply.message, "successfully deleted link");
    for reports in [&kv, &http] {
        let seen = reports.next().await.unwrap();
        assert_eq!(
            (seen["kind"].as_str(), seen["link"]["source_id"].as_str()),
            (Some("link_del"), Some("http"))
        );
    }
    let reply = ctl_request(&client, subjects().link_del(), del).await;
    assert_eq!(
        reply.message,
        "successfully deleted link (spec doesn't exist)"
    );
    for host in [a, b, c] {
        host.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn exactly_one_host_answers_each_queue_group_request() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let hosts = [
        nats.start_host(|_| {}).await.unwrap(),
        nats.start_host(|_| {}).await.unwrap(),
        nats.start_host(|_| {}).await.unwrap(),
    ];
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let mut answering = BTreeSet::new();
    for n in 0..30 {
        ok(
            &client,
            subjects().config_put(&format!("c{n}")),
            json!({"k": "v"}),
        )
        .await;
        let set = events.next_named("config_set").await.unwrap();
        assert_eq!(
            set.data["config_name"],
            format!("c{n}"),
            "one config_set per put, in order"
        );
        answering.insert(set.source);
    }
    assert!(
        answering.len() > 1,
        "the queue group spreads requests: {answering:?}"
    );
    // A request with its own inbox: replies are counted for a whole second.
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client
        .publish_with_reply(subjects().link_get(), inbox, "".into())
        .await
        .unwrap();
    let mut count = 0;
    let window = tokio::time::sleep(Duration::from_secs(1));
    tokio::pin!(window);
    loop {
        tokio::select! {
            _ = &mut window => break,
            Some(_) = replies.next() => count += 1,
        }
    }
    assert_eq!(count, 1, "exactly one of three hosts answered link.get");
    for host in hosts {
        host.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn late_starters_and_restarted_providers_get_current_links_and_config() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let host = nats.start_host(allow).await.unwrap();
    ok(
        &client,
        subjects().config_put("cfg"),
        json!({"ENDPOINT": "x"}),
    )
    .await;
    ok(&client, subjects().config_put("own"), json!({"X": "1"})).await;
    ok(
        &client,
        subjects().link_put(),
        link("late", "store", "default", &["cfg"], &[]),
    )
    .await;
    ok(
        &client,
        subjects().link_put(),
        link("other", "unrelated", "default", &[], &[]),
    )
    .await;

    start_provider(&client, &events, &host, "late", &["own"]).await;
    let data = host_data_of(&client, "late").await;
    assert_eq!(data.link_definitions.len(), 1, "only its own links");
    assert_eq!(data.link_definitions[0].source_config["ENDPOINT"], "x");
    assert_eq!(data.config["X"], "1");

    // The first report after a change is the change itself: no stale update at spawn.
    let reports = ProviderReports::follow(&client, "late").await.unwrap();
    ok(&client, subjects().config_put("own"), json!({"X": "2"})).await;
    assert_eq!(
        reports.next().await.unwrap(),
        json!({"kind": "config", "config": {"X": "2"}})
    );

    let pid = host_data_pid(&client, "late").await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    events
        .next_matching("provider_restarted", |e| e.data["provider_id"] == "late")
        .await
        .unwrap();
    events
        .next_matching("health_check_passed", |e| e.data["provider_id"] == "late")
        .await
        .unwrap();
    let data = host_data_of(&client, "late").await;
    assert_eq!(data.config["X"], "2", "the restart got the new config");
    assert_eq!(data.link_definitions[0].source_config["ENDPOINT"], "x");

    // A start naming a config that does not exist fails with its name.
    let body = json!({"provider_id": "needy", "provider_ref": format!("file://{}", test_provider().display()), "config": ["nope"]});
    ok(&client, subjects().provider_start(host.id()), body).await;
    let failed = events
        .next_matching("provider_start_failed", |e| {
            e.data["provider_id"] == "needy"
        })
        .await
        .unwrap();
    assert!(
        failed.data["error"]
            .as_str()
            .unwrap()
            .contains("named config `nope` does not exist")
    );
    host.shutdown(Duration::from_secs(5)).await;
}

async fn host_data_pid(client: &async_nats::Client, id: &str) -> u64 {
    let reply = client
        .request(format!("lattice.test.{id}.dump"), "".into())
        .await
        .unwrap();
    let dump: Value = serde_json::from_slice(&reply.payload).unwrap();
    dump["pid"].as_u64().unwrap()
}

#[tokio::test]
async fn concurrent_link_puts_through_three_hosts_lose_nothing() {
    const LINKS: usize = 200;
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let hosts = [
        nats.start_host(|_| {}).await.unwrap(),
        nats.start_host(|_| {}).await.unwrap(),
        nats.start_host(|_| {}).await.unwrap(),
    ];
    let puts = (0..LINKS).map(|i| {
        let client = client.clone();
        async move {
            let body = link("busy", &format!("t{i}"), &format!("l{i}"), &[], &[]);
            ctl_request(&client, subjects().link_put(), body).await
        }
    });
    let replies = futures::future::join_all(puts).await;
    let failures: Vec<_> = replies
        .iter()
        .filter(|r| !r.success)
        .map(|r| r.message.clone())
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    let links = ok(&client, subjects().link_get(), Value::Null).await;
    let names: BTreeSet<_> = links
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["source_id"] == "busy")
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), LINKS, "every link is stored");
    for host in hosts {
        host.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn state_survives_restarting_nats_and_the_hosts() {
    let mut nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let host = nats.start_host(allow).await.unwrap();
    ok(
        &client,
        subjects().config_put("persist"),
        json!({"KEEP": "me"}),
    )
    .await;
    ok(
        &client,
        subjects().link_put(),
        link("source", "keeper", "default", &[], &["persist"]),
    )
    .await;
    host.shutdown(Duration::from_secs(5)).await;
    drop(client);

    nats.restart().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let host = nats.start_host(allow).await.unwrap();
    let config = ok(&client, subjects().config_get("persist"), Value::Null).await;
    assert_eq!(config, json!({"KEEP": "me"}));
    let links = ok(&client, subjects().link_get(), Value::Null).await;
    assert_eq!(links.as_array().unwrap().len(), 1);
    start_provider(&client, &events, &host, "keeper", &[]).await;
    let data = host_data_of(&client, "keeper").await;
    assert_eq!(
        data.link_definitions[0].target_config["KEEP"], "me",
        "still delivered"
    );
    host.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn bad_link_and_config_input_is_refused_and_nothing_is_half_written() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let host = nats.start_host(|_| {}).await.unwrap();
    let s = subjects();
    let refused = |reply: lattice_proto::CtlResponse<Value>, expected: &str| {
        assert!(!reply.success, "accepted: {expected}");
        assert!(
            reply.message.contains(expected),
            "{:?} lacks {expected:?}",
            reply.message
        );
    };

    refused(
        ctl_request(
            &client,
            s.link_put(),
            link("a", "b", "default", &["missing"], &[]),
        )
        .await,
        "Failed to validate configuration and secrets. Configuration missing not found in config store. ",
    );
    let failed = events.next_named("linkdef_set_failed").await.unwrap();
    assert!(failed.data["error"].as_str().unwrap().contains("missing"));
    refused(
        ctl_request(
            &client,
            s.link_put(),
            link("a", "b", "default", &[], &["SECRET_pw"]),
        )
        .await,
        "Secret reference SECRET_pw not found",
    );
    refused(
        ctl_request(
            &client,
            s.link_put(),
            link("a", "b", "default", &["a.b"], &[]),
        )
        .await,
        "`a.b`",
    );
    refused(
        ctl_request(
            &client,
            s.link_put(),
            json!({"source_id": "a", "target": "b", "wit_namespace": "wasi", "wit_package": "kv"}),
        )
        .await,
        "missing field `interfaces`",
    );
    refused(
        ctl_request(&client, s.link_put(), json!({"source_id": 5})).await,
        "invalid link.put request",
    );
    refused(
        ctl_request(&client, s.link_put(), link("", "b", "default", &[], &[])).await,
        "`source_id` must not be empty",
    );

    ok(&client, s.link_put(), link("a", "b", "default", &[], &[])).await;
    refused(
        ctl_request(&client, s.link_put(), link("a", "c", "default", &[], &[])).await,
        "link already exists with different target, consider deleting the existing link or using a different link name",
    );

    refused(
        ctl_request(&client, s.config_put("num"), json!({"a": 1})).await,
        "a config must be a JSON object with string values",
    );
    refused(
        ctl_request(&client, s.config_put("list"), json!(["a"])).await,
        "a config must be a JSON object with string values",
    );
    refused(
        ctl_request(&client, s.config_put("bad.name"), json!({"a": "b"})).await,
        "invalid config name `bad.name`",
    );
    refused(
        ctl_request(&client, s.config_put("empty"), Value::Null).await,
        "payload is empty",
    );

    // Nothing of the refused requests was stored.
    let links = ok(&client, s.link_get(), Value::Null).await;
    assert_eq!(links, json!([link("a", "b", "default", &[], &[])]));
    for name in ["num", "list", "empty"] {
        let reply = ctl_request(&client, s.config_get(name), Value::Null).await;
        assert_eq!(
            (reply.success, reply.message.as_str(), reply.response),
            (true, "Configuration not found", None)
        );
    }
    let ping = ctl_request(&client, s.host_ping(), Value::Null).await;
    assert!(ping.success);
    host.shutdown(Duration::from_secs(5)).await;
}
