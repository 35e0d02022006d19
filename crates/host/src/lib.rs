//! The lattice host: joins a NATS lattice, serves the control interface and publishes
//! lattice events.
//!
//! ```no_run
//! # async fn run() -> Result<(), lattice_host::HostError> {
//! let host = lattice_host::Host::start(lattice_host::HostConfig::new("nats://127.0.0.1:4222")).await?;
//! let deadline = tokio::select! {
//!     deadline = host.stop_requested() => deadline,        // ctl `host.stop`
//!     _ = tokio::signal::ctrl_c() => std::time::Duration::from_secs(10),
//! };
//! host.shutdown(deadline).await;
//! # Ok(()) }
//! ```
//!
//! Shutdown is one story: a `CancellationToken` stops the control server and the
//! heartbeat, `host_stopped` is published, a second token stops the providers, a
//! `TaskTracker` waits (up to the deadline) for work in flight, and the connections are
//! drained.

mod actor;
mod admin;
mod artifacts;
mod builtins;
mod components;
mod config;
mod config_service;
mod ctl;
mod error;
mod events;
mod heartbeat;
mod http_client;
mod identity;
mod labels;
mod lattice;
mod metrics;
pub mod nats;
pub mod nats_server;
mod policy;
mod process_group;
pub mod providers;
mod secrets;
mod wrpc_http;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::Client;
use lattice_proto::HOST_VERSION;
use lattice_proto::ctl::{Host as HostDescription, HostInventory};
use lattice_proto::events::{Event, HostStarted, HostStopped};
use lattice_proto::subjects::{CtlSubjects, ProviderSubjects};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use builtins::{BUILTIN_SCHEME, BuiltinKind, BuiltinSettings};
pub use config::{ConfigError, HostConfig, NatsAuth, NatsConnectConfig, OciSettings};
pub use error::HostError;
pub use identity::{RESERVED_LABEL_PREFIX, is_reserved_label};
pub use policy::PolicySettings;
pub use providers::{ProviderSettings, RestartPolicy};

use crate::artifacts::Artifacts;
use crate::components::{ComponentEnv, ComponentManager, EnvInner as ComponentEnvParts};
use crate::events::EventPublisher;
use crate::identity::HostIdentity;
use crate::labels::LabelsHandle;
use crate::lattice::LatticeState;
use crate::metrics::Metrics;
use crate::providers::{HostDataTemplate, ProviderManager, SupervisorEnv, SupervisorEnvParts};

/// How long the host waits for the config service at start (`--config-service-enabled`).
const CONFIG_SERVICE_TIMEOUT: Duration = Duration::from_secs(5);

/// What every part of a running host shares. Immutable but for the handles inside.
pub(crate) struct HostContext {
    pub(crate) identity: HostIdentity,
    pub(crate) config: HostConfig,
    pub(crate) ctl: Client,
    pub(crate) rpc: Client,
    pub(crate) ctl_subjects: CtlSubjects,
    pub(crate) events: EventPublisher,
    pub(crate) labels: LabelsHandle,
    pub(crate) providers: ProviderManager,
    /// Links, named config and claims of the lattice.
    pub(crate) lattice: LatticeState,
    /// Loads what start commands name.
    pub(crate) artifacts: Artifacts,
    pub(crate) components: ComponentManager,
    pub(crate) metrics: Metrics,
    started: Instant,
    stop_tx: watch::Sender<Option<Duration>>,
}

impl HostContext {
    fn uptime(&self) -> (u64, String) {
        let secs = self.started.elapsed().as_secs();
        (
            secs,
            humantime::format_duration(Duration::from_secs(secs)).to_string(),
        )
    }

    /// The `host.ping` reply.
    pub(crate) async fn host_description(&self) -> Result<HostDescription, HostError> {
        let (uptime_seconds, uptime_human) = self.uptime();
        Ok(HostDescription {
            // Passwords and tokens in the URLs are not for every ping to see.
            rpc_host: Some(self.config.rpc_nats.display_url()),
            ctl_host: Some(self.config.ctl_nats.display_url()),
            friendly_name: self.identity.friendly_name.clone(),
            id: self.identity.id.clone(),
            js_domain: self.config.js_domain.clone(),
            labels: self.labels.labels().await?,
            lattice: self.config.lattice.clone(),
            uptime_human: Some(uptime_human),
            uptime_seconds,
            version: Some(HOST_VERSION.to_string()),
        })
    }

