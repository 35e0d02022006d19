//! The admin endpoint against a real host: `/livez`, `/readyz` across a stop, and
//! `/metrics` following a provider's start, crash and stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::{EventWatcher, TestNats, ctl_request, workspace_bin, wrapper_script};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn test_provider() -> PathBuf {
    workspace_bin("lattice-test-provider", "lattice-test-provider")
        .expect("the test provider builds")
}

/// `METHOD path` over a fresh connection: (status code, body).
async fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn metric(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn livez_readyz_and_metrics_answer_as_documented() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stubborn = wrapper_script(
        dir.path(),
        "stubborn.sh",
        &test_provider(),
        &["--hang-on-shutdown"],
    )
    .unwrap();
    let host = nats
        .start_host(|c| {
            c.allow_file_load = true;
            c.http_admin = Some("127.0.0.1:0".parse().unwrap());
            c.providers.shutdown_grace = Duration::from_millis(1500);
        })
        .await
        .unwrap();
    let addr = host.admin_addr().expect("the admin endpoint listens");
    assert_eq!(
        http(addr, "GET", "/livez").await,
        (200, r#"{"status":"ok"}"#.to_string())
    );
    assert_eq!(
        http(addr, "GET", "/readyz").await,
        (200, r#"{"status":"ok"}"#.to_string())
    );
    assert_eq!(http(addr, "HEAD", "/readyz").await.0, 200);
    assert_eq!(http(addr, "POST", "/livez").await.0, 405);
    assert_eq!(http(addr, "GET", "/nope").await.0, 404);

    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    for (id, path) in [("m1", test_provider()), ("stubborn", stubborn)] {
        let body = json!({"provider_id": id, "provider_ref": format!("file://{}", path.display())});
        assert!(
            ctl_request(&client, subjects.provider_start(host.id()), body)
                .await
                .success
        );
        events
            .next_matching("health_check_passed", |e| e.data["provider_id"] == id)
            .await
            .unwrap();
    }
    let (status, text) = http(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        metric(&text, r#"lattice_providers{state="running"}"#),
        Some(2.0),
        "{text}"
    );
    assert!(
        metric(
            &text,
            r#"lattice_ctl_requests_total{op="provider.start",outcome="success"}"#
        ) >= Some(2.0),
        "{text}"
    );
    assert!(
        metric(&text, "lattice_health_check_duration_seconds_count") >= Some(2.0),
        "{text}"
    );
    assert!(
        metric(
            &text,
            r#"lattice_events_published_total{event="host_started"}"#
        ) == Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, r#"lattice_nats_reconnects{connection="ctl"}"#),
        Some(0.0),
        "{text}"
    );

    // A crash is a restart.
    let inventory = ctl_request(
        &client,
        subjects.host_get(host.id()),
        serde_json::Value::Null,
    )
    .await;
    let pid = inventory.response.unwrap()["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "m1")
        .unwrap()["pid"]
        .as_u64()
        .unwrap();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    events
        .next_matching("provider_restarted", |e| e.data["provider_id"] == "m1")
        .await
        .unwrap();
    let text = http(addr, "GET", "/metrics").await.1;
    assert_eq!(
        metric(&text, "lattice_provider_restarts_total"),
        Some(1.0),
        "{text}"
    );

    // A stop: the provider leaves the gauge.
    assert!(
        ctl_request(
            &client,
            subjects.provider_stop(host.id()),
            json!({"provider_id": "m1"})
        )
        .await
        .success
    );
    events
        .next_matching("provider_stopped", |e| e.data["provider_id"] == "m1")
        .await
        .unwrap();
    let text = http(addr, "GET", "/metrics").await.1;
    assert_eq!(
        metric(&text, r#"lattice_providers{state="running"}"#),
        Some(1.0),
        "{text}"
    );

    // Stopping: not ready from the start of the stop (the stubborn provider holds the
    // stop for its grace), alive all along.
    let stopping = tokio::spawn(host.shutdown(Duration::from_secs(10)));
    events.next_named("host_stopped").await.unwrap();
    assert_eq!(
        http(addr, "GET", "/readyz").await,
        (500, r#"{"status":"failure"}"#.to_string())
    );
    assert_eq!(http(addr, "GET", "/livez").await.0, 200);
    stopping.await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the endpoint closes with the host"
    );
}
