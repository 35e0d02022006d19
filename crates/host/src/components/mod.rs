//! Components: WebAssembly components run with wasmtime, reached over wRPC.
//!
//! The [`ComponentManager`] task owns the table of components on this host; each
//! running component has a [`runner::Server`] that serves its exports. Control:
//!
//! - `component.scale` with `count > 0` starts a component (`component_scaled`, or
//!   `component_scale_failed` naming the cause) or rescales it: a new serving state is
//!   swapped in while running invocations finish; `count: 0` stops it (drained within
//!   the stop deadline) — one `component_scaled` per change;
//! - `component.update` starts the new reference, publishes `component_scaled` for it,
//!   then stops the old one and publishes `component_scaled` for the old reference with
//!   `max_instances: 0` (the order 1.9.2 intends);
//! - inventory and heartbeats list every component with its `limits`;
//! - a signed component's embedded claims are verified before it is compiled (1.9.2's
//!   checks: module hash, expiry, not-before, signature); a failure is
//!   `component_scale_failed` naming the reason. Its claims name it in inventory
//!   (`name`, `revision`) and in `component_scaled` (`public_key`, `claims`).

mod blobstore;
mod bus;
mod glue;
mod host_interfaces;
mod imports;
mod invocation;
mod keyvalue;
mod local;
mod outgoing_http;
mod resources;
mod runner;
mod serve_export;
mod serve_http;
mod spec;

pub(crate) use invocation::{InvocationState, TraceContext, pass_on_trace, trace_context};
pub(crate) use local::{LocalComponent, LocalComponents};
pub(crate) use runner::Serving;
pub(crate) use spec::{ComponentSpec, ScaleError};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lattice_proto::ctl::{ComponentDescription, UpdateComponentCommand};
use lattice_proto::events::{ComponentScaleFailed, ComponentScaled, Event};
use lattice_runtime::Runtime;
use lattice_wrpc::WrpcClient;
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::artifacts::{Artifacts, ComponentClaims};
use crate::events::EventPublisher;
use crate::lattice::LatticeState;
use runner::Server;

/// The narrow environment of component runners. Cheap to clone.
#[derive(Clone)]
pub(crate) struct ComponentEnv(Arc<EnvInner>);

pub(crate) struct EnvInner {
    pub(crate) runtime: Runtime,
    pub(crate) wrpc: WrpcClient,
    pub(crate) events: EventPublisher,
    pub(crate) lattice: LatticeState,
    pub(crate) artifacts: Artifacts,
    /// Asked before a component starts.
    pub(crate) policy: crate::policy::Policy,
    /// Resolves the secret references among a component's config names.
    pub(crate) secrets: crate::secrets::HostSecrets,
    pub(crate) host_id: String,
    pub(crate) lattice_name: String,
    /// Where running components are listed for in-process callers.
    pub(crate) local: LocalComponents,
    /// The builtin http-clients of this host, for components' outgoing HTTP.
    pub(crate) http_clients: crate::http_client::LocalHttpClients,
    /// How long a stop waits for invocations in flight.
    pub(crate) drain: Duration,
}

impl ComponentEnv {
    pub(crate) fn new(inner: EnvInner) -> Self {
        ComponentEnv(Arc::new(inner))
    }
}

impl std::ops::Deref for ComponentEnv {
    type Target = EnvInner;

    fn deref(&self) -> &EnvInner {
        &self.0
    }
}

enum Command {
    Scale {
        spec: ComponentSpec,
        allow_update: bool,
        reply: oneshot::Sender<String>,
    },
    Update {
        command: UpdateComponentCommand,
        reply: oneshot::Sender<Result<String, String>>,
    },
    Inventory {
        reply: oneshot::Sender<Vec<ComponentDescription>>,
    },
    Describe {
        id: String,
        reply: oneshot::Sender<Option<lattice_proto::wit::ComponentExports>>,
    },
    /// A change finished (or failed) for this component.
    Settled {
        id: String,
        outcome: Settled,
    },
    StopAll {
        reply: oneshot::Sender<()>,
    },
}

