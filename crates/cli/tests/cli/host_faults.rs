//! Host faults (issue #14, item 3), with `lattice up` as a process and real provider
//! processes: a host killed with SIGKILL while it is busy leaves no provider behind and
//! a new host takes the same provider IDs; a host stopped with 200 providers stops them
//! all within its deadline, each with its event. The times are printed (see
//! docs/reliability.md).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use lattice_test_support::{EventWatcher, TestNats};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::{
    all_exited, provider_pids, running, start_providers, subjects, test_provider, up,
};

#[tokio::test]
async fn a_host_killed_under_load_leaves_no_provider_behind_and_a_new_host_takes_over() {
    const PROVIDERS: usize = 20;
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let ids: Vec<String> = (0..PROVIDERS).map(|n| format!("k{n}")).collect();
    let (child, id) = up(nats.url(), &[]).await;
    start_providers(&client, &events, &id, &test_provider(), &ids).await;
    let pids = provider_pids(&client, &id).await;
    assert_eq!(pids.len(), PROVIDERS);
    assert!(pids.iter().all(|pid| running(*pid)));

    // Load: control requests of several kinds keep arriving while the host dies.
    let (loaded, first_reply) = tokio::sync::oneshot::channel();
    let load = {
        let client = client.clone();
        let id = id.clone();
        let mut loaded = Some(loaded);
        tokio::spawn(async move {
            for n in 0u64.. {
                let (subject, body) = match n % 3 {
                    0 => (subjects().host_get(&id), "".to_string()),
                    1 => (
                        subjects().config_put(&format!("load{}", n % 10)),
                        format!("{{\"n\":\"{n}\"}}"),
                    ),
                    _ => (subjects().link_get(), "".to_string()),
                };
                let replied = tokio::time::timeout(
                    Duration::from_millis(500),
                    client.request(subject, body.into()),
                )
                .await;
                if n >= 10 && matches!(replied, Ok(Ok(_))) {
                    loaded.take().map(|tx| tx.send(()));
                }
            }
        })
    };
    // The host is under load (it has answered ten requests) when it is killed.
    first_reply.await.unwrap();
    let killed = Instant::now();
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGKILL).unwrap();
    // How long the providers outlive their host: woken by their exits (pidfds).
    all_exited(&pids, Duration::from_secs(1)).await;
    let gone = killed.elapsed();
    drop(child);

    // A new host on the same machine takes the same provider IDs.
    let (next, next_id) = up(nats.url(), &[]).await;
    let restarted = Instant::now();
    start_providers(&client, &events, &next_id, &test_provider(), &ids).await;
    let taken_over = restarted.elapsed();
    load.abort();
    assert_eq!(provider_pids(&client, &next_id).await.len(), PROVIDERS);
    eprintln!(
        "SIGKILL under load: all {PROVIDERS} providers gone {gone:?} after; a new host ran the same {PROVIDERS} IDs, healthy, {taken_over:?} after it was up"
    );
    drop(next);
}

#[tokio::test]
async fn a_host_stopped_with_200_providers_stops_them_all_within_its_deadline() {
    const PROVIDERS: usize = 200;
    const DEADLINE: Duration = Duration::from_secs(20);
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let ids: Vec<String> = (0..PROVIDERS).map(|n| format!("p{n:03}")).collect();
    let (mut child, id) = up(nats.url(), &["--stop-timeout", "20s"]).await;
    let started = Instant::now();
    start_providers(&client, &events, &id, &test_provider(), &ids).await;
    let start_time = started.elapsed();
    let pids = provider_pids(&client, &id).await;
    assert_eq!(pids.len(), PROVIDERS);

    let stopping = Instant::now();
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    // `host_stopped` goes out first (the host has left the lattice), then one
    // `provider_stopped` per provider as each is stopped.
    let mut stopped = BTreeSet::new();
    let mut host_stopped = false;
    while stopped.len() < PROVIDERS {
        let event = events.next_raw().await.unwrap();
        let event: serde_json::Value = serde_json::from_slice(&event.payload).unwrap();
        let kind = event["type"].as_str().unwrap_or_default();
        if kind.ends_with(".provider_stopped") {
            assert!(host_stopped, "host_stopped comes first");
            stopped.insert(event["data"]["provider_id"].as_str().unwrap().to_string());
        }
        host_stopped |= kind.ends_with(".host_stopped");
    }
    let events_done = stopping.elapsed();
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("the host exits within its deadline")
        .unwrap();
    let exited = stopping.elapsed();
    assert!(status.success(), "{status}");
    assert_eq!(
        stopped.len(),
        PROVIDERS,
        "a provider_stopped for each, before host_stopped"
    );
    assert!(exited < DEADLINE, "stopped in {exited:?}");
    assert!(
        pids.iter().all(|pid| !running(*pid)),
        "a provider outlived its host"
    );
    eprintln!(
        "{PROVIDERS} providers: started and healthy in {start_time:?}; SIGTERM → host_stopped and {PROVIDERS} provider_stopped in {events_done:?}, the host exited after {exited:?}"
    );
}
