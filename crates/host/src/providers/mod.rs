//! Capability providers: loading, launching, supervising and stopping them.
//!
//! The [`ProviderManager`] task owns the table of providers; each provider has one
//! [`supervisor::Supervisor`] task that owns its process. Handles talk to both through
//! channels; status is published by each supervisor on a `watch` channel that the table
//! reads for inventory.
//!
//! A stop is acknowledged as soon as it is under way (the entry shows `stopping`; the
//! end is reported by `provider_stopped`). A start of an ID that is still stopping is
//! accepted and held until the old process is gone, so "stop, then start at once" works
//! and the new process never receives the old one's shutdown request.

mod claims;
mod health;
mod host_data;
mod logs;
mod par;
mod process;
mod reference;
pub mod restart_policy;
mod supervisor;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lattice_proto::ctl::ProviderDescription;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use restart_policy::RestartPolicy;

use crate::HostContext;
pub(crate) use logs::LogBuffer;
use process::OutputSink;
pub(crate) use reference::can_load;
use supervisor::{Supervisor, SupervisorCommand};

/// How providers are supervised.
#[derive(Clone, Debug)]
pub struct ProviderSettings {
    /// When to restart a provider that exited.
    pub restart: RestartPolicy,
    /// Time between health checks once a provider has answered (default 30 s).
    pub health_interval: Duration,
    /// Restart a provider after this many failed or unanswered health checks in a row
    /// (default 3); `None` never restarts for health.
    pub health_failures: Option<u32>,
    /// How long a provider has to exit after the shutdown request (default 1 s).
    pub shutdown_grace: Duration,
    /// How long after SIGTERM before SIGKILL (default 500 ms). With the defaults, the
    /// whole staged stop of a provider that ignores the request takes 1.5 s: it fits in
    /// the 2 s that wash and the official client wait for `provider_stopped`.
    pub term_grace: Duration,
    /// Output lines kept per provider (default 1000).
    pub log_lines: usize,
    /// Where provider archives are unpacked (default `{tmp}/lattice-cache`).
    pub cache_dir: PathBuf,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        ProviderSettings {
            restart: RestartPolicy::default(),
            health_interval: Duration::from_secs(30),
            health_failures: Some(3),
            shutdown_grace: Duration::from_secs(1),
            term_grace: Duration::from_millis(500),
            log_lines: 1000,
            cache_dir: std::env::temp_dir().join("lattice-cache"),
        }
    }
}

/// What a start command asks for.
#[derive(Clone, Debug)]
pub(crate) struct ProviderSpec {
    pub(crate) provider_id: String,
    pub(crate) provider_ref: String,
    pub(crate) config: Vec<String>,
    pub(crate) annotations: BTreeMap<String, String>,
    /// Distinguishes a replaced entry's supervisor from its successor.
    pub(crate) generation: u64,
}

/// Supervision states. `Stopped` and `Failed` end the supervisor, whose entry then
/// leaves the table (and inventory and heartbeats with it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ProviderState {
    #[default]
    Starting,
    Running,
    /// It keeps exiting and waits out a backoff before its next start.
    CrashLoop,
    Stopping,
    Stopped,
    /// It gave up after the user's restart limit.
    Failed,
}

impl ProviderState {
    fn as_str(self) -> &'static str {
        match self {
            ProviderState::Starting => "starting",
            ProviderState::Running => "running",
            ProviderState::CrashLoop => "crash_loop",
            ProviderState::Stopping => "stopping",
            ProviderState::Stopped => "stopped",
            ProviderState::Failed => "failed",
        }
    }
}

/// What a supervisor reports about its provider.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProviderStatus {
    pub(crate) state: ProviderState,
    pub(crate) healthy: Option<bool>,
    pub(crate) restarts: u32,
    pub(crate) last_exit: Option<String>,
    pub(crate) pid: Option<u32>,
    pub(crate) name: Option<String>,
    pub(crate) revision: i32,
}

/// Why a start was refused at once.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartRefused {
    #[error("provider with that ID is already running")]
    AlreadyRunning,
    #[error("the host is shutting down")]
    ShuttingDown,
}

