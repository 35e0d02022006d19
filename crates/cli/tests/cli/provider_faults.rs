//! Provider faults (issue #14, item 2) with `lattice up` as a process and the test
//! provider wrapped in shell scripts: a provider whose children fork again, one that
//! floods its stdout and stderr, one whose stdout is closed, one that exits non-zero on
//! SIGTERM leaving a child behind. Each ends in the documented state, with its event,
//! and nothing is left running. Figures are printed (see docs/reliability.md).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lattice_test_support::{EventWatcher, TestNats, WAIT};

use crate::common::{
    all_exited, ctl_ok, provider_pids, rss_kib, running, start_providers, subjects, test_provider,
    up,
};

/// Writes an executable `sh` script `name` into `dir`; `$PROVIDER` in `body` is the test
/// provider.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    let body = body.replace("$PROVIDER", &format!("'{}'", test_provider().display()));
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The pid a script wrote to `file` before it ran the provider.
fn pid_in(file: &Path) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("{} holds no pid", file.display()))
}

/// The processes whose parent is `parent` (from `/proc/*/stat`).
fn children_of(parent: u64) -> Vec<u64> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                // After the `(comm)`: state, then the parent's pid.
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u64>().ok())
                    == Some(parent)
            })
        })
        .collect()
}

/// Waits until none of `pids` runs.
async fn all_gone(pids: &[u64]) -> Duration {
    all_exited(pids, WAIT).await
}

/// A host (fast graces) with the provider of `path` started as `id` and healthy.
async fn with_provider(
    nats: &TestNats,
    events: &EventWatcher,
    client: &async_nats::Client,
    id: &str,
    path: &Path,
) -> (tokio::process::Child, String) {
    let (child, host) = up(
        nats.url(),
        &[
            "--provider-term-grace",
            "500ms",
            "--health-interval",
            "500ms",
        ],
    )
    .await;
    start_providers(client, events, &host, path, &[id.to_string()]).await;
    (child, host)
}

async fn stop(client: &async_nats::Client, host: &str, id: &str) {
    let body = serde_json::json!({"provider_id": id, "host_id": host});
    ctl_ok(client, subjects().provider_stop(host), body).await;
}

#[tokio::test]
async fn a_provider_whose_children_fork_again_is_stopped_with_all_of_them() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let forking = script(
        dir.path(),
        "forking.sh",
        &format!(
            "mkfifo {d}/written\n\
             sleep 300 & echo $! > {d}/child\n\
             sh -c 'sleep 300 & echo $! > {d}/grandchild; echo > {d}/written; wait' & echo $! > {d}/middle\n\
             read done < {d}/written\n\
             exec $PROVIDER"
        ),
    );
    let (_host_process, host) = with_provider(&nats, &events, &client, "forking", &forking).await;
    let mut pids = Vec::new();
    for file in ["child", "middle", "grandchild"] {
        pids.push(pid_in(&dir.path().join(file)));
    }
    pids.extend(provider_pids(&client, &host).await);
    assert!(pids.iter().all(|p| running(*p)), "{pids:?}");

    stop(&client, &host, "forking").await;
    let stopped = events
        .next_matching("provider_stopped", |e| e.data["provider_id"] == "forking")
        .await
        .unwrap();
    let gone = all_gone(&pids).await;
    eprintln!(
        "forking provider: stopped ({}), its 3 descendants gone {gone:?} after provider_stopped",
        stopped.data["ended_by"]
    );
}

#[tokio::test]
async fn a_provider_that_floods_its_output_leaves_the_host_responsive_with_bounded_memory() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // stdout: as fast as `yes` writes 100-byte lines; stderr: 64 MiB without a newline.
    let flooding = script(
        dir.path(),
        "flooding.sh",
        "yes 'flood flood flood flood flood flood flood flood flood flood flood flood flood flood flood flood' &\n\
         (head -c 67108864 /dev/zero | tr '\\0' x) >&2 &\n\
         exec $PROVIDER",
    );
    let (host_process, host) = up(nats.url(), &[]).await;
    let host_pid = host_process.id().unwrap();
    let before = rss_kib(host_pid);
    start_providers(
        &client,
        &events,
        &host,
        &flooding,
        &["flooding".to_string()],
    )
    .await;
    // While it floods: inventory requests one after another, and the host's memory.
    let flood = Instant::now();
    let mut latencies = Vec::new();
    let mut peak = 0;
    while flood.elapsed() < Duration::from_secs(3) {
        let sent = Instant::now();
        tokio::time::timeout(WAIT, client.request(subjects().host_get(&host), "".into()))
            .await
            .expect("the host answers while a provider floods")
            .unwrap();
        latencies.push(sent.elapsed());
        peak = peak.max(rss_kib(host_pid));
    }
    latencies.sort();
    // Still one healthy provider, never restarted.
    let inventory = client
        .request(subjects().host_get(&host), "".into())
        .await
        .unwrap();
    let inventory: serde_json::Value = serde_json::from_slice(&inventory.payload).unwrap();
    let provider = &inventory["response"]["providers"][0];
    assert_eq!(provider["id"], "flooding");
    let logs = crate::common::lattice(&["--nats-url", nats.url(), "logs", "flooding"]).await;
    stop(&client, &host, "flooding").await;
    events
        .next_matching("provider_stopped", |e| e.data["provider_id"] == "flooding")
        .await
        .unwrap();
    eprintln!(
        "flooding provider ({} bytes of its log ring shown by `lattice logs`): {} host.get in 3 s, p50 {:?}, p99 {:?}; host RSS {before} KiB before, peak {peak} KiB ({:+} KiB)",
        logs.stdout.len(),
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[(latencies.len() - 1) * 99 / 100],
        peak as i64 - before as i64,
    );
    assert!(
        peak < before + 128 * 1024,
        "the host's memory grew by more than 128 MiB while a provider flooded"
    );
    drop(host_process);
}

