//! Capability providers: loading, launching, supervising and stopping them.
//!
//! The [`ProviderManager`] task owns the table of providers; each provider has one
//! [`supervisor::Supervisor`] task that owns its instance (a child process). Handles
//! talk to both through channels; status is published by each supervisor on a `watch`
//! channel that the table reads for inventory. Supervisors see only their
//! [`SupervisorEnv`] and report their end on a channel the table hands them.
//!
//! A stop is acknowledged as soon as it is under way (the entry shows `stopping`; the
//! end is reported by `provider_stopped`). A start of an ID that is still stopping is
//! accepted and held until the old process is gone, so "stop, then start at once" works
//! and the new process never receives the old one's shutdown request.

mod env;
mod health;
mod host_data;
mod instance;
mod logs;
mod process;
pub mod restart_policy;
mod supervisor;
mod task;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lattice_proto::ctl::ProviderDescription;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use restart_policy::RestartPolicy;

pub(crate) use env::{Inner as SupervisorEnvParts, SupervisorEnv};
pub(crate) use host_data::HostDataTemplate;
pub(crate) use logs::LogBuffer;
use process::OutputSink;
use supervisor::{Supervisor, SupervisorCommand};
pub(crate) use task::ProviderTask;

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
    #[error(transparent)]
    Builtin(#[from] crate::builtins::BuiltinRefused),
}

struct Entry {
    spec: ProviderSpec,
    status: watch::Receiver<ProviderStatus>,
    control: mpsc::Sender<SupervisorCommand>,
    logs: Arc<LogBuffer>,
    /// A stop was asked for; the supervisor is stopping the process.
    stopping: bool,
    /// A start that waits for this entry's process to be gone.
    next: Option<ProviderSpec>,
}

/// A supervisor's last word: it ended, and this host no longer runs its provider.
pub(crate) struct Ended {
    pub(crate) provider_id: String,
    pub(crate) generation: u64,
}

enum Command {
    Start {
        spec: ProviderSpec,
        reply: oneshot::Sender<Result<(), StartRefused>>,
    },
    Stop {
        provider_id: String,
        reply: oneshot::Sender<bool>,
    },
    Inventory {
        reply: oneshot::Sender<Vec<ProviderDescription>>,
    },
    Logs {
        provider_id: String,
        reply: oneshot::Sender<Option<Arc<LogBuffer>>>,
    },
}

/// A handle to the provider table's owner task.
#[derive(Clone)]
pub(crate) struct ProviderManager {
    tx: mpsc::Sender<Command>,
}

impl ProviderManager {
    /// Spawns the owner (tracked on `tracker`); supervisors run on `tracker` with `env`
    /// and stop when `token` is cancelled.
    pub(crate) fn spawn(
        env: SupervisorEnv,
        tracker: TaskTracker,
        token: CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::channel(256);
        let table = Table {
            env,
            tracker: tracker.clone(),
            token,
            entries: HashMap::new(),
            generation: 0,
        };
        // The table lives as long as a handle does (inventory is read while the host
        // stops), so it is not on the tracker that shutdown waits for; the
        // supervisors it launches are.
        tokio::spawn(table.run(rx));
        ProviderManager { tx }
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        crate::actor::ask(&self.tx, make).await.ok()
    }

    /// Registers the provider and starts its supervisor; refuses a running ID. An ID
    /// that is stopping is started once its process is gone.
    pub(crate) async fn start(&self, spec: ProviderSpec) -> Result<(), StartRefused> {
        self.ask(|reply| Command::Start { spec, reply })
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
        self.inventory().await.iter().any(|p| {
            p.id == provider_id && p.state.as_deref() != Some(ProviderState::Stopping.as_str())
        })
    }

    /// Inventory entries of every provider.
    pub(crate) async fn inventory(&self) -> Vec<ProviderDescription> {
        self.ask(|reply| Command::Inventory { reply })
            .await
            .unwrap_or_default()
    }

    /// How many providers are in each supervision state (`running`, `crash_loop`, …).
    pub(crate) async fn states(&self) -> Vec<(String, i64)> {
        let mut states: Vec<(String, i64)> = Vec::new();
        for provider in self.inventory().await {
            let state = provider.state.unwrap_or_default();
            match states.iter_mut().find(|(s, _)| *s == state) {
                Some((_, count)) => *count += 1,
                None => states.push((state, 1)),
            }
        }
        states
    }

    /// The output buffer of a provider.
    pub(crate) async fn logs(&self, provider_id: &str) -> Option<Arc<LogBuffer>> {
        let provider_id = provider_id.to_string();
        self.ask(|reply| Command::Logs { provider_id, reply })
            .await
            .flatten()
    }
}

