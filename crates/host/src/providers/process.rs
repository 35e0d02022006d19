//! One provider process: spawned with a cleared environment (only `RUST_LOG` and
//! `OTEL_*` pass), its own process group and a parent-death signal; HostData written
//! to stdin, which is then closed; stopped in stages; always reaped.
//!
//! Its stdout and stderr are read line by line (lines longer than [`MAX_LINE_BYTES`]
//! are truncated with a marker). Each line goes, as it came, to the host's own stdout or
//! stderr: the provider's output is its own, as with the 1.x host, whose providers
//! inherit its stdio, so neither the host's log level nor its structured logging
//! touches it. Each line also goes into the provider's ring (`logs::LogBuffer`, read
//! by `provider.logs`) and is published for followers on
//! `{ctl_prefix}.v1.{lattice}.logs.{host_id}.{provider_id}`
//! ([`lattice_proto::subjects::log_lines`]).
//!
//! **Who can read the live lines:** anyone allowed to subscribe to
//! `{ctl_prefix}.v1.{lattice}.>` on the host's control connection's NATS account, that
//! is the same permissions that guard control requests (which can ask for the ring
//! anyway). Nothing is published under `wasmbus.evt`.
//!
//! Nothing here grows without bound, however fast a provider writes: a line is at most
//! [`MAX_LINE_BYTES`]; the ring is bounded in lines and bytes; at most [`LIVE_QUEUE`]
//! lines wait to be published (more are dropped from the live feed, not from the ring);
//! and each stream has at most one line in flight to the host's terminal. A terminal
//! that takes longer than [`PASSTHROUGH_WAIT`] for one line stops holding up the pipe:
//! lines are then left out of the passthrough until it has taken that line.

use std::path::Path;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use lattice_proto::ctl::LogLine;
use nix::sys::signal::Signal;
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncRead, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::logs::LogBuffer;
use crate::process_group;

/// Longest line kept or passed through; the rest of a longer line is dropped and a
/// marker says how much.
pub(crate) const MAX_LINE_BYTES: usize = 16 * 1024;

/// Most lines waiting to be published for followers, per provider entry.
pub(crate) const LIVE_QUEUE: usize = 128;

/// Bytes read from a provider's stdout or stderr at a time. Providers print little, and
/// the default 8 KiB, twice per running provider, is memory every provider costs the
/// host (a longer line is still read whole, up to [`MAX_LINE_BYTES`]).
const OUTPUT_READ_BUFFER: usize = 1024;

/// How long one line may wait for the host's terminal before the passthrough stops
/// waiting for it (see the module docs).
pub(crate) const PASSTHROUGH_WAIT: Duration = Duration::from_secs(1);

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

/// How a provider process ended, as far as the host knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProcessExit {
    /// It exited, or a signal ended it.
    Status(ExitStatus),
    /// Waiting for it failed, so how it ended is unknown (its group got SIGKILL anyway).
    WaitFailed(WaitError),
    /// An in-process provider (a builtin) ended.
    Task(TaskEnd),
}

/// How an in-process provider's task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskEnd {
    /// It returned after a stop.
    Returned,
    /// It returned an error (logged where it happened).
    Failed,
    /// It panicked.
    Panicked,
    /// It was aborted (the last stage of a stop).
    Aborted,
}

impl ProcessExit {
    /// The exit code, if it exited.
    pub(crate) fn code(self) -> Option<i32> {
        match self {
            ProcessExit::Status(status) => status.code(),
            ProcessExit::WaitFailed(_) | ProcessExit::Task(_) => None,
        }
    }

    /// The signal that ended it, if one did.
    pub(crate) fn signal(self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt as _;
        match self {
            ProcessExit::Status(status) => status.signal(),
            ProcessExit::WaitFailed(_) | ProcessExit::Task(_) => None,
        }
    }
}

/// Why `wait` failed: the OS error (`waitpid` reports nothing else), kept `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WaitError {
    errno: Option<i32>,
    kind: std::io::ErrorKind,
}

