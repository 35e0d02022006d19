//! Test harness for lattice: a real `nats-server` with JetStream per test (on a free
//! port, killed on drop), hosts configured for tests, and waiting on events instead of
//! sleeping.
//!
//! ```no_run
//! # async fn t() -> anyhow::Result<()> {
//! use lattice_test_support::{TestNats, EventWatcher};
//! let nats = TestNats::start().await?;
//! let events = EventWatcher::new(&nats.client().await?, "default").await?;
//! let host = nats.start_host(|_| {}).await?;
//! let started = events.next_named("host_started").await?;
//! assert_eq!(started.source, host.id());
//! # Ok(()) }
//! ```

mod cluster;
pub mod components;
pub mod nats_auth;
pub mod otlp;
mod registry;
mod upstream;

pub use cluster::TestCluster;
pub use registry::TestRegistry;
pub use upstream::http_upstream;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use lattice_client::{ClientError, EventStream};
use lattice_host::nats_server::{NatsServer, NatsServerConfig, find_nats_server};
use lattice_host::{Host, HostConfig};
use lattice_proto::events::CloudEvent;
use tokio::sync::Mutex;

/// How long a test waits for any one reply or event before failing.
pub const WAIT: Duration = Duration::from_secs(10);

/// How long [`EventWatcher::next_matching`] waits for an event a test expects. Generous:
/// in CI two cores run the tests of one binary side by side, each with its own
/// nats-server, hosts and providers (three-node clusters among them), and a provider
/// start can take seconds there. A passing test never waits it out.
pub const EVENT_WAIT: Duration = Duration::from_secs(30);

/// How long a test waits for a component to be compiled and scaled: a large one takes
/// long on a cold, busy machine, and a small one can queue behind another test's large
/// one (wasmtime compiles on the process-wide rayon pool, shared by the tests of a binary).
pub const COMPILE_WAIT: Duration = Duration::from_secs(180);

/// A `nats-server` with JetStream in a temporary directory, on a free loopback port.
pub struct TestNats {
    server: Option<NatsServer>,
    store: tempfile::TempDir,
}

impl TestNats {
    /// Starts the server (found as `lattice up` finds it) and waits until it is ready.
    pub async fn start() -> anyhow::Result<Self> {
        let binary = find_nats_server(None)?;
        let store = tempfile::tempdir().context("cannot create a JetStream directory")?;
        let config = NatsServerConfig::loopback(binary, Some(store.path().to_path_buf()));
        let server = NatsServer::start(&config).await?;
        Ok(TestNats {
            server: Some(server),
            store,
        })
    }

    /// Stops the server (SIGTERM: it flushes its file store) and starts it again on the
    /// same port with the same JetStream store.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.restart_after(Duration::ZERO).await
    }

    /// As [`TestNats::restart`], with the server down for `down` in between (an outage).
    pub async fn restart_after(&mut self, down: Duration) -> anyhow::Result<()> {
        let mut config = NatsServerConfig::loopback(
            find_nats_server(None)?,
            Some(self.store.path().to_path_buf()),
        );
        let running = self.server.take().context("the server is running")?;
        config.port = Some(running.port());
        running.stop(Duration::from_secs(10)).await;
        tokio::time::sleep(down).await;
        self.server = Some(NatsServer::start(&config).await?);
        Ok(())
    }

    fn server(&self) -> &NatsServer {
        self.server
            .as_ref()
            .expect("the server runs outside `restart`")
    }

    /// The client URL.
    pub fn url(&self) -> &str {
        self.server().url()
    }

    /// A new client connection.
    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        async_nats::connect(self.url())
            .await
            .with_context(|| format!("cannot connect to {}", self.url()))
    }

    /// A host config for this server (the library defaults), ready to adjust.
    pub fn host_config(&self) -> HostConfig {
        let mut config = HostConfig::new(self.url());
        // Tests run many hosts side by side: a small component pool each.
        config.runtime.max_components = 16;
        config.runtime.max_linear_memory_bytes = 64 << 20;
        // The hosts of one server share a blob cache, as the hosts of one machine do.
        config.oci.cache.dir = self.store.path().join("oci-cache");
        config
    }

    /// Starts a host on this server after `adjust` has changed its config.
    ///
    /// With `LATTICE_TEST_LOG` set (a `RUST_LOG`-style filter, such as
    /// `lattice_host=debug`), the hosts' logs are printed with the test's output.
    pub async fn start_host(&self, adjust: impl FnOnce(&mut HostConfig)) -> anyhow::Result<Host> {
        show_logs();
        let mut config = self.host_config();
        adjust(&mut config);
        Ok(Host::start(config).await?)
    }
}