    /// The `host.get` reply and heartbeat data.
    pub(crate) async fn inventory(&self) -> Result<HostInventory, HostError> {
        let (uptime_seconds, uptime_human) = self.uptime();
        Ok(HostInventory {
            components: self.components.inventory().await,
            providers: self.providers.inventory().await,
            host_id: self.identity.id.clone(),
            friendly_name: self.identity.friendly_name.clone(),
            labels: self.labels.labels().await?,
            version: HOST_VERSION.to_string(),
            uptime_human,
            uptime_seconds,
        })
    }

    /// Asks the owner of the [`Host`] to stop within `deadline` (the first request wins).
    pub(crate) fn request_stop(&self, deadline: Duration) {
        self.stop_tx.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(deadline);
            }
            first
        });
    }
}

/// A running host. Dropping it without [`Host::shutdown`] leaves its tasks running
/// until the runtime ends.
pub struct Host {
    ctx: Arc<HostContext>,
    /// Stops the control server and the heartbeat.
    token: CancellationToken,
    /// Stops the providers (after `host_stopped` is out).
    providers_token: CancellationToken,
    /// `/readyz`: true once the host serves, false from the moment it begins to stop.
    ready: watch::Sender<bool>,
    /// Stops the admin endpoint, last.
    admin_token: CancellationToken,
    /// Stops the lattice-state owner, once every provider is gone.
    lattice_token: CancellationToken,
    admin_addr: Option<std::net::SocketAddr>,
    tracker: TaskTracker,
    stop_rx: watch::Receiver<Option<Duration>>,
}

