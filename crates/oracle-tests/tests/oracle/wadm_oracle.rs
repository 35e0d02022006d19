//! wadm 0.21.1, the official wasmCloud application deployment manager, embedded in the
//! test, drives lattice hosts through a whole application life: deploy, scale, a
//! crashed provider, a host replaced, undeploy.
//!
//! The application has the official-SDK provider under a spreadscaler (hosts labelled
//! `wadm-e2e=yes`) with a link to a component that has no scaler (wadm supports no
//! provider→provider links), and lattice's test provider under a daemonscaler (one per
//! host). A second test deploys a component (written in the component text format,
//! loaded from `file://`) under a spreadscaler, linked to the official-SDK provider:
//! wadm scales it on a host, a new version changes its `max_instances`, undeploy scales
//! it to 0, and it answers over wRPC under the ID wadm gave it while deployed.
//!
//! wadm talks to the hosts only through the control interface and the lattice events,
//! so everything it does here goes through lattice's implementation of both. The tests
//! wait by polling wadm's status API (`model.status`), wadm's state bucket and the
//! hosts' inventories every 250 ms.
//!
//! One wadm trait shapes the steps: after a scaler sends `provider.start` it ignores
//! every event for up to 60 s until a `provider_started` matches the command exactly,
//! `image_ref` included, and hosts report a `file://` reference without its scheme
//! (1.9.2 does too), so none ever matches. Whatever needs a scaler to act again must
//! come from a scaler that has not started anything since it was created (each
//! deployed version creates new ones), or it waits that minute. Hence the test lets
//! wadm learn of both hosts before the first deploy, and a scaler never has to start a
//! provider twice within a version.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use lattice_host::Host;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::{EventWatcher, TestNats, WAIT, ctl_request, workspace_bin};
use serde_json::{Value, json};

pub(crate) const OFFICIAL_PROVIDER: &str = env!("CARGO_BIN_EXE_official-sdk-provider");
pub(crate) const LATTICE: &str = "default";
pub(crate) const APP: &str = "wadm-e2e";
/// The official-SDK provider's ID (spreadscaler).
pub(crate) const KV: &str = "wadm-kv";
/// The lattice test provider's ID (daemonscaler).
pub(crate) const PROBE: &str = "wadm-probe";
/// The label that makes a host eligible for the spread.
pub(crate) const LABEL: (&str, &str) = ("wadm-e2e", "yes");
pub(crate) const SPREAD: &str = "labelled";
/// Config names as wadm rewrites them: `{app}-{name}`, lowercased, non-alphanumerics as `_`.
pub(crate) const SOURCE_CONFIG: &str = "wadm_e2e-kv_source";
pub(crate) const TARGET_CONFIG: &str = "wadm_e2e-sink_target";
/// Bound of every wait on wadm and the hosts.
pub(crate) const SETTLE: Duration = Duration::from_secs(30);
pub(crate) const POLL: Duration = Duration::from_millis(250);

/// The application at `version` with `kv_instances` instances of the official-SDK provider.
pub(crate) fn manifest(version: &str, kv_instances: usize, probe_path: &str) -> Value {
    json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": {"name": APP, "annotations": {"version": version}},
        "spec": {"components": [
            {
                "name": "kv",
                "type": "capability",
                "properties": {"image": format!("file://{OFFICIAL_PROVIDER}"), "id": KV},
                "traits": [
                    {"type": "spreadscaler", "properties": {
                        "instances": kv_instances,
                        "spread": [{"name": SPREAD, "requirements": {LABEL.0: LABEL.1}}],
                    }},
                    {"type": "link", "properties": {
                        "namespace": "wasi", "package": "keyvalue", "interfaces": ["store"],
                        "source": {"config": [{"name": "kv-source", "properties": {"side": "source"}}]},
                        "target": {"name": "sink", "config": [{"name": "sink-target", "properties": {"side": "target"}}]},
                    }},
                ],
            },
            {
                "name": "probe",
                "type": "capability",
                "properties": {"image": format!("file://{probe_path}"), "id": PROBE},
                "traits": [{"type": "daemonscaler", "properties": {"instances": 1}}],
            },
            // A link target only: no scaler, so wadm never asks a host to run it.
            {"name": "sink", "type": "component", "properties": {"image": "file:///nonexistent/sink.wasm", "id": "sink"}},
        ]},
    })
}

