//! The measured scenarios. Every figure comes from an event, a reply or /proc.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde_json::json;

use crate::harness::HostUnderTest;

/// How big to make each scenario.
pub(crate) struct Sizes {
    pub(crate) repeat: usize,
    pub(crate) crash_repeat: usize,
    pub(crate) scale: Vec<usize>,
    pub(crate) throughput_requests: usize,
    pub(crate) idle_window: Duration,
}

/// One row of results: samples (ms, bytes, …) or why there are none.
pub(crate) type Samples = Result<Vec<f64>, String>;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

const WAIT: Duration = Duration::from_secs(60);

/// `provider.start` → `provider_started`, and → `health_check_passed`.
pub(crate) async fn start_times(
    command: &str,
    par: &Path,
    sizes: &Sizes,
) -> anyhow::Result<(Samples, Samples)> {
    let mut host = HostUnderTest::start(command).await?;
    let (mut running, mut healthy) = (Vec::new(), Vec::new());
    for i in 0..sizes.repeat {
        let id = format!("start{i}");
        let sent = Instant::now();
        host.start_provider(&id, par, &[]).await?;
        host.event_for("provider_started", &id, WAIT).await?;
        running.push(ms(sent.elapsed()));
        host.event_for("health_check_passed", &id, WAIT).await?;
        healthy.push(ms(sent.elapsed()));
        host.stop_provider(&id).await?;
    }
    host.stop().await;
    Ok((Ok(running), Ok(healthy)))
}

/// `kill -9` of a healthy provider → its next `health_check_passed`. Each repetition
/// crashes a provider that has not crashed before: repeated crashes of one provider
/// are deliberately backed off by the restart policy, which is not what this measures.
pub(crate) async fn crash_to_healthy(
    command: &str,
    par: &Path,
    sizes: &Sizes,
) -> anyhow::Result<Samples> {
    let mut host = HostUnderTest::start(command).await?;
    let mut samples = Vec::new();
    for i in 0..sizes.crash_repeat {
        let id = format!("crashy{i}");
        let before = host.children();
        host.start_provider(&id, par, &[]).await?;
        host.event_for("health_check_passed", &id, WAIT).await?;
        let Some(pid) = host
            .children()
            .into_iter()
            .find(|pid| !before.contains(pid))
        else {
            return Ok(Err("no new provider process found under the host".into()));
        };
        let killed = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )?;
        match host
            .event_for("health_check_passed", &id, Duration::from_secs(40))
            .await
        {
            Ok(_) => samples.push(ms(killed.elapsed())),
            Err(_) => {
                host.stop().await;
                return Ok(Err("no health_check_passed within 40 s of the crash".into()));
            }
        }
    }
    host.stop().await;
    Ok(Ok(samples))
}

/// `link.put` → the provider's link callback, and `config.put` → its config callback.
pub(crate) async fn propagation(
    command: &str,
    par: &Path,
    sizes: &Sizes,
) -> anyhow::Result<(Samples, Samples)> {
    let mut host = HostUnderTest::start(command).await?;
    host.ctl(host.subjects.config_put("benchcfg"), json!({"N": "start"}))
        .await?;
    host.start_provider("prop", par, &["benchcfg"]).await?;
    host.event_for("health_check_passed", "prop", WAIT).await?;
    let mut seen = host.nats.subscribe("oracle.prop.seen").await?;
    lattice_nats::server_round_trip(&host.nats)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut next_seen = async |want: &dyn Fn(&serde_json::Value) -> bool| -> anyhow::Result<()> {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), seen.next())
                .await?
                .ok_or_else(|| anyhow::anyhow!("closed"))?;
            let value: serde_json::Value = serde_json::from_slice(&message.payload)?;
            if want(&value) {
                return Ok(());
            }
        }
    };
    let mut links = Vec::new();
    for i in 0..sizes.repeat {
        let source = format!("comp{i}");
        let link = json!({"source_id": source, "target": "prop", "wit_namespace": "wasi", "wit_package": "keyvalue", "interfaces": ["store"]});
        let sent = Instant::now();
        host.ctl(host.subjects.link_put(), link).await?;
        next_seen(&|v| v["kind"] == "link_put" && v["source_id"] == source.as_str()).await?;
        links.push(ms(sent.elapsed()));
    }
    let mut configs = Vec::new();
    for i in 0..sizes.repeat {
        let value = format!("v{i}");
        let sent = Instant::now();
        host.ctl(host.subjects.config_put("benchcfg"), json!({"N": value}))
            .await?;
        let got = next_seen(&|v| v["kind"] == "config" && v["config"]["N"] == value.as_str()).await;
        if got.is_err() {
            host.stop().await;
            return Ok((Ok(links), Err("no config callback within 10 s".into())));
        }
        configs.push(ms(sent.elapsed()));
    }
    host.stop().await;
    Ok((Ok(links), Ok(configs)))
}