impl Host {
    /// Validates `config`, connects, subscribes to the control interface and publishes
    /// `host_started`. When this returns the host answers control requests.
    pub async fn start(config: HostConfig) -> Result<Host, HostError> {
        config.validate()?;
        let identity =
            HostIdentity::new(config.host_seed.as_deref(), config.friendly_name.as_deref())?;
        let rpc_credentials = nats::provider_credentials(&config.rpc_nats.auth)?;
        let ca = &config.tls_ca_paths;
        let ctl = nats::connect("ctl", &config.ctl_nats, None, ca).await?;
        let rpc = nats::connect("rpc", &config.rpc_nats, Some(config.rpc_timeout), ca).await?;
        let metrics = Metrics::new(&[("ctl", ctl.clone()), ("rpc", rpc.clone())]);
        let events =
            EventPublisher::new(ctl.clone(), &config.lattice, &identity.id, metrics.clone());
        let secrets = crate::secrets::HostSecrets::new(
            ctl.clone(),
            config.secrets_topic.as_deref(),
            config.rpc_timeout.max(Duration::from_secs(2)),
            &identity.id,
            &identity.friendly_name,
            &identity.xkey,
        );
        let lattice_token = CancellationToken::new();
        let lattice = LatticeState::start(
            &ctl,
            rpc.clone(),
            &config.lattice,
            &crate::lattice::BucketSettings {
                js_domain: config.js_domain.clone(),
                replicas: config.kv_replicas,
            },
            crate::lattice::LinkSealing {
                secrets: secrets.clone(),
                events: events.clone(),
                host_id: identity.id.clone(),
            },
            lattice_token.clone(),
        )
        .await?;
        let mut labels = identity::builtin_labels();
        labels.extend(config.labels.clone());
        let labels_handle = LabelsHandle::spawn(labels.clone());
        let (stop_tx, stop_rx) = watch::channel(None);
        let token = CancellationToken::new();
        let policy = crate::policy::Policy::start(
            &config.policy,
            ctl.clone(),
            &identity.id,
            &config.lattice,
            labels_handle.clone(),
            token.clone(),
        )
        .await?;
        let providers_token = CancellationToken::new();
        let tracker = TaskTracker::new();
        let admin_listener = match config.http_admin {
            Some(addr) => Some(admin::bind(addr).await?),
            None => None,
        };
        let admin_addr = admin_listener.as_ref().and_then(|l| l.local_addr().ok());
        let mut credentials = config.oci.credentials.clone();
        if config.config_service {
            let supplemental = config_service::registry_credentials(
                &ctl,
                &config.lattice,
                &labels,
                CONFIG_SERVICE_TIMEOUT,
            )
            .await;
            for (registry, credential) in supplemental {
                credentials.entry(registry).or_insert(credential); // the flags win
            }
        }
        let registry = lattice_artifacts::Registry::new(
            lattice_artifacts::RegistrySettings {
                allow_latest: config.oci.allow_latest,
                allowed_insecure: config.oci.allowed_insecure.clone(),
                ca_paths: config.tls_ca_paths.clone(),
                credentials,
            },
            config.oci.cache.clone(),
        )?;
        let artifacts = Artifacts::new(
            config.allow_file_load,
            config.providers.cache_dir.join(&identity.id),
            registry,
            config.require_signed,
            events.clone(),
            identity.id.clone(),
        );
        let local_components = crate::components::LocalComponents::default();
        let http_clients = crate::http_client::LocalHttpClients::default();
        let env = SupervisorEnv::new(SupervisorEnvParts {
            builtins: crate::builtins::BuiltinEnv {
                settings: config.builtins.clone(),
                components: local_components.clone(),
                http_clients: http_clients.clone(),
                events: events.clone(),
                host_id: identity.id.clone(),
            },
            rpc: rpc.clone(),
            reconnects: lattice_nats::reconnects(&rpc),
            ctl: ctl.clone(),
            events: events.clone(),
            metrics: metrics.clone(),
            lattice: lattice.clone(),
            artifacts: artifacts.clone(),
            policy: policy.clone(),
            secrets: secrets.clone(),
            settings: config.providers.clone(),
            host_data: HostDataTemplate {
                host_id: identity.id.clone(),
                lattice: config.lattice.clone(),
                rpc_url: config.rpc_nats.url.clone(),
                rpc_credentials,
                host_xkey_public: identity.xkey.public_key(),
                rpc_timeout_ms: config.rpc_timeout.as_millis() as u64,
                structured_logging: config.structured_logging,
                log_level: config.log_level,
                otel_config: config.otel.clone(),
            },
            subjects: ProviderSubjects::new(&config.lattice),
            ctl_prefix: config.ctl_prefix.clone(),
        });
        let runtime = lattice_runtime::Runtime::new(config.runtime.clone())
            .map_err(|e| HostError::Runtime(e.to_string()))?;
        if let lattice_runtime::AllocatorChoice::OnDemand { reason, .. } = runtime.allocator() {
            tracing::warn!(%reason, "components use on-demand allocation, not the pool");
        }
        let wrpc = lattice_wrpc::WrpcClient::new(rpc.clone())
            .await
            .map_err(|e| HostError::Runtime(format!("cannot open the wRPC inbox: {e}")))?;
        let components = ComponentManager::spawn(
            ComponentEnv::new(ComponentEnvParts {
                runtime,
                wrpc,
                events: events.clone(),
                lattice: lattice.clone(),
                artifacts: artifacts.clone(),
                policy: policy.clone(),
                secrets: secrets.clone(),
                host_id: identity.id.clone(),
                lattice_name: config.lattice.clone(),
                local: local_components,
                http_clients,
                drain: config.default_stop_timeout,
            }),
            tracker.clone(),
        );
        let ctx = Arc::new(HostContext {
            components,
            providers: ProviderManager::spawn(env, tracker.clone(), providers_token.clone()),
            lattice,
            artifacts,
            metrics,
            ctl_subjects: CtlSubjects::new(&config.ctl_prefix, &config.lattice),
            events,
            labels: labels_handle,
            identity,
            config,
            ctl,
            rpc,
            started: Instant::now(),
            stop_tx,
        });

        let (ready, ready_rx) = watch::channel(false);
        let admin_token = CancellationToken::new();
        if let Some(listener) = admin_listener {
            let admin = Arc::new(admin::Admin {
                ready: ready_rx,
                metrics: ctx.metrics.clone(),
                providers: ctx.providers.clone(),
                connections: [("ctl", ctx.ctl.clone()), ("rpc", ctx.rpc.clone())],
            });
            tokio::spawn(admin::serve(listener, admin, admin_token.clone()));
        }
        let subscribers = ctl::subscribe(&ctx).await?;
        tracker.spawn(ctl::serve(
            ctx.clone(),
            subscribers,
            token.child_token(),
            tracker.clone(),
        ));
        ctx.events
            .publish(Event::HostStarted(HostStarted {
                friendly_name: ctx.identity.friendly_name.clone(),
                labels,
                uptime_seconds: 0,
                version: HOST_VERSION.to_string(),
            }))
            .await;
        tracker.spawn(heartbeat::run(ctx.clone(), token.child_token()));
        // Providers by state are sampled only for an OTLP export (`/metrics` reads them
        // at each scrape).
        let metrics_exported = lattice_telemetry::settings::enabled(
            &ctx.config.otel,
            lattice_telemetry::settings::Signal::Metrics,
        );
        if metrics_exported {
            tracker.spawn(metrics::sample_providers(
                ctx.metrics.clone(),
                ctx.providers.clone(),
                token.child_token(),
            ));
        }
        // The subscriptions exist and the lattice state is read.
        ready.send_replace(true);
        tracing::info!(
            host_id = %ctx.identity.id,
            friendly_name = %ctx.identity.friendly_name,
            lattice = %ctx.config.lattice,
            "host started"
        );
        Ok(Host {
            ctx,
            token,
            providers_token,
            ready,
            admin_token,
            lattice_token,
            admin_addr,
            tracker,
            stop_rx,
        })
    }

