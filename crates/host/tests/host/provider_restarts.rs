//! Provider supervision heals: a killed provider is restarted with fresh host data, a
//! crash loop backs off and heals (or, with a limit, gives up), a provider that stops
//! answering health is restarted, and unhealthy answers are reported, never restarted.
//! Real `nats-server`, real hosts, lattice's test provider as a real process.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lattice_test_support::wrapper_script;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::providers::{Lattice, fast, test_provider};

#[tokio::test]
async fn a_killed_provider_is_restarted_with_fresh_host_data_and_healthy_again() {
    let lattice = Lattice::new().await;
    let host = lattice.nats.start_host(fast).await.unwrap();
    let id = host.id().to_string();
    lattice.start(&id, "p2", &test_provider()).await;
    lattice.event_for("health_check_passed", "p2").await;
    let before = lattice.dump("p2").await;
    let pid = before["pid"].as_u64().unwrap() as u32;

    let killed = Instant::now();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let restarted = lattice.event_for("provider_restarted", "p2").await;
    assert_eq!(restarted.data["exit_status"], "signal: 9 (SIGKILL)");
    assert_eq!(
        restarted.data["delay_ms"], 0,
        "the first restart is immediate"
    );
    lattice.event_for("health_check_passed", "p2").await;
    let recovered = killed.elapsed();
    assert!(
        recovered < Duration::from_secs(3),
        "healthy again after {recovered:?}"
    );

    let after = lattice.dump("p2").await;
    assert_ne!(after["pid"], before["pid"]);
    assert_ne!(
        after["host_data"]["instance_id"], before["host_data"]["instance_id"],
        "fresh instance_id"
    );
    assert_eq!(
        after["host_data"]["provider_xkey_private_key"],
        before["host_data"]["provider_xkey_private_key"],
        "the provider's xkey is kept across restarts"
    );
    let desc = lattice.provider(&id, "p2").await.unwrap();
    assert_eq!(desc.restarts, Some(1));
    assert_eq!(desc.last_exit.as_deref(), Some("signal: 9 (SIGKILL)"));
    host.shutdown(Duration::from_secs(5)).await;
}

