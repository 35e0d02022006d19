//! `wasmcloud+builtin://http-client`: components' outgoing HTTP.
//!
//! Components on this host that link to it (`wasi:http/outgoing-handler`) send their
//! requests through its client in-process; it also serves
//! `wrpc:http/outgoing-handler@0.1.0.handle` over wRPC for callers elsewhere. Its
//! provider config sets the client's roots and idle timeout
//! ([`ClientSettings`](crate::http_client::ClientSettings)); a config it cannot use
//! makes it unhealthy with the reason, and every request gets that reason as
//! `internal-error` until the provider is started again with a good config.

use std::sync::Arc;

use lattice_proto::provider::HealthCheckResponse;
use lattice_provider_sdk::{BoxError, Provider, ProviderContext};
use tokio_util::sync::CancellationToken;

use super::BuiltinEnv;
use crate::http_client::{ClientSettings, OutgoingClient};

pub(crate) struct HttpClient {
    env: BuiltinEnv,
    provider_id: String,
    serving: CancellationToken,
    problems: super::Problems,
}

impl HttpClient {
    pub(crate) fn new(env: BuiltinEnv, provider_id: String) -> Self {
        HttpClient {
            env,
            provider_id,
            serving: CancellationToken::new(),
            problems: super::Problems::default(),
        }
    }
}

impl Provider for HttpClient {
    async fn init(&self, ctx: &ProviderContext) -> Result<(), BoxError> {
        let client = ClientSettings::from_config(ctx.config())
            .and_then(|settings| OutgoingClient::new(&settings))
            .map(Arc::new)
            .map_err(|problem| format!("provider config: {problem}"));
        match &client {
            Ok(client) => self
                .env
                .http_clients
                .insert(&self.provider_id, client.clone()),
            Err(problem) => {
                tracing::warn!(provider_id = %self.provider_id, %problem, "http-client config");
                self.problems.set("", Some(problem.clone()));
            }
        }
        let wrpc = ctx.wrpc().await?;
        crate::http_client::serve::serve(&wrpc, ctx.wrpc_prefix(), client, self.serving.clone())
            .await?;
        Ok(())
    }

    async fn health(&self) -> HealthCheckResponse {
        self.problems.health()
    }
}

/// However it ends (shutdown request, stop, restart), components stop reaching it and
/// its wRPC serving ends.
impl Drop for HttpClient {
    fn drop(&mut self) {
        self.env.http_clients.remove(&self.provider_id);
        self.serving.cancel();
    }
}
