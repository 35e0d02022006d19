//! `wasmcloud+builtin://http-server`: HTTP in, to `wasi:http/incoming-handler` of
//! components: in-process on this host, over wRPC on another (1.9.2 serves only
//! components on its own host).
//!
//! It takes links whose source is the provider and whose interface is
//! `wasi:http/incoming-handler` (the component is the target). By the provider config's
//! `routing_mode`:
//!
//! - `address` (default): each link listens at its own `address` (default
//!   `default_address`, `0.0.0.0:8000`); two links on one address: the second fails;
//! - `path`: one listener at `default_address`, bound at start; a link's `path`;
//! - `host`: the same, by a link's `host` against the `header` (default `Host`).
//!
//! A link that cannot be applied (address in use, path or host taken, bad config) is
//! reported in `provider_link_failed` and in the provider's health until it is deleted
//! or fixed. Per link (or provider, as default): `timeout_ms` (default 60 s to the
//! response head), `max_content_len` (default 100 MiB; `10M` style sizes), and TLS with
//! `tls_cert_file` + `tls_priv_key_file` (address mode per link; path and host modes from
//! the provider config, for the shared listener).

mod listener;
mod settings;

use std::collections::{BTreeMap, HashMap};

use lattice_proto::InterfaceLinkDefinition;
use lattice_proto::provider::HealthCheckResponse;
use lattice_provider_sdk::{BoxError, LinkConfig, LinkRole, Provider, ProviderContext};

use super::BuiltinEnv;
use listener::{Listener, Remote, Route, Routes, Targets};
use settings::{LinkSettings, RoutingMode, ServerSettings};

/// The links this provider takes: `wasi:http` with `incoming-handler`, as their source.
fn is_incoming_handler(link: &InterfaceLinkDefinition) -> bool {
    link.wit_namespace == "wasi"
        && link.wit_package == "http"
        && link.interfaces.iter().any(|i| i == "incoming-handler")
}

pub(crate) struct HttpServer {
    env: BuiltinEnv,
    provider_id: String,
    state: tokio::sync::Mutex<State>,
    /// What is wrong now, by link name (or `""` for the provider itself): health.
    problems: super::Problems,
}

#[derive(Default)]
struct State {
    settings: Option<ServerSettings>,
    /// Address mode: the listener of each link, by link name.
    own: HashMap<String, (LinkSettings, Listener)>,
    /// Path and host modes: the one listener.
    shared: Option<Listener>,
    /// Path and host modes: the route key (path or host) of each link, by link name.
    keys: HashMap<String, String>,
    /// How components on other hosts are reached (set by `init`).
    remote: Option<Remote>,
}

impl HttpServer {
    pub(crate) fn new(env: BuiltinEnv, provider_id: String) -> Self {
        HttpServer {
            env,
            provider_id,
            state: tokio::sync::Mutex::new(State::default()),
            problems: super::Problems::default(),
        }
    }

    fn targets(&self, state: &State) -> Targets {
        Targets {
            local: self.env.components.clone(),
            remote: state.remote.clone(),
        }
    }

    async fn fail(&self, link: &InterfaceLinkDefinition, reason: String) {
        self.problems
            .set(&link.name, Some(format!("link {}: {reason}", link.name)));
        self.env.link_failed(&self.provider_id, link, &reason).await;
    }

