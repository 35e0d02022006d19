//! `--config-service-enabled`: at start the host asks `wasmbus.cfg.{lattice}.req` with
//! its labels, and the registry credentials in the answer let it pull from a registry
//! that requires a password. Without an answer the host still starts.

use std::collections::BTreeMap;

use futures::StreamExt as _;
use lattice_artifacts::{
    ArtifactKind, ArtifactRef, CacheSettings, Credential, Registry, RegistrySettings,
};
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::components::MATH;
use lattice_test_support::{EventWatcher, TestNats, TestRegistry, WAIT, ctl_request};
use serde_json::{Value, json};

#[tokio::test]
async fn credentials_from_the_config_service_open_a_private_registry() {
    let registry = TestRegistry::start_with_credentials("svc", "s3rvice")
        .await
        .unwrap();
    let address = registry.address();
    let reference = format!("{address}/private/math:1.0.0");
    let dir = tempfile::tempdir().unwrap();
    let pusher = Registry::new(
        RegistrySettings {
            allowed_insecure: vec![address.clone()],
            credentials: BTreeMap::from([(
                address.clone(),
                Credential::Basic {
                    username: "svc".into(),
                    password: "s3rvice".into(),
                },
            )]),
            ..Default::default()
        },
        CacheSettings {
            dir: dir.path().join("push-cache"),
            ..Default::default()
        },
    )
    .unwrap();
    let wasm = wat::parse_str(MATH).unwrap();
    pusher
        .push(
            &ArtifactRef::parse(&reference).unwrap(),
            ArtifactKind::Component,
            wasm,
        )
        .await
        .unwrap();

    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    // The config service: one answer, and what it was asked.
    let mut requests = client.subscribe("wasmbus.cfg.default.req").await.unwrap();
    client.flush().await.unwrap();
    let answer = json!({"registryCredentials": {address.clone(): {"username": "svc", "password": "s3rvice"}}});
    let service = {
        let client = client.clone();
        tokio::spawn(async move {
            let request = requests.next().await.unwrap();
            let reply = request.reply.clone().unwrap();
            client
                .publish(reply, serde_json::to_vec(&answer).unwrap().into())
                .await
                .unwrap();
            serde_json::from_slice::<Value>(&request.payload).unwrap()
        })
    };
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let insecure = address.clone();
    let host = nats
        .start_host(move |c| {
            c.config_service = true;
            c.oci.allowed_insecure = vec![insecure];
            c.labels.insert("zone".into(), "blue".into());
        })
        .await
        .unwrap();
    let asked = tokio::time::timeout(WAIT, service).await.unwrap().unwrap();
    assert_eq!(asked["labels"]["zone"], "blue", "{asked}");

    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let scale = json!({"component_id": "private-math", "component_ref": reference, "count": 1, "host_id": host.id()});
    ctl_request(&client, subjects.component_scale(host.id()), scale).await;
    events
        .next_matching_within(
            "component_scaled",
            lattice_test_support::COMPILE_WAIT,
            |e| e.data["component_id"] == "private-math",
        )
        .await
        .unwrap();
    host.shutdown(std::time::Duration::from_secs(5)).await;

    // No service answering: the host starts all the same.
    let alone = nats.start_host(|c| c.config_service = true).await.unwrap();
    alone.shutdown(std::time::Duration::from_secs(5)).await;
}