struct Entry {
    spec: ProviderSpec,
    status: watch::Receiver<ProviderStatus>,
    control: mpsc::Sender<SupervisorCommand>,
    logs: Arc<LogBuffer>,
    /// A stop was asked for; the supervisor is stopping the process.
    stopping: bool,
    /// A start that waits for this entry's process to be gone.
    next: Option<(Arc<HostContext>, ProviderSpec)>,
}

enum Command {
    Start {
        ctx: Arc<HostContext>,
        spec: ProviderSpec,
        reply: oneshot::Sender<Result<(), StartRefused>>,
    },
    Stop {
        provider_id: String,
        reply: oneshot::Sender<bool>,
    },
    Describe {
        reply: oneshot::Sender<Vec<ProviderDescription>>,
    },
    Logs {
        provider_id: String,
        reply: oneshot::Sender<Option<Arc<LogBuffer>>>,
    },
    Finished {
        provider_id: String,
        generation: u64,
    },
}

/// A handle to the provider table's owner task.
#[derive(Clone)]
pub(crate) struct ProviderManager {
    tx: mpsc::Sender<Command>,
    /// Serializes unpacking provider archives (see `reference::LoadSettings`).
    pub(crate) unpack_lock: Arc<tokio::sync::Mutex<()>>,
}

impl ProviderManager {
    /// Spawns the owner; supervisors run on `tracker` and stop when `token` is cancelled.
    pub(crate) fn spawn(tracker: TaskTracker, token: CancellationToken) -> Self {
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(own_table(rx, tracker, token));
        ProviderManager {
            tx,
            unpack_lock: Default::default(),
        }
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        crate::actor::ask(&self.tx, make).await.ok()
    }

    /// Registers the provider and starts its supervisor; refuses a running ID. An ID
    /// that is stopping is started once its process is gone.
    pub(crate) async fn start(
        &self,
        ctx: Arc<HostContext>,
        spec: ProviderSpec,
    ) -> Result<(), StartRefused> {
        self.ask(|reply| Command::Start { ctx, spec, reply })
            .await
            .unwrap_or(Err(StartRefused::ShuttingDown))
    }

    /// Asks the provider to stop; `false` if it does not run here. The supervisor
    /// publishes `provider_stopped` when the process is gone.
    pub(crate) async fn stop(&self, provider_id: &str) -> bool {
        let provider_id = provider_id.to_string();
        self.ask(|reply| Command::Stop { provider_id, reply })
            .await
            .unwrap_or(false)
    }

    /// Whether a provider with this ID runs here (and is not being stopped).
    pub(crate) async fn is_running(&self, provider_id: &str) -> bool {
        self.describe().await.iter().any(|p| {
            p.id == provider_id && p.state.as_deref() != Some(ProviderState::Stopping.as_str())
        })
    }

    /// Inventory entries of every provider.
    pub(crate) async fn describe(&self) -> Vec<ProviderDescription> {
        self.ask(|reply| Command::Describe { reply })
            .await
            .unwrap_or_default()
    }

    /// The output buffer of a provider.
    pub(crate) async fn logs(&self, provider_id: &str) -> Option<Arc<LogBuffer>> {
        let provider_id = provider_id.to_string();
        self.ask(|reply| Command::Logs { provider_id, reply })
            .await
            .flatten()
    }

    /// A supervisor ended: drop its entry (unless it was replaced meanwhile).
    pub(crate) async fn finished(&self, provider_id: &str, generation: u64) {
        let _ = self
            .tx
            .send(Command::Finished {
                provider_id: provider_id.to_string(),
                generation,
            })
            .await;
    }
}

