//! Provider lifecycle end to end: a real `nats-server`, a real host, real provider
//! processes (lattice's test provider). Every wait is on an event or a reply.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lattice_host::HostConfig;
use lattice_proto::CtlResponse;
use lattice_proto::HostData;
use lattice_proto::ctl::{HostInventory, ProviderDescription, ProviderLogs};
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::{EventWatcher, TestNats, WAIT, workspace_bin, wrapper_script};
use nix::sys::signal::kill;
use nix::unistd::Pid;

pub(crate) fn test_provider() -> PathBuf {
    workspace_bin("lattice-test-provider", "lattice-test-provider")
        .expect("the test provider builds")
}

pub(crate) fn fast(c: &mut HostConfig) {
    c.allow_file_load = true;
    c.providers.health_interval = Duration::from_millis(300);
    c.providers.shutdown_grace = Duration::from_millis(500);
    c.providers.term_grace = Duration::from_millis(500);
    c.rpc_timeout = Duration::from_millis(300);
}

pub(crate) struct Lattice {
    pub(crate) nats: TestNats,
    pub(crate) client: async_nats::Client,
    pub(crate) events: EventWatcher,
    pub(crate) subjects: CtlSubjects,
}

impl Lattice {
    pub(crate) async fn new() -> Self {
        let nats = TestNats::start().await.unwrap();
        let client = nats.client().await.unwrap();
        let events = EventWatcher::new(&client, "default").await.unwrap();
        Lattice {
            nats,
            client,
            events,
            subjects: CtlSubjects::new("wasmbus.ctl", "default"),
        }
    }

    pub(crate) async fn request(
        &self,
        subject: String,
        body: serde_json::Value,
    ) -> CtlResponse<serde_json::Value> {
        let body = serde_json::to_vec(&body).unwrap();
        let reply = tokio::time::timeout(WAIT, self.client.request(subject.clone(), body.into()))
            .await
            .unwrap_or_else(|_| panic!("no reply on {subject}"))
            .unwrap();
        serde_json::from_slice(&reply.payload).unwrap()
    }

    pub(crate) async fn start(
        &self,
        host: &str,
        id: &str,
        path: &Path,
    ) -> CtlResponse<serde_json::Value> {
        let body = serde_json::json!({"provider_id": id, "provider_ref": format!("file://{}", path.display()), "host_id": host});
        self.request(self.subjects.provider_start(host), body).await
    }

    pub(crate) async fn stop(&self, host: &str, id: &str) -> CtlResponse<serde_json::Value> {
        self.request(
            self.subjects.provider_stop(host),
            serde_json::json!({"provider_id": id, "host_id": host}),
        )
        .await
    }

    pub(crate) async fn provider(&self, host: &str, id: &str) -> Option<ProviderDescription> {
        let reply = self
            .request(self.subjects.host_get(host), serde_json::Value::Null)
            .await;
        let inventory: HostInventory = serde_json::from_value(reply.response.unwrap()).unwrap();
        inventory.providers.into_iter().find(|p| p.id == id)
    }

    pub(crate) async fn dump(&self, id: &str) -> serde_json::Value {
        let reply = self
            .client
            .request(format!("lattice.test.{id}.dump"), "".into())
            .await
            .unwrap();
        serde_json::from_slice(&reply.payload).unwrap()
    }

    pub(crate) async fn event_for(
        &self,
        name: &str,
        id: &str,
    ) -> lattice_proto::events::CloudEvent {
        self.events
            .next_matching(name, |e| e.data["provider_id"] == id)
            .await
            .unwrap()
    }

    /// A link put now with `id` as its source reaches the provider running as `id` (its
    /// registration for link delivery survived whatever ended the process before it).
    pub(crate) async fn link_reaches(&self, id: &str, target: &str) {
        let reports = lattice_test_support::ProviderReports::follow(&self.client, id)
            .await
            .unwrap();
        let link = serde_json::json!({"source_id": id, "target": target,
            "wit_namespace": "wasi", "wit_package": "keyvalue", "interfaces": ["store"]});
        let reply = self.request(self.subjects.link_put(), link).await;
        assert!(reply.success, "{}", reply.message);
        let seen = reports.next().await.unwrap();
        assert_eq!(
            (seen["kind"].as_str(), seen["link"]["target"].as_str()),
            (Some("link_put"), Some(target)),
            "{seen}"
        );
    }

