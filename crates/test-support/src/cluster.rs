//! A `nats-server` cluster with JetStream on loopback ports: every node routes to every
//! other, each with its own store; a node can be killed (SIGKILL) mid-test.

use std::time::Duration;

use anyhow::Context as _;
use lattice_host::HostConfig;
use lattice_host::nats_server::{NatsServer, NatsServerConfig, find_nats_server};

/// The running cluster; every node is killed on drop.
pub struct TestCluster {
    nodes: Vec<Option<NatsServer>>,
    urls: Vec<String>,
    _store: tempfile::TempDir,
}

/// A free loopback port (free when asked; the server binds it right after).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl TestCluster {
    /// Starts `size` nodes and waits until JetStream has a meta leader.
    pub async fn start(size: usize) -> anyhow::Result<Self> {
        let binary = find_nats_server(None)?;
        let store = tempfile::tempdir()?;
        let routes: Vec<u16> = (0..size).map(|_| free_port()).collect::<Result<_, _>>()?;
        let all_routes = routes
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::new();
        let mut urls = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            let mut config = NatsServerConfig::loopback(
                binary.clone(),
                Some(store.path().join(format!("n{i}"))),
            );
            config.extra_args = vec![
                "--server_name".into(),
                format!("n{i}"),
                "--cluster_name".into(),
                "lattice-test".into(),
                "--cluster".into(),
                format!("nats://127.0.0.1:{route}"),
                "--routes".into(),
                all_routes.clone(),
            ];
            let node = NatsServer::start(&config)
                .await
                .with_context(|| format!("cluster node n{i}"))?;
            urls.push(node.url().to_string());
            nodes.push(Some(node));
        }
        let cluster = TestCluster {
            nodes,
            urls,
            _store: store,
        };
        cluster.wait_for_jetstream().await?;
        Ok(cluster)
    }

    async fn wait_for_jetstream(&self) -> anyhow::Result<()> {
        let client = async_nats::connect(&self.urls[0]).await?;
        let js = async_nats::jetstream::new(client);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match js.query_account().await {
                Ok(_) => return Ok(()),
                Err(error) if tokio::time::Instant::now() > deadline => {
                    anyhow::bail!("the cluster's JetStream never came up: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Node `i`'s client URL.
    pub fn url(&self, i: usize) -> &str {
        &self.urls[i]
    }

    /// A host config on node `i` (the test defaults of [`crate::TestNats`]).
    pub fn host_config(&self, i: usize) -> HostConfig {
        let mut config = HostConfig::new(self.url(i));
        config.runtime.max_components = 16;
        config.runtime.max_linear_memory_bytes = 64 << 20;
        config
    }

    /// Starts a host on node `i` after `adjust` has changed its config (logs as
    /// [`crate::TestNats::start_host`] shows them).
    pub async fn start_host(
        &self,
        i: usize,
        adjust: impl FnOnce(&mut HostConfig),
    ) -> anyhow::Result<lattice_host::Host> {
        crate::show_logs();
        let mut config = self.host_config(i);
        adjust(&mut config);
        Ok(lattice_host::Host::start(config).await?)
    }

    /// Kills node `i` (SIGKILL: no goodbye to clients or the cluster).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i] = None;
    }
}