impl From<&std::io::Error> for WaitError {
    fn from(error: &std::io::Error) -> Self {
        WaitError {
            errno: error.raw_os_error(),
            kind: error.kind(),
        }
    }
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.errno {
            Some(errno) => std::io::Error::from_raw_os_error(errno).fmt(f),
            None => self.kind.fmt(f),
        }
    }
}

/// A running provider process.
pub(crate) struct ProviderProcess {
    child: Child,
    pid: u32,
    started: Instant,
    exit: Option<ProcessExit>,
}

/// Where a provider entry's output goes, across restarts: its ring and its followers.
pub(crate) struct OutputSink {
    pub(crate) logs: Arc<LogBuffer>,
    /// Lines for the publishing task; full means dropped from the live feed.
    live: mpsc::Sender<LogLine>,
}

impl OutputSink {
    /// A sink into `logs` that publishes each line on `subject` through `client` (the
    /// control connection) from a task of its own, which ends with the sink.
    pub(crate) fn new(logs: Arc<LogBuffer>, client: async_nats::Client, subject: String) -> Self {
        let (live, lines) = mpsc::channel(LIVE_QUEUE);
        tokio::spawn(publish_lines(client, subject, lines));
        OutputSink { logs, live }
    }

    /// Keeps a line and queues it for followers, in sequence order.
    fn record(&self, stream: &str, line: String) {
        self.logs.push_then(stream, line, |entry| {
            let _ = self.live.try_send(entry.clone());
        });
    }
}

