//! Artifacts in a real OCI registry (Debian's `docker-registry` on a loopback port):
//! `lattice par create`, `lattice push`, and hosts (`lattice up`) that pull providers and
//! components by reference into one shared blob cache.

use crate::common;

use common::{LATTICE, host_id_of, lattice, stderr_of_failure as failed, stdout as ok};
use lattice_test_support::components::MATH;
use lattice_test_support::{TestNats, TestRegistry, workspace_bin};
use tokio::process::Command;

/// `lattice start provider REFERENCE ID --host HOST` against the lattice at `url`.
async fn start_provider(url: &str, reference: &str, id: &str, host: &str) -> std::process::Output {
    lattice(&[
        "--nats-url",
        url,
        "start",
        "provider",
        reference,
        id,
        "--host",
        host,
    ])
    .await
}

/// `lattice par create` of the test provider, version `version`.
async fn make_par(dir: &std::path::Path, version: &str) -> std::path::PathBuf {
    let binary = workspace_bin("lattice-test-provider", "lattice-test-provider").unwrap();
    let par = dir.join(format!("provider-{version}.par.gz"));
    ok(&lattice(&[
        "par",
        "create",
        "--binary",
        binary.to_str().unwrap(),
        "--name",
        "OCI Test",
        "--version",
        version,
        "--revision",
        "2",
        "--keys-dir",
        dir.join("keys").to_str().unwrap(),
        "--destination",
        par.to_str().unwrap(),
    ])
    .await);
    par
}

/// The JSON `lattice push --output json` prints.
async fn push(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--output", "json", "push"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(&lattice(&all).await)).unwrap()
}

/// A `lattice up` with the registry reachable over HTTP and `cache` as its blob cache.
async fn up(
    url: &str,
    registry: &TestRegistry,
    data: &std::path::Path,
    cache: &std::path::Path,
    extra: &[&str],
) -> (tokio::process::Child, String) {
    let mut command = Command::new(LATTICE);
    command
        .args([
            "up",
            "--nats-url",
            url,
            "--allowed-insecure",
            &registry.address(),
        ])
        .arg("--data-dir")
        .arg(data)
        .arg("--oci-cache-dir")
        .arg(cache)
        .args(extra)
        .env_remove("LATTICE_NATS_URL");
    let (child, line) = common::spawn_until_up(command).await;
    (child, host_id_of(&line))
}

