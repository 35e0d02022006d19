//! Components from the command line: `lattice start component`, `lattice call` typed from
//! the real signature, `lattice scale component`, `lattice stop component`, against a
//! `lattice up` on a real `nats-server`.

use crate::common;

use common::{LATTICE, host_id_of, lattice, stdout};
use lattice_test_support::components::{COUNTERS, MATH};
use lattice_test_support::{TestNats, WAIT};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::Command;

#[tokio::test]
async fn start_call_scale_and_stop_a_component_from_the_command_line() {
    let nats = TestNats::start().await.unwrap();
    let url = nats.url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let math = dir.path().join("math.wasm");
    std::fs::write(&math, wat::parse_str(MATH).unwrap()).unwrap();
    let data = dir.path().join("data");
    let mut up = Command::new(LATTICE);
    up.args(["up", "--nats-url", &url, "--allow-file-load"])
        .args(["--max-execution-time-ms", "300", "--data-dir"])
        .arg(&data)
        .env_remove("LATTICE_NATS_URL");
    let (child, line) = common::spawn_until_up(up).await;
    let host = host_id_of(&line);
    let math_path = math.display().to_string();

    let started = stdout(
        &lattice(&[
            "--nats-url",
            &url,
            "start",
            "component",
            &math_path,
            "math",
            "--count",
            "2",
        ])
        .await,
    );
    assert!(
        started.starts_with("component `math` scaled to 2 on N"),
        "{started}"
    );

    let sum = stdout(
        &lattice(&[
            "--nats-url",
            &url,
            "call",
            "math",
            "local:test/math@0.1.0.add",
            "2",
            "3",
        ])
        .await,
    );
    assert_eq!(sum, "5");
    let bad = lattice(&[
        "--nats-url",
        &url,
        "call",
        "math",
        "local:test/math@0.1.0.add",
        "2",
        "-3",
    ])
    .await;
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("argument `b`"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    // A call that fails in the host says why (`spin` never ends: the deadline stops it).
    let spun = lattice(&["--nats-url", &url, "call", "math", "spin"]).await;
    let spun_err = String::from_utf8_lossy(&spun.stderr);
    assert!(
        !spun.status.success() && spun_err.contains("the callee failed"),
        "{:?} {} {spun_err}",
        spun.status,
        String::from_utf8_lossy(&spun.stdout)
    );
    let missing = lattice(&["--nats-url", &url, "call", "math", "nope"]).await;
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("it exports: local:test/math@0.1.0.add")
    );

    let inventory = stdout(&lattice(&["--nats-url", &url, "get", "inventory", &host]).await);
    assert!(
        inventory.contains("math") && inventory.contains("file://"),
        "{inventory}"
    );

    let scaled = stdout(
        &lattice(&[
            "--nats-url",
            &url,
            "scale",
            "component",
            "math",
            "--count",
            "5",
        ])
        .await,
    );
    assert!(
        scaled.starts_with("component `math` scaled to 5"),
        "{scaled}"
    );
    let stopped = stdout(&lattice(&["--nats-url", &url, "stop", "component", "math"]).await);
    assert!(
        stopped.starts_with("component `math` scaled to 0"),
        "{stopped}"
    );

    stop(child).await;
}

#[tokio::test]
async fn a_resource_is_made_used_and_given_back_from_the_command_line() {
    let nats = TestNats::start().await.unwrap();
    let url = nats.url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let counters = dir.path().join("counters.wasm");
    std::fs::write(&counters, wat::parse_str(COUNTERS).unwrap()).unwrap();
    let mut up = Command::new(LATTICE);
    up.args(["up", "--nats-url", &url, "--allow-file-load", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("LATTICE_NATS_URL");
    let (child, _) = common::spawn_until_up(up).await;
    let path = counters.display().to_string();
    let started = lattice(&["--nats-url", &url, "start", "component", &path, "counters"]).await;
    assert!(started.status.success(), "{started:?}");

    let call = |function: &'static str, arg: String| {
        let url = url.clone();
        async move {
            let function = format!("local:test/counters@0.1.0.{function}");
            lattice(&["--nats-url", &url, "call", "counters", &function, &arg]).await
        }
    };
    // The constructor by its WIT name: the handle prints as a hex string.
    let made = stdout(&call("[constructor]counter", "40".into()).await);
    let handle: String = serde_json::from_str(&made).unwrap();
    assert_eq!(handle.len(), 32, "16 bytes: {made}");
    // Methods by their wire name or their WIT name.
    let once = stdout(&call("counter.increment", handle.clone()).await);
    assert_eq!(once, "41");
    let twice = stdout(&call("[method]counter.increment", handle.clone()).await);
    assert_eq!(twice, "42");
    let total = stdout(&call("[static]counter.total", handle.clone()).await);
    assert_eq!(total, "42");
    let gone = call("counter.increment", handle).await;
    let said = String::from_utf8_lossy(&gone.stderr);
    assert!(
        !gone.status.success() && said.contains("no resource has the handle"),
        "{said}"
    );
    let not_hex = call("counter.increment", "xyz".into()).await;
    assert!(
        String::from_utf8_lossy(&not_hex.stderr).contains("argument `self`"),
        "{not_hex:?}"
    );

    stop(child).await;
}

/// Stops `lattice up` with SIGTERM and waits for it to exit.
async fn stop(mut child: tokio::process::Child) {
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
}