/// A script that exits 3 until `dir/ready` exists, then runs the test provider.
fn needs_ready_file(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("needs-ready.sh");
    let script = format!(
        "#!/bin/sh\n[ -f '{ready}' ] || {{ echo 'dependency missing' >&2; exit 3; }}\nexec '{provider}'\n",
        ready = dir.join("ready").display(),
        provider = test_provider().display()
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn a_crash_looping_provider_backs_off_in_crash_loop_and_heals_when_its_dependency_returns() {
    let lattice = Lattice::new().await;
    let dir = tempfile::tempdir().unwrap();
    let script = needs_ready_file(dir.path());
    let host = lattice
        .nats
        .start_host(|c| {
            fast(c);
            c.providers.restart.max_backoff = Duration::from_millis(400);
        })
        .await
        .unwrap();
    let id = host.id().to_string();
    lattice.start(&id, "loopy", &script).await;
    let mut delays = Vec::new();
    for n in 1..=6u64 {
        let restarted = lattice.event_for("provider_restarted", "loopy").await;
        assert_eq!(restarted.data["host_id"], id.as_str());
        assert_eq!(restarted.data["restarts"], n);
        assert_eq!(restarted.data["exit_code"], 3);
        assert_eq!(restarted.data["exit_status"], "exit status: 3");
        assert!(
            restarted.data.get("last_log_lines").is_none(),
            "provider output stays out of events"
        );
        let delay = restarted.data["delay_ms"].as_u64().unwrap();
        delays.push(delay);
        if delay >= 200 {
            // Set before the event went out, and held for the whole delay.
            let desc = lattice.provider(&id, "loopy").await.unwrap();
            assert_eq!(desc.state.as_deref(), Some("crash_loop"));
            assert_eq!(desc.last_exit.as_deref(), Some("exit status: 3"));
        }
    }
    assert_eq!(
        delays,
        [0, 100, 200, 400, 400, 400],
        "backoff doubles to its cap"
    );
    // The dependency comes back: the next start runs and stays up.
    std::fs::write(dir.path().join("ready"), "").unwrap();
    lattice.event_for("health_check_passed", "loopy").await;
    let desc = lattice.provider(&id, "loopy").await.unwrap();
    assert_eq!(desc.state.as_deref(), Some("running"));
    assert!(desc.restarts.unwrap() >= 6);
    host.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn with_a_restart_limit_a_crash_loop_gives_up_and_leaves_the_inventory() {
    let lattice = Lattice::new().await;
    let dir = tempfile::tempdir().unwrap();
    let script = wrapper_script(
        dir.path(),
        "crash.sh",
        &test_provider(),
        &["--exit-at-start", "3"],
    )
    .unwrap();
    let host = lattice
        .nats
        .start_host(|c| {
            fast(c);
            c.providers.restart.max_starts = Some(5);
        })
        .await
        .unwrap();
    let id = host.id().to_string();
    let sent = Instant::now();
    lattice.start(&id, "crashy", &script).await;
    let failed = lattice
        .events
        .next_matching("provider_stopped", |e| {
            e.data["provider_id"] == "crashy" && e.data["reason"] == "failed"
        })
        .await
        .unwrap();
    let took = sent.elapsed();
    assert!(took < Duration::from_secs(5), "failed after {took:?}");
    assert_eq!(failed.data["exit_status"], "exit status: 3");
    assert_eq!(
        failed.data["restarts"], 4,
        "5 starts in the window, then Failed"
    );
    assert!(
        failed.data.get("last_log_lines").is_none(),
        "provider output stays out of events"
    );
    // It does not run, so heartbeats and inventory do not list it; its ID is free.
    assert!(lattice.provider(&id, "crashy").await.is_none());
    let reply = lattice.start(&id, "crashy", &test_provider()).await;
    assert!(reply.success, "{}", reply.message);
    lattice.event_for("health_check_passed", "crashy").await;
    // The failed entry's supervisor did not take the new one out of link delivery.
    lattice.link_reaches("crashy", "kv-after-failed").await;
    host.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_provider_that_stops_answering_health_is_restarted_after_n_probes() {
    let lattice = Lattice::new().await;
    let host = lattice.nats.start_host(fast).await.unwrap();
    let id = host.id().to_string();
    lattice.start(&id, "quiet", &test_provider()).await;
    lattice.event_for("health_check_passed", "quiet").await;
    let reply = lattice
        .client
        .request("lattice.test.quiet.health", "silent".into())
        .await
        .unwrap();
    assert_eq!(&reply.payload[..], b"ok");
    let restarted = lattice.event_for("provider_restarted", "quiet").await;
    assert_eq!(restarted.data["reason"], "unhealthy");
    lattice.event_for("health_check_passed", "quiet").await;
    assert_eq!(
        lattice.provider(&id, "quiet").await.unwrap().restarts,
        Some(1)
    );
    host.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn unhealthy_answers_follow_the_edge_rules_and_never_restart_the_provider() {
    let lattice = Lattice::new().await;
    let host = lattice.nats.start_host(fast).await.unwrap();
    let id = host.id().to_string();
    lattice.start(&id, "moody", &test_provider()).await;
    lattice.event_for("health_check_passed", "moody").await;
    lattice
        .client
        .request("lattice.test.moody.health", "unhealthy".into())
        .await
        .unwrap();
    lattice.event_for("health_check_failed", "moody").await;
    // More unhealthy answers than --health-failures: alive and answering, so reported,
    // not restarted.
    for _ in 0..4 {
        lattice.event_for("health_check_status", "moody").await;
    }
    assert_eq!(
        lattice.provider(&id, "moody").await.unwrap().healthy,
        Some(false)
    );
    lattice
        .client
        .request("lattice.test.moody.health", "healthy".into())
        .await
        .unwrap();
    lattice.event_for("health_check_passed", "moody").await;
    assert_eq!(
        lattice.provider(&id, "moody").await.unwrap().restarts,
        Some(0),
        "an unhealthy provider is not restarted"
    );
    host.shutdown(Duration::from_secs(5)).await;
}
