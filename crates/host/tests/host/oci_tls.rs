//! A registry with its own CA (`--tls-ca-path`): Debian's `docker-registry` over HTTPS
//! with a certificate made here. Without the CA a push is refused, naming the
//! certificate problem; with it, pushes work and a host pulls a component by reference
//! over HTTPS (no `--allowed-insecure`).

use lattice_artifacts::{ArtifactKind, ArtifactRef, CacheSettings, Registry, RegistrySettings};
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::components::MATH;
use lattice_test_support::{EventWatcher, TestNats, TestRegistry, ctl_request};
use serde_json::json;

#[tokio::test]
async fn a_registry_with_its_own_ca_is_reached_with_tls_ca_path() {
    let dir = tempfile::tempdir().unwrap();
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let registry = TestRegistry::start_tls(&cert, &key).await.unwrap();
    let reference = format!("{}/tls/math:1.0.0", registry.address());
    let parsed = ArtifactRef::parse(&reference).unwrap();
    let wasm = wat::parse_str(MATH).unwrap();
    let cache = |name: &str| CacheSettings {
        dir: dir.path().join(name),
        ..Default::default()
    };

    let untrusting = Registry::new(RegistrySettings::default(), cache("a")).unwrap();
    let refused = untrusting
        .push(&parsed, ArtifactKind::Component, wasm.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains(&registry.address()), "{refused}");
    assert!(
        refused.to_lowercase().contains("certificate"),
        "names the certificate problem: {refused}"
    );

    let trusting = Registry::new(
        RegistrySettings {
            ca_paths: vec![cert.clone()],
            ..Default::default()
        },
        cache("b"),
    )
    .unwrap();
    trusting
        .push(&parsed, ArtifactKind::Component, wasm)
        .await
        .unwrap();

    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let host = nats
        .start_host(|c| c.tls_ca_paths = vec![cert.clone()])
        .await
        .unwrap();
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let scale = json!({"component_id": "tls-math", "component_ref": reference, "count": 1, "host_id": host.id()});
    ctl_request(&client, subjects.component_scale(host.id()), scale).await;
    let scaled = events
        .next_matching_within(
            "component_scaled",
            lattice_test_support::COMPILE_WAIT,
            |e| e.data["component_id"] == "tls-math",
        )
        .await
        .unwrap();
    assert_eq!(scaled.data["image_ref"], reference);
}
