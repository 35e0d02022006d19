//! Secrets end to end (spec §8): `lattice_secrets::server` (what `lattice secrets serve`
//! runs) on a real `nats-server`, a host with `--secrets-topic`, a signed provider
//! archive of the test provider. The provider gets its secrets in HostData, gets them
//! again (fresh) after a restart, and each failure is named in `provider_start_failed`.
//! The planted value appears in no event, no inventory and no reply.

use std::time::Duration;

use lattice_artifacts::par::{ParBuilder, native_target};
use lattice_proto::subjects::CtlSubjects;
use lattice_secrets::admin::BackendAddress;
use lattice_secrets::server::{BackendConfig, serve};
use lattice_test_support::{EventWatcher, TestNats, ctl_request, workspace_bin};
use nkeys::KeyPair;
use serde_json::json;

const PLANTED: &str = "planted-Sup3rS3cret-7f3a";
const TOPIC: &str = "wasmcloud.secrets";

async fn dump(client: &async_nats::Client, id: &str) -> serde_json::Value {
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(format!("lattice.test.{id}.dump"), "".into()),
    )
    .await
    .unwrap()
    .unwrap();
    serde_json::from_slice(&reply.payload).unwrap()
}

/// A backend serving `TOPIC` as `nats-kv`; stopped by sending on the returned sender.
struct Backend {
    task: tokio::task::JoinHandle<Result<(), lattice_secrets::server::BackendError>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Backend {
    /// Starts one with these keys and returns once it answers.
    async fn start(
        client: &async_nats::Client,
        transit: nkeys::XKey,
        encryption: nkeys::XKey,
    ) -> Self {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let config = BackendConfig {
            topic: TOPIC.into(),
            name: "nats-kv".into(),
            bucket: "WASMCLOUD_SECRETS".into(),
            transit,
            encryption,
        };
        let task = tokio::spawn(serve(client.clone(), config, Some(ready_tx), async {
            let _ = stop_rx.await;
        }));
        ready_rx.await.unwrap();
        Backend { task, stop }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// A host that asks the backend and restarts providers quickly.
fn with_secrets(c: &mut lattice_host::HostConfig) {
    c.allow_file_load = true;
    c.secrets_topic = Some(TOPIC.into());
    c.providers.restart.max_backoff = Duration::from_millis(100);
}

fn admin() -> BackendAddress {
    BackendAddress {
        topic: TOPIC.into(),
        name: "nats-kv".into(),
        timeout: Duration::from_secs(5),
    }
}

/// Writes a signed archive of the test provider to `par`; returns its service key.
fn signed_test_provider(par: &std::path::Path, name: &str, account: &KeyPair) -> KeyPair {
    let service = KeyPair::new_service();
    let binary =
        std::fs::read(workspace_bin("lattice-test-provider", "lattice-test-provider").unwrap())
            .unwrap();
    ParBuilder::new(name, "tests")
        .binary(native_target(), binary)
        .write(par, account, &service, false)
        .unwrap();
    service
}

#[tokio::test]
async fn providers_get_their_secrets_again_on_restart_and_failures_are_named() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");

    // The backend, and a secret in it.
    let backend = Backend::start(
        &nats.client().await.unwrap(),
        nkeys::XKey::new(),
        nkeys::XKey::new(),
    )
    .await;
    let admin = admin();
    let first = admin
        .put(
            &client,
            "db-password",
            lattice_proto::SecretValue::String(PLANTED.into()),
        )
        .await
        .unwrap();
    assert!(first >= 1);

    // A signed archive of the test provider, allowed to read the key.
    let dir = tempfile::tempdir().unwrap();
    let account = KeyPair::new_account();
    let par = dir.path().join("p.par");
    let service = signed_test_provider(&par, "Secretive", &account);
    admin
        .map(
            &client,
            &service.public_key(),
            &["db-password".to_string()],
            true,
        )
        .await
        .unwrap();
    let host = nats
        .start_host(|c| {
            with_secrets(c);
            c.runtime.cache_dir = Some(lattice_test_support::components::shared_compile_cache());
            // componentize-py components hold 38 core instances (the official default is 30).
            c.runtime.max_core_instances_per_component = 64;
        })
        .await
        .unwrap();
    let reference = json!({"name": "password", "backend": "nats-kv", "key": "db-password",
        "policy": "{\"type\":\"properties.secret.wasmcloud.dev/v1alpha1\",\"properties\":{}}",
        "type": "secret.wasmcloud.dev/v1alpha1"});
    let put = ctl_request(&client, subjects.config_put("SECRET_db"), reference).await;
    assert!(put.success, "{}", put.message);

    let start = |id: &str, path: &std::path::Path| {
        json!({"provider_id": id, "provider_ref": format!("file://{}", path.display()), "config": ["SECRET_db"],
               "annotations": {"wasmcloud.dev/appspec": "secret-app"}})
    };
    ctl_request(
        &client,
        subjects.provider_start(host.id()),
        start("secretive", &par),
    )
    .await;
    events
        .next_matching("health_check_passed", |e| {
            e.data["provider_id"] == "secretive"
        })
        .await
        .unwrap();
    let seen = dump(&client, "secretive").await;
    assert_eq!(
        seen["host_data"]["secrets"]["password"],
        json!({"kind": "String", "value": PLANTED})
    );

    // A link whose target side references the secret: the provider (its target) gets it
    // sealed to its own xkey and opens it (lattice's SDK, as the official one does).
    let mut reports = client
        .subscribe("lattice.test.secretive.seen")
        .await
        .unwrap();
    client.flush().await.unwrap();
    let link = json!({"source_id": "caller", "target": "secretive", "name": "default",
        "wit_namespace": "wasi", "wit_package": "keyvalue", "interfaces": ["store"],
        "source_config": [], "target_config": ["SECRET_db"]});
    let put = ctl_request(&client, subjects.link_put(), link.clone()).await;
    assert!(put.success, "{}", put.message);
    let report: serde_json::Value = loop {
        let message = tokio::time::timeout(
            Duration::from_secs(10),
            futures::StreamExt::next(&mut reports),
        )
        .await
        .unwrap()
        .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        if report["kind"] == "link_put" {
            break report;
        }
    };
    assert_eq!(report["secrets"]["password"]["value"], PLANTED, "{report}");
    assert!(
        report["link"]["target_secrets"].is_array(),
        "sealed bytes travel: {report}"
    );
    assert!(
        !report["link"].to_string().contains(PLANTED),
        "only sealed on the wire"
    );

    // A new value, then a crash: the restarted process gets the new one.
    admin
        .put(
            &client,
            "db-password",
            lattice_proto::SecretValue::String(format!("{PLANTED}-2")),
        )
        .await
        .unwrap();
    let pid = seen["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    events
        .next_matching("provider_restarted", |e| {
            e.data["provider_id"] == "secretive"
        })
        .await
        .unwrap();
    events
        .next_matching("health_check_passed", |e| {
            e.data["provider_id"] == "secretive"
        })
        .await
        .unwrap();
    let again = dump(&client, "secretive").await;
    assert_eq!(
        again["host_data"]["secrets"]["password"]["value"],
        format!("{PLANTED}-2")
    );

    // A component reads it through `wasmcloud:secrets` (store.get, reveal.reveal): the
    // secret-reader fixture, signed here, allowed to read the key.
    let reader =
        std::fs::read(lattice_test_support::components::fixture("secret-reader").unwrap()).unwrap();
    let module = KeyPair::new_module();
    let signed = lattice_artifacts::component_claims::sign_component(
        &reader,
        &lattice_artifacts::component_claims::ComponentMetadata {
            name: Some("reader".into()),
            ..Default::default()
        },
        &account,
        &module,
    )
    .unwrap();
    let reader_path = dir.path().join("reader.wasm");
    std::fs::write(&reader_path, signed).unwrap();
    admin
        .map(
            &client,
            &module.public_key(),
            &["db-password".to_string()],
            true,
        )
        .await
        .unwrap();
    let scale = json!({"component_id": "reader", "component_ref": format!("file://{}", reader_path.display()),
        "count": 1, "host_id": host.id(), "config": ["SECRET_db"]});
    ctl_request(&client, subjects.component_scale(host.id()), scale).await;
    // A first compile of the 17 MB component takes a while (cached afterwards).
    events
        .next_matching_within(
            "component_scaled",
            lattice_test_support::COMPILE_WAIT,
            |e| e.data["component_id"] == "reader",
        )
        .await
        .unwrap();
    let wrpc = lattice_wrpc::WrpcClient::new(client.clone()).await.unwrap();
    assert_eq!(read(&wrpc, "password").await, format!("{PLANTED}-2"));
    assert_eq!(read(&wrpc, "nothing").await, "error: SecretsError_NotFound");

    // Failures, each named: no JWT (a plain executable), not allowed, no such reference.
    let exe = workspace_bin("lattice-test-provider", "lattice-test-provider").unwrap();
    let other = dir.path().join("other.par");
    signed_test_provider(&other, "Other", &account);
    for (id, path, expected) in [
        ("plain", exe.as_path(), "did not have an embedded JWT"),
        ("stranger", other.as_path(), "unauthorized"),
    ] {
        ctl_request(&client, subjects.provider_start(host.id()), start(id, path)).await;
        let failed = events
            .next_matching("provider_start_failed", |e| e.data["provider_id"] == id)
            .await
            .unwrap();
        let error = failed.data["error"].as_str().unwrap();
        assert!(
            error.contains(expected) && error.contains("SECRET_db"),
            "{id}: {error}"
        );
    }

    // A host without --secrets-topic refuses the start, saying why.
    let plain_host = nats.start_host(|c| c.allow_file_load = true).await.unwrap();
    ctl_request(
        &client,
        subjects.provider_start(plain_host.id()),
        start("nowhere", &par),
    )
    .await;
    let failed = events
        .next_matching("provider_start_failed", |e| {
            e.data["provider_id"] == "nowhere"
        })
        .await
        .unwrap();
    assert!(
        failed.data["error"]
            .as_str()
            .unwrap()
            .contains("secret store not configured")
    );

    // A component that names a secret it cannot have does not start either.
    let math = dir.path().join("math.wasm");
    std::fs::write(
        &math,
        wat::parse_str(lattice_test_support::components::MATH).unwrap(),
    )
    .unwrap();
    let scale = json!({"component_id": "secret-math", "component_ref": format!("file://{}", math.display()),
        "count": 1, "host_id": plain_host.id(), "config": ["SECRET_db"]});
    ctl_request(&client, subjects.component_scale(plain_host.id()), scale).await;
    let failed = events
        .next_matching("component_scale_failed", |e| {
            e.data["component_id"] == "secret-math"
        })
        .await
        .unwrap();
    assert!(
        failed.data["error"]
            .as_str()
            .unwrap()
            .contains("secret store not configured"),
        "{}",
        failed.data
    );

    // The value is nowhere in what the host says.
    let inventory = ctl_request(
        &client,
        subjects.host_get(host.id()),
        serde_json::Value::Null,
    )
    .await;
    let said = serde_json::to_string(&inventory).unwrap();
    assert!(!said.contains(PLANTED), "inventory: {said}");
    let logs = ctl_request(
        &client,
        subjects.provider_logs(host.id()),
        json!({"provider_id": "secretive"}),
    )
    .await;
    assert!(!serde_json::to_string(&logs).unwrap().contains(PLANTED));
    drop(events);
    let watcher = EventWatcher::new(&client, "default").await.unwrap();
    ctl_request(
        &client,
        subjects.provider_stop(host.id()),
        json!({"provider_id": "secretive"}),
    )
    .await;
    let stopped = watcher
        .next_matching("provider_stopped", |e| e.data["provider_id"] == "secretive")
        .await
        .unwrap();
    assert!(!stopped.data.to_string().contains(PLANTED));
    backend.stop().await;
}

/// `local:test/secrets-reader@0.1.0.read(key)` of the `reader` component, over wRPC.
async fn read(wrpc: &lattice_wrpc::WrpcClient, key: &str) -> String {
    use lattice_wrpc::subjects::{InvocationSubject, SubjectPrefix};
    use lattice_wrpc::value::{Type, Value, encode_tuple};
    let mut body = bytes::BytesMut::new();
    encode_tuple(&[Value::String(key.into())], &[Type::String], &mut body).unwrap();
    let subject = InvocationSubject::new(
        SubjectPrefix::target("default", "reader"),
        "local:test/secrets-reader@0.1.0",
        "read",
    );
    let mut invocation = wrpc
        .invoke(
            &subject,
            &lattice_wrpc::InvocationHeaders::new(),
            body.freeze(),
        )
        .await
        .unwrap();
    match invocation
        .read_results(&[Type::String])
        .await
        .unwrap()
        .as_slice()
    {
        [Value::String(text)] => text.clone(),
        other => panic!("unexpected results {other:?}"),
    }
}

/// A backend restarted with a new transit key: the host's cached key no longer opens
/// there (`DecryptionError`), so it asks for the key again and the restart of a provider
/// still gets its secret.
#[tokio::test]
async fn a_backend_with_a_new_key_is_asked_for_it_again() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let encryption = nkeys::XKey::new().seed().unwrap();
    let encryption = || nkeys::XKey::from_seed(&encryption).unwrap();
    let first = Backend::start(&client, nkeys::XKey::new(), encryption()).await;
    let admin = admin();
    let v1 = lattice_proto::SecretValue::String("v1".into());
    admin.put(&client, "k", v1).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let par = dir.path().join("p.par");
    let service = signed_test_provider(&par, "Rotating", &KeyPair::new_account());
    admin
        .map(&client, &service.public_key(), &["k".into()], true)
        .await
        .unwrap();
    let host = nats.start_host(with_secrets).await.unwrap();
    let reference = json!({"name": "k", "backend": "nats-kv", "key": "k", "policy": "", "type": "secret.wasmcloud.dev/v1alpha1"});
    ctl_request(&client, subjects.config_put("SECRET_k"), reference).await;
    let start = json!({"provider_id": "rotating", "provider_ref": format!("file://{}", par.display()), "config": ["SECRET_k"]});
    ctl_request(&client, subjects.provider_start(host.id()), start).await;
    let passed = |e: &lattice_proto::events::CloudEvent| e.data["provider_id"] == "rotating";
    events
        .next_matching("health_check_passed", passed)
        .await
        .unwrap();
    let secret = |dump: serde_json::Value| dump["host_data"]["secrets"]["k"]["value"].clone();
    assert_eq!(secret(dump(&client, "rotating").await), "v1");

    // The backend comes back with a new transit key (same values, same encryption key).
    first.stop().await;
    let _second = Backend::start(&client, nkeys::XKey::new(), encryption()).await;
    let v2 = lattice_proto::SecretValue::String("v2".into());
    admin.put(&client, "k", v2).await.unwrap();
    let pid = dump(&client, "rotating").await["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    events
        .next_matching("provider_restarted", passed)
        .await
        .unwrap();
    events
        .next_matching("health_check_passed", passed)
        .await
        .unwrap();
    assert_eq!(secret(dump(&client, "rotating").await), "v2");
    host.shutdown(Duration::from_secs(5)).await;
}