/// Installs a log subscriber once per test process when `LATTICE_TEST_LOG` is set.
pub(crate) fn show_logs() {
    if let Ok(filter) = std::env::var("LATTICE_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// Follows every event of a lattice from the moment it is created (a
/// [`lattice_client::EventStream`] shared by `&self` callers). Stricter than the stream's
/// own `wait_for`: an event that is not a CloudEvent fails the wait.
pub struct EventWatcher {
    stream: Mutex<EventStream>,
}

impl EventWatcher {
    /// Subscribes to `wasmbus.evt.{lattice}.>` (and waits until the server knows it).
    pub async fn new(client: &async_nats::Client, lattice: &str) -> anyhow::Result<Self> {
        let stream = EventStream::subscribe(client, lattice).await?;
        Ok(EventWatcher {
            stream: Mutex::new(stream),
        })
    }

    /// The next event of any kind, as raw message payload.
    pub async fn next_raw(&self) -> anyhow::Result<async_nats::Message> {
        match tokio::time::timeout(WAIT, self.next_message()).await {
            Ok(message) => message,
            Err(_) => bail!("no event within {WAIT:?}"),
        }
    }

    async fn next_message(&self) -> anyhow::Result<async_nats::Message> {
        Ok(self.stream.lock().await.next_message().await?)
    }

    /// Skips events until one named `name` arrives (within [`WAIT`]).
    pub async fn next_named(&self, name: &str) -> anyhow::Result<CloudEvent> {
        self.next_matching(name, |_| true).await
    }

    /// Skips events until one named `name` for which `pred` holds arrives.
    pub async fn next_matching(
        &self,
        name: &str,
        pred: impl Fn(&CloudEvent) -> bool,
    ) -> anyhow::Result<CloudEvent> {
        self.next_matching_within(name, EVENT_WAIT, pred).await
    }

    /// As [`EventWatcher::next_matching`], waiting up to `within` (for work that is
    /// slow on a cold machine, such as compiling a large component).
    pub async fn next_matching_within(
        &self,
        name: &str,
        within: Duration,
        pred: impl Fn(&CloudEvent) -> bool,
    ) -> anyhow::Result<CloudEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let message = tokio::time::timeout_at(deadline, self.next_message())
                .await
                .with_context(|| format!("no {name} event within {within:?}"))??;
            let event: CloudEvent = serde_json::from_slice(&message.payload)
                .with_context(|| format!("undecodable event on {}", message.subject))?;
            if event.event_name() == name && pred(&event) {
                return Ok(event);
            }
        }
    }
}

/// The path of a binary of this workspace, built first if needed (once per test process).
///
/// Tests of one package cannot ask cargo for another package's binaries, so this runs
/// `cargo build -p {package} --bin {bin}` with the profile the tests run under. It
/// builds into its own target directory (`target/test-bins`): a package's tests and a
/// plain build resolve dependency features differently, and sharing one directory
/// would make each rebuild what the other just built.
pub fn workspace_bin(package: &str, bin: &str) -> anyhow::Result<PathBuf> {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let exe = std::env::current_exe()?;
    // Test binaries live in {target}/{profile}/deps.
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("cannot locate the target directory")?;
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("cannot name the profile")?
        .to_string();
    let target_dir = profile_dir
        .parent()
        .context("cannot locate the target directory")?
        .join("test-bins");
    let path = target_dir.join(&profile).join(bin);
    let mut built = BUILT.lock().expect("not poisoned");
    if !built.iter().any(|b| b == bin) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", package, "--bin", bin])
            .arg("--target-dir")
            .arg(&target_dir);
        if profile == "release" {
            cmd.arg("--release");
        }
        let status = cmd.status().context("cannot run cargo")?;
        if !status.success() {
            bail!("cargo build -p {package} --bin {bin} failed: {status}");
        }
        built.push(bin.to_string());
    }
    Ok(path)
}

/// Writes an executable script at `dir/name` that runs `program` with `args` (the host
/// runs providers without arguments; tests use this to pass some).
pub fn wrapper_script(
    dir: &std::path::Path,
    name: &str,
    program: &std::path::Path,
    args: &[&str],
) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    let quoted: Vec<String> = std::iter::once(program.display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    std::fs::write(&path, format!("#!/bin/sh\nexec {}\n", quoted.join(" ")))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

/// Sends a control request with a JSON body (`null` sends an empty payload) and decodes
/// the reply (whatever its `success`); panics with the subject if no reply comes within
/// [`WAIT`].
pub async fn ctl_request(
    client: &async_nats::Client,
    subject: String,
    body: serde_json::Value,
) -> lattice_proto::CtlResponse<serde_json::Value> {
    let payload = match body {
        serde_json::Value::Null => Vec::new(),
        body => serde_json::to_vec(&body).expect("JSON encodes"),
    };
    match lattice_client::request(client, subject.clone(), payload, WAIT).await {
        Ok(reply) => reply,
        Err(ClientError::TimedOut { .. }) => panic!("no reply on {subject} within {WAIT:?}"),
        Err(ClientError::Undecodable { reason, .. }) => {
            panic!("reply on {subject} is not a CtlResponse: {reason}")
        }
        Err(e) => panic!("request on {subject}: {e}"),
    }
}

/// What a test provider reports on `lattice.test.{id}.seen` (link puts and deletes,
/// config updates), in order.
pub struct ProviderReports {
    subscriber: Mutex<async_nats::Subscriber>,
}

impl ProviderReports {
    /// Follows `provider_id`'s reports from now on.
    pub async fn follow(client: &async_nats::Client, provider_id: &str) -> anyhow::Result<Self> {
        let subscriber = client
            .subscribe(format!("lattice.test.{provider_id}.seen"))
            .await?;
        lattice_nats::server_round_trip(client)
            .await
            .map_err(|e| anyhow::anyhow!("cannot sync with the NATS server: {e}"))?;
        Ok(ProviderReports {
            subscriber: Mutex::new(subscriber),
        })
    }

    /// The next report (within [`WAIT`]).
    pub async fn next(&self) -> anyhow::Result<serde_json::Value> {
        self.next_within(WAIT).await
    }

    /// The next report, within `wait`.
    pub async fn next_within(&self, wait: Duration) -> anyhow::Result<serde_json::Value> {
        let mut subscriber = self.subscriber.lock().await;
        let message = tokio::time::timeout(wait, subscriber.next())
            .await
            .context("no report from the provider")?
            .context("the subscription ended")?;
        Ok(serde_json::from_slice(&message.payload)?)
    }
}
