//! One host under test: its own `nats-server` (JetStream, free port), the host started
//! by a shell command and configured only through the official host's `WASMCLOUD_*`
//! variables, and helpers to drive it over the control interface and watch its events.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use lattice_client::{ClientError, ClientOptions, CtlClient, EventStream};
use lattice_host::nats_server::{NatsServer, NatsServerConfig, find_nats_server};
use lattice_proto::ctl::StartProviderCommand;
use lattice_proto::events::CloudEvent;
use lattice_proto::subjects::CtlSubjects;
use serde_json::Value;
use tokio::process::{Child, Command};

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
    _server: NatsServer,
    _store: tempfile::TempDir,
}

impl HostUnderTest {
    /// Starts a NATS server and `command` against it; returns once the host answers a ping.
    pub(crate) async fn start(command: &str) -> anyhow::Result<Self> {
        let store = tempfile::tempdir()?;
        let server = NatsServer::start(&NatsServerConfig::loopback(
            find_nats_server(None)?,
            Some(store.path().into()),
        ))
        .await?;
        let nats = async_nats::connect(server.url()).await?;
        let events = EventStream::subscribe(&nats, LATTICE).await?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("exec {command}"))
            .env("WASMCLOUD_NATS_HOST", "127.0.0.1")
            .env("WASMCLOUD_NATS_PORT", server.port().to_string())
            .env("WASMCLOUD_LATTICE", LATTICE)
            .env("WASMCLOUD_ALLOW_FILE_LOAD", "true")
            .env("WASMCLOUD_LOG_LEVEL", "warn")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot run `{command}`"))?;
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
            _server: server,
            _store: store,
        })
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

    pub(crate) async fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

pub(crate) fn rss_of(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .context("VmRSS in status")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb * 1024)
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
