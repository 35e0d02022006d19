//! The host's builtin providers (`wasmcloud+builtin://…`), run in-process.
//!
//! A builtin is a provider like any other to the rest of the lattice: it is started with
//! `provider.start`, supervised (restarted if it fails), gets a HostData, its links and
//! config over NATS through the provider SDK, answers health checks and the shutdown
//! request, and is listed in inventory. What differs is that it runs as a task in the
//! host (an [`Instance::Task`](crate::providers)) and reaches the components of this
//! host in-process.
//!
//! In 1.9.2 each builtin is behind an experimental `--feature`; in lattice they are on
//! by default and [`BuiltinSettings::disabled`] turns one off. A start of a builtin that
//! is off or unknown gets an error reply naming it (1.9.2 sends no reply for a disabled
//! http-server or messaging-nats, and success-then-failure for http-client).

mod http_client;
mod http_server;
mod messaging_nats;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use lattice_proto::HostData;
use lattice_proto::InterfaceLinkDefinition;
use lattice_proto::provider::HealthCheckResponse;

use crate::components::LocalComponents;
use crate::events::EventPublisher;
use crate::providers::ProviderTask;

/// The scheme of builtin references.
pub const BUILTIN_SCHEME: &str = "wasmcloud+builtin://";

/// The builtin providers of 1.9.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BuiltinKind {
    /// `wasmcloud+builtin://http-server`: HTTP in, to components' `wasi:http/incoming-handler`.
    HttpServer,
    /// `wasmcloud+builtin://http-client`: components' outgoing HTTP.
    HttpClient,
    /// `wasmcloud+builtin://messaging-nats`: `wasmcloud:messaging` over NATS.
    MessagingNats,
}

impl BuiltinKind {
    /// Every builtin.
    pub const ALL: [BuiltinKind; 3] = [
        BuiltinKind::HttpServer,
        BuiltinKind::HttpClient,
        BuiltinKind::MessagingNats,
    ];

    /// Its name in references (`http-server`).
    pub fn name(self) -> &'static str {
        match self {
            BuiltinKind::HttpServer => "http-server",
            BuiltinKind::HttpClient => "http-client",
            BuiltinKind::MessagingNats => "messaging-nats",
        }
    }

    /// The 1.9.2 `--feature` that enables it (`builtin-http-server`).
    pub fn feature(self) -> &'static str {
        match self {
            BuiltinKind::HttpServer => "builtin-http-server",
            BuiltinKind::HttpClient => "builtin-http-client",
            BuiltinKind::MessagingNats => "builtin-messaging-nats",
        }
    }

    /// The builtin a provider reference names: `None` if it is not a builtin reference,
    /// `Some(Err(name))` for an unknown name.
    pub(crate) fn of_reference(reference: &str) -> Option<Result<Self, String>> {
        let name = reference.strip_prefix(BUILTIN_SCHEME)?;
        Some(name.parse().map_err(|_| name.to_string()))
    }
}

impl fmt::Display for BuiltinKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BuiltinKind {
    type Err = String;

    /// `http-server`, or its feature name `builtin-http-server`.
    fn from_str(s: &str) -> Result<Self, String> {
        BuiltinKind::ALL
            .into_iter()
            .find(|kind| s == kind.name() || s == kind.feature())
            .ok_or_else(|| {
                format!(
                    "unknown builtin provider `{s}` (known: {})",
                    BuiltinKind::ALL.map(BuiltinKind::name).join(", ")
                )
            })
    }
}

/// Which builtins a host runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuiltinSettings {
    /// Builtins turned off (all are on by default).
    pub disabled: BTreeSet<BuiltinKind>,
}

/// Why a builtin cannot be started here (the `provider.start` error reply).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum BuiltinRefused {
    #[error(
        "unknown builtin provider `{BUILTIN_SCHEME}{0}` (known: http-server, http-client, messaging-nats)"
    )]
    Unknown(String),
    #[error(
        "builtin provider {BUILTIN_SCHEME}{0} is turned off on this host (lattice up --disable-builtin {0})"
    )]
    Disabled(BuiltinKind),
}

impl BuiltinSettings {
    /// Whether `reference` may be started here: `Ok(None)` for a reference that is not
    /// a builtin, `Ok(Some(kind))` for one that is on.
    pub(crate) fn check(&self, reference: &str) -> Result<Option<BuiltinKind>, BuiltinRefused> {
        match BuiltinKind::of_reference(reference) {
            None => Ok(None),
            Some(Err(name)) => Err(BuiltinRefused::Unknown(name)),
            Some(Ok(kind)) if self.disabled.contains(&kind) => Err(BuiltinRefused::Disabled(kind)),
            Some(Ok(kind)) => Ok(Some(kind)),
        }
    }
}