    async fn put(
        &self,
        link: &InterfaceLinkDefinition,
        config: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let mut state = self.state.lock().await;
        let settings = state
            .settings
            .clone()
            .ok_or("the provider is not initialised")?;
        let wanted = settings.link(config)?;
        let route = Route {
            component_id: link.target.clone(),
            limits: wanted.limits,
        };
        match &settings.mode {
            RoutingMode::Address => {
                if let Some((current, listener)) = state.own.get(&link.name)
                    && current.address == wanted.address
                    && current.tls == wanted.tls
                {
                    // Same listener: only the route changes.
                    *listener.routes.write().expect("not poisoned") = Routes::Single(route);
                    state.own.get_mut(&link.name).expect("present").0 = wanted;
                    return Ok(());
                }
                if let Some((other, _)) = state
                    .own
                    .iter()
                    .find(|(name, (s, _))| *name != &link.name && s.address == wanted.address)
                {
                    return Err(format!(
                        "address {} is already served for link {other}",
                        wanted.address
                    ));
                }
                // Rebinding the same address: the old listener goes first.
                state.own.remove(&link.name);
                let listener = Listener::bind(
                    wanted.address,
                    wanted.tls.as_ref(),
                    Routes::Single(route),
                    self.targets(&state),
                )
                .await?;
                state.own.insert(link.name.clone(), (wanted, listener));
            }
            RoutingMode::Path | RoutingMode::Host { .. } => {
                let key = match &settings.mode {
                    RoutingMode::Path => wanted.path.clone(),
                    _ => wanted.host.clone(),
                }
                .expect("checked by LinkSettings");
                let shared = state
                    .shared
                    .as_ref()
                    .ok_or("the shared listener is not bound (see the provider's health)")?;
                {
                    let mut routes = shared.routes.write().expect("not poisoned");
                    let table = match &mut *routes {
                        Routes::Path(table) | Routes::Host { hosts: table, .. } => table,
                        Routes::Single(_) => unreachable!("shared listeners route by key"),
                    };
                    if let Some(owner) = table.get(&key)
                        && state.keys.get(&link.name) != Some(&key)
                    {
                        return Err(format!(
                            "{key} is already routed to component {}",
                            owner.component_id
                        ));
                    }
                    if let Some(old) = state.keys.get(&link.name) {
                        table.remove(old);
                    }
                    table.insert(key.clone(), route);
                }
                state.keys.insert(link.name.clone(), key);
            }
        }
        Ok(())
    }

    async fn remove(&self, link: &InterfaceLinkDefinition) {
        let mut state = self.state.lock().await;
        state.own.remove(&link.name);
        if let Some(key) = state.keys.remove(&link.name)
            && let Some(shared) = &state.shared
        {
            match &mut *shared.routes.write().expect("not poisoned") {
                Routes::Path(table) | Routes::Host { hosts: table, .. } => {
                    table.remove(&key);
                }
                Routes::Single(_) => {}
            }
        }
        self.problems.set(&link.name, None);
    }
}

impl Provider for HttpServer {
    async fn init(&self, ctx: &ProviderContext) -> Result<(), BoxError> {
        let settings = match ServerSettings::from_config(ctx.config()) {
            Ok(settings) => settings,
            Err(problem) => {
                // Reported in health; links are refused until the config is fixed.
                tracing::warn!(provider_id = %self.provider_id, %problem, "http-server config");
                self.problems
                    .set("", Some(format!("provider config: {problem}")));
                return Ok(());
            }
        };
        let mut state = self.state.lock().await;
        state.remote = Some(Remote {
            wrpc: ctx.wrpc().await?,
            lattice: ctx.lattice().to_string(),
            provider_id: self.provider_id.clone(),
        });
        if settings.mode != RoutingMode::Address {
            match Listener::bind(
                settings.default_address,
                settings.tls.as_ref(),
                Routes::shared(&settings.mode),
                self.targets(&state),
            )
            .await
            {
                Ok(listener) => state.shared = Some(listener),
                Err(problem) => self.problems.set("", Some(problem)),
            }
        }
        state.settings = Some(settings);
        Ok(())
    }

    async fn health(&self) -> HealthCheckResponse {
        self.problems.health()
    }

    async fn link_put(&self, link: LinkConfig) -> Result<(), BoxError> {
        if link.role != LinkRole::Source || !is_incoming_handler(&link.link) {
            return Ok(());
        }
        match self.put(&link.link, &link.config).await {
            Ok(()) => {
                self.problems.set(&link.link.name, None);
                tracing::info!(
                    provider_id = %self.provider_id,
                    component_id = %link.link.target,
                    link_name = %link.link.name,
                    "http route ready"
                );
            }
            Err(reason) => self.fail(&link.link, reason).await,
        }
        Ok(())
    }

    async fn link_del(
        &self,
        link: &InterfaceLinkDefinition,
        role: LinkRole,
    ) -> Result<(), BoxError> {
        if role == LinkRole::Source && is_incoming_handler(link) {
            self.remove(link).await;
        }
        Ok(())
    }

    async fn shutdown(&self) {
        let mut state = self.state.lock().await;
        state.own.clear();
        state.shared = None;
    }
}
