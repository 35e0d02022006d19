//! One supervising task per provider. It owns the provider's process and moves it
//! through explicit states:
//!
//! ```text
//! Starting → Running → (exit | N unanswered health checks) → Starting (at once)
//!                                                          → CrashLoop (backoff) → Starting …
//!          ↘ stop / host shutdown → Stopping → Stopped
//! CrashLoop → (only with a restart limit: too many starts in the window) → Failed
//! ```
//!
//! Health is probed right after spawn and retried quickly until the provider answers,
//! then every interval (±10 % so many providers do not probe together). A provider
//! that answers `healthy: false` is reported, not restarted; one that stops answering
//! is restarted only while the host's own NATS connection is up. Its first answer also
//! re-syncs lattice state: links and config that changed while it was spawning (and so
//! not yet subscribed) are sent again.

mod events;
mod secrets;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lattice_proto::DEFAULT_LINK_NAME;
use lattice_proto::events::{Event, ProviderRestarted, ProviderStartFailed, ProviderStopped};
use lattice_proto::provider::{HealthCheckResponse, ShutdownRequest};
use rand::Rng as _;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::env::SupervisorEnv;
use super::health::{HealthTracker, Probe};
use super::host_data::ProviderBootstrap;
use super::instance::Instance;
use super::process::{EndedBy, OutputSink, ProcessExit, ProviderProcess, describe};
use super::restart_policy::{RestartDecision, RestartTracker};
use super::{Ended, ProviderSpec, ProviderState, ProviderStatus};
use crate::artifacts::{ArtifactError, LoadedProvider};
use crate::lattice::BootstrapError;
use secrets::entity_jwt;

/// What a provider is started from.
enum Launch {
    /// A binary (from an archive or a file).
    Executable(Box<LoadedProvider>),
    /// A builtin provider of the host.
    Builtin(crate::builtins::BuiltinKind),
}

/// Commands a supervisor takes.
pub(crate) enum SupervisorCommand {
    /// Stop the provider (staged) and end.
    Stop,
}