#[tokio::test]
async fn a_provider_with_stdout_closed_runs_and_stops_cleanly() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let closed = script(dir.path(), "closed.sh", "exec $PROVIDER >&-");
    let (_host_process, host) = with_provider(&nats, &events, &client, "closed", &closed).await;
    // Healthy again a few probes later, never restarted.
    for _ in 0..3 {
        events
            .next_matching("health_check_status", |e| e.data["provider_id"] == "closed")
            .await
            .unwrap();
    }
    let pids = provider_pids(&client, &host).await;
    stop(&client, &host, "closed").await;
    let stopped = events
        .next_matching("provider_stopped", |e| e.data["provider_id"] == "closed")
        .await
        .unwrap();
    assert_eq!(
        stopped.data["ended_by"], "shutdown_request",
        "{}",
        stopped.data
    );
    all_gone(&pids).await;
}

#[tokio::test]
async fn a_provider_that_exits_non_zero_on_sigterm_is_reported_and_leaves_nothing_behind() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The script is the provider's process: it runs the real one (which ignores the
    // shutdown request and SIGTERM) as its child, on its stdin (a background job's stdin
    // is /dev/null unless given another descriptor), and exits 3 on SIGTERM.
    let exits = script(
        dir.path(),
        "exits3.sh",
        "trap 'exit 3' TERM\n\
         exec 3<&0\n\
         $PROVIDER --hang-on-shutdown <&3 &\n\
         wait",
    );
    let (_host_process, host) = with_provider(&nats, &events, &client, "exits3", &exits).await;
    // The real provider answered the health check, so it is the script's child by now.
    let mut pids = provider_pids(&client, &host).await;
    let inner = children_of(pids[0]);
    assert_eq!(inner.len(), 1, "the script runs one provider: {inner:?}");
    pids.extend(inner);
    stop(&client, &host, "exits3").await;
    let stopped = events
        .next_matching("provider_stopped", |e| e.data["provider_id"] == "exits3")
        .await
        .unwrap();
    assert_eq!(
        stopped.data["exit_status"], "exit status: 3",
        "{}",
        stopped.data
    );
    let gone = all_gone(&pids).await;
    eprintln!(
        "exit 3 on SIGTERM: provider_stopped ended_by {} ({}); its child, which ignores SIGTERM, gone {gone:?} later",
        stopped.data["ended_by"], stopped.data["exit_status"]
    );
}

#[tokio::test]
async fn a_provider_that_exits_after_a_while_is_restarted_and_leaves_nothing_behind() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    // Serves for a moment (its child is the real provider, which would run on), then
    // the process the host started exits 4.
    let leaves = script(
        dir.path(),
        "leaves.sh",
        &format!(
            "exec 3<&0\n\
             $PROVIDER <&3 & echo $! >> {d}/children\n\
             sleep 1\n\
             exit 4"
        ),
    );
    let (_host_process, host) = up(nats.url(), &["--health-interval", "200ms"]).await;
    let start = serde_json::json!({"provider_id": "leaves",
        "provider_ref": format!("file://{}", leaves.display()), "host_id": host});
    ctl_ok(&client, subjects().provider_start(&host), start).await;
    for run in 1..=2 {
        let restarted = events
            .next_matching("provider_restarted", |e| e.data["provider_id"] == "leaves")
            .await
            .unwrap();
        assert_eq!(
            restarted.data["exit_code"], 4,
            "run {run}: {}",
            restarted.data
        );
    }
    // The children of the runs that ended went with them.
    let children: Vec<u64> = std::fs::read_to_string(dir.path().join("children"))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    let ended = &children[..2];
    let gone = all_gone(ended).await;
    eprintln!(
        "exit 4 after 1 s: restarted twice; the ended runs' children gone ({gone:?} after the second restart)"
    );
}
