//! What the CLI's end-to-end tests share.

use std::process::Stdio;

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
