//! One provider process: spawned with a cleared environment (only `RUST_LOG` and
//! `OTEL_*` pass), its own process group and a parent-death signal; HostData written
//! to stdin, which is then closed; stdout and stderr read line by line into the
//! provider's log; stopped in stages; always reaped.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};

use super::logs::LogBuffer;
use crate::process;

/// The stage of a stop that ended the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EndedBy {
    /// It exited after the shutdown request, before any signal.
    ShutdownRequest,
    /// It exited after SIGTERM.
    Sigterm,
    /// It had to be killed.
    Sigkill,
}

impl EndedBy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EndedBy::ShutdownRequest => "shutdown_request",
            EndedBy::Sigterm => "sigterm",
            EndedBy::Sigkill => "sigkill",
        }
    }
}

/// A running provider process.
pub(crate) struct ProviderProcess {
    child: Child,
    pid: u32,
    started: Instant,
    status: Option<ExitStatus>,
}

/// Where a provider's output goes.
pub(crate) struct OutputSink {
    pub(crate) provider_id: String,
    pub(crate) logs: Arc<LogBuffer>,
    /// Publishes each line for `lattice logs --follow`.
    pub(crate) publish: Option<(async_nats::Client, String)>,
}

impl ProviderProcess {
    /// Spawns `executable` and hands it `stdin_line`.
    pub(crate) fn spawn(
        executable: &Path,
        stdin_line: Vec<u8>,
        sink: Arc<OutputSink>,
    ) -> std::io::Result<Self> {
        let mut cmd = Command::new(executable);
        cmd.env_clear()
            .envs(std::env::vars().filter(|(k, _)| k == "RUST_LOG" || k.starts_with("OTEL_")))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        process::isolate(&mut cmd);
        let mut child = cmd.spawn()?;
        let pid = child.id().expect("a just-spawned child has a pid");
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // A provider that never reads stdin must not stall its supervisor.
        tokio::spawn(async move {
            let _ = stdin.write_all(&stdin_line).await;
            let _ = stdin.shutdown().await;
        });
        tokio::spawn(capture(
            child.stdout.take().expect("stdout is piped"),
            "stdout",
            sink.clone(),
        ));
        tokio::spawn(capture(
            child.stderr.take().expect("stderr is piped"),
            "stderr",
            sink,
        ));
        Ok(ProviderProcess {
            child,
            pid,
            started: Instant::now(),
            status: None,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// How long the process has been (or was) running.
    pub(crate) fn ran_for(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits for the process to exit and reaps it. Cancel-safe; returns at once afterwards.
    pub(crate) async fn wait(&mut self) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let status = match self.child.wait().await {
            Ok(status) => status,
            Err(error) => {
                tracing::error!(pid = self.pid, %error, "cannot wait for provider process");
                std::os::unix::process::ExitStatusExt::from_raw(0)
            }
        };
        self.status = Some(status);
        // Grandchildren the provider left behind go with it.
        let _ = process::signal_group(self.pid, Signal::SIGKILL);
        status
    }

    /// Staged stop: `request` (the shutdown request) while waiting up to `grace` for the
    /// process to exit; then SIGTERM to its group and up to `term_grace`; then SIGKILL.
    pub(crate) async fn stop(
        &mut self,
        request: impl Future<Output = ()>,
        grace: Duration,
        term_grace: Duration,
    ) -> (ExitStatus, EndedBy) {
        if let Some(status) = self.status {
            return (status, EndedBy::ShutdownRequest);
        }
        let deadline = tokio::time::Instant::now() + grace;
        let asked = async {
            let _ = tokio::time::timeout_at(deadline, request).await;
            tokio::time::sleep_until(deadline).await;
        };
        tokio::select! {
            status = self.wait() => return (status, EndedBy::ShutdownRequest),
            _ = asked => {}
        }
        let _ = process::signal_group(self.pid, Signal::SIGTERM);
        if let Ok(status) = tokio::time::timeout(term_grace, self.wait()).await {
            return (status, EndedBy::Sigterm);
        }
        let _ = process::signal_group(self.pid, Signal::SIGKILL);
        (self.wait().await, EndedBy::Sigkill)
    }
}

/// Reads one output stream line by line into the provider's log (invalid UTF-8 is
/// replaced, not fatal).
async fn capture(stream: impl AsyncRead + Unpin, name: &'static str, sink: Arc<OutputSink>) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                let line = text.trim_end_matches(['\n', '\r']).to_string();
                tracing::info!(target: "lattice::provider", provider_id = %sink.provider_id, stream = name, "{line}");
                let entry = sink.logs.push(name, line);
                if let Some((client, subject)) = &sink.publish
                    && let Ok(body) = serde_json::to_vec(&entry)
                {
                    let _ = client.publish(subject.clone(), body.into()).await;
                }
            }
        }
    }
}

/// `exit status: 1`, `signal: 9 (SIGKILL)`.
pub(crate) fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status: {code}"),
        (None, Some(signal)) => match Signal::try_from(signal) {
            Ok(sig) => format!("signal: {signal} ({})", sig.as_str()),
            Err(_) => format!("signal: {signal}"),
        },
        _ => status.to_string(),
    }
}
