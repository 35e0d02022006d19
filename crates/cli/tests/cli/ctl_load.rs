//! Control-plane load (issue #14, item 4) against `lattice up` as a process: a thousand
//! concurrent requests of mixed kinds all get their replies and the host's memory comes
//! back; 64 slow provider stops in flight do not hold up `host.ping` and `host.get`. The
//! figures are printed (see docs/reliability.md); the tests assert that nothing is lost.

use std::time::{Duration, Instant};

use bytes::Bytes;
use lattice_test_support::{EventWatcher, TestNats, wrapper_script};

use crate::common::{ctl_ok, provider_pids, rss_kib, start_providers, subjects, test_provider, up};

/// Request `n` of the mixed load on `host`: inventory, config and link writes and
/// reads, labels.
fn mixed(host: &str, n: usize) -> (String, Bytes) {
    let s = subjects();
    let json = |v: serde_json::Value| Bytes::from(serde_json::to_vec(&v).unwrap());
    match n % 6 {
        0 => (s.host_get(host), Bytes::new()),
        1 => (
            s.config_put(&format!("c{}", n % 50)),
            json(serde_json::json!({"n": n.to_string()})),
        ),
        2 => (s.config_get(&format!("c{}", n % 50)), Bytes::new()),
        3 => (
            s.link_put(),
            json(
                serde_json::json!({"source_id": format!("s{}", n % 50), "target": "t",
                "wit_namespace": "wasi", "wit_package": "keyvalue", "interfaces": ["store"]}),
            ),
        ),
        4 => (s.link_get(), Bytes::new()),
        _ => (
            s.label_put(host),
            json(serde_json::json!({"key": format!("l{}", n % 20), "value": "v"})),
        ),
    }
}

/// The `q` quantile of sorted `samples`.
fn quantile(samples: &[Duration], q: f64) -> Duration {
    samples[((samples.len() - 1) as f64 * q).round() as usize]
}

/// Sends `count` mixed requests at once; every reply must be a success. Their latencies,
/// sorted, and the wall time.
async fn burst(client: &async_nats::Client, host: &str, count: usize) -> (Vec<Duration>, Duration) {
    let started = Instant::now();
    let requests = (0..count).map(|n| {
        let (subject, body) = mixed(host, n);
        async move {
            let sent = Instant::now();
            let reply = tokio::time::timeout(
                Duration::from_secs(60),
                client.request(subject.clone(), body),
            )
            .await
            .unwrap_or_else(|_| panic!("no reply to {subject}"))
            .unwrap_or_else(|e| panic!("{subject}: {e}"));
            let reply: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
            assert_eq!(reply["success"], true, "{subject}: {reply}");
            sent.elapsed()
        }
    });
    let mut latencies = futures::future::join_all(requests).await;
    latencies.sort();
    (latencies, started.elapsed())
}

#[tokio::test]
async fn a_thousand_concurrent_control_requests_all_get_replies() {
    const REQUESTS: usize = 1000;
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let (child, id) = up(nats.url(), &[]).await;
    let pid = child.id().unwrap();
    // Warm: the same kinds once, so the baseline holds what a host always holds.
    burst(&client, &id, 100).await;
    let baseline = rss_kib(pid);
    let (latencies, took) = burst(&client, &id, REQUESTS).await;
    assert_eq!(latencies.len(), REQUESTS);
    let peak = rss_kib(pid);
    // Memory comes back once the burst is over: allocator caches are returned within a
    // few seconds (watched, not slept on blindly).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = rss_kib(pid);
    while after > baseline + baseline / 10 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = rss_kib(pid);
    }
    eprintln!(
        "{REQUESTS} concurrent mixed ctl requests: all replied in {took:?} ({:.0}/s), p50 {:?}, p99 {:?}, max {:?}; host RSS {baseline} KiB before, {peak} KiB at the end of the burst, {after} KiB after ({:+.1} %)",
        REQUESTS as f64 / took.as_secs_f64(),
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.99),
        latencies.last().unwrap(),
        (after as f64 - baseline as f64) * 100.0 / baseline as f64,
    );
    assert!(
        after <= baseline + baseline / 10,
        "host memory stayed {after} KiB after the burst (baseline {baseline} KiB)"
    );
    drop(child);
}

#[tokio::test]
async fn slow_provider_stops_do_not_hold_up_ping_and_inventory() {
    const STUBBORN: usize = 64;
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Providers that ignore the shutdown request and SIGTERM: each stop takes both graces.
    let stubborn = wrapper_script(
        dir.path(),
        "stubborn.sh",
        &test_provider(),
        &["--hang-on-shutdown"],
    )
    .unwrap();
    let (child, id) = up(nats.url(), &[]).await;
    let ids: Vec<String> = (0..STUBBORN).map(|n| format!("s{n}")).collect();
    start_providers(&client, &events, &id, &stubborn, &ids).await;
    assert_eq!(provider_pids(&client, &id).await.len(), STUBBORN);

    let stops = ids.iter().map(|provider| {
        let body = serde_json::json!({"provider_id": provider, "host_id": id});
        let client = client.clone();
        let subject = subjects().provider_stop(&id);
        async move { ctl_ok(&client, subject, body).await }
    });
    let stopping = tokio::spawn(futures::future::join_all(stops));
    // While the stops are in flight: pings and inventories, one after another.
    let mut latencies = Vec::new();
    for n in 0..200 {
        let subject = match n % 2 {
            0 => subjects().host_ping(),
            _ => subjects().host_get(&id),
        };
        let sent = Instant::now();
        let reply = tokio::time::timeout(
            Duration::from_secs(5),
            client.request(subject, Bytes::new()),
        )
        .await
        .expect("a reply while stops are in flight")
        .unwrap();
        latencies.push(sent.elapsed());
        let reply: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
        assert_eq!(reply["success"], true, "{reply}");
    }
    stopping.await.unwrap();
    latencies.sort();
    // Every stop ends (killed after both graces), each with its event.
    let mut stopped = std::collections::BTreeSet::new();
    while stopped.len() < STUBBORN {
        let event = events.next_named("provider_stopped").await.unwrap();
        stopped.insert(event.data["provider_id"].as_str().unwrap().to_string());
    }
    eprintln!(
        "{STUBBORN} slow provider stops in flight: 200 host.ping/host.get p50 {:?}, p99 {:?}, max {:?}",
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.99),
        latencies.last().unwrap(),
    );
    drop(child);
}