async fn own_table(
    mut rx: mpsc::Receiver<Command>,
    tracker: TaskTracker,
    token: CancellationToken,
) {
    let mut table: HashMap<String, Entry> = HashMap::new();
    let mut generation = 0u64;
    while let Some(command) = rx.recv().await {
        match command {
            Command::Start {
                ctx,
                mut spec,
                reply,
            } => {
                if token.is_cancelled() {
                    let _ = reply.send(Err(StartRefused::ShuttingDown));
                    continue;
                }
                generation += 1;
                spec.generation = generation;
                match table.get_mut(&spec.provider_id) {
                    Some(existing) if existing.stopping && existing.next.is_none() => {
                        existing.next = Some((ctx, spec));
                    }
                    Some(_) => {
                        let _ = reply.send(Err(StartRefused::AlreadyRunning));
                        continue;
                    }
                    None => {
                        let entry = launch(ctx, spec, &tracker, &token);
                        table.insert(entry.spec.provider_id.clone(), entry);
                    }
                }
                let _ = reply.send(Ok(()));
            }
            Command::Stop { provider_id, reply } => {
                let found = match table.get_mut(&provider_id) {
                    // A second stop also cancels a start waiting for the first.
                    Some(entry) if entry.stopping => entry.next.take().is_some(),
                    Some(entry) => {
                        entry.stopping = true;
                        let _ = entry.control.try_send(SupervisorCommand::Stop);
                        true
                    }
                    None => false,
                };
                let _ = reply.send(found);
            }
            Command::Describe { reply } => {
                let mut list: Vec<_> = table.values().map(describe).collect();
                list.sort_by(|a, b| a.id.cmp(&b.id));
                let _ = reply.send(list);
            }
            Command::Logs { provider_id, reply } => {
                let _ = reply.send(table.get(&provider_id).map(|e| e.logs.clone()));
            }
            Command::Finished {
                provider_id,
                generation,
            } => {
                if table
                    .get(&provider_id)
                    .is_some_and(|e| e.spec.generation == generation)
                    && let Some(ended) = table.remove(&provider_id)
                    && let Some((ctx, spec)) = ended.next
                    && !token.is_cancelled()
                {
                    let entry = launch(ctx, spec, &tracker, &token);
                    table.insert(entry.spec.provider_id.clone(), entry);
                }
            }
        }
    }
}

fn launch(
    ctx: Arc<HostContext>,
    spec: ProviderSpec,
    tracker: &TaskTracker,
    token: &CancellationToken,
) -> Entry {
    let (status_tx, status_rx) = watch::channel(ProviderStatus::default());
    let (control_tx, control_rx) = mpsc::channel(4);
    let logs = Arc::new(LogBuffer::new(ctx.config.providers.log_lines));
    let follow = lattice_proto::subjects::log_lines(
        &ctx.config.ctl_prefix,
        &ctx.config.lattice,
        &ctx.identity.id,
        &spec.provider_id,
    );
    let sink = Arc::new(OutputSink::new(logs.clone(), ctx.ctl.clone(), follow));
    let restarts = restart_policy::RestartTracker::new(ctx.config.providers.restart.clone());
    let xkey = nkeys::XKey::new();
    let supervisor = Supervisor {
        ctx,
        spec: spec.clone(),
        xkey_seed: xkey.seed().expect("new xkeys have seeds"),
        xkey_public: xkey.public_key(),
        status: status_tx,
        commands: control_rx,
        token: token.child_token(),
        sink,
        restarts,
        health: Default::default(),
    };
    tracker.spawn(supervisor.run());
    Entry {
        spec,
        status: status_rx,
        control: control_tx,
        logs,
        stopping: false,
        next: None,
    }
}

fn describe(entry: &Entry) -> ProviderDescription {
    let status = entry.status.borrow();
    ProviderDescription {
        id: entry.spec.provider_id.clone(),
        image_ref: Some(
            lattice_proto::reference::without_scheme(&entry.spec.provider_ref).to_string(),
        ),
        name: status.name.clone(),
        revision: status.revision,
        annotations: (!entry.spec.annotations.is_empty()).then(|| entry.spec.annotations.clone()),
        state: Some(status.state.as_str().to_string()),
        healthy: status.healthy,
        restarts: Some(status.restarts),
        last_exit: status.last_exit.clone(),
        pid: status.pid,
    }
}