/// How a change ended.
enum Settled {
    Running(Server),
    Stopped,
    Failed,
}

/// An entry: running (with its server) or changing (a task owns the server meanwhile).
struct Entry {
    spec: ComponentSpec,
    server: Option<Server>,
    /// A change waiting for the one in progress.
    queued: Option<ComponentSpec>,
    /// The claims of what runs (kept while a change is in progress), for inventory.
    claims: Option<Arc<ComponentClaims>>,
}

/// A handle to the component table.
#[derive(Clone)]
pub(crate) struct ComponentManager {
    tx: mpsc::Sender<Command>,
}

impl ComponentManager {
    pub(crate) fn spawn(env: ComponentEnv, tracker: TaskTracker) -> Self {
        let (tx, rx) = mpsc::channel(256);
        let table = Table {
            env,
            tracker: tracker.clone(),
            entries: HashMap::new(),
            tx: tx.clone(),
        };
        // As the provider table: untracked; the changes it runs are tracked.
        tokio::spawn(table.run(rx));
        ComponentManager { tx }
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        crate::actor::ask(&self.tx, make).await.ok()
    }

    /// Starts, rescales or stops (`count: 0`) a component; the reply message (empty, or
    /// a warning when the reference differs from the running one).
    pub(crate) async fn scale(&self, spec: ComponentSpec, allow_update: bool) -> String {
        self.ask(|reply| Command::Scale {
            spec,
            allow_update,
            reply,
        })
        .await
        .unwrap_or_default()
    }

    /// Updates a running component to a new reference.
    pub(crate) async fn update(&self, command: UpdateComponentCommand) -> Result<String, String> {
        self.ask(|reply| Command::Update { command, reply })
            .await
            .unwrap_or_else(|| Err("the host is shutting down".into()))
    }

    /// Inventory entries of every component.
    pub(crate) async fn inventory(&self) -> Vec<ComponentDescription> {
        self.ask(|reply| Command::Inventory { reply })
            .await
            .unwrap_or_default()
    }

    /// The exported functions of a running component.
    pub(crate) async fn describe(&self, id: &str) -> Option<lattice_proto::wit::ComponentExports> {
        let id = id.to_string();
        self.ask(|reply| Command::Describe { id, reply })
            .await
            .flatten()
    }

    /// Whether a component with this ID runs here.
    pub(crate) async fn is_running(&self, id: &str) -> bool {
        self.inventory().await.iter().any(|c| c.id == id)
    }

    /// Stops every component, draining invocations within the drain deadline.
    pub(crate) async fn stop_all(&self) {
        let _ = self.ask(|reply| Command::StopAll { reply }).await;
    }
}

struct Table {
    env: ComponentEnv,
    tracker: TaskTracker,
    entries: HashMap<String, Entry>,
    tx: mpsc::Sender<Command>,
}

