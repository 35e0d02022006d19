//! What the CLI's end-to-end tests share.

use std::process::Stdio;
use std::time::{Duration, Instant};

use lattice_test_support::WAIT;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// Spawns `command` (a `lattice up …`), waits for its "is up" line on stderr and returns
/// the child and that line; stderr is drained afterwards. Panics with what it printed if
/// it exits first.
pub(crate) async fn spawn_until_up(mut command: Command) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("lattice runs");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let up_line = tokio::time::timeout(WAIT, async {
        let mut seen = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(" is up on lattice ") {
                return line;
            }
            seen.push(line);
        }
        panic!("lattice up exited before it was up:\n{}", seen.join("\n"));
    })
    .await
    .expect("lattice up is up within the wait");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, up_line)
}

/// The `lattice` binary under test.
pub(crate) const LATTICE: &str = env!("CARGO_BIN_EXE_lattice");

/// Runs a `lattice` client command to its end.
#[allow(dead_code)]
pub(crate) async fn lattice(args: &[&str]) -> std::process::Output {
    Command::new(LATTICE)
        .args(args)
        .env_remove("LATTICE_NATS_URL")
        .output()
        .await
        .expect("lattice runs")
}

/// The host ID in `lattice up`'s "is up" line.
#[allow(dead_code)]
pub(crate) fn host_id_of(up_line: &str) -> String {
    up_line
        .split_whitespace()
        .find(|w| w.starts_with('N') && w.len() == 56)
        .expect("the line names the host")
        .to_string()
}

/// The trimmed stdout of a command that must succeed (else a panic with both outputs).
#[allow(dead_code)]
pub(crate) fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The trimmed stderr of a command that must fail.
#[allow(dead_code)]
pub(crate) fn stderr_of_failure(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

pub(crate) fn subjects() -> lattice_proto::subjects::CtlSubjects {
    lattice_proto::subjects::CtlSubjects::new("wasmbus.ctl", "default")
}

/// `lattice up` on `url` (file references allowed), once it is up: the process and its
/// host ID.
pub(crate) async fn up(url: &str, extra: &[&str]) -> (tokio::process::Child, String) {
    let mut command = tokio::process::Command::new(LATTICE);
    command
        .args(["up", "--nats-url", url, "--allow-file-load"])
        .args(extra)
        .env_remove("LATTICE_NATS_URL");
    let (child, line) = spawn_until_up(command).await;
    (child, host_id_of(&line))
}

/// Waits until every process of `pids` has ended and returns how long that took; panics
/// after `limit` naming those still running. Each process is watched through a pidfd,
/// which becomes readable when the process terminates, so the wait wakes on the exits
/// themselves (no polling on a timer). A process already gone counts as ended.
pub(crate) async fn all_exited(pids: &[u64], limit: Duration) -> Duration {
    let since = Instant::now();
    let watched = pids.to_vec();
    let waited = tokio::task::spawn_blocking(move || wait_for_exits(&watched, limit))
        .await
        .expect("the wait for exits ran");
    if let Err(still) = waited {
        panic!("still running after {limit:?}: {still:?}");
    }
    since.elapsed()
}

/// Blocks until each of `pids` has exited or `limit` has passed (then: those left).
fn wait_for_exits(pids: &[u64], limit: Duration) -> Result<(), Vec<u64>> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use rustix::process::{Pid, PidfdFlags, pidfd_open};
    let deadline = Instant::now() + limit;
    let mut watched = Vec::new();
    for &pid in pids {
        let raw = i32::try_from(pid).ok().and_then(Pid::from_raw);
        let raw = raw.unwrap_or_else(|| panic!("{pid} is not a pid"));
        match pidfd_open(raw, PidfdFlags::empty()) {
            Ok(fd) => watched.push((pid, fd)),
            Err(rustix::io::Errno::SRCH) => {}
            Err(e) => panic!("cannot watch process {pid}: {e}"),
        }
    }
    while !watched.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(watched.iter().map(|(pid, _)| *pid).collect());
        }
        let timeout = Timespec::try_from(left).expect("the limit fits a timespec");
        let mut fds: Vec<PollFd<'_>> = watched
            .iter()
            .map(|(_, fd)| PollFd::new(fd, PollFlags::IN))
            .collect();
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => panic!("poll on pidfds: {e}"),
        }
        let ended: Vec<bool> = fds.iter().map(|fd| !fd.revents().is_empty()).collect();
        watched = watched
            .into_iter()
            .zip(ended)
            .filter_map(|(process, ended)| (!ended).then_some(process))
            .collect();
    }
    Ok(())
}

/// Whether process `pid` runs (a zombie does not).
pub(crate) fn running(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// The test provider's binary.
pub(crate) fn test_provider() -> std::path::PathBuf {
    lattice_test_support::workspace_bin("lattice-test-provider", "lattice-test-provider").unwrap()
}

/// Starts the provider at `path` as each of `ids` on `host` (16 requests at a time) and
/// waits until every one has passed a health check.
pub(crate) async fn start_providers(
    client: &async_nats::Client,
    events: &lattice_test_support::EventWatcher,
    host: &str,
    path: &std::path::Path,
    ids: &[String],
) {
    let reference = format!("file://{}", path.display());
    let starts = ids.iter().map(|id| {
        let body = serde_json::json!({"provider_id": id, "provider_ref": reference});
        ctl_ok(client, subjects().provider_start(host), body)
    });
    futures::StreamExt::for_each_concurrent(futures::stream::iter(starts), 16, |start| start).await;
    let mut healthy = std::collections::BTreeSet::new();
    while healthy.len() < ids.len() {
        let event = events.next_named("health_check_passed").await.unwrap();
        if event.data["host_id"] == host {
            healthy.insert(event.data["provider_id"].as_str().unwrap().to_string());
        }
    }
}

/// The pids of `host`'s providers, from its inventory.
pub(crate) async fn provider_pids(client: &async_nats::Client, host: &str) -> Vec<u64> {
    let reply = client
        .request(subjects().host_get(host), "".into())
        .await
        .unwrap();
    let inventory: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    inventory["response"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect()
}

/// Sends a ctl request; its reply must be a success.
pub(crate) async fn ctl_ok(client: &async_nats::Client, subject: String, body: serde_json::Value) {
    let reply = client
        .request(subject.clone(), serde_json::to_vec(&body).unwrap().into())
        .await
        .unwrap_or_else(|e| panic!("{subject}: {e}"));
    let reply: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(reply["success"], true, "{subject}: {reply}");
}

/// A process's resident memory, in KiB.
pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn all_exited_wakes_on_the_exit_and_not_before() {
    let mut child = Command::new("sleep")
        .arg("0.3")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = u64::from(child.id().unwrap());
    let took = all_exited(&[pid], WAIT).await;
    assert!(took >= Duration::from_millis(250), "woke after {took:?}");
    assert!(!running(pid), "woke while {pid} still ran");
    assert!(child.wait().await.unwrap().success());
}

#[tokio::test]
#[should_panic(expected = "still running after 100ms")]
async fn all_exited_names_what_still_runs_at_its_limit() {
    let child = Command::new("sleep")
        .arg("5")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    all_exited(
        &[u64::from(child.id().unwrap())],
        Duration::from_millis(100),
    )
    .await;
}
