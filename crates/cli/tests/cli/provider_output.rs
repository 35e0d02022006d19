//! Provider output end to end, through the `lattice` binary and a real provider: it is
//! passed through to the host's own stdout and stderr whatever the host's log settings,
//! `lattice logs --follow` reads it live from `{ctl_prefix}.v1.{lattice}.logs.…`, and
//! none of it goes out as a lattice event.

use std::process::Stdio;

use futures::StreamExt as _;
use lattice_test_support::{TestNats, WAIT, workspace_bin};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const LATTICE: &str = env!("CARGO_BIN_EXE_lattice");

/// A running `lattice up`, its stdout and stderr read line by line.
struct UpProcess {
    child: Child,
    host_id: String,
    stdout: mpsc::UnboundedReceiver<String>,
    stderr: mpsc::UnboundedReceiver<String>,
}

fn read_lines(stream: impl AsyncRead + Unpin + Send + 'static) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The next line of `lines` equal to `want`; panics with what came instead.
async fn expect_line(lines: &mut mpsc::UnboundedReceiver<String>, want: &str) {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.recv().await {
            if line == want {
                return true;
            }
            seen.push(line);
        }
        false
    })
    .await;
    assert!(
        found == Ok(true),
        "no line {want:?}; got instead:\n{}",
        seen.join("\n")
    );
}

impl UpProcess {
    /// `lattice up --allow-file-load` with `args` against `nats`.
    async fn start(nats: &TestNats, args: &[&str]) -> Self {
        let mut child = Command::new(LATTICE)
            .args(["up", "--nats-url", nats.url(), "--allow-file-load"])
            .args(args)
            .env_remove("LATTICE_NATS_URL")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("lattice runs");
        let stdout = read_lines(child.stdout.take().unwrap());
        let mut stderr = read_lines(child.stderr.take().unwrap());
        let up_line = tokio::time::timeout(WAIT, async {
            let mut seen = Vec::new();
            while let Some(line) = stderr.recv().await {
                if line.contains(" is up on lattice ") {
                    return line;
                }
                seen.push(line);
            }
            panic!("lattice up exited before it was up:\n{}", seen.join("\n"));
        })
        .await
        .expect("lattice up is up within the wait");
        let host_id = up_line
            .split_whitespace()
            .find(|w| w.starts_with('N') && w.len() == 56)
            .expect("the line names the host")
            .to_string();
        UpProcess {
            child,
            host_id,
            stdout,
            stderr,
        }
    }

    async fn stop(mut self) {
        kill(
            Pid::from_raw(self.child.id().unwrap() as i32),
            Signal::SIGTERM,
        )
        .unwrap();
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}");
    }
}