/// Publishes queued lines in order, one [`LogLine`] JSON per message. A publish waits
/// only for room in the client's bounded command queue; meanwhile new lines beyond
/// [`LIVE_QUEUE`] are dropped by [`OutputSink::record`].
async fn publish_lines(
    client: async_nats::Client,
    subject: String,
    mut lines: mpsc::Receiver<LogLine>,
) {
    while let Some(line) = lines.recv().await {
        let body = serde_json::to_vec(&line).expect("log lines encode");
        if client.publish(subject.clone(), body.into()).await.is_err() {
            // The connection is closing; the ring still has the line.
            continue;
        }
    }
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
        process_group::isolate(&mut cmd);
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
            Passthrough::new(Arc::new(|line| write_whole(std::io::stdout(), line))),
            "stdout",
            sink.clone(),
        ));
        tokio::spawn(capture(
            child.stderr.take().expect("stderr is piped"),
            Passthrough::new(Arc::new(|line| write_whole(std::io::stderr(), line))),
            "stderr",
            sink,
        ));
        Ok(ProviderProcess {
            child,
            pid,
            started: Instant::now(),
            exit: None,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// How long the process has been (or was) running.
    pub(crate) fn ran_for(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits for the process to exit and reaps it. Cancel-safe; returns the same at once
    /// afterwards. If waiting fails, says so (the process is then treated as gone).
    pub(crate) async fn wait(&mut self) -> ProcessExit {
        if let Some(exit) = self.exit {
            return exit;
        }
        let exit = match self.child.wait().await {
            Ok(status) => ProcessExit::Status(status),
            Err(error) => {
                tracing::error!(pid = self.pid, %error, "cannot wait for provider process");
                ProcessExit::WaitFailed(WaitError::from(&error))
            }
        };
        self.exit = Some(exit);
        // Grandchildren the provider left behind go with it.
        let _ = process_group::signal_group(self.pid, Signal::SIGKILL);
        exit
    }

    /// Staged stop: `request` (the shutdown request) while waiting up to `grace` for the
    /// process to exit; then SIGTERM to its group and up to `term_grace`; then SIGKILL.
    pub(crate) async fn stop(
        &mut self,
        request: impl Future<Output = ()>,
        grace: Duration,
        term_grace: Duration,
    ) -> (ProcessExit, EndedBy) {
        if let Some(exit) = self.exit {
            return (exit, EndedBy::ShutdownRequest);
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
        let _ = process_group::signal_group(self.pid, Signal::SIGTERM);
        if let Ok(status) = tokio::time::timeout(term_grace, self.wait()).await {
            return (status, EndedBy::Sigterm);
        }
        let _ = process_group::signal_group(self.pid, Signal::SIGKILL);
        (self.wait().await, EndedBy::Sigkill)
    }
}

/// Reads one output stream line by line into the host's own stdout or stderr
/// (`passthrough`, the bytes as they came) and the provider's ring and followers (as
/// text: invalid UTF-8 replaced, the line ending trimmed). Ends at end of stream or on
/// a read error.
async fn capture(
    stream: impl AsyncRead + Unpin,
    mut passthrough: Passthrough,
    name: &'static str,
    sink: Arc<OutputSink>,
) {
    let mut reader = BufReader::with_capacity(OUTPUT_READ_BUFFER, stream);
    let mut buf = Vec::new();
    while let Ok(Some(dropped)) = read_line_capped(&mut reader, &mut buf, MAX_LINE_BYTES).await {
        let mut line = String::from_utf8_lossy(&buf)
            .trim_end_matches('\r')
            .to_string();
        if dropped > 0 {
            let marker = truncation_marker(dropped);
            line.push_str(&marker);
            buf.extend_from_slice(marker.as_bytes());
        }
        sink.record(name, line);
        buf.push(b'\n');
        passthrough.write_line(&buf).await;
    }
}

/// Appended to a line longer than [`MAX_LINE_BYTES`].
fn truncation_marker(dropped: usize) -> String {
    format!(" [lattice: line truncated, {dropped} more bytes dropped]")
}

/// Reads one line into `buf` (cleared first, without its `\n`), keeping at most `max`
/// bytes: the rest of a longer line is read and dropped. Returns how many bytes were
/// dropped, or `None` at end of stream. A last line without `\n` counts as a line.
async fn read_line_capped(
    reader: &mut (impl AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<usize>> {
    buf.clear();
    let mut dropped = 0;
    let mut read_any = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(read_any.then_some(dropped));
        }
        read_any = true;
        let (chunk, used, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..end], end + 1, true),
            None => (available, available.len(), false),
        };
        let keep = chunk.len().min(max.saturating_sub(buf.len()));
        buf.extend_from_slice(&chunk[..keep]);
        dropped += chunk.len() - keep;
        reader.consume(used);
        if done {
            return Ok(Some(dropped));
        }
    }
}

/// Writes a line (ending in `\n`) to the host's stdout or stderr in one `write_all`
/// under the std lock, so lines of different providers and the host's own log never
/// interleave mid-line. Errors (a closed stdout) are ignored: the ring has the line.
fn write_whole(mut out: impl std::io::Write, line: &[u8]) {
    let _ = out.write_all(line);
    let _ = out.flush();
}

/// A blocking write of one whole line.
type WriteLine = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// The host's own stdout or stderr, as one stream of one provider process writes to it.
///
/// Writes behind: each line is written by a blocking task and `write_line` returns at
/// once; the next line first waits for that write. So at most one line per stream is
/// in flight, and a line waits only while the terminal is still busy with the previous
/// one — up to `wait`; after that the terminal counts as stalled, and lines are left
/// out (without waiting) until the stuck write is done.
struct Passthrough {
    write: WriteLine,
    in_flight: Option<tokio::task::JoinHandle<()>>,
    /// How long a line may wait for the previous one ([`PASSTHROUGH_WAIT`]).
    wait: Duration,
    /// The previous line did not get through within `wait`.
    stalled: bool,
}

impl Passthrough {
    fn new(write: WriteLine) -> Self {
        Passthrough {
            write,
            in_flight: None,
            wait: PASSTHROUGH_WAIT,
            stalled: false,
        }
    }

    /// Hands `line` to a blocking write once the previous one is done (see above).
    async fn write_line(&mut self, line: &[u8]) {
        if let Some(previous) = &mut self.in_flight {
            let done = match self.stalled {
                // One poll: has the stuck write finished by now?
                true => std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *previous).poll(cx)))
                    .await
                    .is_ready(),
                false => tokio::time::timeout(self.wait, previous).await.is_ok(),
            };
            if !done {
                self.stalled = true;
                return;
            }
        }
        self.stalled = false;
        let (write, line) = (self.write.clone(), line.to_vec());
        self.in_flight = Some(tokio::task::spawn_blocking(move || write(&line)));
    }
}

