//! wadm 0.21.1 deploys a component (written in the component text format, loaded from
//! `file://`) under a spreadscaler, linked to the official-SDK provider, onto lattice
//! hosts: wadm scales it on a host, a new version changes its `max_instances`, undeploy
//! scales it to 0, and it answers over wRPC under the ID wadm gave it while deployed.
//! The shared steps and the wadm trait they work around are in [`crate::wadm_oracle`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context as _, bail};
use lattice_host::Host;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::components::MATH;
use lattice_test_support::{EventWatcher, TestNats, WAIT, ctl_request};
use serde_json::{Value, json};

use crate::wadm_oracle::{
    APP, KV, LABEL, LATTICE, Lattice, OFFICIAL_PROVIDER, SPREAD, assert_managed, eventually,
};

/// The component's ID as wadm computes it when the manifest gives none: `{app}-{name}`.
const MATH_ID: &str = "wadm_e2e-math";
/// The link's target config as wadm names it.
const KV_TARGET_CONFIG: &str = "wadm_e2e-kv_target";

/// An application with a component (`math`, `math_instances` under a spreadscaler)
/// linked to the official-SDK provider (one instance on a labelled host).
fn component_manifest(version: &str, math_instances: usize, wasm: &std::path::Path) -> Value {
    json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": {"name": APP, "annotations": {"version": version}},
        "spec": {"components": [
            {
                "name": "math",
                "type": "component",
                "properties": {"image": format!("file://{}", wasm.display())},
                "traits": [
                    {"type": "spreadscaler", "properties": {"instances": math_instances}},
                    {"type": "link", "properties": {
                        "namespace": "wasi", "package": "keyvalue", "interfaces": ["store"],
                        "target": {"name": "kv", "config": [{"name": "kv-target", "properties": {"side": "target"}}]},
                    }},
                ],
            },
            {
                "name": "kv",
                "type": "capability",
                "properties": {"image": format!("file://{OFFICIAL_PROVIDER}"), "id": KV},
                "traits": [{"type": "spreadscaler", "properties": {
                    "instances": 1,
                    "spread": [{"name": SPREAD, "requirements": {LABEL.0: LABEL.1}}],
                }}],
            },
        ]},
    })
}

/// Where the component application runs once wadm and the hosts agree.
struct ComponentsSettled {
    /// Host ID → the component's inventory entry.
    math: BTreeMap<String, Value>,
    /// Host ID → the official-SDK provider's inventory entry.
    kv: BTreeMap<String, Value>,
    status: Value,
}

impl Lattice {
    /// Host ID → the inventory entry of component `id` on each of `hosts` that lists it.
    async fn components(
        &self,
        hosts: &[String],
        id: &str,
    ) -> anyhow::Result<BTreeMap<String, Value>> {
        self.inventory(hosts, "components", |c| c["id"] == id).await
    }