    /// `id`'s events up to and including the first `name`.
    pub(crate) async fn events_until(
        &self,
        name: &str,
        id: &str,
    ) -> Vec<lattice_proto::events::CloudEvent> {
        let mut seen = Vec::new();
        loop {
            let msg = self.events.next_raw().await.unwrap();
            let event: lattice_proto::events::CloudEvent =
                serde_json::from_slice(&msg.payload).unwrap();
            if event.data["provider_id"] != id {
                continue;
            }
            let last = event.event_name() == name;
            seen.push(event);
            if last {
                return seen;
            }
        }
    }
}

fn alive(pid: u32) -> bool {
    // Signal 0 checks existence; a zombie would still count, so reaping is checked too.
    kill(Pid::from_raw(pid as i32), None).is_ok()
}

#[tokio::test]
async fn a_provider_starts_gets_exact_host_data_is_healthy_fast_and_stops_gracefully() {
    let lattice = Lattice::new().await;
    let host = lattice.nats.start_host(fast).await.unwrap();
    let id = host.id().to_string();
    let sent = Instant::now();
    let reply = lattice.start(&id, "p1", &test_provider()).await;
    assert_eq!(
        (reply.success, reply.message.as_str()),
        (true, "successfully started provider")
    );
    let started = lattice.event_for("provider_started", "p1").await;
    assert_eq!(started.data["host_id"], id.as_str());
    lattice.event_for("health_check_passed", "p1").await;
    let healthy_after = sent.elapsed();
    assert!(
        healthy_after < Duration::from_secs(2),
        "healthy after {healthy_after:?}"
    );

    // What the provider read on stdin is what the host meant: one padded base64 line.
    let dump = lattice.dump("p1").await;
    let line = dump["stdin_line"].as_str().unwrap();
    assert!(line.ends_with("\r\n"), "{line:?}");
    let data = HostData::from_stdin_line(line.as_bytes()).unwrap();
    assert_eq!(data.host_id, id);
    assert_eq!(data.provider_key, "p1");
    assert_eq!(data.lattice_rpc_prefix, "default");
    assert_eq!(data.lattice_rpc_url, lattice.nats.url());
    assert_eq!(data.link_name, "default");
    assert_eq!(data.default_rpc_timeout_ms, Some(300));
    assert!(data.host_xkey_public_key.starts_with('X'));
    assert!(data.provider_xkey_private_key.starts_with("SX"));
    assert!(uuid_like(&data.instance_id));
    let env = dump["env"].as_object().unwrap();
    assert!(
        env.keys()
            .all(|k| k == "RUST_LOG" || k.starts_with("OTEL_")),
        "env leaked: {env:?}"
    );

    let desc = lattice.provider(&id, "p1").await.unwrap();
    assert_eq!(desc.state.as_deref(), Some("running"));
    assert_eq!(desc.healthy, Some(true));
    assert_eq!(desc.restarts, Some(0));
    let pid = desc.pid.unwrap();
    assert_eq!(dump["pid"], pid);

    // Captured output is readable over the control interface.
    let logs = lattice
        .request(
            lattice.subjects.provider_logs(&id),
            serde_json::json!({"provider_id": "p1"}),
        )
        .await;
    let logs: ProviderLogs = serde_json::from_value(logs.response.unwrap()).unwrap();
    assert!(
        logs.lines.iter().any(|l| l.line.starts_with("init p1")),
        "{:?}",
        logs.lines
    );

    // Stop: the provider exits on the shutdown request, before any signal. An
    // ordinary stop is not a failed health check.
    let reply = lattice.stop(&id, "p1").await;
    assert_eq!(
        (reply.success, reply.message.as_str()),
        (true, "successfully stopped provider")
    );
    let mut seen = lattice.events_until("provider_stopped", "p1").await;
    let names: Vec<_> = seen.iter().map(|e| e.event_name().to_string()).collect();
    assert!(
        !names.iter().any(|e| e.starts_with("health_check")),
        "{names:?}"
    );
    let stopped = seen.pop().unwrap();
    assert_eq!(stopped.data["reason"], "stop");
    assert_eq!(stopped.data["ended_by"], "shutdown_request");
    assert_eq!(stopped.data["exit_status"], "exit status: 0");
    assert!(!alive(pid), "the provider process is gone and reaped");
    assert!(lattice.provider(&id, "p1").await.is_none());
    host.shutdown(Duration::from_secs(5)).await;
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn a_stop_followed_at_once_by_a_start_of_the_same_id_works() {
    let lattice = Lattice::new().await;
    let dir = tempfile::tempdir().unwrap();
    // It ignores the shutdown request, so the old process is still stopping when the
    // start arrives.
    let stubborn = wrapper_script(
        dir.path(),
        "stubborn.sh",
        &test_provider(),
        &["--hang-on-shutdown"],
    )
    .unwrap();
    let host = lattice.nats.start_host(fast).await.unwrap();
    let id = host.id().to_string();
    lattice.start(&id, "again", &stubborn).await;
    lattice.event_for("health_check_passed", "again").await;
    let old_pid = lattice.provider(&id, "again").await.unwrap().pid.unwrap();
    let stop = lattice.stop(&id, "again").await;
    let start = lattice.start(&id, "again", &test_provider()).await;
    assert!(stop.success, "{}", stop.message);
    assert!(start.success, "{}", start.message);
    let desc = lattice.provider(&id, "again").await.unwrap();
    assert_eq!(desc.state.as_deref(), Some("stopping"));
    let stopped = lattice.event_for("provider_stopped", "again").await;
    assert_eq!(stopped.data["reason"], "stop");
    assert!(!alive(old_pid));
    lattice.event_for("health_check_passed", "again").await;
    let desc = lattice.provider(&id, "again").await.unwrap();
    assert_eq!(desc.state.as_deref(), Some("running"));
    assert_ne!(desc.pid, Some(old_pid));
    // The new process did not get the old one's shutdown request: it keeps running.
    assert!(alive(desc.pid.unwrap()));
    assert_eq!(lattice.dump("again").await["pid"], desc.pid.unwrap());
    // The stopped entry's supervisor did not take the new one out of link delivery.
    lattice.link_reaches("again", "kv-after-restart").await;
    host.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
/// With the default graces (a shutdown request, 1 s, SIGTERM, 0.5 s, SIGKILL), the whole
/// staged stop of a provider that ignores both fits in the 2 s that wash and the official
/// client wait for `provider_stopped`.
async fn a_provider_that_ignores_shutdown_and_sigterm_is_killed_and_reaped() {
    let lattice = Lattice::new().await;
    let dir = tempfile::tempdir().unwrap();
    let script = wrapper_script(
        dir.path(),
        "stubborn.sh",
        &test_provider(),
        &["--hang-on-shutdown"],
    )
    .unwrap();
    let defaults = |c: &mut HostConfig| {
        c.allow_file_load = true;
        c.providers.health_interval = Duration::from_millis(300);
    };
    let host = lattice.nats.start_host(defaults).await.unwrap();
    let id = host.id().to_string();
    lattice.start(&id, "stubborn", &script).await;
    lattice.event_for("health_check_passed", "stubborn").await;
    let pid = lattice
        .provider(&id, "stubborn")
        .await
        .unwrap()
        .pid
        .unwrap();
    let asked = Instant::now();
    let reply = lattice.stop(&id, "stubborn").await;
    assert!(reply.success);
    let replied = asked.elapsed();
    assert!(
        replied < Duration::from_millis(500),
        "the reply comes when the stop is under way: {replied:?}"
    );
    let stopped = lattice.event_for("provider_stopped", "stubborn").await;
    let took = asked.elapsed();
    assert_eq!(stopped.data["ended_by"], "sigkill");
    assert_eq!(stopped.data["exit_status"], "signal: 9 (SIGKILL)");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(2),
        "both default graces were given, within wash's 2 s: {took:?}"
    );
    assert!(!alive(pid), "killed and reaped");
    host.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn host_shutdown_announces_host_stopped_then_stops_every_provider_gracefully() {
    let lattice = Lattice::new().await;
    let host = lattice.nats.start_host(fast).await.unwrap();
    let id = host.id().to_string();
    let mut pids = Vec::new();
    for n in 0..3 {
        let pid_id = format!("s{n}");
        lattice.start(&id, &pid_id, &test_provider()).await;
        lattice.event_for("health_check_passed", &pid_id).await;
        pids.push(lattice.provider(&id, &pid_id).await.unwrap().pid.unwrap());
    }
    let stopping = Instant::now();
    host.shutdown(Duration::from_secs(5)).await;
    let took = stopping.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "nothing is left to wait for once the providers are gone, so the stop does not run into its deadline: {took:?}"
    );
    // host_stopped first (the host has left the lattice: a scheduler places its
    // providers elsewhere instead of sending them back), then each provider's stop.
    let mut names = Vec::new();
    let mut stopped = Vec::new();
    while stopped.len() < 3 {
        let msg = lattice.events.next_raw().await.unwrap();
        let event: lattice_proto::events::CloudEvent =
            serde_json::from_slice(&msg.payload).unwrap();
        match event.event_name() {
            "provider_stopped" => {
                assert_eq!(event.data["ended_by"], "shutdown_request");
                stopped.push(event.data["provider_id"].as_str().unwrap().to_string());
            }
            "host_stopped" => {}
            _ => continue,
        }
        names.push(event.event_name().to_string());
    }
    assert_eq!(names[0], "host_stopped", "{names:?}");
    stopped.sort();
    assert_eq!(
        stopped,
        ["s0", "s1", "s2"],
        "every provider was stopped gracefully"
    );
    assert!(pids.iter().all(|pid| !alive(*pid)));
}

#[tokio::test]
async fn bad_starts_and_stops_are_clear_errors_and_the_host_keeps_serving() {
    let lattice = Lattice::new().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("notexec"), "#!/bin/sh\n").unwrap();
    std::fs::write(
        d.join("bad.par.gz"),
        [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3],
    )
    .unwrap();
    let host = lattice.nats.start_host(fast).await.unwrap();
    let id = host.id().to_string();

    let cases = [
        ("missing", d.join("missing"), "does not exist"),
        ("notexec", d.join("notexec"), "is not executable"),
        ("badpar", d.join("bad.par.gz"), "provider archive"),
    ];
    for (pid, path, expected) in &cases {
        let reply = lattice.start(&id, pid, path).await;
        assert!(
            reply.success,
            "the start is acknowledged, the failure reported as an event"
        );
        let failed = lattice.event_for("provider_start_failed", pid).await;
        let error = failed.data["error"].as_str().unwrap();
        assert!(error.contains(expected), "{pid}: {error}");
        assert!(lattice.provider(&id, pid).await.is_none());
    }

    lattice.start(&id, "dup", &test_provider()).await;
    let reply = lattice.start(&id, "dup", &test_provider()).await;
    assert_eq!(
        (reply.success, reply.message.as_str()),
        (false, "provider with that ID is already running")
    );
    let reply = lattice.stop(&id, "nobody").await;
    assert_eq!(
        (reply.success, reply.message.as_str()),
        (false, "provider with that ID is not running")
    );
    let reply = lattice.start(&id, "bad.id", &test_provider()).await;
    assert!(
        !reply.success && reply.message.contains("invalid provider ID `bad.id`"),
        "{}",
        reply.message
    );
    let reply = lattice
        .request(
            lattice.subjects.provider_start(&id),
            serde_json::json!({"provider_ref": "file:///x"}),
        )
        .await;
    assert!(
        !reply.success && reply.message.contains("provider_id"),
        "{}",
        reply.message
    );
    let reply = lattice
        .request(
            lattice.subjects.provider_logs(&id),
            serde_json::json!({"provider_id": "nobody"}),
        )
        .await;
    assert_eq!(reply.message, "provider with that ID is not running");
    let ping = lattice
        .request(lattice.subjects.host_ping(), serde_json::Value::Null)
        .await;
    assert!(ping.success);
    host.shutdown(Duration::from_secs(5)).await;

    // Without --allow-file-load, file references are refused with a message naming the flag.
    let host = lattice.nats.start_host(|_| {}).await.unwrap();
    let id = host.id().to_string();
    lattice.start(&id, "nofile", &test_provider()).await;
    let failed = lattice.event_for("provider_start_failed", "nofile").await;
    assert!(
        failed.data["error"]
            .as_str()
            .unwrap()
            .contains("--allow-file-load")
    );
    host.shutdown(Duration::from_secs(5)).await;
}