/// What builtins may use: the components of this host and the event publisher.
#[derive(Clone)]
pub(crate) struct BuiltinEnv {
    pub(crate) settings: BuiltinSettings,
    pub(crate) components: LocalComponents,
    /// Where a builtin http-client lists its client for components on this host.
    pub(crate) http_clients: crate::http_client::LocalHttpClients,
    pub(crate) events: EventPublisher,
    pub(crate) host_id: String,
}

impl BuiltinEnv {
    /// `provider_link_failed` for a link `provider_id` could not apply.
    pub(crate) async fn link_failed(
        &self,
        provider_id: &str,
        link: &InterfaceLinkDefinition,
        reason: &str,
    ) {
        crate::lattice::link_failed(&self.events, &self.host_id, provider_id, link, reason).await;
    }
}

/// What is wrong with a builtin now, by key (a link, or `""` for the provider itself):
/// its health answer.
#[derive(Default)]
pub(crate) struct Problems(std::sync::Mutex<BTreeMap<String, String>>);

impl Problems {
    /// Records (`Some`) or clears (`None`) the problem under `key`.
    pub(crate) fn set(&self, key: &str, problem: Option<String>) {
        let mut problems = self.0.lock().expect("not poisoned");
        match problem {
            Some(problem) => problems.insert(key.to_string(), problem),
            None => problems.remove(key),
        };
    }

    /// Healthy without problems; otherwise unhealthy, the problems as the message.
    pub(crate) fn health(&self) -> HealthCheckResponse {
        let problems = self.0.lock().expect("not poisoned");
        HealthCheckResponse {
            healthy: problems.is_empty(),
            message: (!problems.is_empty())
                .then(|| problems.values().cloned().collect::<Vec<_>>().join("; ")),
        }
    }
}

/// Starts `kind` as a task speaking the provider protocol with `host_data`.
pub(crate) fn launch(kind: BuiltinKind, env: &BuiltinEnv, host_data: HostData) -> ProviderTask {
    let env = env.clone();
    ProviderTask::spawn(move |cancel| async move {
        let provider_id = host_data.provider_key.clone();
        let result = match kind {
            BuiltinKind::HttpServer => {
                let provider = http_server::HttpServer::new(env, provider_id.clone());
                lattice_provider_sdk::run_provider_until(
                    provider,
                    host_data,
                    cancel.cancelled_owned(),
                )
                .await
            }
            BuiltinKind::MessagingNats => {
                let provider = messaging_nats::MessagingNats::new(env, provider_id.clone());
                lattice_provider_sdk::run_provider_until(
                    provider,
                    host_data,
                    cancel.cancelled_owned(),
                )
                .await
            }
            BuiltinKind::HttpClient => {
                let provider = http_client::HttpClient::new(env, provider_id.clone());
                lattice_provider_sdk::run_provider_until(
                    provider,
                    host_data,
                    cancel.cancelled_owned(),
                )
                .await
            }
        };
        match result {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(%provider_id, %kind, %error, "builtin provider failed");
                false
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_feature_names_parse() {
        assert_eq!(
            BuiltinKind::of_reference("wasmcloud+builtin://http-server"),
            Some(Ok(BuiltinKind::HttpServer))
        );
        assert_eq!(BuiltinKind::of_reference("file:///x"), None);
        assert_eq!(
            BuiltinKind::of_reference("wasmcloud+builtin://ftp"),
            Some(Err("ftp".to_string()))
        );
        assert_eq!(
            "builtin-messaging-nats".parse::<BuiltinKind>(),
            Ok(BuiltinKind::MessagingNats)
        );
        assert!("builtin-ftp".parse::<BuiltinKind>().is_err());
    }

    #[test]
    fn starts_are_checked() {
        let mut settings = BuiltinSettings::default();
        assert_eq!(
            settings.check("wasmcloud+builtin://http-server"),
            Ok(Some(BuiltinKind::HttpServer))
        );
        assert_eq!(settings.check("ghcr.io/x/y:1"), Ok(None));
        assert_eq!(
            settings.check("wasmcloud+builtin://http-client"),
            Ok(Some(BuiltinKind::HttpClient))
        );
        assert_eq!(
            settings.check("wasmcloud+builtin://messaging-nats"),
            Ok(Some(BuiltinKind::MessagingNats))
        );
        settings.disabled.insert(BuiltinKind::HttpServer);
        let refused = settings
            .check("wasmcloud+builtin://http-server")
            .unwrap_err();
        assert_eq!(refused, BuiltinRefused::Disabled(BuiltinKind::HttpServer));
        assert!(
            refused
                .to_string()
                .contains("--disable-builtin http-server")
        );
    }
}
