//! A capability provider built with the official `wasmcloud-provider-sdk` (0.17.1, as
//! pinned by wasmCloud v1.9.2), unmodified in how it talks to its host. Its shutdown
//! hook reports on `oracle.{provider_id}.shutdown_hook`, so tests can see it ran.

use wasmcloud_provider_sdk::{Provider, get_connection, run_provider};

struct OracleProvider;

impl Provider for OracleProvider {
    async fn shutdown(&self) -> anyhow::Result<()> {
        let connection = get_connection();
        let subject = format!("oracle.{}.shutdown_hook", connection.provider_id);
        connection.nats.publish(subject, "ran".into()).await?;
        connection.nats.flush().await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let shutdown = run_provider(OracleProvider, "oracle-provider").await?;
    shutdown.await;
    Ok(())
}
