//! `lattice up` takes the official host's flags and variables the way 1.9.2 does: the
//! connection-specific NATS credentials win over the generic ones, `--nats-url` keeps its
//! scheme and credentials, `--label` and `WASMCLOUD_LABEL_*` follow the 1.x rules
//! (`hostcore.*` may be replaced at start), and `--log-level` takes 1.9.2's values.

use crate::common;

use std::os::unix::fs::PermissionsExt as _;
use std::process::Output;
use std::time::Duration;

use lattice_host::nats_server::{NatsServer, NatsServerConfig, find_nats_server};
use lattice_test_support::{EventWatcher, TestNats, WAIT};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

const LATTICE: &str = env!("CARGO_BIN_EXE_lattice");

/// Runs `lattice up ARGS` with `envs` (and no other `WASMCLOUD_*`/`LATTICE_NATS_URL`
/// variables) to its end; for runs that must fail.
async fn up_fails(args: &[&str], envs: &[(&str, &str)]) -> String {
    let out: Output = tokio::time::timeout(WAIT, up_command(args, envs).output())
        .await
        .expect("lattice up ends within the wait")
        .expect("lattice runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "lattice up {args:?} succeeded:\n{stderr}"
    );
    stderr
}

fn up_command(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(LATTICE);
    cmd.arg("up").args(args);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("WASMCLOUD_") || name == "LATTICE_NATS_URL" {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd.envs(envs.iter().copied());
    cmd
}

/// Starts `lattice up ARGS` and waits for its "is up" line; returns the line.
async fn up(args: &[&str], envs: &[(&str, &str)]) -> (Child, String) {
    common::spawn_until_up(up_command(args, envs)).await
}

async fn stop(mut child: Child) {
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}

/// A `nats-server` with JetStream that only lets `user`/`password` in. (The harness runs
/// the binary it is given with its own flags, so a script adds these.)
async fn server_with_password(user: &str, password: &str) -> (NatsServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("nats-server-with-password");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec '{}' --user '{user}' --pass '{password}' \"$@\"\n",
            find_nats_server(None).unwrap().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let store = dir.path().join("js");
    let server = NatsServer::start(&NatsServerConfig::loopback(script, Some(store)))
        .await
        .unwrap();
    (server, dir)
}

#[tokio::test]
async fn connection_credentials_win_over_the_generic_ones() {
    // Nothing listens on port 1: each run must fail on the credentials file it picked,
    // which it reads before connecting.
    let seed = nkeys::KeyPair::new_user().seed().unwrap();
    let generic = [
        ("WASMCLOUD_NATS_JWT", "eyJ0eXAiOiJKV1QifQ"),
        ("WASMCLOUD_NATS_SEED", &seed),
    ];
    let url = ["--nats-url", "nats://127.0.0.1:1"];

    let envs = [
        &generic[..],
        &[("WASMCLOUD_CTL_CREDS", "/nonexistent/ctl.creds")],
    ]
    .concat();
    let err = up_fails(&url, &envs).await;
    assert!(
        err.contains("ctl connection") && err.contains("/nonexistent/ctl.creds"),
        "{err}"
    );

    let envs = [
        &generic[..],
        &[("WASMCLOUD_RPC_CREDS", "/nonexistent/rpc.creds")],
    ]
    .concat();
    let err = up_fails(&url, &envs).await;
    assert!(err.contains("/nonexistent/rpc.creds"), "{err}");

    let args = [&url[..], &["--ctl-creds", "/nonexistent/flag.creds"]].concat();
    let err = up_fails(&args, &generic).await;
    assert!(err.contains("/nonexistent/flag.creds"), "{err}");
}

#[tokio::test]
async fn nats_url_credentials_and_scheme_are_used() {
    let password = "Sesame-9f3";
    let (server, _dir) = server_with_password("lat", password).await;
    let port = server.port();
    let url = format!("nats://lat:{password}@127.0.0.1:{port}");
    let client = async_nats::ConnectOptions::with_user_and_password("lat".into(), password.into())
        .connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let events = EventWatcher::new(&client, "guarded").await.unwrap();

    let (child, line) = up(&["--nats-url", &url, "-x", "guarded"], &[]).await;
    assert!(line.contains("via nats://lat:***@127.0.0.1:"), "{line}");
    assert!(
        !line.contains(password),
        "the password is not shown: {line}"
    );
    events.next_named("host_started").await.unwrap();
    stop(child).await;

    let wrong = format!("nats://lat:not-{password}@127.0.0.1:{port}");
    let err = up_fails(&["--nats-url", &wrong], &[]).await;
    assert!(err.contains("nats://lat:***@127.0.0.1:"), "{err}");
    assert!(!err.contains(password), "the password is not shown: {err}");

    // tls:// requires TLS, which this server does not offer.
    let tls = format!("tls://lat:{password}@127.0.0.1:{port}");
    let err = up_fails(&["--nats-url", &tls], &[]).await;
    assert!(err.contains("tls://lat:***@127.0.0.1:"), "{err}");
    server.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn labels_may_replace_hostcore_ones_at_start() {
    let nats = TestNats::start().await.unwrap();
    let events = EventWatcher::new(&nats.client().await.unwrap(), "labels")
        .await
        .unwrap();
    let (child, _) = up(
        &[
            "--nats-url",
            nats.url(),
            "-x",
            "labels",
            "--label",
            "hostcore.os=plan9",
            "-l",
            "zone=cli",
        ],
        &[
            ("WASMCLOUD_LABEL_zone", "env"),
            ("WASMCLOUD_LABEL_hostcore.arch", "riscv"),
            ("WASMCLOUD_LABEL_team", "a=b"),
        ],
    )
    .await;
    let started = events.next_named("host_started").await.unwrap();
    let labels = &started.data["labels"];
    assert_eq!(labels["hostcore.os"], "plan9", "{labels}");
    assert_eq!(labels["hostcore.arch"], "riscv", "{labels}");
    assert_eq!(labels["hostcore.osfamily"], std::env::consts::FAMILY);
    assert_eq!(
        labels["zone"], "cli",
        "--label wins over WASMCLOUD_LABEL_zone"
    );
    assert_eq!(labels["team"], "a=b", "a variable's value may hold `=`");
    stop(child).await;
}

#[tokio::test]
async fn label_and_log_level_values_are_checked_as_in_1_9_2() {
    let err = up_fails(&["--label", "a=b=c"], &[]).await;
    assert!(
        err.contains("--label")
            && err.contains("invalid label format `a=b=c`. Expected `key=value`"),
        "{err}"
    );
    let err = up_fails(&["--log-level", "critical"], &[]).await;
    assert!(
        err.contains("--log-level") && err.contains("`critical`"),
        "{err}"
    );
    let err = up_fails(&[], &[("WASMCLOUD_LOG_LEVEL", "warning")]).await;
    assert!(err.contains("`warning`"), "{err}");

    // 1-5 parse: these runs get as far as connecting (nothing listens on port 1).
    for level in ["1", "5"] {
        let err = up_fails(
            &["--nats-url", "nats://127.0.0.1:1"],
            &[("WASMCLOUD_LOG_LEVEL", level)],
        )
        .await;
        assert!(err.contains("cannot connect"), "{level}: {err}");
    }
}

/// An official feature lattice does not implement, asked for by variable, stops
/// `lattice up` with a message naming the variable (a Helm chart's setting is never
/// dropped silently); the builtin names beside it are accepted.
#[tokio::test]
async fn official_features_not_implemented_yet_refuse_the_start_by_name() {
    let env = "WASMCLOUD_EXPERIMENTAL_FEATURES";
    let out = up_command(
        &["--nats-url", "nats://127.0.0.1:1"],
        &[(env, "builtin-http-server,workload-identity-auth")],
    )
    .output()
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(env)
            && stderr.contains("workload-identity-auth")
            && stderr.contains("not supported yet")
            && !stderr.contains("builtin-http-server"),
        "{stderr}"
    );
}

/// Named `wasmcloud`, the binary takes the official command line with no subcommand:
/// only official flags and `WASMCLOUD_*` variables.
#[tokio::test]
async fn invoked_as_wasmcloud_it_takes_the_official_command_line() {
    let nats = lattice_test_support::TestNats::start().await.unwrap();
    let port = nats.url().rsplit(':').next().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let wasmcloud = dir.path().join("wasmcloud");
    std::os::unix::fs::symlink(LATTICE, &wasmcloud).unwrap();
    let mut command = Command::new(&wasmcloud);
    command
        .args([
            "--nats-host",
            "127.0.0.1",
            "--nats-port",
            &port,
            "--label",
            "shape=official",
        ])
        .env("WASMCLOUD_LATTICE", "official")
        .env("LATTICE_DATA_DIR", dir.path().join("data"))
        .env_remove("LATTICE_NATS_URL");
    let (child, line) = common::spawn_until_up(command).await;
    assert!(line.contains("is up on lattice `official`"), "{line}");
    assert_eq!(
        comm_of(child.id().unwrap()),
        "wasmcloud",
        "the process keeps its name through the host's re-execution"
    );
    stop(child).await;
}

/// The name `ps` and `pgrep` show for process `pid`.
fn comm_of(pid: u32) -> String {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    comm.trim_end().to_string()
}

/// The environment process `pid` was started with, one variable a line. glibc cuts
/// `GLIBC_TUNABLES` at each `:` in place while it reads it, so its tunables show as lines
/// of their own.
fn environ_of(pid: u32) -> String {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    String::from_utf8_lossy(&environ).replace('\0', "\n")
}

/// The host re-executes itself (same process) with non-temporal copies from 1 MiB added to
/// the tunables it was given; `--non-temporal-reset false`, a threshold already given and
/// a re-execution already made leave them as they are.
#[tokio::test]
async fn memory_resets_copy_around_the_cache_unless_told_otherwise() {
    let nats = TestNats::start().await.unwrap();
    let args = ["--nats-url", nats.url(), "-x", "tunables"];
    let ours = "glibc.cpu.x86_non_temporal_threshold=0x100000";
    let given = "glibc.cpu.x86_non_temporal_threshold=0x4040";
    let cases = [
        (vec![("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")], true),
        (
            vec![
                ("GLIBC_TUNABLES", "glibc.malloc.arena_max=2"),
                ("LATTICE_NON_TEMPORAL_RESET", "false"),
            ],
            false,
        ),
        (vec![("GLIBC_TUNABLES", given)], false),
        // Already re-executed, yet no threshold (a glibc that hid it): no second exec,
        // the host runs on.
        (
            vec![
                ("GLIBC_TUNABLES", "glibc.malloc.arena_max=2"),
                ("LATTICE_REEXECUTED_FOR_TUNABLES", "1"),
            ],
            false,
        ),
    ];
    for (envs, added) in cases {
        let (child, _) = up(&args, &envs).await;
        let environ = environ_of(child.id().unwrap());
        assert_eq!(comm_of(child.id().unwrap()), "lattice");
        assert_eq!(
            environ.lines().any(|line| line.ends_with(ours)),
            added,
            "the host started with {envs:?} runs with:\n{environ}"
        );
        assert!(
            environ.contains(envs[0].1),
            "what was given is kept: {environ}"
        );
        if added {
            assert!(
                environ.contains("LATTICE_REEXECUTED_FOR_TUNABLES=1"),
                "marked as re-executed: {environ}"
            );
        }
        stop(child).await;
    }
}