/// Why a provider could not be started (the first time) or restarted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::ResolveError),
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyDenied),
    #[error("cannot run {}: {source}", executable.display())]
    Spawn {
        executable: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Why a provider was restarted (`provider_restarted.reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RestartReason {
    /// Its process ended on its own.
    Exited,
    /// It stopped answering health checks.
    Unhealthy,
}

impl RestartReason {
    fn as_str(self) -> &'static str {
        match self {
            RestartReason::Exited => "exited",
            RestartReason::Unhealthy => "unhealthy",
        }
    }
}

/// Why a provider stopped for good (`provider_stopped.reason`, 1.x's text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StopReason {
    /// A stop was asked for (or the host is stopping).
    Stop,
    /// It gave up after the restart limit.
    Failed,
}

impl StopReason {
    fn as_str(self) -> &'static str {
        match self {
            StopReason::Stop => "stop",
            StopReason::Failed => "failed",
        }
    }
}

/// How a process ended, for events.
struct Exit {
    /// `exit status: 3`, `signal: 9 (SIGKILL)`.
    text: String,
    code: Option<i32>,
    signal: Option<i32>,
}

impl From<ProcessExit> for Exit {
    fn from(exit: ProcessExit) -> Self {
        Exit {
            text: describe(exit),
            code: exit.code(),
            signal: exit.signal(),
        }
    }
}

/// Why watching a running process ended.
enum WatchEnd {
    Exited(ProcessExit),
    Unhealthy,
    Stop,
}

type ProbeFuture = Pin<Box<dyn Future<Output = Probe> + Send>>;

/// Longest pause between health probes of a provider that has not answered yet: it
/// bounds how late a provider that just became ready is seen healthy.
const STARTUP_PROBE_MAX: Duration = Duration::from_millis(25);

/// Longest pause between probes of a provider after the host's connection came back:
/// providers reconnect on their own schedule (the official SDK's backs off to seconds).
const RECONTACT_PROBE_MAX: Duration = Duration::from_millis(100);

pub(crate) struct Supervisor {
    pub(crate) env: SupervisorEnv,
    pub(crate) spec: ProviderSpec,
    pub(crate) xkey_seed: String,
    pub(crate) xkey_public: String,
    pub(crate) status: watch::Sender<ProviderStatus>,
    pub(crate) commands: mpsc::Receiver<SupervisorCommand>,
    /// Where the supervisor reports its end.
    pub(crate) ended: mpsc::UnboundedSender<Ended>,
    pub(crate) token: CancellationToken,
    pub(crate) sink: Arc<OutputSink>,
    pub(crate) restarts: RestartTracker,
    pub(crate) health: HealthTracker,
}

impl Supervisor {
    #[tracing::instrument(skip_all, fields(provider_id = %self.spec.provider_id))]
    pub(crate) async fn run(mut self) {
        let loaded = match self.prepare().await {
            Ok(loaded) => loaded,
            Err(error) => return self.start_failed(error).await,
        };
        let mut first = true;
        loop {
            self.set(|s| s.state = ProviderState::Starting);
            let state = self
                .env
                .lattice
                .bootstrap(
                    &self.spec.provider_id,
                    &self.spec.config,
                    &self.xkey_public,
                    entity_jwt(&loaded),
                )
                .await;
            // Secrets are fetched again for every process (they may have changed).
            let secrets = match &state {
                Ok(_) => self.secrets(&loaded).await,
                Err(_) => Ok(Default::default()),
            };
            let state = match state {
                Ok(state) => Ok(self.seal_links(state, &loaded).await),
                Err(error) => Err(error),
            };
            let spawned = match (state, secrets) {
                (Err(error), _) => Err(StartError::from(error)),
                (Ok(_), Err(error)) => Err(error),
                (Ok(state), Ok(secrets)) => {
                    let mut host_data = self.env.host_data.host_data(ProviderBootstrap {
                        provider_id: &self.spec.provider_id,
                        provider_xkey_seed: &self.xkey_seed,
                        config: state.config,
                        links: state.links,
                    });
                    host_data.secrets = secrets;
                    match &loaded {
                        Launch::Executable(loaded) => {
                            self.spawn(&loaded.executable, host_data.to_stdin_line())
                                .await
                        }
                        Launch::Builtin(kind) => Ok(Instance::Task(crate::builtins::launch(
                            *kind,
                            &self.env.builtins,
                            host_data,
                        ))),
                    }
                }
            };
            let mut instance = match spawned {
                Ok(instance) => instance,
                Err(error) if first => return self.start_failed(error).await,
                Err(error) => {
                    tracing::error!(%error, "cannot restart provider");
                    self.restarts.record_start(Instant::now());
                    let exit = Exit {
                        text: error.to_string(),
                        code: None,
                        signal: None,
                    };
                    match self
                        .after_exit(RestartReason::Exited, exit, Duration::ZERO)
                        .await
                    {
                        true => continue,
                        false => return,
                    }
                }
            };
            self.restarts.record_start(Instant::now());
            let pid = instance.pid();
            self.set(|s| {
                s.state = ProviderState::Running;
                s.pid = pid;
                s.healthy = None;
            });
            if first {
                first = false;
                self.publish_started(&loaded).await;
            }
            tracing::info!(?pid, "provider running");
            let (reason, exit) = match self.watch(&mut instance).await {
                WatchEnd::Stop => return self.stop(&mut instance).await,
                WatchEnd::Exited(status) => (RestartReason::Exited, Exit::from(status)),
                WatchEnd::Unhealthy => {
                    tracing::warn!("provider stopped answering health checks; restarting it");
                    let (status, _) = self.staged_stop(&mut instance).await;
                    (RestartReason::Unhealthy, Exit::from(status))
                }
            };
            if !self.after_exit(reason, exit, instance.ran_for()).await {
                return;
            }
        }
    }

    fn set(&self, change: impl FnOnce(&mut ProviderStatus)) {
        self.status.send_modify(change);
    }

    /// Spawns the provider. A binary unpacked moments ago can be briefly "busy"
    /// (ETXTBSY: a process forked meanwhile still holds the descriptor it was written
    /// through, until that process execs); such spawns are retried.
    async fn spawn(
        &self,
        executable: &std::path::Path,
        line: Vec<u8>,
    ) -> Result<Instance, StartError> {
        const ETXTBSY: i32 = 26;
        let mut attempts = 0;
        loop {
            match ProviderProcess::spawn(executable, line.clone(), self.sink.clone()) {
                Err(e) if e.raw_os_error() == Some(ETXTBSY) && attempts < 50 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(2 * attempts)).await;
                }
                result => {
                    return result
                        .map(Instance::Process)
                        .map_err(|source| StartError::Spawn {
                            executable: executable.to_path_buf(),
                            source,
                        });
                }
            }
        }
    }

    async fn prepare(&self) -> Result<Launch, StartError> {
        if let Some(Ok(kind)) = crate::builtins::BuiltinKind::of_reference(&self.spec.provider_ref)
        {
            // Checked by the table before the supervisor was launched.
            return Ok(Launch::Builtin(kind));
        }
        let loaded = self
            .env
            .artifacts
            .load_provider(&self.spec.provider_ref)
            .await?;
        let image_ref = lattice_proto::reference::without_scheme(&self.spec.provider_ref);
        let claims = loaded
            .claims
            .as_ref()
            .map(|c| crate::policy::claims(&c.subject, &c.issuer, c.issued_at, c.expires));
        self.env
            .policy
            .provider(
                &self.spec.provider_id,
                image_ref,
                &self.spec.annotations,
                claims,
            )
            .await?;
        if loaded.claims.is_none() {
            self.env
                .artifacts
                .unsigned(
                    lattice_artifacts::ArtifactKind::Provider,
                    &self.spec.provider_id,
                    &self.spec.provider_ref,
                )
                .await?;
        }
        if let Some(claims) = &loaded.claims {
            self.set(|s| {
                s.name = claims.name.clone();
                s.revision = claims.revision.unwrap_or(0);
            });
            if let Err(error) = self.env.lattice.put_claims(&claims.stored()).await {
                tracing::warn!(%error, "cannot store the provider's claims");
            }
        }
        Ok(Launch::Executable(Box::new(loaded)))
    }

    /// Watches a running process until it exits, fails its health checks, or is stopped.
    ///
    /// Health probes also keep the provider's links whole. Core NATS drops what is
    /// published while the provider is not connected: at start (until its first
    /// answer, the links that changed since its HostData are sent), and whenever
    /// contact is lost, through a probe without answer or the host's own reconnect
    /// (after which every link and its config are sent again at the next answer).
    async fn watch(&mut self, instance: &mut Instance) -> WatchEnd {
        let settings = &self.env.settings;
        let started = Instant::now();
        let mut retry = Duration::from_millis(2);
        let mut probe = self.probe_after(Duration::ZERO);
        let mut reconnected = self.env.reconnects.clone();
        reconnected.mark_unchanged();
        // Since when the host's connection is back and the provider has not answered.
        let mut settling: Option<Instant> = None;
        loop {
            tokio::select! {
                status = instance.wait() => return WatchEnd::Exited(status),
                _ = self.commands.recv() => return WatchEnd::Stop,
                _ = self.token.cancelled() => return WatchEnd::Stop,
                Ok(()) = reconnected.changed() => {
                    // The provider reconnects too, at its own pace: ask until it answers.
                    tracing::debug!("NATS connection back; probing the provider until it answers");
                    self.health.lose_contact();
                    self.set(|s| s.healthy = None);
                    settling = Some(Instant::now());
                    retry = Duration::from_millis(2);
                    probe = self.probe_after(Duration::ZERO);
                }
                result = &mut probe => {
                    let answered_before = self.health.answered();
                    let starting = !answered_before && started.elapsed() < settings.health_interval;
                    let settles = settling.is_some_and(|since| since.elapsed() < settings.health_interval);
                    if (starting || settles) && !matches!(result, Probe::Answer(_)) {
                        probe = self.probe_after(retry);
                        let most = if starting { STARTUP_PROBE_MAX } else { RECONTACT_PROBE_MAX };
                        retry = (retry * 2).min(most);
                        continue;
                    }
                    settling = None;
                    let was_in_contact = self.health.in_contact();
                    let event = self.health.observe(&result);
                    // The inventory shows the answer before the event tells of it.
                    let healthy = self.health.healthy();
                    self.set(|s| s.healthy = healthy);
                    if let Some(event) = event {
                        self.publish_health(event).await;
                    }
                    match &result {
                        Probe::NoAnswer(reason) => tracing::warn!(%reason, unanswered = self.health.unanswered(), "health check got no answer"),
                        Probe::Disconnected => tracing::debug!("health check skipped: the host is not connected to NATS"),
                        Probe::Answer(_) => {}
                    }
                    if !answered_before && self.health.answered() {
                        // It is subscribed now: whatever changed while it was spawning.
                        self.env.lattice.resync(&self.spec.provider_id, &self.xkey_public).await;
                    } else if !was_in_contact && self.health.in_contact() {
                        tracing::info!("provider answers again; sending its links and config again");
                        self.env.lattice.refresh(&self.spec.provider_id, &self.xkey_public).await;
                    }
                    if settings.health_failures.is_some_and(|n| self.health.unanswered() >= n) {
                        return WatchEnd::Unhealthy;
                    }
                    let jitter = rand::rng().random_range(0.9..1.1);
                    probe = self.probe_after(settings.health_interval.mul_f64(jitter));
                }
            }
        }
    }

    fn probe_after(&self, delay: Duration) -> ProbeFuture {
        let rpc = self.env.rpc.clone();
        let subject = self.env.subjects.health(&self.spec.provider_id);
        let metrics = self.env.metrics.clone();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            let asked = Instant::now();
            match rpc.request(subject, bytes::Bytes::new()).await {
                Ok(reply) => match serde_json::from_slice::<HealthCheckResponse>(&reply.payload) {
                    Ok(answer) => {
                        metrics.health_answered(asked.elapsed());
                        Probe::Answer(answer)
                    }
                    Err(e) => Probe::NoAnswer(format!("undecodable health answer: {e}")),
                },
                Err(_) if rpc.connection_state() != async_nats::connection::State::Connected => {
                    Probe::Disconnected
                }
                Err(e) => Probe::NoAnswer(e.to_string()),
            }
        })
    }

    /// The staged stop with this host's shutdown request and graces.
    async fn staged_stop(&mut self, instance: &mut Instance) -> (ProcessExit, EndedBy) {
        let rpc = self.env.rpc.clone();
        let subject = self.env.subjects.shutdown(&self.spec.provider_id);
        let body = serde_json::to_vec(&ShutdownRequest {
            host_id: self.env.host_id().to_string(),
        })
        .expect("shutdown requests encode");
        let request = async move {
            if let Err(error) = rpc.request(subject, body.into()).await {
                tracing::debug!(%error, "shutdown request got no answer");
            }
        };
        let settings = &self.env.settings;
        instance
            .stop(request, settings.shutdown_grace, settings.term_grace)
            .await
    }

    /// Stops the process for good and ends the supervisor.
    async fn stop(mut self, instance: &mut Instance) {
        self.set(|s| s.state = ProviderState::Stopping);
        let (status, ended_by) = self.staged_stop(instance).await;
        tracing::info!(exit = %describe(status), ended_by = ended_by.as_str(), "provider stopped");
        // An ordinary stop is not a failed health check: no health event.
        self.finish(
            StopReason::Stop,
            Some((describe(status), ended_by.as_str())),
        )
        .await;
    }

    /// After an unexpected end: back off and return true to start again, or give up.
    async fn after_exit(&mut self, reason: RestartReason, exit: Exit, ran_for: Duration) -> bool {
        tracing::warn!(exit = %exit.text, reason = reason.as_str(), "provider process ended");
        if let Some(event) = self.health.process_ended() {
            self.publish_health(event).await;
        }
        self.set(|s| {
            s.last_exit = Some(exit.text.clone());
            s.pid = None;
            s.healthy = None;
        });
        let RestartDecision::Restart { delay } = self.restarts.next(Instant::now(), ran_for) else {
            self.fail(exit.text).await;
            return false;
        };
        let restarts = self.status.borrow().restarts + 1;
        self.set(|s| {
            s.state = match delay.is_zero() {
                true => ProviderState::Starting,
                false => ProviderState::CrashLoop,
            };
            s.restarts = restarts;
        });
        self.env.metrics.provider_restarted();
        self.env
            .events
            .publish(Event::ProviderRestarted(ProviderRestarted {
                host_id: self.env.host_id().to_string(),
                provider_id: self.spec.provider_id.clone(),
                reason: reason.as_str().to_string(),
                exit_status: exit.text,
                exit_code: exit.code,
                signal: exit.signal,
                restarts,
                delay_ms: delay.as_millis() as u64,
            }))
            .await;
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = self.commands.recv() => {
                self.finish(StopReason::Stop, None).await;
                false
            }
            _ = self.token.cancelled() => {
                self.finish(StopReason::Stop, None).await;
                false
            }
        }
    }

    /// The user's restart limit was reached: `provider_stopped` with `reason: "failed"`
    /// and the last exit, and the entry leaves the table (so heartbeats stop listing a
    /// provider that does not run, and a scheduler can place it again). Its output is
    /// not put in the event (it can hold secrets); `lattice logs` has it until then.
    async fn fail(&mut self, exit: String) {
        let restarts = self.status.borrow().restarts;
        tracing::error!(%exit, restarts, "provider keeps exiting; giving up (restart limit)");
        self.set(|s| s.state = ProviderState::Failed);
        self.release().await;
        let event = ProviderStopped {
            exit_status: Some(exit),
            ended_by: Some("exited".to_string()),
            restarts: Some(restarts),
            ..self.stopped(StopReason::Failed)
        };
        self.env.events.publish(Event::ProviderStopped(event)).await;
    }

    async fn finish(&self, reason: StopReason, ended: Option<(String, &str)>) {
        let (exit_status, ended_by) = match ended {
            Some((exit, by)) => (Some(exit), Some(by.to_string())),
            None => (None, None),
        };
        self.set(|s| {
            s.state = ProviderState::Stopped;
            s.pid = None;
        });
        // Out of the table first, so a tool that reacts to the event sees it gone.
        self.release().await;
        let event = ProviderStopped {
            exit_status,
            ended_by,
            ..self.stopped(reason)
        };
        self.env.events.publish(Event::ProviderStopped(event)).await;
    }

    /// The supervisor ends: this host no longer runs the provider.
    async fn release(&self) {
        self.env
            .lattice
            .forget(&self.spec.provider_id, &self.xkey_public)
            .await;
        let _ = self.ended.send(Ended {
            provider_id: self.spec.provider_id.clone(),
            generation: self.spec.generation,
        });
    }

    async fn start_failed(self, error: StartError) {
        tracing::error!(%error, "provider start failed");
        let error = error.to_string();
        self.set(|s| s.state = ProviderState::Stopped);
        self.release().await;
        self.env
            .events
            .publish(Event::ProviderStartFailed(ProviderStartFailed {
                provider_ref: self.spec.provider_ref.clone(),
                provider_id: self.spec.provider_id.clone(),
                host_id: self.env.host_id().to_string(),
                error,
                link_name: DEFAULT_LINK_NAME.to_string(),
            }))
            .await;
    }
}