/// Runs `lattice {args}` to the end; panics if it fails.
async fn lattice(nats: &TestNats, args: &[&str]) -> String {
    let out = Command::new(LATTICE)
        .args(["--nats-url", nats.url()])
        .args(args)
        .env_remove("LATTICE_NATS_URL")
        .output()
        .await
        .expect("lattice runs");
    assert!(
        out.status.success(),
        "lattice {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts the test provider as `provider_id` and waits until it is healthy.
async fn start_provider(nats: &TestNats, global: &[&str], provider_id: &str) {
    let provider = workspace_bin("lattice-test-provider", "lattice-test-provider").unwrap();
    let mut args = global.to_vec();
    args.extend(["start", "provider", provider.to_str().unwrap(), provider_id]);
    let out = lattice(nats, &args).await;
    assert!(out.contains("is running and healthy"), "{out}");
}

/// Has the test provider print `stdout` and `stderr` lines; returns once it has.
async fn print(client: &async_nats::Client, provider_id: &str, stdout: &[&str], stderr: &[&str]) {
    let body = serde_json::json!({"stdout": stdout, "stderr": stderr});
    let reply = tokio::time::timeout(
        WAIT,
        client.request(
            format!("lattice.test.{provider_id}.print"),
            serde_json::to_vec(&body).unwrap().into(),
        ),
    )
    .await
    .expect("the provider answers print")
    .unwrap();
    assert_eq!(&reply.payload[..], b"ok");
}

#[tokio::test]
async fn provider_output_reaches_the_hosts_stdio_whatever_its_log_settings() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let mut host = UpProcess::start(
        &nats,
        &["--log-level", "warn", "--enable-structured-logging"],
    )
    .await;
    start_provider(&nats, &[], "chatty").await;

    let json = r#"{"level":"INFO","msg":"the provider's own JSON"}"#;
    let long = "x".repeat(20_000);
    print(
        &client,
        "chatty",
        &["plain info line", json, "tab\there", &long],
        &["ERROR from the provider", "second stderr line"],
    )
    .await;
    // Unwrapped and unfiltered, each on the stream it was written to.
    expect_line(&mut host.stdout, "plain info line").await;
    expect_line(&mut host.stdout, json).await;
    expect_line(&mut host.stdout, "tab\there").await;
    let truncated = format!(
        "{} [lattice: line truncated, 3616 more bytes dropped]",
        "x".repeat(16 * 1024)
    );
    expect_line(&mut host.stdout, &truncated).await;
    expect_line(&mut host.stderr, "ERROR from the provider").await;
    expect_line(&mut host.stderr, "second stderr line").await;

    // The ring keeps the same lines.
    let out = lattice(&nats, &["logs", "chatty", "--tail", "6", "-o", "json"]).await;
    let kept: Vec<lattice_proto::ctl::LogLine> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kept: Vec<_> = kept
        .iter()
        .map(|l| (l.stream.as_str(), l.line.as_str()))
        .collect();
    for want in [
        ("stdout", "plain info line"),
        ("stdout", json),
        ("stdout", truncated.as_str()),
        ("stderr", "ERROR from the provider"),
        ("stderr", "second stderr line"),
    ] {
        assert!(kept.contains(&want), "{want:?} not in {kept:?}");
    }
    host.stop().await;
}

#[tokio::test]
async fn logs_follow_reads_the_subject_under_the_ctl_prefix() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let global = ["-x", "demo", "--ctl-topic-prefix", "acme.ctl"];
    let host = UpProcess::start(&nats, &global).await;
    start_provider(&nats, &global, "followed").await;

    // The reply names the subject; the test listens there too.
    let subject = format!("acme.ctl.v1.demo.logs.{}.followed", host.host_id);
    let reply = lattice_test_support::ctl_request(
        &client,
        format!("acme.ctl.v1.demo.provider.logs.{}", host.host_id),
        serde_json::json!({"provider_id": "followed"}),
    )
    .await;
    assert_eq!(reply.response.unwrap()["follow_subject"], subject.as_str());
    let mut direct = client.subscribe(subject.clone()).await.unwrap();
    lattice_host::nats::server_round_trip(&client)
        .await
        .unwrap();

    let mut follower = Command::new(LATTICE)
        .args(["--nats-url", nats.url()])
        .args(global)
        .args(["logs", "followed", "--follow", "-o", "json"])
        .env_remove("LATTICE_NATS_URL")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut followed = read_lines(follower.stdout.take().unwrap());
    let mut next_line = async || -> lattice_proto::ctl::LogLine {
        let line = tokio::time::timeout(WAIT, followed.recv())
            .await
            .expect("the follower prints within the wait")
            .expect("the follower runs");
        serde_json::from_str(&line).unwrap()
    };
    let first = next_line().await;
    assert!(first.line.starts_with("init followed"), "{first:?}");

    // Once the follower shows a line printed after it started, it is subscribed (it
    // subscribes before it reads the lines it may have missed), so later lines can
    // only reach it over the subject.
    print(&client, "followed", &["before"], &[]).await;
    while next_line().await.line != "before" {}
    print(&client, "followed", &["live out"], &["live err"]).await;
    let mut got = Vec::new();
    while got.len() < 2 {
        let line = next_line().await;
        if line.line.starts_with("live ") {
            got.push(line);
        }
    }
    // The host reads the two pipes separately: either may come first.
    got.sort_by(|a, b| a.stream.cmp(&b.stream));
    let got: Vec<_> = got
        .iter()
        .map(|l| (l.stream.as_str(), l.line.as_str()))
        .collect();
    assert_eq!(got, [("stderr", "live err"), ("stdout", "live out")]);

    // On the subject, lines come in sequence order.
    let mut published = Vec::new();
    while published.len() < 3 {
        let message = tokio::time::timeout(WAIT, direct.next())
            .await
            .expect("lines are published on the follow subject")
            .unwrap();
        let line: lattice_proto::ctl::LogLine = serde_json::from_slice(&message.payload).unwrap();
        if ["before", "live out", "live err"].contains(&line.line.as_str()) {
            published.push(line);
        }
    }
    assert_eq!(published[0].line, "before");
    assert!(
        published.windows(2).all(|w| w[0].seq < w[1].seq),
        "{published:?}"
    );
    drop(follower);
    host.stop().await;
}

#[tokio::test]
async fn output_lines_are_not_published_as_events() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let mut everything = client.subscribe(">").await.unwrap();
    lattice_host::nats::server_round_trip(&client)
        .await
        .unwrap();
    let host = UpProcess::start(&nats, &[]).await;
    start_provider(&nats, &[], "quiet").await;
    let marker = "marker-5b1d0e";
    print(&client, "quiet", &[marker], &[marker]).await;

    // Every message until both lines are on the log subject, then until the provider's
    // `provider_stopped` event.
    let subject = format!("wasmbus.ctl.v1.default.logs.{}.quiet", host.host_id);
    let mut on_log_subject = 0;
    let mut stopping = None;
    loop {
        let message = tokio::time::timeout(WAIT, everything.next())
            .await
            .expect("the lines and provider_stopped come within the wait")
            .unwrap();
        let carries_marker = String::from_utf8_lossy(&message.payload).contains(marker);
        let name = message.subject.as_str();
        assert!(
            !(name.starts_with("wasmbus.evt.") && carries_marker),
            "an output line went out as an event on {name}"
        );
        assert!(!name.starts_with("lattice.logs."), "published on {name}");
        if name == subject && carries_marker {
            on_log_subject += 1;
        }
        if on_log_subject == 2 && stopping.is_none() {
            let url = nats.url().to_string();
            stopping = Some(tokio::spawn(async move {
                Command::new(LATTICE)
                    .args(["--nats-url", &url, "stop", "provider", "quiet"])
                    .env_remove("LATTICE_NATS_URL")
                    .output()
                    .await
                    .expect("lattice runs")
            }));
        }
        if name == "wasmbus.evt.default.provider_stopped" {
            break;
        }
    }
    let stopped = stopping.unwrap().await.unwrap();
    assert!(stopped.status.success());
    assert_eq!(on_log_subject, 2);
    host.stop().await;
}