impl Table {
    #[tracing::instrument(name = "component_table", skip_all)]
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        while let Some(command) = commands.recv().await {
            match command {
                Command::Scale {
                    spec,
                    allow_update,
                    reply,
                } => {
                    let message = self.scale(spec, allow_update);
                    let _ = reply.send(message);
                }
                Command::Update { command, reply } => {
                    let _ = reply.send(self.update(command));
                }
                Command::Inventory { reply } => {
                    let mut list: Vec<_> = self.entries.values().map(describe).collect();
                    list.sort_by(|a, b| a.id.cmp(&b.id));
                    let _ = reply.send(list);
                }
                Command::Describe { id, reply } => {
                    let exports = self
                        .entries
                        .get(&id)
                        .and_then(|e| e.server.as_ref())
                        .map(|server| runner::describe(&id, &server.current()));
                    let _ = reply.send(exports);
                }
                Command::Settled { id, outcome } => self.settled(id, outcome),
                Command::StopAll { reply } => {
                    let servers: Vec<_> = self
                        .entries
                        .drain()
                        .filter_map(|(_, e)| e.server.map(|s| (e.spec, s)))
                        .collect();
                    let env = self.env.clone();
                    self.tracker.spawn(async move {
                        for (spec, server) in servers {
                            let claims = server.current().claims.clone();
                            server.stop(env.drain).await;
                            scaled(&env, &spec, 0, claims.as_deref()).await;
                        }
                        let _ = reply.send(());
                    });
                }
            }
        }
    }

    fn scale(&mut self, spec: ComponentSpec, allow_update: bool) -> String {
        let id = spec.id.clone();
        let Some(entry) = self.entries.get_mut(&id) else {
            if spec.count == 0 {
                // Nothing runs: still report the (empty) change, as 1.x does.
                let env = self.env.clone();
                self.tracker
                    .spawn(async move { scaled(&env, &spec, 0, None).await });
                return String::new();
            }
            self.entries.insert(
                id.clone(),
                Entry {
                    spec: spec.clone(),
                    server: None,
                    queued: None,
                    claims: None,
                },
            );
            self.change(None, spec);
            return String::new();
        };
        let mut message = String::new();
        let mut spec = spec;
        if spec.count > 0 && spec.reference != entry.spec.reference {
            if allow_update {
                message = format!(
                    "component {id} updating from {} to {}",
                    entry.spec.reference, spec.reference
                );
            } else {
                message = format!(
                    "component {id} runs {}; the request's reference {} is ignored (allow_update is false)",
                    entry.spec.reference, spec.reference
                );
                spec.reference = entry.spec.reference.clone();
            }
        }
        match entry.server.take() {
            Some(server) => {
                entry.spec = spec.clone();
                self.change(Some(server), spec);
            }
            // A change is in progress: this one follows it.
            None => entry.queued = Some(spec),
        }
        message
    }

    fn update(&mut self, command: UpdateComponentCommand) -> Result<String, String> {
        let id = command.component_id.clone();
        let Some(entry) = self.entries.get_mut(&id) else {
            return Err(format!("component {id} not found"));
        };
        if entry.spec.reference == command.new_component_ref {
            return Ok(format!(
                "component {id} already updated to {}",
                command.new_component_ref
            ));
        }
        let message = format!(
            "component {id} updating from {} to {}",
            entry.spec.reference, command.new_component_ref
        );
        let mut spec = entry.spec.clone();
        spec.reference = command.new_component_ref;
        if let Some(annotations) = command.annotations {
            spec.annotations = annotations;
        }
        match entry.server.take() {
            Some(server) => {
                entry.spec = spec.clone();
                self.change(Some(server), spec);
            }
            None => entry.queued = Some(spec),
        }
        Ok(message)
    }

    /// Runs one change in a task of its own (loading and compiling take time; the table
    /// goes on answering): start, rescale, update or stop.
    fn change(&self, server: Option<Server>, spec: ComponentSpec) {
        let env = self.env.clone();
        let tx = self.tx.clone();
        self.tracker.spawn(async move {
            let id = spec.id.clone();
            let outcome = apply(&env, server, spec).await;
            let _ = tx.send(Command::Settled { id, outcome }).await;
        });
    }

    fn settled(&mut self, id: String, outcome: Settled) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        match outcome {
            Settled::Running(server) => {
                let current = server.current();
                entry.spec = current.spec.clone();
                entry.claims = current.claims.clone();
                match entry.queued.take() {
                    Some(next) => {
                        entry.spec = next.clone();
                        self.change(Some(server), next);
                    }
                    None => entry.server = Some(server),
                }
            }
            Settled::Stopped | Settled::Failed => match entry.queued.take() {
                Some(next) if next.count > 0 => {
                    entry.spec = next.clone();
                    self.change(None, next);
                }
                _ => {
                    self.entries.remove(&id);
                }
            },
        }
    }
}