#[tokio::test]
async fn archives_made_and_pushed_by_lattice_start_by_reference_on_two_hosts_with_one_download() {
    let registry = TestRegistry::start().await.unwrap();
    let nats = TestNats::start().await.unwrap();
    let url = nats.url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("shared-oci-cache");
    let reg = registry.address();

    let par = make_par(dir.path(), "0.1.0").await;
    let reference = format!("{reg}/lattice/test-provider:0.1.0");
    let pushed = push(&[&reference, par.to_str().unwrap(), "--insecure"]).await;
    let layer = pushed["layer_digest"].as_str().unwrap().to_string();
    let manifest = pushed["manifest_digest"].as_str().unwrap().to_string();
    assert_eq!(pushed["kind"], "provider");

    let (_a, host_a) = up(&url, &registry, &dir.path().join("a"), &cache, &[]).await;
    let (_b, host_b) = up(&url, &registry, &dir.path().join("b"), &cache, &[]).await;

    // The first start downloads the layer (with progress on the way), the second host
    // finds it in the cache the two share.
    let first = start_provider(&url, &reference, "oci-a", &host_a).await;
    let text = String::from_utf8_lossy(&first.stderr).to_string();
    assert!(ok(&first).contains("is running and healthy"), "{text}");
    assert!(
        text.contains(&format!("pulled {reference}")),
        "progress is shown: {text}"
    );
    assert_eq!(registry.blob_downloads(&layer), 1, "{}", registry.log());
    let second = start_provider(&url, &reference, "oci-b", &host_b).await;
    assert!(ok(&second).contains("is running and healthy"));
    assert_eq!(
        registry.blob_downloads(&layer),
        1,
        "the second host downloads no blob"
    );

    // By digest, with the same layer: still no download.
    let pinned = format!("{reg}/lattice/test-provider@{manifest}");
    let third = start_provider(&url, &pinned, "oci-c", &host_b).await;
    assert!(ok(&third).contains("is running and healthy"));
    assert_eq!(registry.blob_downloads(&layer), 1);

    // The claims `par create` signed reach inventory and claims.get.
    let inventory = ok(&lattice(&[
        "--nats-url",
        &url,
        "--output",
        "json",
        "get",
        "inventory",
        &host_a,
    ])
    .await);
    assert!(inventory.contains("OCI Test"), "{inventory}");
    assert!(
        inventory.contains(&reference),
        "image_ref is the reference as given: {inventory}"
    );

    // A component by reference.
    let math = dir.path().join("math.wasm");
    std::fs::write(&math, wat::parse_str(MATH).unwrap()).unwrap();
    let component_ref = format!("{reg}/lattice/math:1.0.0");
    let pushed = push(&[&component_ref, math.to_str().unwrap(), "--insecure"]).await;
    assert_eq!(pushed["kind"], "component");
    let scaled = ok(&lattice(&[
        "--nats-url",
        &url,
        "start",
        "component",
        &component_ref,
        "math",
        "--host",
        &host_a,
    ])
    .await);
    assert!(
        scaled.starts_with("component `math` scaled to 1"),
        "{scaled}"
    );
    let sum = ok(&lattice(&[
        "--nats-url",
        &url,
        "call",
        "math",
        "local:test/math@0.1.0.add",
        "20",
        "22",
    ])
    .await);
    assert_eq!(sum, "42");

    // `:latest` (and no tag at all) is refused without --allow-latest.
    for latest in [
        format!("{reg}/lattice/test-provider:latest"),
        format!("{reg}/lattice/test-provider"),
    ] {
        let refused = failed(&start_provider(&url, &latest, "latest", &host_a).await);
        assert!(refused.contains("--allow-latest"), "{refused}");
    }

    // A layer the registry serves altered fails its digest check, and nothing is cached.
    let other = make_par(dir.path(), "0.2.0").await;
    let tampered_ref = format!("{reg}/lattice/test-provider:0.2.0");
    let pushed = push(&[&tampered_ref, other.to_str().unwrap(), "--insecure"]).await;
    let tampered_layer = pushed["layer_digest"].as_str().unwrap().to_string();
    registry.tamper_blob(&tampered_layer).unwrap();
    let refused = failed(&start_provider(&url, &tampered_ref, "tampered", &host_a).await);
    assert!(refused.contains("does not match its digest"), "{refused}");
    let hex = tampered_layer.trim_start_matches("sha256:");
    assert!(!cache.join("blobs/sha256").join(hex).exists());

    // A reference the registry does not have names the reference and the answer.
    let missing = format!("{reg}/lattice/nothing-here:1.0.0");
    let refused = failed(&start_provider(&url, &missing, "missing", &host_a).await);
    assert!(
        refused.contains(&missing) && refused.contains("not found"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_registry_that_wants_credentials_gets_them_from_flags_or_registry_put() {
    let registry = TestRegistry::start_with_credentials("lattice", "s3cret")
        .await
        .unwrap();
    let nats = TestNats::start().await.unwrap();
    let url = nats.url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let reg = registry.address();
    let par = make_par(dir.path(), "1.0.0").await;
    let reference = format!("{reg}/private/test-provider:1.0.0");

    let refused =
        failed(&lattice(&["push", &reference, par.to_str().unwrap(), "--insecure"]).await);
    assert!(refused.contains("not authorized"), "{refused}");
    ok(&lattice(&[
        "push",
        &reference,
        par.to_str().unwrap(),
        "--insecure",
        "--user",
        "lattice",
        "--password",
        "s3cret",
    ])
    .await);

    // No credentials: the start fails, saying so.
    let (_a, host_a) = up(
        &url,
        &registry,
        &dir.path().join("a"),
        &dir.path().join("cache-a"),
        &[],
    )
    .await;
    let refused = failed(&start_provider(&url, &reference, "p", &host_a).await);
    assert!(refused.contains("not authorized"), "{refused}");

    // registry.put (every host applies it), sent by `lattice registry put`: the same
    // start works.
    let put = ok(&lattice(&[
        "--nats-url",
        &url,
        "registry",
        "put",
        &reg,
        "--user",
        "lattice",
        "--password",
        "s3cret",
    ])
    .await);
    assert_eq!(put, format!("credentials for {reg} put on 1 host"));
    assert!(ok(&start_provider(&url, &reference, "p", &host_a).await).contains("healthy"));

    // The official flags give them at start.
    let (_b, host_b) = up(
        &url,
        &registry,
        &dir.path().join("b"),
        &dir.path().join("cache-b"),
        &[
            "--oci-registry",
            &reg,
            "--oci-user",
            "lattice",
            "--oci-password",
            "s3cret",
        ],
    )
    .await;
    assert!(ok(&start_provider(&url, &reference, "q", &host_b).await).contains("healthy"));
}

#[tokio::test]
async fn claims_sign_and_inspect_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let math = dir.path().join("math.wasm");
    std::fs::write(&math, wat::parse_str(MATH).unwrap()).unwrap();
    let keys = dir.path().join("keys");
    let unsigned = failed(&lattice(&["claims", "inspect", math.to_str().unwrap()]).await);
    assert!(unsigned.contains("is unsigned"), "{unsigned}");
    let signed = ok(&lattice(&[
        "claims",
        "sign",
        math.to_str().unwrap(),
        "--name",
        "CLI Math",
        "--tag",
        "math",
        "--ver",
        "1.0.0",
        "--keys-dir",
        keys.to_str().unwrap(),
    ])
    .await);
    assert!(signed.contains("math_s.wasm"), "{signed}");
    let shown: serde_json::Value = serde_json::from_str(&ok(&lattice(&[
        "--output",
        "json",
        "claims",
        "inspect",
        dir.path().join("math_s.wasm").to_str().unwrap(),
    ])
    .await))
    .unwrap();
    assert_eq!(shown["name"], "CLI Math");
    assert_eq!(shown["version"], "1.0.0");
    assert!(shown["subject"].as_str().unwrap().starts_with('M'));
    // The generated keys are kept (0600) and reused: a second signature has the same subject.
    let account = keys.join("cli_math_account.nk");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&account).unwrap().permissions().mode() & 0o777,
        0o600
    );
    ok(&lattice(&[
        "claims",
        "sign",
        math.to_str().unwrap(),
        "--name",
        "CLI Math",
        "--keys-dir",
        keys.to_str().unwrap(),
    ])
    .await);
    let again: serde_json::Value = serde_json::from_str(&ok(&lattice(&[
        "--output",
        "json",
        "claims",
        "inspect",
        dir.path().join("math_s.wasm").to_str().unwrap(),
    ])
    .await))
    .unwrap();
    assert_eq!(again["subject"], shown["subject"]);
}
