//! Components end to end: real `nats-server`, real hosts, components written in the
//! component text format, invoked over wRPC by lattice's own client.

use std::path::Path;
use std::time::Duration;

use bytes::BytesMut;
use lattice_host::HostConfig;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::components::{CALC, MATH, write_component};
use lattice_test_support::{EventWatcher, TestNats, ctl_request};
use lattice_wrpc::subjects::{InvocationSubject, SubjectPrefix};
use lattice_wrpc::value::{Type, Value, encode_tuple};
use lattice_wrpc::{InvocationHeaders, WrpcClient};
use serde_json::{Value as Json, json};

/// Exports `hog() -> u32`: grows its memory until refused, then traps.
const HOG: &str = r#"
(component
  (core module $m
    (memory 1)
    (func (export "hog") (result i32)
      (loop $more
        (if (i32.eq (memory.grow (i32.const 16)) (i32.const -1))
          (then unreachable))
        (br $more))
      (i32.const 0)))
  (core instance $i (instantiate $m))
  (func $hog (result u32) (canon lift (core func $i "hog")))
  (export "hog" (func $hog))
)
"#;

/// Imports `wasi:config/store@0.2.0-draft` and exports `local:test/cfg@0.1.0`
/// `lookup(key) -> string`: the config value, or `""` when there is none.
const CONFIG: &str = concat!(
    r#"
(component
  (import "wasi:config/store@0.2.0-draft" (instance $store
    (type $e (variant (case "upstream" string) (case "io" string)))
    (export "error" (type $err (eq $e)))
    (export "get" (func (param "key" string) (result (result (option string) (error $err)))))))
"#,
    lattice_test_support::bump_memory!(),
    r#"  (core func $get (canon lower (func $store "get") (memory $mem) (realloc $realloc)))
  (core module $main
    (import "env" "mem" (memory 1))
    (import "env" "get" (func $get (param i32 i32 i32)))
    (func (export "lookup") (param $kp i32) (param $kl i32) (result i32)
      (call $get (local.get $kp) (local.get $kl) (i32.const 64))
      (if (result i32)
        (i32.and
          (i32.eqz (i32.load8_u (i32.const 64)))
          (i32.eq (i32.load8_u (i32.const 68)) (i32.const 1)))
        (then (i32.const 72))
        (else
          (i32.store (i32.const 128) (i32.const 0))
          (i32.store (i32.const 132) (i32.const 0))
          (i32.const 128)))))
  (core instance $i (instantiate $main
    (with "env" (instance (export "mem" (memory $mem)) (export "get" (func $get))))))
  (func $lookup (param "key" string) (result string)
    (canon lift (core func $i "lookup") (memory $mem) (realloc $realloc)))
  (instance $cfg (export "lookup" (func $lookup)))
  (export "local:test/cfg@0.1.0" (instance $cfg))
)
"#
);

pub(crate) fn components(dir: &Path) -> impl FnOnce(&mut HostConfig) + '_ {
    move |c: &mut HostConfig| {
        c.allow_file_load = true;
        c.runtime.max_execution_time = Duration::from_secs(1);
        c.runtime.epoch_tick = Duration::from_millis(10);
        c.runtime.cache_dir = Some(dir.join("compiled"));
    }
}

/// A server, a client following its events, and a directory for components (hosts
/// started with [`components`] keep their compile cache there).
pub(crate) async fn lattice_for_components() -> (
    TestNats,
    async_nats::Client,
    EventWatcher,
    tempfile::TempDir,
) {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    (nats, client, events, dir)
}

/// [`lattice_for_components`] and a host that runs components.
pub(crate) async fn lattice_with_components() -> (
    TestNats,
    async_nats::Client,
    EventWatcher,
    tempfile::TempDir,
    lattice_host::Host,
) {
    let (nats, client, events, dir) = lattice_for_components().await;
    let host = nats.start_host(components(dir.path())).await.unwrap();
    (nats, client, events, dir, host)
}

pub(crate) fn subjects() -> CtlSubjects {
    CtlSubjects::new("wasmbus.ctl", "default")
}