/// One change, given the server that runs now (if any).
async fn apply(env: &ComponentEnv, server: Option<Server>, spec: ComponentSpec) -> Settled {
    match (server, spec.count) {
        (Some(server), 0) => {
            let current = server.current();
            let old = current.spec.clone();
            let claims = current.claims.clone();
            drop(current);
            if !server.stop(env.drain).await {
                tracing::warn!(component_id = %old.id, "invocations still running after the drain deadline");
            }
            scaled(
                env,
                &ComponentSpec { count: 0, ..old },
                0,
                claims.as_deref(),
            )
            .await;
            Settled::Stopped
        }
        (None, 0) => Settled::Stopped,
        (Some(server), count) => {
            let old = server.current().spec.clone();
            let old_claims = server.current().claims.clone();
            if old.reference == spec.reference
                && old.limits == spec.limits
                && old.config == spec.config
                && old.count == count
            {
                server.swap(Serving {
                    spec: spec.clone(),
                    ..clone_serving(&server)
                });
                return Settled::Running(server);
            }
            match runner::prepare(env, &spec).await {
                Ok(serving) => {
                    let claims = serving.claims.clone();
                    server.swap(serving);
                    scaled(env, &spec, count, claims.as_deref()).await;
                    if old.reference != spec.reference {
                        // An update: the old reference stops.
                        scaled(env, &old, 0, old_claims.as_deref()).await;
                    }
                    Settled::Running(server)
                }
                Err(error) => {
                    failed(env, &spec, &error).await;
                    Settled::Running(server)
                }
            }
        }
        (None, count) => match runner::prepare(env, &spec).await {
            Ok(serving) => {
                let claims = serving.claims.clone();
                match Server::start(env, serving).await {
                    Ok(server) => {
                        scaled(env, &spec, count, claims.as_deref()).await;
                        Settled::Running(server)
                    }
                    Err(error) => {
                        failed(env, &spec, &error).await;
                        Settled::Failed
                    }
                }
            }
            Err(error) => {
                failed(env, &spec, &error).await;
                Settled::Failed
            }
        },
    }
}

fn clone_serving(server: &Server) -> Serving {
    let current = server.current();
    Serving {
        prepared: current.prepared.clone(),
        spec: current.spec.clone(),
        lattice: current.lattice.clone(),
        claims: current.claims.clone(),
        layer: current.layer.clone(),
        policy: current.policy.clone(),
        secrets: current.secrets.clone(),
        outgoing: current.outgoing.clone(),
        exported: current.exported.clone(),
        exports: current.exports.clone(),
        // The same instance: the resources callers hold stay theirs.
        resident: current.resident.clone(),
    }
}

/// `component_scaled`; a signed component's carries its key and claims.
async fn scaled(
    env: &ComponentEnv,
    spec: &ComponentSpec,
    count: u32,
    claims: Option<&ComponentClaims>,
) {
    env.events
        .publish(Event::ComponentScaled(ComponentScaled {
            public_key: claims.map(|c| c.subject.clone()),
            claims: claims.map(ComponentClaims::summary),
            annotations: spec.annotations.clone(),
            host_id: env.host_id.clone(),
            image_ref: spec.reference.clone(),
            max_instances: count,
            component_id: spec.id.clone(),
        }))
        .await;
}

async fn failed(env: &ComponentEnv, spec: &ComponentSpec, error: &ScaleError) {
    tracing::warn!(component_id = %spec.id, %error, "component scale failed");
    env.events
        .publish(Event::ComponentScaleFailed(ComponentScaleFailed {
            public_key: None,
            component_id: spec.id.clone(),
            annotations: spec.annotations.clone(),
            host_id: env.host_id.clone(),
            image_ref: spec.reference.clone(),
            max_instances: spec.count,
            error: error.to_string(),
        }))
        .await;
}

fn describe(entry: &Entry) -> ComponentDescription {
    ComponentDescription {
        id: entry.spec.id.clone(),
        image_ref: entry.spec.reference.clone(),
        name: entry.claims.as_ref().and_then(|c| c.name.clone()),
        annotations: (!entry.spec.annotations.is_empty()).then(|| entry.spec.annotations.clone()),
        revision: entry
            .claims
            .as_ref()
            .and_then(|c| c.revision)
            .unwrap_or_default(),
        max_instances: entry.spec.count,
        limits: entry.spec.limits_text.clone(),
    }
}
