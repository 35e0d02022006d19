//! The component scenarios: `component.scale` → `component_scaled` of an 18 MB Python
//! component (cold: empty compile cache, distinct bytes; warm: again after a scale to 0,
//! and after a host restart with the same cache), the wRPC figures (see [`crate::wrpc`]),
//! and many small components on one host (time, success, host memory). Every figure
//! comes from an event, a wRPC reply or /proc.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use lattice_wrpc::WrpcClient;
use serde_json::{Value, json};

use crate::harness::HostUnderTest;
use crate::scenarios::Samples;

/// How big to make each component scenario.
pub(crate) struct ComponentSizes {
    /// Cold scales of the Python component (each on a fresh host, fresh cache, new bytes).
    pub(crate) cold_repeat: usize,
    /// Warm scales after a scale to 0, on one host.
    pub(crate) warm_repeat: usize,
    /// Warm scales after a host restart with the same cache.
    pub(crate) restart_repeat: usize,
    /// Sequential wRPC calls measured per latency figure.
    pub(crate) calls: usize,
    /// How long each throughput step runs.
    pub(crate) throughput_window: Duration,
    /// Concurrencies of the throughput steps.
    pub(crate) concurrency: Vec<usize>,
    /// Component counts of the many-components scenario.
    pub(crate) counts: Vec<usize>,
}

/// The exported interface of the small components.
pub(crate) const MATH_INSTANCE: &str = "local:test/math@0.1.0";
pub(crate) const CALC_INSTANCE: &str = "local:test/calc@0.1.0";