pub(crate) async fn scale(
    client: &async_nats::Client,
    host: &str,
    id: &str,
    path: &Path,
    count: u32,
) -> Json {
    let body = json!({"component_id": id, "component_ref": format!("file://{}", path.display()), "count": count, "host_id": host});
    let reply = ctl_request(client, subjects().component_scale(host), body).await;
    assert!(reply.success, "{}", reply.message);
    json!(reply.message)
}

/// Scales each of `ids` from `path` on `host` and waits for its `component_scaled`.
pub(crate) async fn scale_each(
    client: &async_nats::Client,
    events: &EventWatcher,
    host: &str,
    ids: &[&str],
    path: &Path,
) {
    for &id in ids {
        scale(client, host, id, path, 4).await;
        events
            .next_matching("component_scaled", |e| e.data["component_id"] == id)
            .await
            .unwrap();
    }
}

/// Puts `link`; the host's acknowledgement is asserted.
pub(crate) async fn put_link(client: &async_nats::Client, link: Json) {
    let reply = ctl_request(client, subjects().link_put(), link).await;
    assert!(reply.success, "{}", reply.message);
}

/// Starts lattice's test provider (it serves `local:test/math` `add` as a + b + 1000) as
/// `provider_id` on `host` and waits until it is healthy.
pub(crate) async fn start_test_provider(
    client: &async_nats::Client,
    events: &EventWatcher,
    host: &str,
    provider_id: &str,
) {
    let provider =
        lattice_test_support::workspace_bin("lattice-test-provider", "lattice-test-provider")
            .unwrap();
    let body = json!({"provider_id": provider_id, "provider_ref": format!("file://{}", provider.display())});
    assert!(
        ctl_request(client, subjects().provider_start(host), body)
            .await
            .success
    );
    events
        .next_matching("health_check_passed", |e| {
            e.data["provider_id"] == provider_id
        })
        .await
        .unwrap();
}

pub(crate) async fn call_u32s(
    wrpc: &WrpcClient,
    target: &str,
    instance: &str,
    func: &str,
    args: &[u32],
) -> Result<u32, String> {
    let headers = InvocationHeaders::new();
    lattice_test_support::components::call_u32s(wrpc, &headers, target, instance, func, args).await
}

/// `double(21)` of the calc component `id`, once its link has reached it (links reach
/// running components without a rescale).
pub(crate) async fn double_21_once_linked(wrpc: &WrpcClient, id: &str) -> u32 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match call_u32s(wrpc, id, "local:test/calc@0.1.0", "double", &[21]).await {
            Ok(n) => return n,
            Err(error) => assert!(tokio::time::Instant::now() < deadline, "{error}"),
        }
    }
}