    /// The host ID (its public server nkey, `N…`).
    pub fn id(&self) -> &str {
        &self.ctx.identity.id
    }

    /// Where the admin endpoint listens (`--http-admin`), if it does.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.admin_addr
    }

    /// The host's friendly name.
    pub fn friendly_name(&self) -> &str {
        &self.ctx.identity.friendly_name
    }

    /// The lattice the host serves.
    pub fn lattice(&self) -> &str {
        &self.ctx.config.lattice
    }

    /// The host's current labels.
    pub async fn labels(&self) -> Result<BTreeMap<String, String>, HostError> {
        self.ctx.labels.labels().await
    }

    /// Resolves when a control `host.stop` arrives, with its deadline.
    pub async fn stop_requested(&self) -> Duration {
        let mut rx = self.stop_rx.clone();
        let deadline = rx
            .wait_for(Option::is_some)
            .await
            .map(|d| *d)
            .unwrap_or(None);
        deadline.unwrap_or(self.ctx.config.default_stop_timeout)
    }

    /// Stops gracefully: no new control requests and no heartbeats; `host_stopped` is
    /// published (the host has left the lattice, so a scheduler such as wadm places its
    /// workloads elsewhere at once instead of sending them back here); then every
    /// provider is stopped in stages (shutdown request, SIGTERM, SIGKILL) with a
    /// `provider_stopped` event; work in flight finishes (up to `deadline`); then the
    /// connections are drained.
    pub async fn shutdown(self, deadline: Duration) {
        tracing::info!(host_id = %self.ctx.identity.id, ?deadline, "host stopping");
        self.ready.send_replace(false);
        let labels = self.ctx.labels.labels().await.unwrap_or_default();
        self.token.cancel();
        self.ctx
            .events
            .publish(Event::HostStopped(HostStopped { labels }))
            .await;
        self.providers_token.cancel();
        let components = self.ctx.components.clone();
        self.tracker
            .spawn(async move { components.stop_all().await });
        self.tracker.close();
        if tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(?deadline, "host tasks did not finish before the deadline");
        }
        self.lattice_token.cancel();
        self.ctx.events.flush().await;
        for (which, client) in [("ctl", &self.ctx.ctl), ("rpc", &self.ctx.rpc)] {
            if let Err(error) = client.drain().await {
                tracing::debug!(which, %error, "cannot drain NATS connection");
            }
        }
        self.admin_token.cancel();
        tracing::info!(host_id = %self.ctx.identity.id, "host stopped");
    }
}
