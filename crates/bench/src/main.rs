//! `lattice-bench`: measures a host's provider lifecycle from events and process
//! observations, and with `--compare-with COMMAND` does the same, in the same run, for
//! a second host started by COMMAND (configured only through the official host's
//! `WASMCLOUD_*` variables). Prints a markdown table and writes JSON; the markdown is
//! rendered from the JSON.
//!
//! ```sh
//! cargo run --release -p lattice-bench -- --quick
//! cargo run --release -p lattice-bench -- --compare-with 'wasmcloud' --json out.json
//! ```

mod harness;
mod report;
mod scenarios;
mod stats;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use serde_json::{Value, json};

use scenarios::Sizes;

/// Measure lattice's provider lifecycle, optionally beside another host.
#[derive(Debug, Parser)]
#[command(name = "lattice-bench")]
struct Args {
    /// Small sizes (5 repetitions, 20 and 50 providers) that finish in a couple of minutes.
    #[arg(long)]
    quick: bool,
    /// Repetitions of each timed scenario (default 20; 5 with --quick).
    #[arg(long)]
    repeat: Option<usize>,
    /// Provider counts of the scale scenario (default 100,500,1000; 20,50 with --quick).
    #[arg(long, value_delimiter = ',')]
    scale: Option<Vec<usize>>,
    /// The host under test (default: the `lattice` binary built for the benchmark, `up`).
    #[arg(long)]
    host_command: Option<String>,
    /// A second host to measure the same way, e.g. an official `wasmcloud` binary.
    #[arg(long)]
    compare_with: Option<String>,
    /// The provider binary (default: the official-SDK provider built for the benchmark).
    #[arg(long)]
    provider: Option<PathBuf>,
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

/// Builds `lattice` (release: LTO) and the official-SDK provider (the `bench-provider`
/// profile: release without LTO, which would take very long over wasmtime).
fn build_binaries() -> anyhow::Result<(PathBuf, PathBuf)> {
    eprintln!(
        "building lattice and the official-SDK provider (release; the first build takes minutes)…"
    );
    cargo_build(&["--release", "-p", "lattice-cli", "--bin", "lattice"])?;
    cargo_build(&[
        "--profile",
        "bench-provider",
        "-p",
        "lattice-oracle-tests",
        "--bin",
        "official-sdk-provider",
    ])?;
    let target = bench_target();
    Ok((
        target.join("release/lattice"),
        target.join("bench-provider/official-sdk-provider"),
    ))
}

/// Packages the provider as a provider archive, as the official host requires.
async fn package(provider: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    let mut archive = provider_archive::ProviderArchive::new(
        "bench-provider",
        "lattice-bench",
        Some(1),
        Some("0.1.0".into()),
    );
    archive
        .add_library(
            &target,
            &std::fs::read(provider)
                .with_context(|| format!("cannot read {}", provider.display()))?,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let path = dir.join("bench-provider.par.gz");
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

/// Runs every scenario against one host command; failures become the row's error.
async fn measure(command: &str, par: &Path, sizes: &Sizes) -> Value {
    let fail = |e: anyhow::Error| json!({"error": format!("{e:#}")});
    let mut figures = serde_json::Map::new();
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
                "idle_rss_bytes": r.idle_rss, "per_provider_bytes": r.per_provider_bytes,
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
    let built = match (&args.host_command, &args.provider) {
        (Some(_), Some(_)) => None,
        _ => Some(build_binaries()?),
    };
    let lattice_command = args.host_command.clone().unwrap_or_else(|| {
        let (lattice, _) = built.as_ref().expect("built when no command is given");
        format!("{} up", lattice.display())
    });
    let provider = args.provider.clone().unwrap_or_else(|| {
        built
            .as_ref()
            .expect("built when no provider is given")
            .1
            .clone()
    });
    let dir = tempfile::tempdir()?;
    let par = package(&provider, dir.path()).await?;

    let mut columns = vec![
        json!({"name": "lattice", "command": lattice_command, "figures": measure(&lattice_command, &par, &sizes).await}),
    ];
    if let Some(other) = &args.compare_with {
        columns.push(json!({"name": "compared", "command": other, "figures": measure(other, &par, &sizes).await}));
    }
    let invocation: Vec<String> = std::env::args().collect();
    let results = json!({
        "machine": {"cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), "os": std::env::consts::OS, "arch": std::env::consts::ARCH},
        "invocation": invocation.join(" "),
        "sizes": {"repeat": sizes.repeat, "crash_repeat": sizes.crash_repeat, "scale": sizes.scale, "throughput_requests": sizes.throughput_requests},
        "columns": columns,
    });
    let markdown = report::markdown(&results);
    println!("{markdown}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&results)?)?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown)?;
    }
    Ok(())
}