    /// Waits until wadm reports the application deployed, the component runs with
    /// `math_instances` in all on `hosts`, the provider on one of them, and wadm's state
    /// agrees on both.
    async fn components_settled(
        &self,
        hosts: &[String],
        math_instances: u64,
    ) -> anyhow::Result<ComponentsSettled> {
        eventually("the component application settles", || async move {
            let status = self.status().await?;
            if status["status"]["type"] != "deployed" {
                return Ok(Err(format!("wadm status {status}")));
            }
            let math = self.components(hosts, MATH_ID).await?;
            let total: u64 = math
                .values()
                .map(|c| c["max_instances"].as_u64().unwrap_or(0))
                .sum();
            if total != math_instances {
                return Ok(Err(format!("{MATH_ID} on {math:?}")));
            }
            let kv = self.placements(hosts, KV).await?;
            let up = |p: &Value| p["state"] == "running" && p["healthy"] == true;
            if kv.len() != 1 || !kv.values().all(up) {
                return Ok(Err(format!("{KV} on {kv:?}")));
            }
            let wadm_components = self.wadm_state("component").await?;
            let wadm_math: BTreeMap<String, u64> = wadm_components[MATH_ID]["instances"]
                .as_object()
                .map(|hosts| {
                    hosts
                        .iter()
                        .map(|(host, infos)| {
                            let count = infos
                                .as_array()
                                .map(|i| i.iter().filter_map(|i| i["count"].as_u64()).sum())
                                .unwrap_or(0);
                            (host.clone(), count)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let listed: BTreeMap<String, u64> = math
                .iter()
                .map(|(h, c)| (h.clone(), c["max_instances"].as_u64().unwrap_or(0)))
                .collect();
            let wadm_kv = self.wadm_sees(KV).await?;
            if wadm_math != listed || wadm_kv != kv.keys().cloned().collect() {
                return Ok(Err(format!(
                    "wadm's state: {MATH_ID} {wadm_math:?} (hosts list {listed:?}), {KV} on {wadm_kv:?}"
                )));
            }
            Ok(Ok(ComponentsSettled { math, kv, status }))
        })
        .await
    }
}

/// `local:test/math@0.1.0` `add(a, b)` on component `target`, over wRPC.
async fn add(wrpc: &lattice_wrpc::WrpcClient, target: &str, a: u32, b: u32) -> anyhow::Result<u32> {
    use lattice_wrpc::value::{Type, Value as Wv, encode_tuple};
    use lattice_wrpc::{InvocationHeaders, InvocationSubject, SubjectPrefix};
    let mut body = wit_bindgen_wrpc::bytes::BytesMut::new();
    encode_tuple(
        &[Wv::U32(a), Wv::U32(b)],
        &[Type::U32, Type::U32],
        &mut body,
    )?;
    let subject = InvocationSubject::new(
        SubjectPrefix::target(LATTICE, target),
        "local:test/math@0.1.0",
        "add",
    );
    let mut invocation = tokio::time::timeout(
        WAIT,
        wrpc.invoke(&subject, &InvocationHeaders::new(), body.freeze()),
    )
    .await
    .context("no answer to the invocation")??;
    let results = tokio::time::timeout(WAIT, invocation.read_results(&[Type::U32]))
        .await
        .context("no results")??;
    match results.as_slice() {
        [Wv::U32(n)] => Ok(*n),
        other => bail!("unexpected results {other:?}"),
    }
}

async fn start_component_host(nats: &TestNats, dir: &std::path::Path) -> anyhow::Result<Host> {
    let cache = dir.join("compiled");
    nats.start_host(|c| {
        c.allow_file_load = true;
        c.heartbeat_interval = Duration::from_secs(1);
        c.labels.insert(LABEL.0.into(), LABEL.1.into());
        c.runtime.cache_dir = Some(cache);
    })
    .await
    .context("cannot start a host")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wadm_deploys_scales_and_undeploys_a_component_linked_to_a_provider() -> anyhow::Result<()>
{
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir()?;
    let wasm = dir.path().join("math.wasm");
    std::fs::write(&wasm, wat::parse_str(MATH)?)?;
    let wasm_ref = format!("file://{}", wasm.display());
    let nats = TestNats::start().await?;

    // 1. wadm, then two labelled hosts that run components.
    let wadm_tasks = wadm::start_wadm(wadm::config::WadmConfig {
        nats_server: nats.url().to_string(),
        stream_persistence: wadm::StreamPersistence::Memory,
        ..Default::default()
    })
    .await?;
    let wadm_task = tokio::spawn(wadm_tasks.join_all());
    let hosts = vec![
        start_component_host(&nats, dir.path()).await?,
        start_component_host(&nats, dir.path()).await?,
    ];
    let host_ids: Vec<String> = hosts.iter().map(|h| h.id().to_string()).collect();
    let lattice = Lattice {
        client: nats.client().await?,
        ctl: CtlSubjects::new("wasmbus.ctl", LATTICE),
    };
    let lattice = &lattice;
    let mut kv_reports = lattice
        .client
        .subscribe(format!("oracle.{KV}.seen"))
        .await?;
    lattice.wadm_knows(&host_ids).await?;

    // 2. Deploy: the component with two instances, the provider, the link.
    let started = std::time::Instant::now();
    lattice
        .put_and_deploy(&component_manifest("v1", 2, &wasm))
        .await?;
    let settled = lattice.components_settled(&host_ids, 2).await?;
    eprintln!("v1 deployed in {:?}", started.elapsed());
    for component in settled.math.values() {
        assert_managed(component, Some("default"));
        assert_eq!(component["image_ref"], wasm_ref, "{component}");
    }
    for provider in settled.kv.values() {
        assert_managed(provider, Some(SPREAD));
    }
    let kinds: Vec<&str> = settled.status["scalers"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["kind"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        kinds.iter().filter(|k| **k == "SpreadScaler").count(),
        2,
        "{}",
        settled.status
    );
    assert!(kinds.contains(&"LinkScaler"), "{}", settled.status);
    // The link, component → provider, and its target config, put by wadm.
    let links = eventually("wadm's link", || async move {
        let links = lattice.links().await?;
        Ok(match links.iter().any(|l| l["source_id"] == MATH_ID) {
            true => Ok(links),
            false => Err(format!("links {links:?}")),
        })
    })
    .await?;
    assert_eq!(links.len(), 1, "{links:?}");
    let link = &links[0];
    assert_eq!(link["target"], KV, "{link}");
    assert_eq!(link["name"], "default", "{link}");
    assert_eq!(link["wit_namespace"], "wasi", "{link}");
    assert_eq!(link["wit_package"], "keyvalue", "{link}");
    assert_eq!(link["interfaces"], json!(["store"]), "{link}");
    assert_eq!(link["target_config"], json!([KV_TARGET_CONFIG]), "{link}");
    let report = tokio::time::timeout(WAIT, futures::StreamExt::next(&mut kv_reports))
        .await
        .context("no link report from the official-SDK provider")?
        .context("closed")?;
    assert_eq!(
        serde_json::from_slice::<Value>(&report.payload)?,
        json!({"kind": "link_put", "role": "target", "source_id": MATH_ID, "config": {"side": "target"}, "secrets": {}})
    );
    // The component answers over wRPC under the ID wadm gave it.
    let wrpc = lattice_wrpc::WrpcClient::new(lattice.client.clone()).await?;
    assert_eq!(add(&wrpc, MATH_ID, 2, 3).await?, 5);
    assert_eq!(add(&wrpc, MATH_ID, u32::MAX, 1).await?, 0);

    // 3. A new version with three instances: max_instances follows.
    let started = std::time::Instant::now();
    lattice
        .put_and_deploy(&component_manifest("v2", 3, &wasm))
        .await?;
    let settled = lattice.components_settled(&host_ids, 3).await?;
    eprintln!("v2 deployed in {:?}", started.elapsed());
    for component in settled.math.values() {
        assert_managed(component, Some("default"));
    }
    let listed = lattice.wadm("model.get", &Value::Null).await?;
    assert_eq!(listed["models"][0]["deployed_version"], "v2", "{listed}");
    assert_eq!(add(&wrpc, MATH_ID, 40, 2).await?, 42);

    // 4. Undeploy: the component scaled to 0 where it ran, the provider stopped, the link
    // and config gone; then delete.
    let events = EventWatcher::new(&lattice.client, LATTICE).await?;
    let mut math_running: BTreeSet<String> = settled.math.keys().cloned().collect();
    let mut kv_running: BTreeSet<String> = settled.kv.keys().cloned().collect();
    let started = std::time::Instant::now();
    let undeploy = lattice
        .wadm(&format!("model.undeploy.{APP}"), &Value::Null)
        .await?;
    assert_eq!(undeploy["result"], "acknowledged", "{undeploy}");
    while !math_running.is_empty() || !kv_running.is_empty() {
        let raw = events.next_raw().await?;
        let event: Value = serde_json::from_slice(&raw.payload)?;
        let (ty, data) = (event["type"].as_str().unwrap_or_default(), &event["data"]);
        if ty.ends_with(".component_scaled") && data["component_id"] == MATH_ID {
            assert_eq!(data["max_instances"], 0, "{event}");
            assert_managed(data, Some("default"));
            assert_eq!(data["image_ref"], wasm_ref, "{event}");
            let host = event["source"].as_str().unwrap_or_default();
            assert!(math_running.remove(host), "unexpected {event}");
        } else if ty.ends_with(".provider_stopped") && data["provider_id"] == KV {
            assert_eq!(data["reason"], "stop", "{event}");
            let host = event["source"].as_str().unwrap_or_default();
            assert!(kv_running.remove(host), "unexpected {event}");
        }
    }
    let ids = &host_ids;
    eventually("the application is undeployed", || async move {
        let status = lattice.status().await?;
        let math = lattice.components(ids, MATH_ID).await?;
        let kv = lattice.placements(ids, KV).await?;
        let links = lattice.links().await?;
        Ok(
            match status["status"]["type"] == "undeployed"
                && math.is_empty()
                && kv.is_empty()
                && links.is_empty()
            {
                true => Ok(()),
                false => Err(format!(
                    "status {status}, component {math:?}, provider {kv:?}, links {links:?}"
                )),
            },
        )
    })
    .await?;
    eprintln!("undeployed in {:?}", started.elapsed());
    let got = ctl_request(
        &lattice.client,
        lattice.ctl.config_get(KV_TARGET_CONFIG),
        Value::Null,
    )
    .await;
    assert_eq!(got.response, None, "config {KV_TARGET_CONFIG} is deleted");
    let gone = add(&wrpc, MATH_ID, 1, 1).await;
    assert!(gone.is_err(), "{gone:?}");
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