/// What the test sees of the lattice: wadm's API, the hosts' control interface and
/// wadm's own state bucket.
pub(crate) struct Lattice {
    pub(crate) client: async_nats::Client,
    pub(crate) ctl: CtlSubjects,
}

/// Where the application runs once wadm and the hosts agree.
pub(crate) struct Settled {
    /// Host ID → the official-SDK provider's inventory entry.
    kv: BTreeMap<String, Value>,
    /// Host ID → the test provider's inventory entry.
    probe: BTreeMap<String, Value>,
    status: Value,
}

impl Lattice {
    /// A wadm API request (`wadm.api.{lattice}.{op}`); the reply must not be an error.
    pub(crate) async fn wadm(&self, op: &str, body: &Value) -> anyhow::Result<Value> {
        let subject = format!("wadm.api.{LATTICE}.{op}");
        let payload = match body {
            Value::Null => Vec::new(),
            body => serde_json::to_vec(body)?,
        };
        let reply =
            tokio::time::timeout(WAIT, self.client.request(subject.clone(), payload.into()))
                .await
                .with_context(|| format!("no reply from wadm on {subject}"))??;
        let reply: Value = serde_json::from_slice(&reply.payload)?;
        ensure!(reply["result"] != "error", "{subject}: {reply}");
        Ok(reply)
    }

    pub(crate) async fn put_and_deploy(&self, manifest: &Value) -> anyhow::Result<()> {
        let version = &manifest["metadata"]["annotations"]["version"];
        let put = self.wadm("model.put", manifest).await?;
        ensure!(
            put["current_version"] == *version && put["name"] == APP,
            "put: {put}"
        );
        let deploy = self
            .wadm(&format!("model.deploy.{APP}"), &json!({"version": version}))
            .await?;
        ensure!(deploy["result"] == "acknowledged", "deploy: {deploy}");
        Ok(())
    }

    /// wadm's status of the application (`{"status": {"type": …}, "scalers": […]}`).
    pub(crate) async fn status(&self) -> anyhow::Result<Value> {
        let reply = self
            .wadm(&format!("model.status.{APP}"), &Value::Null)
            .await?;
        Ok(reply["status"].clone())
    }

    /// Host ID → the inventory entry of `provider_id` on each of `hosts` that lists it.
    pub(crate) async fn placements(
        &self,
        hosts: &[String],
        provider_id: &str,
    ) -> anyhow::Result<BTreeMap<String, Value>> {
        self.inventory(hosts, "providers", |p| p["id"] == provider_id)
            .await
    }