/// The provider table and what it launches supervisors with.
struct Table {
    env: SupervisorEnv,
    tracker: TaskTracker,
    token: CancellationToken,
    entries: HashMap<String, Entry>,
    generation: u64,
}

impl Table {
    #[tracing::instrument(name = "provider_table", skip_all)]
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let (ended_tx, mut ended) = mpsc::unbounded_channel();
        loop {
            tokio::select! {
                // An end is taken before any command that follows it: a supervisor
                // reports its end before it publishes `provider_stopped`, so a tool that
                // reacts to the event finds the entry gone.
                biased;
                Some(end) = ended.recv() => self.ended(end, &ended_tx),
                command = commands.recv() => match command {
                    Some(command) => self.handle(command, &ended_tx),
                    None => return,
                },
            }
        }
    }

    fn handle(&mut self, command: Command, ended: &mpsc::UnboundedSender<Ended>) {
        match command {
            Command::Start { mut spec, reply } => {
                if self.token.is_cancelled() {
                    let _ = reply.send(Err(StartRefused::ShuttingDown));
                    return;
                }
                if let Err(refused) = self.env.builtins.settings.check(&spec.provider_ref) {
                    let _ = reply.send(Err(refused.into()));
                    return;
                }
                self.generation += 1;
                spec.generation = self.generation;
                match self.entries.get_mut(&spec.provider_id) {
                    Some(existing) if existing.stopping && existing.next.is_none() => {
                        existing.next = Some(spec);
                    }
                    Some(_) => {
                        let _ = reply.send(Err(StartRefused::AlreadyRunning));
                        return;
                    }
                    None => self.launch(spec, ended),
                }
                let _ = reply.send(Ok(()));
            }
            Command::Stop { provider_id, reply } => {
                let found = match self.entries.get_mut(&provider_id) {
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
            Command::Inventory { reply } => {
                let mut list: Vec<_> = self.entries.values().map(Entry::description).collect();
                list.sort_by(|a, b| a.id.cmp(&b.id));
                let _ = reply.send(list);
            }
            Command::Logs { provider_id, reply } => {
                let _ = reply.send(self.entries.get(&provider_id).map(|e| e.logs.clone()));
            }
        }
    }

    /// A supervisor ended: drop its entry (unless it was replaced meanwhile) and start
    /// what waited for it.
    fn ended(&mut self, end: Ended, ended: &mpsc::UnboundedSender<Ended>) {
        let current = self
            .entries
            .get(&end.provider_id)
            .is_some_and(|e| e.spec.generation == end.generation);
        if !current {
            return;
        }
        if let Some(entry) = self.entries.remove(&end.provider_id)
            && let Some(spec) = entry.next
            && !self.token.is_cancelled()
        {
            self.launch(spec, ended);
        }
    }

    fn launch(&mut self, spec: ProviderSpec, ended: &mpsc::UnboundedSender<Ended>) {
        let env = &self.env;
        let (status_tx, status_rx) = watch::channel(ProviderStatus::default());
        let (control_tx, control_rx) = mpsc::channel(4);
        let logs = Arc::new(LogBuffer::new(env.settings.log_lines));
        let follow = lattice_proto::subjects::log_lines(
            &env.ctl_prefix,
            &env.host_data.lattice,
            env.host_id(),
            &spec.provider_id,
        );
        let sink = Arc::new(OutputSink::new(logs.clone(), env.ctl.clone(), follow));
        let restarts = restart_policy::RestartTracker::new(env.settings.restart.clone());
        let xkey = nkeys::XKey::new();
        let supervisor = Supervisor {
            env: env.clone(),
            spec: spec.clone(),
            xkey_seed: xkey.seed().expect("new xkeys have seeds"),
            xkey_public: xkey.public_key(),
            status: status_tx,
            commands: control_rx,
            ended: ended.clone(),
            token: self.token.child_token(),
            sink,
            restarts,
            health: Default::default(),
        };
        self.tracker.spawn(supervisor.run());
        let entry = Entry {
            spec,
            status: status_rx,
            control: control_tx,
            logs,
            stopping: false,
            next: None,
        };
        self.entries.insert(entry.spec.provider_id.clone(), entry);
    }
}

impl Entry {
    /// The inventory entry.
    fn description(&self) -> ProviderDescription {
        let status = self.status.borrow();
        ProviderDescription {
            id: self.spec.provider_id.clone(),
            image_ref: Some(
                lattice_proto::reference::without_scheme(&self.spec.provider_ref).to_string(),
            ),
            name: status.name.clone(),
            revision: status.revision,
            annotations: (!self.spec.annotations.is_empty()).then(|| self.spec.annotations.clone()),
            state: Some(status.state.as_str().to_string()),
            healthy: status.healthy,
            restarts: Some(status.restarts),
            last_exit: status.last_exit.clone(),
            pid: status.pid,
        }
    }
}