/// Host memory per provider started from one archive, and from distinct archives.
pub(crate) struct ArchivesResult {
    pub(crate) n: usize,
    pub(crate) archive_bytes: u64,
    pub(crate) one_archive: PerProvider,
    pub(crate) distinct_archives: PerProvider,
}

/// A host's memory growth per provider, in bytes.
pub(crate) struct PerProvider {
    /// Resident memory (RSS): with the pages of the host's binary that the first starts
    /// touch, paid once per host and shared with every process of that binary.
    pub(crate) rss: f64,
    /// Resident anonymous memory (`RssAnon`): what the host allocated for them (held
    /// archives, buffers, state).
    pub(crate) anon: f64,
    /// Resident memory per provider after the first: what each further one costs, once
    /// the first start has paged in the host's code for starts.
    pub(crate) rss_further: f64,
}

/// Host memory growth per provider while `pars.len()` providers run (each from its own
/// entry of `pars`), on a fresh host, once all are healthy.
async fn memory_per_provider(command: &str, pars: &[&Path]) -> anyhow::Result<PerProvider> {
    let mut host = HostUnderTest::start(command).await?;
    let (idle, idle_anon) = (host.rss()?, host.rss_anon()?);
    // The first alone (it pages in the host's code for starts), then the rest.
    let (first, rest) = anyhow::Context::context(pars.split_first(), "at least one archive")?;
    host.start_provider("a0", first, &[]).await?;
    all_healthy(&mut host, 1).await?;
    let first_rss = host.rss()?;
    for (i, par) in rest.iter().enumerate() {
        host.start_provider(&format!("a{}", i + 1), par, &[])
            .await?;
    }
    all_healthy(&mut host, rest.len()).await?;
    let (loaded, loaded_anon) = (host.rss()?, host.rss_anon()?);
    host.stop().await;
    let n = pars.len() as f64;
    Ok(PerProvider {
        rss: loaded.saturating_sub(idle) as f64 / n,
        anon: loaded_anon.saturating_sub(idle_anon) as f64 / n,
        rss_further: loaded.saturating_sub(first_rss) as f64 / (n - 1.0).max(1.0),
    })
}

