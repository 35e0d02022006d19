//! One host under test: its own `nats-server` (JetStream, free port), the host started
//! by a shell command and configured only through the official host's `WASMCLOUD_*`
//! variables (and, for the component scenarios, `LATTICE_DATA_DIR`, which only lattice
//! reads: it places the compile cache), and helpers to drive it over the control
//! interface and watch its events.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use lattice_client::{ClientError, ClientOptions, CtlClient, EventStream};
use lattice_proto::ctl::StartProviderCommand;
use lattice_proto::events::CloudEvent;
use lattice_proto::subjects::CtlSubjects;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::nats::NatsServer;

pub(crate) const LATTICE: &str = "bench";

/// How long any one control request may take.
const CTL_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) struct HostUnderTest {
    pub(crate) nats: async_nats::Client,
    pub(crate) subjects: CtlSubjects,
    pub(crate) host_id: String,
    pub(crate) pid: u32,
    pub(crate) events: EventStream,
    client: CtlClient,
    child: Child,
    data_dir: Option<PathBuf>,
    env: Vec<(&'static str, &'static str)>,
    server: NatsServer,
    _store: tempfile::TempDir,
}

impl HostUnderTest {
    /// Starts a NATS server and `command` against it; returns once the host answers a ping.
    pub(crate) async fn start(command: &str) -> anyhow::Result<Self> {
        Self::start_with(command, None, &[]).await
    }

    /// As [`start`](Self::start); with `data_dir`, the host gets `LATTICE_DATA_DIR` (where
    /// lattice keeps its compile cache, `{data_dir}/compiled`; other hosts ignore it), and
    /// `env` (official `WASMCLOUD_*` variables) on top of the usual ones.
    pub(crate) async fn start_with(
        command: &str,
        data_dir: Option<&Path>,
        env: &[(&'static str, &'static str)],
    ) -> anyhow::Result<Self> {
        let store = tempfile::tempdir()?;
        let server = NatsServer::start(store.path()).await?;
        let nats = async_nats::connect(server.url()).await?;
        let events = EventStream::subscribe(&nats, LATTICE).await?;
        let child = spawn_host(command, server.port(), data_dir, env)?;
        let pid = child.id().context("the host has a pid")?;
        let options = ClientOptions {
            lattice: LATTICE.to_string(),
            timeout: CTL_TIMEOUT,
            ..ClientOptions::new(server.url())
        };
        let client = CtlClient::new(nats.clone(), &options);
        let subjects = client.subjects().clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        let host_id = loop {
            if Instant::now() > deadline {
                bail!("`{command}` did not answer a ping within 60 s");
            }
            let ping = lattice_client::request::<Value>(
                &nats,
                subjects.host_ping(),
                Vec::new(),
                Duration::from_millis(500),
            );
            match ping.await {
                Ok(reply) => {
                    break reply
                        .response
                        .as_ref()
                        .and_then(|r| r["id"].as_str())
                        .context("ping names the host")?
                        .to_string();
                }
                Err(ClientError::Undecodable { reason, .. }) => {
                    bail!("`{command}` answered a ping with an undecodable reply: {reason}")
                }
                // No responders (or no reply) yet: the host is still starting.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        Ok(HostUnderTest {
            nats,
            subjects,
            host_id,
            pid,
            events,
            client,
            child,
            data_dir: data_dir.map(Path::to_path_buf),
            env: env.to_vec(),
            server,
            _store: store,
        })
    }

    /// The NATS URL the host and the harness use.
    pub(crate) fn nats_url(&self) -> &str {
        self.server.url()
    }

    /// `component.scale` of `reference` (a file) as `id` with `count` on this host.
    pub(crate) async fn scale_component(
        &self,
        id: &str,
        reference: &Path,
        count: u32,
    ) -> anyhow::Result<()> {
        self.scale_component_on(&self.host_id, id, reference, count)
            .await
    }

    /// [`scale_component`](Self::scale_component) on the host `host_id` of the lattice.
    pub(crate) async fn scale_component_on(
        &self,
        host_id: &str,
        id: &str,
        reference: &Path,
        count: u32,
    ) -> anyhow::Result<()> {
        let body = serde_json::json!({
            "component_id": id,
            "component_ref": format!("file://{}", reference.display()),
            "count": count,
            "host_id": host_id,
        });
        self.ctl(self.subjects.component_scale(host_id), body)
            .await?;
        Ok(())
    }

