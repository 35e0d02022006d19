//! `lattice secrets serve|put|list|allow|deny|del` against a real `nats-server`: the
//! backend as a process, managed from the command line; values never printed.

use std::process::Stdio;

use crate::common::{LATTICE, lattice, stdout};
use lattice_test_support::{EventWatcher, TestNats, WAIT};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn a_backend_run_and_managed_from_the_command_line() {
    let nats = TestNats::start().await.unwrap();
    let url = nats.url().to_string();
    let mut serve = Command::new(LATTICE)
        .args(["--nats-url", &url, "secrets", "serve"])
        .env("TRANSIT_XKEY_SEED", nkeys::XKey::new().seed().unwrap())
        .env("ENCRYPTION_XKEY_SEED", nkeys::XKey::new().seed().unwrap())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stderr.take().unwrap()).lines();
    tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("serving on wasmcloud.secrets.v1alpha1.nats-kv.>") {
                return;
            }
        }
        panic!("lattice secrets serve exited");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let planted = "cli-planted-value-91c";
    let put = Command::new(LATTICE)
        .args(["--nats-url", &url, "secrets", "put", "db-password"])
        .env("SECRET_STRING_VALUE", planted)
        .output()
        .await
        .unwrap();
    let said = stdout(&put);
    assert!(
        said.starts_with("put secret `db-password` (revision"),
        "{said}"
    );
    let list = async || -> serde_json::Value {
        serde_json::from_str(&stdout(
            &lattice(&["--nats-url", &url, "--output", "json", "secrets", "list"]).await,
        ))
        .unwrap()
    };
    assert_eq!(list().await, serde_json::json!(["db-password"]));
    let entity = nkeys::KeyPair::new_service().public_key();
    let allowed = stdout(
        &lattice(&[
            "--nats-url",
            &url,
            "secrets",
            "allow",
            &entity,
            "db-password",
        ])
        .await,
    );
    assert_eq!(allowed, format!("{entity} may read db-password"));
    stdout(
        &lattice(&[
            "--nats-url",
            &url,
            "secrets",
            "deny",
            &entity,
            "db-password",
        ])
        .await,
    );
    stdout(&lattice(&["--nats-url", &url, "secrets", "del", "db-password"]).await);
    assert_eq!(list().await, serde_json::json!([]));
    assert!(!said.contains(planted));
    // Without a backend, a put says so instead of waiting forever.
    let silent = lattice(&[
        "--nats-url",
        &url,
        "secrets",
        "put",
        "x",
        "--string",
        "y",
        "--backend",
        "nobody",
    ])
    .await;
    assert!(!silent.status.success());
    assert!(
        String::from_utf8_lossy(&silent.stderr).contains("no secrets backend `nobody` answered")
    );
    serve.kill().await.unwrap();
}

