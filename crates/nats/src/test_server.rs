//! A real `nats-server` for this crate's tests: on a free loopback port, with extra
//! arguments (`LATTICE_NATS_SERVER`, else `nats-server` on `PATH`); killed on drop, and
//! restartable on the same port.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

pub(crate) struct TestServer {
    child: Child,
    args: Vec<String>,
    pub(crate) port: u16,
}

impl TestServer {
    pub(crate) async fn start(args: &[&str]) -> Self {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (child, port) = spawn(&args, None).await;
        TestServer { child, args, port }
    }

    /// Stops the server and starts it again on the same port.
    pub(crate) async fn restart(&mut self) {
        let _ = self.child.kill().await;
        let (child, _) = spawn(&self.args, Some(self.port)).await;
        self.child = child;
    }
}

async fn spawn(args: &[String], port: Option<u16>) -> (Child, u16) {
    let binary = std::env::var_os("LATTICE_NATS_SERVER").unwrap_or("nats-server".into());
    let port_arg = port.map_or("-1".to_string(), |p| p.to_string());
    let mut child = Command::new(&binary)
        .args(["-a", "127.0.0.1", "-p", &port_arg])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {binary:?} (is nats-server on PATH?): {e}"));
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut port = None;
    let ready = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some((_, p)) = line.split_once("Listening for client connections on ") {
                port = p.trim().rsplit(':').next().and_then(|p| p.parse().ok());
            }
            if line.contains("Server is ready") {
                return;
            }
        }
        panic!("nats-server exited before it was ready");
    });
    ready.await.expect("nats-server is ready within 10s");
    // Keep reading, so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port.expect("nats-server names its port"))
}