    /// Host ID → the first entry of the inventory list `kind` (`providers`,
    /// `components`) on each of `hosts` for which `pick` holds.
    pub(crate) async fn inventory(
        &self,
        hosts: &[String],
        kind: &str,
        pick: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<BTreeMap<String, Value>> {
        let mut found = BTreeMap::new();
        for host in hosts {
            let reply = ctl_request(&self.client, self.ctl.host_get(host), Value::Null).await;
            ensure!(reply.success, "host.get {host}: {}", reply.message);
            let inventory = reply.response.context("an inventory")?;
            let listed = inventory[kind].as_array().cloned().unwrap_or_default();
            if let Some(entry) = listed.into_iter().find(&pick) {
                found.insert(host.clone(), entry);
            }
        }
        Ok(found)
    }

    pub(crate) async fn links(&self) -> anyhow::Result<Vec<Value>> {
        let reply = ctl_request(&self.client, self.ctl.link_get(), Value::Null).await;
        ensure!(reply.success, "link.get: {}", reply.message);
        Ok(reply
            .response
            .and_then(|r| r.as_array().cloned())
            .unwrap_or_default())
    }

    /// wadm's own state of the lattice (`{kind}_{lattice}` in its `wadm_state` bucket:
    /// a JSON map by ID).
    pub(crate) async fn wadm_state(&self, kind: &str) -> anyhow::Result<Value> {
        let js = async_nats::jetstream::new(self.client.clone());
        let state = js.get_key_value("wadm_state").await?;
        Ok(match state.get(format!("{kind}_{LATTICE}")).await? {
            Some(entry) => serde_json::from_slice(&entry)?,
            None => json!({}),
        })
    }

    /// The hosts wadm's state says run `provider_id`.
    pub(crate) async fn wadm_sees(&self, provider_id: &str) -> anyhow::Result<BTreeSet<String>> {
        let providers = self.wadm_state("provider").await?;
        Ok(providers[provider_id]["hosts"]
            .as_object()
            .map(|hosts| hosts.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// Waits until wadm's state holds exactly `hosts`. wadm reconciles a new manifest
    /// against the hosts it knows; one it learns of later waits for the scalers' next
    /// turn, which can be a minute away (see the test's doc).
    pub(crate) async fn wadm_knows(&self, hosts: &[String]) -> anyhow::Result<()> {
        let want: &BTreeSet<&String> = &hosts.iter().collect();
        eventually("wadm knows the hosts", || async move {
            let known = self.wadm_state("host").await?;
            let known: BTreeSet<&String> = known
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            Ok(match known == *want {
                true => Ok(()),
                false => Err(format!("wadm knows {known:?}")),
            })
        })
        .await
    }

    /// Waits until wadm reports the application deployed and it runs as asked: the
    /// official-SDK provider on `kv_instances` of `hosts`, the test provider on every
    /// one of them, all running and healthy, and wadm's state agreeing.
    pub(crate) async fn settled(
        &self,
        hosts: &[String],
        kv_instances: usize,
    ) -> anyhow::Result<Settled> {
        eventually("the application settles", || async move {
            let status = self.status().await?;
            if status["status"]["type"] != "deployed" {
                return Ok(Err(format!("wadm status {status}")));
            }
            let kv = self.placements(hosts, KV).await?;
            let probe = self.placements(hosts, PROBE).await?;
            let up = |p: &Value| p["state"] == "running" && p["healthy"] == true;
            if kv.len() != kv_instances || !kv.values().all(up) {
                return Ok(Err(format!("{KV} on {kv:?}")));
            }
            if probe.len() != hosts.len() || !probe.values().all(up) {
                return Ok(Err(format!("{PROBE} on {probe:?}")));
            }
            let kv_hosts: BTreeSet<String> = kv.keys().cloned().collect();
            let wadm_kv = self.wadm_sees(KV).await?;
            let wadm_probe = self.wadm_sees(PROBE).await?;
            if wadm_kv != kv_hosts || wadm_probe != hosts.iter().cloned().collect() {
                return Ok(Err(format!(
                    "wadm's state: {KV} on {wadm_kv:?}, {PROBE} on {wadm_probe:?}"
                )));
            }
            Ok(Ok(Settled { kv, probe, status }))
        })
        .await
    }
}

/// Polls `check` every [`POLL`] until it gives `Ok(value)`, for at most [`SETTLE`];
/// `Err(why)` says what is not there yet and ends up in the failure.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Result<T, String>>>,
{
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let why = match check().await? {
            Ok(value) => return Ok(value),
            Err(why) => why,
        };
        if tokio::time::Instant::now() >= deadline {
            bail!("{what}: not within {SETTLE:?}; last seen: {why}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The annotations wadm puts on what it starts.
pub(crate) fn assert_managed(provider: &Value, spread: Option<&str>) {
    let a = &provider["annotations"];
    assert_eq!(a["wasmcloud.dev/managed-by"], "wadm", "{provider}");
    assert_eq!(a["wasmcloud.dev/appspec"], APP, "{provider}");
    assert!(
        a["wasmcloud.dev/scaler"]
            .as_str()
            .is_some_and(|s| s.len() == 64),
        "{provider}"
    );
    if let Some(spread) = spread {
        assert_eq!(a["wasmcloud.dev/spread_name"], spread, "{provider}");
    }
}

/// A labelled host, with the identity of `seed` when given (a restart of that host).
/// Crash loops back off to at most 400 ms, so a healed dependency is noticed quickly.
pub(crate) async fn start_host_seeded(
    nats: &TestNats,
    seed: Option<String>,
) -> anyhow::Result<Host> {
    nats.start_host(move |c| {
        c.host_seed = seed;
        c.providers.restart.max_backoff = Duration::from_millis(400);
        c.allow_file_load = true;
        c.heartbeat_interval = Duration::from_secs(1);
        c.labels.insert(LABEL.0.into(), LABEL.1.into());
    })
    .await
    .context("cannot start a host")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn wadm_deploys_scales_heals_and_undeploys_an_application_on_lattice_hosts()
-> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    // The probe runs only while its dependency (the file `ready`) is there.
    let dir = tempfile::tempdir()?;
    let ready = dir.path().join("ready");
    std::fs::write(&ready, "")?;
    let probe = workspace_bin("lattice-test-provider", "lattice-test-provider")?;
    let needs_ready = dir.path().join("needs-ready.sh");
    std::fs::write(
        &needs_ready,
        format!(
            "#!/bin/sh\n[ -f '{}' ] || {{ echo 'dependency missing' >&2; exit 3; }}\nexec '{}'\n",
            ready.display(),
            probe.display()
        ),
    )?;
    std::fs::set_permissions(
        &needs_ready,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let probe_path = needs_ready.to_str().context("a UTF-8 path")?;
    let nats = TestNats::start().await?;

    // 1. wadm first (it learns of a lattice from its hosts' events), then two hosts.
    let wadm_tasks = wadm::start_wadm(wadm::config::WadmConfig {
        nats_server: nats.url().to_string(),
        stream_persistence: wadm::StreamPersistence::Memory,
        ..Default::default()
    })
    .await?;
    let wadm_task = tokio::spawn(wadm_tasks.join_all());
    let seeds: Vec<String> = (0..2)
        .map(|_| nkeys::KeyPair::new_server().seed())
        .collect::<Result<_, _>>()?;
    let mut hosts = vec![
        start_host_seeded(&nats, Some(seeds[0].clone())).await?,
        start_host_seeded(&nats, Some(seeds[1].clone())).await?,
    ];
    let host_ids = |hosts: &[Host]| hosts.iter().map(|h| h.id().to_string()).collect::<Vec<_>>();
    let lattice = Lattice {
        client: nats.client().await?,
        ctl: CtlSubjects::new("wasmbus.ctl", LATTICE),
    };
    let lattice = &lattice;
    let mut kv_reports = lattice
        .client
        .subscribe(format!("oracle.{KV}.seen"))
        .await?;

    lattice.wadm_knows(&host_ids(&hosts)).await?;

    // 2–3. Deploy with two instances: one per labelled host, plus the daemon on each.
    lattice
        .put_and_deploy(&manifest("v1", 2, probe_path))
        .await?;
    let settled = lattice.settled(&host_ids(&hosts), 2).await?;
    for provider in settled.kv.values() {
        assert_managed(provider, Some(SPREAD));
        assert_eq!(provider["image_ref"], OFFICIAL_PROVIDER, "{provider}");
    }
    for provider in settled.probe.values() {
        assert_managed(provider, None);
    }
    let scalers = settled.status["scalers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let kinds: BTreeSet<&str> = scalers.iter().filter_map(|s| s["kind"].as_str()).collect();
    assert!(
        ["SpreadScaler", "DaemonScaler", "LinkScaler"]
            .iter()
            .all(|k| kinds.contains(k)),
        "{}",
        settled.status
    );
    // The link and its configs, put by wadm through the hosts.
    let links = eventually("wadm's link", || async move {
        let links = lattice.links().await?;
        Ok(match links.iter().any(|l| l["source_id"] == KV) {
            true => Ok(links),
            false => Err(format!("links {links:?}")),
        })
    })
    .await?;
    assert_eq!(links.len(), 1, "{links:?}");
    let link = &links[0];
    assert_eq!(link["target"], "sink", "{link}");
    assert_eq!(link["name"], "default", "{link}");
    assert_eq!(link["wit_namespace"], "wasi", "{link}");
    assert_eq!(link["wit_package"], "keyvalue", "{link}");
    assert_eq!(link["source_config"], json!([SOURCE_CONFIG]), "{link}");
    assert_eq!(link["target_config"], json!([TARGET_CONFIG]), "{link}");
    for (name, side) in [(SOURCE_CONFIG, "source"), (TARGET_CONFIG, "target")] {
        let got = ctl_request(&lattice.client, lattice.ctl.config_get(name), Value::Null).await;
        assert_eq!(got.response, Some(json!({"side": side})), "config {name}");
    }
    // The official SDK got the link, as its source, with the source config resolved.
    let report = tokio::time::timeout(WAIT, futures::StreamExt::next(&mut kv_reports))
        .await
        .context("no link report from the official-SDK provider")?
        .context("closed")?;
    assert_eq!(
        serde_json::from_slice::<Value>(&report.payload)?,
        json!({"kind": "link_put", "role": "source", "target": "sink", "config": {"side": "source"}, "secrets": {}})
    );

    // 4. A new version scales the spread down to one instance.
    lattice
        .put_and_deploy(&manifest("v2", 1, probe_path))
        .await?;
    let settled = lattice.settled(&host_ids(&hosts), 1).await?;
    let deployed = lattice
        .wadm(&format!("model.get.{APP}"), &Value::Null)
        .await?;
    let kv_spec = &deployed["manifest"]["spec"]["components"][0]["traits"][0]["properties"];
    assert_eq!(kv_spec["instances"], 1, "{deployed}");
    assert_eq!(kv_spec["spread"][0]["name"], SPREAD, "{deployed}");
    let listed = lattice.wadm("model.get", &Value::Null).await?;
    assert_eq!(listed["models"][0]["deployed_version"], "v2", "{listed}");

    // 5. The provider is killed: its host restarts it; wadm leaves it where it is.
    let (kv_host, kv) = settled.kv.into_iter().next().context("one instance")?;
    let pid = kv["pid"].as_u64().context("a pid")? as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    let (ids, kv_host_ref) = (&host_ids(&hosts), &kv_host);
    let settled = eventually("the restarted provider settles", || async move {
        let settled = lattice.settled(ids, 1).await?;
        Ok(match settled.kv.get(kv_host_ref) {
            Some(p) if p["pid"] != pid && p["restarts"].as_u64() >= Some(1) => Ok(settled),
            other => Err(format!("{KV} on its host: {other:?}")),
        })
    })
    .await?;
    assert_eq!(settled.kv.len(), 1);

    // 5b. A probe crash-loops while its dependency is gone (its host restarts it with
    // backoff, reporting `crash_loop`; wadm leaves it in place), and heals when the
    // dependency returns: the application settles again, with no instance added.
    let events = EventWatcher::new(&lattice.client, LATTICE).await?;
    std::fs::remove_file(&ready)?;
    let (probe_host, probe) = settled.probe.iter().next().context("a probe")?;
    let probe_pid = probe["pid"].as_u64().context("a pid")? as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(probe_pid),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    for n in 1..=4u64 {
        let restarted = events
            .next_matching("provider_restarted", |e| {
                e.data["provider_id"] == PROBE && e.source == *probe_host
            })
            .await?;
        assert_eq!(restarted.data["restarts"], n, "{:?}", restarted.data);
    }
    let looping = lattice.placements(&host_ids(&hosts), PROBE).await?;
    assert_eq!(looping.len(), hosts.len(), "{looping:?}");
    std::fs::write(&ready, "")?;
    let (ids, probe_host_ref) = (&host_ids(&hosts), probe_host);
    eventually(
        "the crash loop ends and the application settles",
        || async move {
            let settled = lattice.settled(ids, 1).await?;
            Ok(match settled.probe.get(probe_host_ref) {
                Some(p) if p["pid"] != probe_pid => Ok(()),
                other => Err(format!("{PROBE} on its host: {other:?}")),
            })
        },
    )
    .await?;
    drop(events);

    // 6. The host running the spread provider stops: wadm places it on the other host.
    // The stopped host then restarts (the same identity) and gets the daemon again.
    let index = hosts
        .iter()
        .position(|h| h.id() == kv_host)
        .context("the provider's host")?;
    hosts.remove(index).shutdown(Duration::from_secs(5)).await;
    let settled = lattice.settled(&host_ids(&hosts), 1).await.context(
        "wadm did not move the provider to the remaining host (if, on the stopping \
         host's provider_stopped events, it sent provider.start back to that host, \
         which no longer answers, its scalers wait 60 s before they try elsewhere)",
    )?;
    assert!(!settled.kv.contains_key(&kv_host));
    let seed = seeds
        .iter()
        .find(|seed| nkeys::KeyPair::from_seed(seed).is_ok_and(|k| k.public_key() == kv_host))
        .cloned()
        .context("the stopped host's seed")?;
    let restarted = start_host_seeded(&nats, Some(seed)).await?;
    assert_eq!(restarted.id(), kv_host, "the same host again");
    hosts.push(restarted);
    let settled = lattice.settled(&host_ids(&hosts), 1).await?;
    assert_eq!(settled.probe.len(), 2);
    assert!(settled.probe.contains_key(&kv_host));

    // 7. Undeploy: every provider stops, the link and configs go; then delete.
    let events = EventWatcher::new(&lattice.client, LATTICE).await?;
    let mut running: BTreeSet<(String, String)> = settled
        .kv
        .keys()
        .map(|h| (KV.to_string(), h.clone()))
        .chain(settled.probe.keys().map(|h| (PROBE.to_string(), h.clone())))
        .collect();
    let undeploy = lattice
        .wadm(&format!("model.undeploy.{APP}"), &Value::Null)
        .await?;
    assert_eq!(undeploy["result"], "acknowledged", "{undeploy}");
    while !running.is_empty() {
        let stopped = events.next_named("provider_stopped").await?;
        let key = (
            stopped.data["provider_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            stopped.source.clone(),
        );
        assert!(running.remove(&key), "unexpected stop {:?}", stopped.data);
        assert_eq!(stopped.data["reason"], "stop", "{:?}", stopped.data);
    }
    let ids = &host_ids(&hosts);
    eventually("the application is undeployed", || async move {
        let status = lattice.status().await?;
        let left = [
            lattice.placements(ids, KV).await?,
            lattice.placements(ids, PROBE).await?,
        ];
        let links = lattice.links().await?;
        Ok(
            match status["status"]["type"] == "undeployed"
                && left.iter().all(BTreeMap::is_empty)
                && links.is_empty()
            {
                true => Ok(()),
                false => Err(format!(
                    "status {status}, providers {left:?}, links {links:?}"
                )),
            },
        )
    })
    .await?;
    for name in [SOURCE_CONFIG, TARGET_CONFIG] {
        let got = ctl_request(&lattice.client, lattice.ctl.config_get(name), Value::Null).await;
        assert_eq!(got.response, None, "config {name} is deleted");
    }
    let deleted = lattice
        .wadm(&format!("model.del.{APP}"), &Value::Null)
        .await?;
    assert_eq!(deleted["result"], "deleted", "{deleted}");

    for host in hosts {
        host.shutdown(Duration::from_secs(5)).await;
    }
    wadm_task.abort();
    Ok(())
}
