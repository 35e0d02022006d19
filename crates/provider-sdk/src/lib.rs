//! Write capability providers that run under a lattice host (or a wasmCloud 1.x host).
//!
//! A provider implements [`Provider`] and calls [`run_provider`] from `main`. The SDK
//! reads the host's bootstrap document (HostData) from stdin, connects to NATS with the
//! credentials in it, and then serves, on `wasmbus.rpc.{lattice}.…`:
//!
//! - `{provider_id}.health`: answered with [`Provider::health`];
//! - `{provider_id}.default.shutdown`: from the provider's own host only; runs
//!   [`Provider::shutdown`] and returns from [`run_provider`] (so does SIGTERM);
//! - `{xkey}.linkdefs.put` and `{provider_id}.linkdefs.del`: links in which the provider
//!   is source or target, with link secrets opened, to [`Provider::link_put`] and
//!   [`Provider::link_del`]; the links in HostData are replayed after `init`;
//! - `{provider_id}.config.update`: the merged named config, to [`Provider::config_update`].
//!
//! Handlers run one at a time, in arrival order.
//!
//! Components reach a provider over wRPC through their links: [`ProviderContext::wrpc`]
//! gives an endpoint to serve those interfaces (and to call components) on the
//! provider's connection, under [`ProviderContext::wrpc_prefix`].
//!
//! # Examples
//!
//! ```no_run
//! use lattice_provider_sdk::{LinkConfig, Provider, ProviderContext, run_provider};
//!
//! struct Echo;
//!
//! impl Provider for Echo {
//!     async fn link_put(&self, link: LinkConfig) -> Result<(), lattice_provider_sdk::BoxError> {
//!         println!("linked with {} as {:?}", link.peer(), link.role);
//!         Ok(())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lattice_provider_sdk::ProviderError> {
//!     run_provider(Echo).await
//! }
//! ```
//!
//! `examples/counter.rs` is a complete provider.

mod links;
mod run;

use std::collections::BTreeMap;
use std::future::Future;

pub use lattice_proto::provider::HealthCheckResponse;
pub use lattice_proto::{HostData, InterfaceLinkDefinition, SecretValue};
pub use links::{LinkConfig, LinkRole};
pub use run::{read_host_data_line, run_provider, run_provider_until, run_provider_with};

/// wRPC over NATS (no wasmtime): serve interfaces components import, call components.
pub use lattice_wrpc as wrpc;

/// The error type provider hooks return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the provider learns at start and can use while it runs.
#[derive(Clone, Debug)]
pub struct ProviderContext {
    /// The bootstrap document from the host.
    pub host_data: HostData,
    /// The provider's NATS connection (the host's rpc server).
    pub nats: async_nats::Client,
}

impl ProviderContext {
    /// The provider ID the host started it under.
    pub fn provider_id(&self) -> &str {
        &self.host_data.provider_key
    }

    /// The lattice name.
    pub fn lattice(&self) -> &str {
        &self.host_data.lattice_rpc_prefix
    }

    /// The provider's merged named config at start.
    pub fn config(&self) -> &BTreeMap<String, String> {
        &self.host_data.config
    }

    /// The subject prefix under which components call this provider over wRPC
    /// (`{lattice}.{provider_id}`): serve interfaces there with [`ProviderContext::wrpc`].
    pub fn wrpc_prefix(&self) -> wrpc::SubjectPrefix {
        wrpc::SubjectPrefix::target(self.lattice(), self.provider_id())
    }

    /// A wRPC endpoint on the provider's connection (one inbox for all its calls): serve
    /// interfaces that linked components import, and call components' exports.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn serve(ctx: &lattice_provider_sdk::ProviderContext) -> Result<(), lattice_provider_sdk::BoxError> {
    /// use lattice_provider_sdk::wrpc::InvocationSubject;
    /// use lattice_provider_sdk::wrpc::value::{Type, Value};
    ///
    /// let wrpc = ctx.wrpc().await?;
    /// let subject = InvocationSubject::new(ctx.wrpc_prefix(), "local:test/math@0.1.0", "add");
    /// let mut calls = wrpc.serve(&subject).await?;
    /// while let Some(Ok(mut call)) = calls.next().await {
    ///     let params = call.read_params(&[Type::U32, Type::U32]).await?;
    ///     let sum = match params.as_slice() {
    ///         [Value::U32(a), Value::U32(b)] => a.wrapping_add(*b),
    ///         _ => 0,
    ///     };
    ///     call.write_results(&[Value::U32(sum)], &[Type::U32]).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn wrpc(&self) -> Result<wrpc::WrpcClient, wrpc::ServeError> {
        wrpc::WrpcClient::new(self.nats.clone()).await
    }
}

/// A capability provider. Every hook has a default that does nothing (and `health`
/// answers healthy), so a provider implements only what it needs.
pub trait Provider: Send + Sync + 'static {
    /// Called once, after NATS is connected and the host's subjects are subscribed,
    /// before the links in HostData are replayed. An error ends the provider.
    fn init(&self, ctx: &ProviderContext) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Answers the host's health check.
    fn health(&self) -> impl Future<Output = HealthCheckResponse> + Send {
        async {
            HealthCheckResponse {
                healthy: true,
                message: None,
            }
        }
    }

    /// A link in which this provider is source or target was put, or changed: when a
    /// named config it uses changes, the link comes again with the new values and this
    /// is called once more (no delete in between; an identical re-put is not passed on).
    fn link_put(&self, link: LinkConfig) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = link;
        async { Ok(()) }
    }

    /// A link in which this provider is source or target was deleted.
    fn link_del(
        &self,
        link: &InterfaceLinkDefinition,
        role: LinkRole,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = (link, role);
        async { Ok(()) }
    }

    /// The provider's merged named config changed; `config` is the whole new map.
    fn config_update(
        &self,
        config: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = config;
        async { Ok(()) }
    }

    /// The host asked the provider to stop (or it got SIGTERM). Release resources here;
    /// [`run_provider`] returns afterwards.
    fn shutdown(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Why a provider could not run.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Stdin could not be read.
    #[error("cannot read HostData from stdin: {0}")]
    Stdin(#[from] std::io::Error),
    /// Stdin did not hold a HostData document.
    #[error(transparent)]
    HostData(#[from] lattice_proto::host_data::HostDataDecodeError),
    /// The xkeys in HostData are not valid.
    #[error("invalid xkey in HostData ({which}): {reason}")]
    Xkey {
        /// Which key.
        which: &'static str,
        /// What nkeys said.
        reason: String,
    },
    /// NATS could not be reached.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The URL from HostData.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A subscription failed.
    #[error("cannot subscribe to {subject}: {reason}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// What went wrong.
        reason: String,
    },
    /// The provider's `init` failed.
    #[error("provider init failed: {0}")]
    Init(BoxError),
}