    /// Waits for `component_scaled` of `id` with `count` (failing on
    /// `component_scale_failed` for `id`, with the host's error).
    pub(crate) async fn component_scaled(
        &mut self,
        id: &str,
        count: u32,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.next_event())
                .await
                .with_context(|| format!("no component_scaled for {id} within {timeout:?}"))??;
            if event.data["component_id"] != id {
                continue;
            }
            match event.event_name() {
                "component_scaled" if event.data["max_instances"] == count => return Ok(()),
                "component_scale_failed" => {
                    bail!("component_scale_failed for {id}: {}", event.data["error"])
                }
                _ => {}
            }
        }
    }

    /// A control request; fails unless the reply says success.
    pub(crate) async fn ctl(&self, subject: String, body: Value) -> anyhow::Result<Value> {
        let payload = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body)?
        };
        let reply =
            lattice_client::request::<Value>(&self.nats, subject.clone(), payload, CTL_TIMEOUT)
                .await
                .with_context(|| format!("no reply on {subject}"))?;
        if !reply.success {
            bail!("{subject}: {:?}", reply.message);
        }
        Ok(serde_json::to_value(reply)?)
    }

    pub(crate) async fn start_provider(
        &self,
        id: &str,
        par: &Path,
        config: &[&str],
    ) -> anyhow::Result<()> {
        let command = StartProviderCommand {
            provider_id: id.to_string(),
            provider_ref: format!("file://{}", par.display()),
            host_id: self.host_id.clone(),
            config: config.iter().map(|c| c.to_string()).collect(),
            annotations: None,
        };
        self.client.start_provider(&command).await?;
        Ok(())
    }

    pub(crate) async fn stop_provider(&self, id: &str) -> anyhow::Result<()> {
        self.client.stop_provider(&self.host_id, id).await?;
        Ok(())
    }

    /// Waits for the next event named `name` for provider `id`.
    pub(crate) async fn event_for(
        &mut self,
        name: &str,
        id: &str,
        timeout: Duration,
    ) -> anyhow::Result<CloudEvent> {
        let for_id = |event: &CloudEvent| event.data["provider_id"] == id;
        self.events
            .wait_for(name, for_id, timeout)
            .await
            .with_context(|| format!("no {name} for {id} within {timeout:?}"))
    }

    /// Resident memory of the host process, in bytes.
    pub(crate) fn rss(&self) -> anyhow::Result<u64> {
        rss_of(self.pid)
    }

    /// Resident anonymous memory of the host process (`RssAnon`: what it allocated, not
    /// the pages of its binary and libraries), in bytes.
    pub(crate) fn rss_anon(&self) -> anyhow::Result<u64> {
        status_kib(self.pid, "RssAnon:").map(|kib| kib * 1024)
    }

    /// User + system CPU time of the host process, in clock ticks.
    pub(crate) fn cpu_ticks(&self) -> anyhow::Result<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .context("stat format")?
            .1
            .split_whitespace()
            .collect();
        Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
    }

    /// Process IDs of the host's children (its providers).
    pub(crate) fn children(&self) -> Vec<u32> {
        children_of(self.pid)
    }

    /// Stops the host and starts `command` again with the same data directory (and a
    /// fresh NATS server).
    pub(crate) async fn restart(self, command: &str) -> anyhow::Result<Self> {
        let (data_dir, env) = (self.data_dir.clone(), self.env.clone());
        self.stop().await;
        Self::start_with(command, data_dir.as_deref(), &env).await
    }

    pub(crate) async fn stop(self) {
        stop_host(self.pid, self.child).await;
    }

    /// Starts `command` as a second host on this host's NATS server and lattice (with a
    /// data directory of its own); returns once the lattice lists it.
    pub(crate) async fn start_beside(&self, command: &str) -> anyhow::Result<HostBeside> {
        let dir = tempfile::tempdir()?;
        let child = spawn_host(command, self.server.port(), Some(dir.path()), &self.env)?;
        let pid = child.id().context("the host has a pid")?;
        // Pings gathered for half a second at a time.
        let options = ClientOptions {
            lattice: LATTICE.to_string(),
            timeout: Duration::from_millis(500),
            ..ClientOptions::new(self.server.url())
        };
        let pinger = CtlClient::new(self.nats.clone(), &options);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if Instant::now() > deadline {
                bail!("`{command}` beside the first host did not answer a ping within 60 s");
            }
            let hosts = pinger.hosts().await.unwrap_or_default();
            if let Some(host) = hosts.into_iter().find(|h| h.id != self.host_id) {
                return Ok(HostBeside {
                    host_id: host.id,
                    pid,
                    child,
                    _dir: dir,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A second host on the NATS server of a [`HostUnderTest`] (see
/// [`HostUnderTest::start_beside`]).
pub(crate) struct HostBeside {
    pub(crate) host_id: String,
    pid: u32,
    child: Child,
    _dir: tempfile::TempDir,
}

impl HostBeside {
    pub(crate) async fn stop(self) {
        stop_host(self.pid, self.child).await;
    }
}

/// Runs `command` as a host of the bench's lattice on the NATS server at `port`,
/// configured through the official host's variables (and `LATTICE_DATA_DIR`).
fn spawn_host(
    command: &str,
    port: u16,
    data_dir: Option<&Path>,
    env: &[(&'static str, &'static str)],
) -> anyhow::Result<Child> {
    let mut host = Command::new("sh");
    if let Some(dir) = data_dir {
        host.env("LATTICE_DATA_DIR", dir);
    }
    host.envs(env.iter().copied());
    host.arg("-c")
        .arg(format!("exec {command}"))
        .env("WASMCLOUD_NATS_HOST", "127.0.0.1")
        .env("WASMCLOUD_NATS_PORT", port.to_string())
        .env("WASMCLOUD_LATTICE", LATTICE)
        .env("WASMCLOUD_ALLOW_FILE_LOAD", "true")
        .env("WASMCLOUD_LOG_LEVEL", "warn")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run `{command}`"))
}

/// SIGTERM, then up to 30 s for the host to end, then SIGKILL.
async fn stop_host(pid: u32, mut child: Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    if tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

pub(crate) fn rss_of(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS:").map(|kib| kib * 1024)
}

/// A `… kB` line of `/proc/{pid}/status`, in KiB.
fn status_kib(pid: u32, key: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .with_context(|| format!("{key} in status"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib)
}

fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_string))
                })
                .flatten()
                .is_some_and(|ppid| ppid == pid.to_string())
        })
        .collect()
}