/// `exit status: 1`, `signal: 9 (SIGKILL)`, `cannot wait for process: …`.
pub(crate) fn describe(exit: ProcessExit) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    let status = match exit {
        ProcessExit::Status(status) => status,
        ProcessExit::WaitFailed(error) => return format!("cannot wait for process: {error}"),
        ProcessExit::Task(end) => {
            return match end {
                TaskEnd::Returned => "returned",
                TaskEnd::Failed => "returned an error",
                TaskEnd::Panicked => "panicked",
                TaskEnd::Aborted => "aborted",
            }
            .to_string();
        }
    };
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status: {code}"),
        (None, Some(signal)) => match Signal::try_from(signal) {
            Ok(sig) => format!("signal: {signal} ({})", sig.as_str()),
            Err(_) => format!("signal: {signal}"),
        },
        _ => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<(String, usize)> {
        let mut reader = BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(dropped) = read_line_capped(&mut reader, &mut buf, max).await.unwrap() {
            out.push((String::from_utf8_lossy(&buf).into_owned(), dropped));
        }
        out
    }

    #[tokio::test]
    async fn long_lines_are_cut_and_the_rest_is_dropped() {
        let got = lines(b"short\r\n0123456789abcdef\n\nlast", 10).await;
        let want = [("short\r", 0), ("0123456789", 6), ("", 0), ("last", 0)];
        assert_eq!(got, want.map(|(l, d)| (l.to_string(), d)));
        assert!(lines(b"", 10).await.is_empty());
        assert_eq!(
            truncation_marker(6),
            " [lattice: line truncated, 6 more bytes dropped]"
        );
    }

    #[test]
    fn a_failed_wait_is_described_as_such() {
        use std::os::unix::process::ExitStatusExt as _;
        let failed = ProcessExit::WaitFailed(WaitError::from(&std::io::Error::from_raw_os_error(
            nix::libc::ECHILD,
        )));
        assert_eq!(
            describe(failed),
            format!(
                "cannot wait for process: {}",
                std::io::Error::from_raw_os_error(nix::libc::ECHILD)
            )
        );
        assert_eq!((failed.code(), failed.signal()), (None, None));
        let exited = ProcessExit::Status(ExitStatus::from_raw(3 << 8));
        assert_eq!(describe(exited), "exit status: 3");
        assert_eq!(exited.code(), Some(3));
        let killed = ProcessExit::Status(ExitStatus::from_raw(9));
        assert_eq!(describe(killed), "signal: 9 (SIGKILL)");
    }

    #[tokio::test]
    async fn a_stuck_terminal_costs_one_wait_then_lines_skip_it_until_it_moves() {
        let written = Arc::new(Mutex::new(Vec::new()));
        // The "terminal" is stuck on line three until the test releases it.
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let stuck = Mutex::new(stuck);
        let write: WriteLine = {
            let written = written.clone();
            Arc::new(move |line: &[u8]| {
                if line == b"three\n" {
                    let _ = stuck.lock().unwrap().recv();
                }
                written.lock().unwrap().extend_from_slice(line);
            })
        };
        let mut out = Passthrough::new(write);
        out.wait = Duration::from_millis(200);
        out.write_line(b"one\n").await;
        out.write_line(b"two\n").await;
        out.write_line(b"three\n").await;
        let started = Instant::now();
        out.write_line(b"four\n").await;
        assert!(started.elapsed() >= Duration::from_millis(200));
        let started = Instant::now();
        for _ in 0..100 {
            out.write_line(b"dropped\n").await;
        }
        assert!(started.elapsed() < Duration::from_millis(100));
        release.send(()).unwrap();
        while out.stalled {
            tokio::task::yield_now().await;
            out.write_line(b"five\n").await;
        }
        out.write_line(b"six\n").await;
        if let Some(last) = out.in_flight.take() {
            last.await.unwrap();
        }
        assert_eq!(
            String::from_utf8(written.lock().unwrap().clone()).unwrap(),
            "one\ntwo\nthree\nfive\nsix\n"
        );
    }
}
