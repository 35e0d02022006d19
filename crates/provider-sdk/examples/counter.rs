//! A complete provider: counts the health checks it answers and the links it holds, and
//! prints what happens to stdout (the host captures it: `lattice logs PROVIDER_ID`).
//!
//! Start it on a host that allows file loading:
//!
//! ```sh
//! cargo build -p lattice-provider-sdk --example counter
//! lattice start provider file://$PWD/target/debug/examples/counter counter
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use lattice_provider_sdk::{
    BoxError, HealthCheckResponse, InterfaceLinkDefinition, LinkConfig, LinkRole, Provider,
    ProviderContext, run_provider,
};

#[derive(Default)]
struct Counter {
    checks: AtomicU64,
    links: AtomicU64,
}

impl Provider for Counter {
    async fn init(&self, ctx: &ProviderContext) -> Result<(), BoxError> {
        println!(
            "counter {} started on lattice {} with config {:?}",
            ctx.provider_id(),
            ctx.lattice(),
            ctx.config()
        );
        Ok(())
    }

    async fn health(&self) -> HealthCheckResponse {
        let n = self.checks.fetch_add(1, Ordering::Relaxed) + 1;
        HealthCheckResponse {
            healthy: true,
            message: Some(format!("{n} health checks answered")),
        }
    }

    async fn link_put(&self, link: LinkConfig) -> Result<(), BoxError> {
        let n = self.links.fetch_add(1, Ordering::Relaxed) + 1;
        println!(
            "linked with {} as {:?} (config {:?}); {n} links",
            link.peer(),
            link.role,
            link.config
        );
        Ok(())
    }

    async fn link_del(
        &self,
        link: &InterfaceLinkDefinition,
        role: LinkRole,
    ) -> Result<(), BoxError> {
        self.links.fetch_sub(1, Ordering::Relaxed);
        println!("unlinked {}/{} as {role:?}", link.source_id, link.target);
        Ok(())
    }

    async fn config_update(
        &self,
        config: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), BoxError> {
        println!("config is now {config:?}");
        Ok(())
    }

    async fn shutdown(&self) {
        println!(
            "counter shutting down after {} health checks",
            self.checks.load(Ordering::Relaxed)
        );
    }
}

#[tokio::main]
async fn main() -> Result<(), lattice_provider_sdk::ProviderError> {
    run_provider(Counter::default()).await
}