/// Exports `local:test/math@0.1.0` `add(a: u32, b: u32) -> u32`; nothing imported.
const ADD: &str = r#"
(component
  (core module $m
    (func (export "add") (param i32 i32) (result i32)
      local.get 0 local.get 1 i32.add))
  (core instance $i (instantiate $m))
  (func $add (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
  (instance $math (export "add" (func $add)))
  (export "local:test/math@0.1.0" (instance $math))
)
"#;

/// Imports `local:test/math@0.1.0` `add` and exports `local:test/calc@0.1.0`
/// `double(x) = add(x, x)` (as in crates/host/tests/components.rs).
const CALC: &str = r#"
(component
  (import "local:test/math@0.1.0" (instance $math
    (export "add" (func (param "a" u32) (param "b" u32) (result u32)))))
  (core func $add (canon lower (func $math "add")))
  (core module $m
    (import "math" "add" (func $add (param i32 i32) (result i32)))
    (func (export "double") (param i32) (result i32)
      local.get 0 local.get 0 call $add))
  (core instance $i (instantiate $m (with "math" (instance (export "add" (func $add))))))
  (func $double (param "x" u32) (result u32) (canon lift (core func $i "double")))
  (instance $calc (export "double" (func $double)))
  (export "local:test/calc@0.1.0" (instance $calc))
)
"#;

/// A large component whose scale → ready is measured.
pub(crate) struct Large {
    /// Its file name, as the report shows it.
    pub(crate) name: String,
    /// The file, or why there is none.
    pub(crate) path: Result<PathBuf, String>,
}

/// The components every column uses, written once per run.
pub(crate) struct Artifacts {
    /// The small `add` component.
    pub(crate) add: PathBuf,
    /// The `calc` component that calls `add` through a link.
    pub(crate) calc: PathBuf,
    /// The large components (the Python ones).
    pub(crate) large: Vec<Large>,
    /// Where distinct copies of the large components go.
    pub(crate) dir: PathBuf,
}

impl Artifacts {
    pub(crate) fn write(dir: &Path, large: Vec<Large>) -> anyhow::Result<Self> {
        let write = |name: &str, text: &str| -> anyhow::Result<PathBuf> {
            let path = dir.join(name);
            let bytes = wat::parse_str(text).with_context(|| format!("{name}: component text"))?;
            std::fs::write(&path, bytes)?;
            Ok(path)
        };
        Ok(Artifacts {
            add: write("add.wasm", ADD)?,
            calc: write("calc.wasm", CALC)?,
            large,
            dir: dir.to_path_buf(),
        })
    }

    /// A copy of `source` whose bytes no host has seen: a custom section with a fresh
    /// nonce is appended, so its SHA-256 (the compile cache's key) is new while the code
    /// to compile is the same.
    fn distinct_copy(&self, source: &Path) -> anyhow::Result<PathBuf> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut bytes =
            std::fs::read(source).with_context(|| format!("cannot read {}", source.display()))?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nonce = format!(
            "{}-{}-{n}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos()
        );
        append_custom_section(&mut bytes, "lattice-bench-nonce", nonce.as_bytes());
        let stem = source
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("large");
        let path = self.dir.join(format!("{stem}-{n}.wasm"));
        std::fs::write(&path, bytes)?;
        Ok(path)
    }
}

fn leb128(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends a custom section (id 0), valid at the end of a module or a component.
fn append_custom_section(bytes: &mut Vec<u8>, name: &str, payload: &[u8]) {
    let mut body = Vec::new();
    leb128(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    bytes.push(0);
    leb128(body.len(), bytes);
    bytes.extend_from_slice(&body);
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The large-component hosts allow more core instances per component than the official
/// default of 30 (componentize-py's math.wasm has 38), through the official variable.
const LARGE_ENV: &[(&str, &str)] = &[("WASMCLOUD_MAX_CORE_INSTANCES_PER_COMPONENT", "64")];

/// Longest a first compile of the Python component may take.
const COMPILE_WAIT: Duration = Duration::from_secs(600);
pub(crate) const WAIT: Duration = Duration::from_secs(60);

/// The three scale figures of a large component.
pub(crate) struct ScaleTimes {
    pub(crate) cold: Samples,
    pub(crate) warm_rescale: Samples,
    pub(crate) warm_restart: Samples,
    pub(crate) bytes: u64,
}

/// Cold: each repetition on a fresh host with a fresh data directory (empty compile
/// cache) and bytes no host has seen. Warm: on the last cold host, scale to 0 and again;
/// then restarts of that host with the same data directory, one scale each.
pub(crate) async fn large_scale(
    command: &str,
    artifacts: &Artifacts,
    source: &Path,
    sizes: &ComponentSizes,
) -> anyhow::Result<ScaleTimes> {
    let mut cold = Vec::new();
    let mut host = None;
    let mut data_dir = None;
    let mut artifact = None;
    for i in 0..sizes.cold_repeat.max(1) {
        if let Some(previous) = host.take() {
            HostUnderTest::stop(previous).await;
        }
        let dir = tempfile::tempdir()?;
        let path = artifacts.distinct_copy(source)?;
        let mut h = HostUnderTest::start_with(command, Some(dir.path()), LARGE_ENV).await?;
        let sent = Instant::now();
        h.scale_component("py", &path, 1).await?;
        if let Err(e) = h.component_scaled("py", 1, COMPILE_WAIT).await {
            let elapsed = sent.elapsed();
            h.stop().await;
            let _ = std::fs::remove_file(&path);
            let not_measured = Err("not measured: the cold scale failed".to_string());
            return Ok(ScaleTimes {
                cold: Err(format!(
                    "cold scale {i}: {e:#} (after {:.1} s)",
                    elapsed.as_secs_f64()
                )),
                warm_rescale: not_measured.clone(),
                warm_restart: not_measured,
                bytes: std::fs::metadata(source)?.len(),
            });
        }
        cold.push(ms(sent.elapsed()));
        host = Some(h);
        data_dir = Some(dir);
        artifact = Some(path);
    }
    let (Some(mut host), Some(path)) = (host, artifact) else {
        bail!("no cold scale ran");
    };
    let bytes = std::fs::metadata(&path)?.len();
    let mut warm = Vec::new();
    for _ in 0..sizes.warm_repeat {
        host.scale_component("py", &path, 0).await?;
        host.component_scaled("py", 0, WAIT).await?;
        let sent = Instant::now();
        host.scale_component("py", &path, 1).await?;
        host.component_scaled("py", 1, WAIT).await?;
        warm.push(ms(sent.elapsed()));
    }
    let mut restart = Vec::new();
    let mut restart_error = None;
    for _ in 0..sizes.restart_repeat {
        host = host.restart(command).await?;
        let sent = Instant::now();
        host.scale_component("py", &path, 1).await?;
        match host.component_scaled("py", 1, COMPILE_WAIT).await {
            Ok(()) => restart.push(ms(sent.elapsed())),
            Err(e) => {
                restart_error = Some(format!("{e:#}"));
                break;
            }
        }
    }
    host.stop().await;
    drop(data_dir);
    let _ = std::fs::remove_file(&path);
    Ok(ScaleTimes {
        cold: Ok(cold),
        warm_rescale: Ok(warm),
        warm_restart: match restart_error {
            Some(e) => Err(e),
            None => Ok(restart),
        },
        bytes,
    })
}

/// What N small components on one host came to.
pub(crate) struct ManyResult {
    pub(crate) n: usize,
    pub(crate) scaled: usize,
    pub(crate) failed: usize,
    pub(crate) first_failure: Option<String>,
    pub(crate) all_scaled_ms: f64,
    pub(crate) idle_rss: u64,
    pub(crate) first_rss: u64,
    pub(crate) loaded_rss: u64,
    pub(crate) called_rss: u64,
    pub(crate) answered: usize,
}

impl ManyResult {
    /// Host RSS growth per running component beyond the first (the first one carries
    /// one-time costs: the compiled code, the engine's lazily built state).
    pub(crate) fn per_component_bytes(&self) -> f64 {
        self.loaded_rss.saturating_sub(self.first_rss) as f64 / (self.n.max(2) - 1) as f64
    }

    /// The same after one call of each component.
    pub(crate) fn per_component_called_bytes(&self) -> f64 {
        self.called_rss.saturating_sub(self.first_rss) as f64 / (self.n.max(2) - 1) as f64
    }
}

/// N distinct component IDs of the small `add` component on one fresh host: the time
/// from the first `component.scale` until every one is `component_scaled`, how many
/// are, host RSS (idle, with one, with all; then after one call of each) and how many
/// answered that call.
pub(crate) async fn many(
    command: &str,
    artifacts: &Artifacts,
    n: usize,
) -> anyhow::Result<ManyResult> {
    let dir = tempfile::tempdir()?;
    let mut host = HostUnderTest::start_with(command, Some(dir.path()), &[]).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = host.rss()?;
    let started = Instant::now();
    host.scale_component("c0", &artifacts.add, 1).await?;
    host.component_scaled("c0", 1, WAIT).await?;
    let first_rss = host.rss()?;
    let ids: Vec<String> = (1..n).map(|i| format!("c{i}")).collect();
    let results = futures::stream::iter(&ids)
        .map(|id| host.scale_component(id, &artifacts.add, 1))
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let mut first_failure = results
        .into_iter()
        .find_map(|r| r.err().map(|e| format!("{e:#}")));
    let wanted: std::collections::HashSet<&String> = ids.iter().collect();
    let mut scaled = std::collections::HashSet::new();
    let mut failed = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60 + n as u64 / 10);
    while scaled.len() + failed.len() < ids.len() {
        let Ok(Ok(event)) = tokio::time::timeout_at(deadline, host.events.next_event()).await
        else {
            first_failure.get_or_insert_with(|| "timed out waiting for component_scaled".into());
            break;
        };
        let id = event.data["component_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !wanted.contains(&id) {
            continue;
        }
        match event.event_name() {
            "component_scaled" if event.data["max_instances"] == 1 => {
                scaled.insert(id);
            }
            "component_scale_failed" => {
                first_failure.get_or_insert_with(|| format!("{id}: {}", event.data["error"]));
                failed.insert(id);
            }
            _ => {}
        }
    }
    let all_scaled_ms = ms(started.elapsed());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded_rss = host.rss()?;

    let caller = async_nats::connect(host.nats_url()).await?;
    let wrpc = WrpcClient::new(caller)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let all: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let answered = futures::stream::iter(&all)
        .map(|id| crate::wrpc::add(&wrpc, id, 1, 2))
        .buffer_unordered(16)
        .filter(|r| std::future::ready(r.is_ok()))
        .count()
        .await;
    let called_rss = host.rss()?;
    host.stop().await;
    Ok(ManyResult {
        n,
        scaled: scaled.len() + 1,
        failed: failed.len(),
        first_failure,
        all_scaled_ms,
        idle_rss,
        first_rss,
        loaded_rss,
        called_rss,
        answered,
    })
}

/// Runs every component scenario against one host command; failures become the row's
/// error.
pub(crate) async fn measure(command: &str, artifacts: &Artifacts, sizes: &ComponentSizes) -> Value {
    let mut figures = serde_json::Map::new();
    let mut large = Vec::new();
    for component in &artifacts.large {
        eprintln!(
            "[{command}] component.scale → component_scaled ({})",
            component.name
        );
        let times = match &component.path {
            Ok(path) => large_scale(command, artifacts, path, sizes).await,
            Err(e) => Err(anyhow::anyhow!("{e}")),
        };
        large.push(match times {
            Ok(times) => json!({
                "name": component.name, "bytes": times.bytes,
                "scale_cold_ms": crate::samples_json(&times.cold),
                "scale_warm_rescale_ms": crate::samples_json(&times.warm_rescale),
                "scale_warm_restart_ms": crate::samples_json(&times.warm_restart),
            }),
            Err(e) => {
                let e = crate::fail(e);
                json!({"name": component.name, "scale_cold_ms": e, "scale_warm_rescale_ms": e,
                    "scale_warm_restart_ms": e})
            }
        });
    }
    figures.insert("large".into(), Value::Array(large));
    eprintln!("[{command}] wRPC latency and throughput");
    match crate::wrpc::wrpc(command, artifacts, sizes).await {
        Ok(wrpc) => {
            figures.insert(
                "nats_round_trip_ms".into(),
                crate::samples_json(&wrpc.nats_round_trip),
            );
            figures.insert("wrpc_one_hop_ms".into(), crate::samples_json(&wrpc.one_hop));
            figures.insert(
                "tcp_round_trip_ms".into(),
                crate::samples_json(&wrpc.tcp_round_trip),
            );
            figures.insert(
                "nats_round_trip_raw_ms".into(),
                crate::samples_json(&wrpc.raw_round_trip),
            );
            figures.insert(
                "wrpc_one_hop_raw_ms".into(),
                crate::samples_json(&wrpc.raw_one_hop),
            );
            figures.insert(
                "wrpc_two_hops_ms".into(),
                crate::samples_json(&wrpc.two_hops),
            );
            figures.insert(
                "wrpc_two_hops_across_ms".into(),
                crate::samples_json(&wrpc.two_hops_across),
            );
            let steps = wrpc
                .throughput
                .iter()
                .map(|t| {
                    json!({
                        "concurrency": t.concurrency, "calls": t.calls, "errors": t.errors,
                        "seconds": t.seconds, "calls_per_s": t.calls as f64 / t.seconds,
                        "first_error": t.first_error,
                    })
                })
                .collect();
            figures.insert("wrpc_throughput".into(), Value::Array(steps));
        }
        Err(e) => {
            let e = crate::fail(e);
            figures.insert("nats_round_trip_ms".into(), e.clone());
            figures.insert("wrpc_one_hop_ms".into(), e.clone());
            figures.insert("tcp_round_trip_ms".into(), e.clone());
            figures.insert("nats_round_trip_raw_ms".into(), e.clone());
            figures.insert("wrpc_one_hop_raw_ms".into(), e.clone());
            figures.insert("wrpc_two_hops_ms".into(), e.clone());
            figures.insert("wrpc_two_hops_across_ms".into(), e.clone());
            figures.insert("wrpc_throughput".into(), e);
        }
    }
    let mut counted = Vec::new();
    for &n in &sizes.counts {
        eprintln!("[{command}] {n} components");
        counted.push(match many(command, artifacts, n).await {
            Ok(r) => json!({
                "n": r.n, "scaled": r.scaled, "failed": r.failed, "first_failure": r.first_failure,
                "all_scaled_ms": r.all_scaled_ms, "answered": r.answered,
                "idle_rss_bytes": r.idle_rss, "first_rss_bytes": r.first_rss,
                "loaded_rss_bytes": r.loaded_rss, "called_rss_bytes": r.called_rss,
                "per_component_bytes": r.per_component_bytes(),
                "per_component_called_bytes": r.per_component_called_bytes(),
            }),
            Err(e) => json!({"n": n, "error": format!("{e:#}")}),
        });
    }
    figures.insert("many".into(), Value::Array(counted));
    Value::Object(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_section_is_appended_with_leb128_sizes() {
        let mut n = Vec::new();
        leb128(300, &mut n);
        assert_eq!(n, [0xac, 0x02]);
        let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
        append_custom_section(&mut bytes, "n", b"xy");
        assert_eq!(&bytes[8..], &[0, 4, 1, b'n', b'x', b'y']);
    }
}