#[tokio::test]
async fn a_component_is_scaled_invoked_over_wrpc_rescaled_and_stopped() {
    let (_nats, client, events, dir, host) = lattice_with_components().await;
    let math = write_component(dir.path(), "math.wasm", MATH);
    let id = host.id().to_string();

    scale(&client, &id, "math", &math, 1).await;
    let scaled = events.next_named("component_scaled").await.unwrap();
    assert_eq!(scaled.data["component_id"], "math");
    assert_eq!(scaled.data["max_instances"], 1);
    assert_eq!(
        scaled.data["image_ref"],
        format!("file://{}", math.display()),
        "as sent"
    );
    let inventory = ctl_request(&client, subjects().host_get(&id), Json::Null).await;
    let listed = &inventory.response.unwrap()["components"][0];
    assert_eq!(
        (listed["id"].as_str(), listed["max_instances"].as_u64()),
        (Some("math"), Some(1))
    );
    assert!(
        listed.as_object().unwrap().contains_key("limits"),
        "always written"
    );

    let wrpc = WrpcClient::new(client.clone()).await.unwrap();
    assert_eq!(
        call_u32s(&wrpc, "math", "local:test/math@0.1.0", "add", &[2, 3]).await,
        Ok(5)
    );
    assert_eq!(
        call_u32s(
            &wrpc,
            "math",
            "local:test/math@0.1.0",
            "add",
            &[u32::MAX, 1]
        )
        .await,
        Ok(0)
    );

    // An endless loop stops at the execution deadline; the caller gets an error and the
    // component keeps serving.
    let spun = tokio::time::timeout(
        Duration::from_secs(10),
        call_u32s(&wrpc, "math", "", "spin", &[]),
    )
    .await
    .expect("the deadline stops it");
    assert!(spun.is_err(), "{spun:?}");
    assert_eq!(
        call_u32s(&wrpc, "math", "local:test/math@0.1.0", "add", &[40, 2]).await,
        Ok(42)
    );

    // Rescale: one event for the change.
    scale(&client, &id, "math", &math, 4).await;
    let rescaled = events.next_named("component_scaled").await.unwrap();
    assert_eq!(rescaled.data["max_instances"], 4);
    assert_eq!(
        call_u32s(&wrpc, "math", "local:test/math@0.1.0", "add", &[1, 1]).await,
        Ok(2)
    );

    // Stop.
    scale(&client, &id, "math", &math, 0).await;
    let stopped = events.next_named("component_scaled").await.unwrap();
    assert_eq!(stopped.data["max_instances"], 0);
    let inventory = ctl_request(&client, subjects().host_get(&id), Json::Null).await;
    assert_eq!(inventory.response.unwrap()["components"], json!([]));
    let gone = call_u32s(&wrpc, "math", "local:test/math@0.1.0", "add", &[1, 1]).await;
    assert!(gone.is_err(), "{gone:?}");
    host.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_component_calls_a_linked_component_on_another_host() {
    let (nats, client, events, dir) = lattice_for_components().await;
    let math = write_component(dir.path(), "math.wasm", MATH);
    let calc = write_component(dir.path(), "calc.wasm", CALC);
    let a = nats.start_host(components(dir.path())).await.unwrap();
    let b = nats.start_host(components(dir.path())).await.unwrap();
    scale(&client, a.id(), "math", &math, 2).await;
    events.next_named("component_scaled").await.unwrap();
    scale(&client, b.id(), "calc", &calc, 2).await;
    events.next_named("component_scaled").await.unwrap();

    let wrpc = WrpcClient::new(client.clone()).await.unwrap();
    let unlinked = call_u32s(&wrpc, "calc", "local:test/calc@0.1.0", "double", &[21]).await;
    assert!(unlinked.is_err(), "no link yet: {unlinked:?}");

    let link = json!({"source_id": "calc", "target": "math", "wit_namespace": "local",
        "wit_package": "test", "interfaces": ["math"]});
    assert!(
        ctl_request(&client, subjects().link_put(), link)
            .await
            .success
    );
    assert_eq!(double_21_once_linked(&wrpc, "calc").await, 42);
    for host in [a, b] {
        host.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn bad_components_fail_with_the_cause_and_the_host_keeps_serving() {
    let (nats, client, events, dir) = lattice_for_components().await;
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"not wasm at all").unwrap();
    let host = nats.start_host(components(dir.path())).await.unwrap();
    let id = host.id().to_string();
    for (cid, path, expected) in [
        ("garbage", garbage.clone(), "compile"),
        ("missing", dir.path().join("missing.wasm"), "missing.wasm"),
    ] {
        scale(&client, &id, cid, &path, 1).await;
        let failed = events.next_named("component_scale_failed").await.unwrap();
        assert_eq!(failed.data["component_id"], cid);
        let error = failed.data["error"].as_str().unwrap();
        assert!(error.contains(expected), "{cid}: {error}");
    }
    let inventory = ctl_request(&client, subjects().host_get(&id), Json::Null).await;
    assert_eq!(inventory.response.unwrap()["components"], json!([]));
    assert!(
        ctl_request(&client, subjects().host_ping(), Json::Null)
            .await
            .success
    );
    host.shutdown(Duration::from_secs(5)).await;
}

async fn lookup(wrpc: &WrpcClient, key: &str) -> Result<String, String> {
    let mut body = BytesMut::new();
    encode_tuple(&[Value::String(key.into())], &[Type::String], &mut body).unwrap();
    let subject = InvocationSubject::new(
        SubjectPrefix::target("default", "cfg"),
        "local:test/cfg@0.1.0",
        "lookup",
    );
    let mut invocation = wrpc
        .invoke(&subject, &InvocationHeaders::new(), body.freeze())
        .await
        .map_err(|e| e.to_string())?;
    match invocation
        .read_results(&[Type::String])
        .await
        .map_err(|e| e.to_string())?
        .as_slice()
    {
        [Value::String(s)] => Ok(s.clone()),
        other => Err(format!("unexpected results {other:?}")),
    }
}

#[tokio::test]
async fn wasi_config_values_follow_config_changes_without_a_rescale() {
    let (_nats, client, events, dir, host) = lattice_with_components().await;
    let cfg = write_component(dir.path(), "cfg.wasm", CONFIG);
    let id = host.id().to_string();

    // A named config that does not exist fails the scale, naming it.
    let body = json!({"component_id": "cfg", "component_ref": format!("file://{}", cfg.display()), "count": 1, "config": ["greetings"]});
    assert!(
        ctl_request(&client, subjects().component_scale(&id), body.clone())
            .await
            .success
    );
    let failed = events.next_named("component_scale_failed").await.unwrap();
    assert!(
        failed.data["error"]
            .as_str()
            .unwrap()
            .contains("`greetings` does not exist"),
        "{}",
        failed.data
    );

    assert!(
        ctl_request(
            &client,
            subjects().config_put("greetings"),
            json!({"greeting": "hello"})
        )
        .await
        .success
    );
    assert!(
        ctl_request(&client, subjects().component_scale(&id), body)
            .await
            .success
    );
    events.next_named("component_scaled").await.unwrap();
    let wrpc = WrpcClient::new(client.clone()).await.unwrap();
    assert_eq!(lookup(&wrpc, "greeting").await, Ok("hello".to_string()));
    assert_eq!(lookup(&wrpc, "absent").await, Ok(String::new()));

    assert!(
        ctl_request(
            &client,
            subjects().config_put("greetings"),
            json!({"greeting": "hi there"})
        )
        .await
        .success
    );
    // The host that acknowledged the config runs the next invocation with it.
    assert_eq!(lookup(&wrpc, "greeting").await, Ok("hi there".to_string()));
    host.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_component_calls_a_provider_built_with_the_lattice_sdk_through_a_link() {
    let (_nats, client, events, dir, host) = lattice_with_components().await;
    let calc = write_component(dir.path(), "calc.wasm", CALC);
    let id = host.id().to_string();
    start_test_provider(&client, &events, &id, "mathprov").await;
    scale(&client, &id, "calc", &calc, 1).await;
    events.next_named("component_scaled").await.unwrap();
    let link = json!({"source_id": "calc", "target": "mathprov", "wit_namespace": "local",
        "wit_package": "test", "interfaces": ["math"]});
    assert!(
        ctl_request(&client, subjects().link_put(), link)
            .await
            .success
    );
    let wrpc = WrpcClient::new(client.clone()).await.unwrap();
    // The host that acknowledged the link follows it from then on.
    let doubled = call_u32s(&wrpc, "calc", "local:test/calc@0.1.0", "double", &[21]).await;
    assert_eq!(doubled.unwrap(), 1042, "21 + 21 by the provider (+1000)");
    host.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_memory_hog_stops_at_its_limit_and_the_host_keeps_serving() {
    let (_nats, client, events, dir, host) = lattice_with_components().await;
    let hog = write_component(dir.path(), "hog.wasm", HOG);
    let math = write_component(dir.path(), "math.wasm", MATH);
    let id = host.id().to_string();
    // A per-component limit below the engine's (2 MiB of 64 MiB).
    let body = json!({"component_id": "hog", "component_ref": format!("file://{}", hog.display()),
        "count": 1, "component_limits": {"max_memory_limit": "2097152"}});
    assert!(
        ctl_request(&client, subjects().component_scale(&id), body)
            .await
            .success
    );
    events.next_named("component_scaled").await.unwrap();
    let inventory = ctl_request(&client, subjects().host_get(&id), Json::Null).await;
    assert_eq!(
        inventory.response.unwrap()["components"][0]["limits"],
        json!({"max_memory_limit": "2097152"})
    );
    scale(&client, &id, "math", &math, 1).await;
    events.next_named("component_scaled").await.unwrap();
    let wrpc = WrpcClient::new(client.clone()).await.unwrap();
    let hogged = call_u32s(&wrpc, "hog", "", "hog", &[]).await;
    assert!(hogged.is_err(), "the hog is stopped: {hogged:?}");
    assert_eq!(
        call_u32s(&wrpc, "math", "local:test/math@0.1.0", "add", &[1, 2]).await,
        Ok(3)
    );
    // A limit above the engine's is refused, naming it.
    let body = json!({"component_id": "big", "component_ref": format!("file://{}", hog.display()),
        "count": 1, "component_limits": {"max_memory_limit": "1099511627776"}});
    assert!(
        ctl_request(&client, subjects().component_scale(&id), body)
            .await
            .success
    );
    let failed = events.next_named("component_scale_failed").await.unwrap();
    assert!(
        failed.data["error"]
            .as_str()
            .unwrap()
            .contains("max_memory_bytes"),
        "{}",
        failed.data
    );
    host.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_loops_and_a_flood_of_invocations_leave_the_host_serving() {
    let (_nats, client, events, dir, host) = lattice_with_components().await;
    let math = write_component(dir.path(), "math.wasm", MATH);
    let id = host.id().to_string();
    scale(&client, &id, "math", &math, 4).await;
    events.next_named("component_scaled").await.unwrap();
    let wrpc = WrpcClient::new(client.clone()).await.unwrap();

    // Two endless loops hold two of the four instances until the 1 s deadline stops
    // them; meanwhile 500 calls at once share the other two, and the host answers pings.
    let started = std::time::Instant::now();
    let subject = lattice_wrpc::subjects::InvocationSubject::new(
        lattice_wrpc::subjects::SubjectPrefix::target("default", "math"),
        "",
        "spin",
    );
    let mut spins = Vec::new();
    for _ in 0..2 {
        // Accepted by the component's server before the next step.
        let mut invocation = wrpc
            .invoke(&subject, &InvocationHeaders::new(), bytes::Bytes::new())
            .await
            .unwrap();
        // `spin` returns nothing: the call ends when its results channel closes (a
        // trap closes it without a value; an endless loop never would).
        spins.push(tokio::spawn(async move {
            invocation.results().read_to_end().await.map(|_| ())
        }));
    }
    // The loops run: the host still answers at once.
    let asked = std::time::Instant::now();
    let ping = ctl_request(&client, subjects().host_ping(), Json::Null).await;
    assert!(ping.success);
    let ping_took = asked.elapsed();
    let calls = (0..500u32).map(|n| {
        let wrpc = wrpc.clone();
        async move { call_u32s(&wrpc, "math", "local:test/math@0.1.0", "add", &[n, 1]).await }
    });
    let sums = futures::future::join_all(calls).await;
    for (n, sum) in (0u32..).zip(&sums) {
        assert_eq!(sum, &Ok(n + 1), "call {n}");
    }
    let flooded = started.elapsed();
    let ping = ctl_request(&client, subjects().host_ping(), Json::Null).await;
    assert!(ping.success);
    for spin in spins {
        spin.await.unwrap().expect("the call ends");
    }
    let stopped = started.elapsed();
    assert!(
        stopped >= Duration::from_secs(1),
        "the loops ran to the deadline"
    );
    // The instances the loops held serve again.
    assert_eq!(
        call_u32s(&wrpc, "math", "local:test/math@0.1.0", "add", &[40, 2]).await,
        Ok(42)
    );
    eprintln!(
        "2 endless loops + 500 concurrent calls on 4 instances: a ping during the loops answered in {ping_took:?}, the calls done in {flooded:?}, the loops stopped after {stopped:?}"
    );
    host.shutdown(Duration::from_secs(5)).await;
}
