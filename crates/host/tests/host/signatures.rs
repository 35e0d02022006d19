//! What lattice checks beyond 1.9.2: a provider archive's claims are verified (the
//! issuer's signature, `exp`, `nbf`, key kinds), each refusal named in
//! `provider_start_failed`; unsigned providers and components start with an
//! `artifact_unsigned` warning, or are refused under `--require-signed`; a component
//! signed by lattice (`sign_component`, what `lattice claims sign` runs) starts and its
//! claims show in `claims.get`.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use lattice_artifacts::component_claims::{ComponentMetadata, sign_component};
use lattice_artifacts::par::native_target;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::components::MATH;
use lattice_test_support::{EventWatcher, TestNats, ctl_request, workspace_bin};
use nkeys::KeyPair;
use serde_json::json;
use sha2::Digest as _;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An archive of `binary` with `claims` (its `target_hashes` filled in) signed by
/// `signer`.
fn archive(path: &Path, binary: &[u8], mut claims: serde_json::Value, signer: &KeyPair) {
    let hash: String = sha2::Sha256::digest(binary)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    claims["wascap"]["target_hashes"] = json!({ native_target(): hash });
    let jwt = lattice_artifacts::jwt::sign(&claims, signer).unwrap();
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, data) in [
        ("claims.jwt".to_string(), jwt.as_bytes()),
        (format!("{}.bin", native_target()), binary),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
    }
    builder.finish().unwrap();
}

#[tokio::test]
async fn provider_claims_are_verified_and_each_refusal_is_named() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let host = nats.start_host(|c| c.allow_file_load = true).await.unwrap();
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let binary =
        std::fs::read(workspace_bin("lattice-test-provider", "lattice-test-provider").unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let account = KeyPair::new_account();
    let service = KeyPair::new_service();
    let base = json!({"jti": "j", "iat": now(), "iss": account.public_key(), "sub": service.public_key(), "wascap": {"name": "Checked"}});
    let with = |k: &str, v: serde_json::Value| {
        let mut c = base.clone();
        c[k] = v;
        c
    };
    let forger = KeyPair::new_account();
    let cases = [
        (
            "expired",
            with("exp", json!(now() - 60)),
            &account,
            "expired",
        ),
        (
            "early",
            with("nbf", json!(now() + 3600)),
            &account,
            "not valid before",
        ),
        ("forged", base.clone(), &forger, "bad signature"),
        (
            "module",
            with("sub", json!(KeyPair::new_module().public_key())),
            &account,
            "wrong subject",
        ),
    ];
    for (id, claims, signer, expected) in cases {
        let path = dir.path().join(format!("{id}.par"));
        archive(&path, &binary, claims, signer);
        let body = json!({"provider_id": id, "provider_ref": format!("file://{}", path.display())});
        ctl_request(&client, subjects.provider_start(host.id()), body).await;
        let failed = events
            .next_matching("provider_start_failed", |e| e.data["provider_id"] == id)
            .await
            .unwrap();
        let error = failed.data["error"].as_str().unwrap();
        assert!(
            error.contains("claims are refused") && error.contains(expected),
            "{id}: {error}"
        );
    }

    // Well signed: it runs, and carries no unsigned warning.
    let good = dir.path().join("good.par");
    archive(&good, &binary, base.clone(), &account);
    let body = json!({"provider_id": "good", "provider_ref": format!("file://{}", good.display())});
    ctl_request(&client, subjects.provider_start(host.id()), body).await;
    let started = events
        .next_matching("provider_started", |e| e.data["provider_id"] == "good")
        .await
        .unwrap();
    assert_eq!(started.data["claims"]["name"], "Checked");

    // A plain executable is unsigned: it starts, with a warning event.
    let exe = workspace_bin("lattice-test-provider", "lattice-test-provider").unwrap();
    let body = json!({"provider_id": "plain", "provider_ref": format!("file://{}", exe.display())});
    ctl_request(&client, subjects.provider_start(host.id()), body).await;
    let warning = events
        .next_matching("artifact_unsigned", |e| e.data["id"] == "plain")
        .await
        .unwrap();
    assert_eq!(warning.data["kind"], "provider");
    events
        .next_matching("provider_started", |e| e.data["provider_id"] == "plain")
        .await
        .unwrap();
}

#[tokio::test]
async fn under_require_signed_only_signed_artifacts_start() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let host = nats
        .start_host(|c| {
            c.allow_file_load = true;
            c.require_signed = true;
        })
        .await
        .unwrap();
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let dir = tempfile::tempdir().unwrap();

    let exe = workspace_bin("lattice-test-provider", "lattice-test-provider").unwrap();
    let body = json!({"provider_id": "plain", "provider_ref": format!("file://{}", exe.display())});
    ctl_request(&client, subjects.provider_start(host.id()), body).await;
    let failed = events
        .next_matching("provider_start_failed", |e| {
            e.data["provider_id"] == "plain"
        })
        .await
        .unwrap();
    assert!(
        failed.data["error"]
            .as_str()
            .unwrap()
            .contains("--require-signed"),
        "{}",
        failed.data
    );

    let math = wat::parse_str(MATH).unwrap();
    let unsigned = dir.path().join("math.wasm");
    std::fs::write(&unsigned, &math).unwrap();
    let scale = |id: &str, path: &Path| json!({"component_id": id, "component_ref": format!("file://{}", path.display()), "count": 1, "host_id": host.id()});
    ctl_request(
        &client,
        subjects.component_scale(host.id()),
        scale("unsigned", &unsigned),
    )
    .await;
    let failed = events
        .next_matching("component_scale_failed", |e| {
            e.data["component_id"] == "unsigned"
        })
        .await
        .unwrap();
    assert!(
        failed.data["error"].as_str().unwrap().contains("unsigned"),
        "{}",
        failed.data
    );

    let account = KeyPair::new_account();
    let module = KeyPair::new_module();
    let metadata = ComponentMetadata {
        name: Some("Signed Math".into()),
        version: Some("1.2.3".into()),
        ..Default::default()
    };
    let signed = dir.path().join("math_s.wasm");
    std::fs::write(
        &signed,
        sign_component(&math, &metadata, &account, &module).unwrap(),
    )
    .unwrap();
    ctl_request(
        &client,
        subjects.component_scale(host.id()),
        scale("signed", &signed),
    )
    .await;
    let scaled = events
        .next_matching_within(
            "component_scaled",
            lattice_test_support::COMPILE_WAIT,
            |e| e.data["component_id"] == "signed",
        )
        .await
        .unwrap();
    assert_eq!(
        scaled.data["claims"]["name"], "Signed Math",
        "{}",
        scaled.data
    );
    let claims = ctl_request(&client, subjects.claims_get(), serde_json::Value::Null).await;
    let listed = claims.response.unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["sub"] == module.public_key() && c["name"] == "Signed Math"),
        "{listed}"
    );
}