/// Waits for `count` first `health_check_passed` events, in whatever order they come.
async fn all_healthy(host: &mut HostUnderTest, count: usize) -> anyhow::Result<()> {
    let mut healthy = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while healthy.len() < count {
        let Ok(event) = tokio::time::timeout_at(deadline, host.events.next_event()).await else {
            anyhow::bail!(
                "not all healthy within {WAIT:?}: {} of {count}",
                healthy.len()
            );
        };
        let event = event?;
        match event.event_name() {
            "health_check_passed" => {
                healthy.insert(
                    event.data["provider_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            "provider_start_failed" => anyhow::bail!("a provider failed to start: {}", event.data),
            _ => {}
        }
    }
    Ok(())
}

/// Host memory growth per provider: as many providers as `distinct` has archives, first
/// all from the one archive `par`, then (a fresh host) each from its own archive. An
/// archive is streamed to disk while hashed, so the two should be close.
pub(crate) async fn archives(
    command: &str,
    par: &Path,
    distinct: &[std::path::PathBuf],
) -> anyhow::Result<ArchivesResult> {
    let n = distinct.len();
    let one_archive = memory_per_provider(command, &vec![par; n]).await?;
    let each: Vec<&Path> = distinct.iter().map(|p| p.as_path()).collect();
    let distinct_archives = memory_per_provider(command, &each).await?;
    Ok(ArchivesResult {
        n,
        archive_bytes: std::fs::metadata(&distinct[0])?.len(),
        one_archive,
        distinct_archives,
    })
}

/// What one scale step measured.
pub(crate) struct ScaleResult {
    pub(crate) n: usize,
    pub(crate) idle_rss: u64,
    /// What of `idle_rss` the host allocated (`RssAnon`): the rest is file pages, most of
    /// them the host binary's own code.
    pub(crate) idle_anon: u64,
    pub(crate) all_healthy_ms: f64,
    pub(crate) per_provider_bytes: f64,
    pub(crate) idle_cpu_percent: f64,
    pub(crate) host_get_ms: Vec<f64>,
    pub(crate) healthy: usize,
}

/// N providers on one host: time until all are healthy, host memory growth per
/// provider, host CPU while idle, `host.get` latency.
pub(crate) async fn scale(
    command: &str,
    par: &Path,
    n: usize,
    sizes: &Sizes,
) -> anyhow::Result<ScaleResult> {
    let mut host = HostUnderTest::start(command).await?;
    let (idle_rss, idle_anon) = (host.rss()?, host.rss_anon()?);
    let started = Instant::now();
    let ids: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    futures::stream::iter(&ids)
        .map(|id| host.start_provider(id, par, &[]))
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut healthy = std::collections::HashSet::new();
    let mut failed = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120 + n as u64 / 5);
    while healthy.len() + failed.len() < n {
        let Ok(Ok(event)) = tokio::time::timeout_at(deadline, host.events.next_event()).await
        else {
            break;
        };
        let id = event.data["provider_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match event.event_name() {
            "health_check_passed" => {
                healthy.insert(id);
            }
            "provider_start_failed" => {
                eprintln!("  {id} failed to start: {}", event.data["error"]);
                failed.insert(id);
            }
            _ => {}
        }
    }
    let all_healthy_ms = ms(started.elapsed());
    let loaded_rss = host.rss()?;
    let ticks_before = host.cpu_ticks()?;
    let window = Instant::now();
    tokio::time::sleep(sizes.idle_window).await; // the idle window is what is measured
    let ticks = host.cpu_ticks()? - ticks_before;
    let ticks_per_second =
        nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.unwrap_or(100) as f64;
    let idle_cpu_percent =
        100.0 * (ticks as f64 / ticks_per_second) / window.elapsed().as_secs_f64();
    let mut host_get_ms = Vec::new();
    for _ in 0..20 {
        let sent = Instant::now();
        host.ctl(
            host.subjects.host_get(&host.host_id),
            serde_json::Value::Null,
        )
        .await?;
        host_get_ms.push(ms(sent.elapsed()));
    }
    host.stop().await;
    Ok(ScaleResult {
        n,
        idle_rss,
        idle_anon,
        all_healthy_ms,
        per_provider_bytes: (loaded_rss.saturating_sub(idle_rss)) as f64 / n as f64,
        idle_cpu_percent,
        host_get_ms,
        healthy: healthy.len(),
    })
}

/// Concurrent `link.put` and `config.put` per second through one host.
pub(crate) async fn throughput(command: &str, sizes: &Sizes) -> anyhow::Result<(f64, f64)> {
    let host = HostUnderTest::start(command).await?;
    let n = sizes.throughput_requests;
    let started = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let link = json!({"source_id": format!("src{}", i % 50), "target": format!("t{i}"), "name": format!("l{i}"),
                "wit_namespace": "wasi", "wit_package": "keyvalue", "interfaces": ["store"]});
            host.ctl(host.subjects.link_put(), link)
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let links_per_second = n as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            host.ctl(
                host.subjects.config_put(&format!("cfg{i}")),
                json!({"K": "V"}),
            )
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let configs_per_second = n as f64 / started.elapsed().as_secs_f64();
    host.stop().await;
    Ok((links_per_second, configs_per_second))
}