/// A provider gets its secret through a host at trace level; the value appears nowhere
/// in what the host, the CLI or the events say.
#[tokio::test]
async fn a_planted_secret_appears_nowhere_in_what_lattice_says() {
    let nats = TestNats::start().await.unwrap();
    let url = nats.url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let planted = "trace-planted-value-5d2e";
    // The backend at trace level: its stdout in a file, its stderr kept line by line,
    // serving once it says so.
    let backend_out = dir.path().join("backend.out");
    let mut serve = Command::new(LATTICE)
        .args(["--nats-url", &url, "secrets", "serve"])
        .env("TRANSIT_XKEY_SEED", nkeys::XKey::new().seed().unwrap())
        .env("ENCRYPTION_XKEY_SEED", nkeys::XKey::new().seed().unwrap())
        .env("RUST_LOG", "trace")
        .stdout(std::fs::File::create(&backend_out).unwrap())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (serving, backend_serves) = tokio::sync::oneshot::channel();
    let mut lines = BufReader::new(serve.stderr.take().unwrap()).lines();
    let backend_said = tokio::spawn(async move {
        let (mut serving, mut said) = (Some(serving), Vec::new());
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("serving on wasmcloud.secrets.v1alpha1.nats-kv.>") {
                serving.take().map(|tx| tx.send(()));
            }
            said.push(line);
        }
        said.join("\n")
    });
    // The host, all of its output in a file, at trace level; up when it says so.
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let host_log_path = dir.path().join("host.log");
    let host_log = std::fs::File::create(&host_log_path).unwrap();
    let _up = Command::new(LATTICE)
        .args([
            "up",
            "--nats-url",
            &url,
            "--allow-file-load",
            "--secrets-topic",
            "wasmcloud.secrets",
            "--log-level",
            "trace",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "trace")
        .env_remove("LATTICE_NATS_URL")
        .stderr(host_log.try_clone().unwrap())
        .stdout(host_log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let events_log = dir.path().join("events.log");
    let _events = Command::new(LATTICE)
        .args(["--nats-url", &url, "--output", "json", "events"])
        .stdout(std::fs::File::create(&events_log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    events.next_named("host_started").await.unwrap();
    tokio::time::timeout(WAIT, backend_serves)
        .await
        .expect("the backend serves within the wait")
        .expect("the backend serves before it exits");
    let put = async |args: &[&str]| -> std::process::Output {
        let mut all = vec!["--nats-url", url.as_str()];
        all.extend_from_slice(args);
        Command::new(LATTICE)
            .args(&all)
            .env("SECRET_STRING_VALUE", planted)
            .output()
            .await
            .unwrap()
    };
    let mut said = vec![stdout(&put(&["secrets", "put", "db-password"]).await)];
    let binary =
        lattice_test_support::workspace_bin("lattice-test-provider", "lattice-test-provider")
            .unwrap();
    let par = dir.path().join("p.par.gz");
    let created = stdout(
        &lattice(&[
            "--output",
            "json",
            "par",
            "create",
            "--binary",
            binary.to_str().unwrap(),
            "--name",
            "leaky",
            "--keys-dir",
            dir.path().join("keys").to_str().unwrap(),
            "--destination",
            par.to_str().unwrap(),
        ])
        .await,
    );
    let subject = serde_json::from_str::<serde_json::Value>(&created).unwrap()["subject"]
        .as_str()
        .unwrap()
        .to_string();
    said.push(stdout(
        &lattice(&[
            "--nats-url",
            &url,
            "secrets",
            "allow",
            &subject,
            "db-password",
        ])
        .await,
    ));
    said.push(stdout(
        &lattice(&[
            "--nats-url",
            &url,
            "config",
            "put",
            "SECRET_db",
            "name=password",
            "backend=nats-kv",
            "key=db-password",
            "policy={}",
            "type=secret.wasmcloud.dev/v1alpha1",
        ])
        .await,
    ));
    said.push(stdout(
        &lattice(&[
            "--nats-url",
            &url,
            "--output",
            "json",
            "start",
            "provider",
            par.to_str().unwrap(),
            "leaky",
            "--config",
            "SECRET_db",
        ])
        .await,
    ));
    // It has the value.
    let dump = client
        .request("lattice.test.leaky.dump", "".into())
        .await
        .unwrap();
    let dump: serde_json::Value = serde_json::from_slice(&dump.payload).unwrap();
    assert_eq!(dump["host_data"]["secrets"]["password"]["value"], planted);
    for args in [
        vec!["--output", "json", "get", "inventory"],
        vec!["--output", "json", "get", "hosts"],
        vec!["--output", "json", "logs", "leaky"],
        vec!["--output", "json", "config", "get", "SECRET_db"],
        vec!["--output", "json", "secrets", "list"],
    ] {
        let mut all = vec!["--nats-url", url.as_str()];
        all.extend(args);
        said.push(stdout(&lattice(&all).await));
    }
    said.push(stdout(
        &lattice(&[
            "--nats-url",
            &url,
            "--output",
            "json",
            "stop",
            "provider",
            "leaky",
        ])
        .await,
    ));
    // Everything the backend said, to its end.
    serve.kill().await.unwrap();
    let backend_said = format!(
        "{}\n{}",
        std::fs::read_to_string(&backend_out).unwrap(),
        backend_said.await.unwrap()
    );
    let host_said = std::fs::read_to_string(&host_log_path).unwrap();
    assert!(
        host_said.contains("TRACE"),
        "the host logged at trace level"
    );
    for (what, text) in [
        ("the host's output", host_said),
        ("the events", std::fs::read_to_string(&events_log).unwrap()),
        ("the backend's output", backend_said),
        ("the CLI's output", said.join("\n")),
    ] {
        assert!(!text.contains(planted), "{what} shows the secret");
    }
}
