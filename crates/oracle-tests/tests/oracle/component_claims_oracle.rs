//! Component claims against the official `wascap` 0.16.2 (the version wasmCloud 1.9.2
//! pins): components signed by `wascap::wasm::embed_claims` start on a lattice host with
//! their claims, and where wascap itself refuses a token (expired, other bytes) lattice
//! refuses the scale naming the same reason.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::{EventWatcher, TestNats, ctl_request};
use nkeys::KeyPair;
use serde_json::json;
use wascap::jwt::{Claims, Component};

const MATH: &str = r#"
(component
  (core module $m
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
  (core instance $i (instantiate $m))
  (func $add (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
  (instance $math (export "add" (func $add)))
  (export "local:test/math@0.1.0" (instance $math))
)
"#;

const OTHER: &str = r#"
(component
  (core module $m
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.sub))
  (core instance $i (instantiate $m))
  (func $add (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
  (instance $math (export "add" (func $add)))
  (export "local:test/math@0.1.0" (instance $math))
)
"#;

fn claims(account: &KeyPair, module: &KeyPair, expires: Option<u64>) -> Claims<Component> {
    Claims::<Component>::with_dates(
        "Oracle Math".to_string(),
        account.public_key(),
        module.public_key(),
        Some(vec!["oracle".to_string()]),
        None,
        expires,
        false,
        Some(4),
        Some("1.2.3".to_string()),
        Some("Oracle Math".to_string()),
    )
}

#[tokio::test]
async fn components_signed_by_wascap_are_verified_as_wascap_does() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let client = nats.client().await?;
    let events = EventWatcher::new(&client, "default").await?;
    let dir = tempfile::tempdir()?;
    let host = nats.start_host(|c| c.allow_file_load = true).await?;
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let account = KeyPair::new_account();
    let module = KeyPair::new_module();
    let math = wat::parse_str(MATH)?;

    let signed = wascap::wasm::embed_claims(&math, &claims(&account, &module, None), &account)?;
    assert!(wascap::wasm::extract_claims(&signed)?.is_some());
    // `wat` output is minimally encoded: wascap re-encodes it unchanged and appends its
    // `wasmcloud_jwt` section.
    assert!(signed.starts_with(&math));
    let section = &signed[math.len()..];

    let past = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() - 86_400;
    let expired =
        wascap::wasm::embed_claims(&math, &claims(&account, &module, Some(past)), &account)?;
    let token = wascap::wasm::extract_claims(&expired)?.expect("embedded");
    assert!(wascap::jwt::validate_token::<Component>(&token.jwt)?.expired);

    let mut moved = wat::parse_str(OTHER)?;
    moved.extend_from_slice(section);
    assert!(
        wascap::wasm::extract_claims(&moved).is_err(),
        "wascap: invalid module hash"
    );

    let scale = |id: &str, bytes: &[u8]| {
        let path = dir.path().join(format!("{id}.wasm"));
        std::fs::write(&path, bytes).unwrap();
        json!({"component_id": id, "component_ref": format!("file://{}", path.display()), "count": 1})
    };

    let body = scale("signed", &signed);
    assert!(
        ctl_request(&client, subjects.component_scale(host.id()), body)
            .await
            .success
    );
    let scaled = events.next_named("component_scaled").await?;
    assert_eq!(scaled.data["public_key"], module.public_key());
    assert_eq!(scaled.data["claims"]["name"], "Oracle Math");
    assert_eq!(scaled.data["claims"]["revision"], 4);
    // wascap normalizes the call alias when it signs.
    assert_eq!(scaled.data["claims"]["call_alias"], "oracle_math");

    for (id, bytes, reason) in [
        ("expired", expired, "expired at"),
        ("moved", moved, "hash mismatch"),
    ] {
        let body = scale(id, &bytes);
        assert!(
            ctl_request(&client, subjects.component_scale(host.id()), body)
                .await
                .success
        );
        let failed = events.next_named("component_scale_failed").await?;
        assert_eq!(failed.data["component_id"], id);
        let error = failed.data["error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "{id}: {error}");
    }
    host.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

/// What lattice signs (`lattice claims sign` runs `sign_component`) is what wascap
/// extracts and validates: the official host accepts it.
#[test]
fn components_signed_by_lattice_pass_wascap() -> anyhow::Result<()> {
    use lattice_artifacts::component_claims::{ComponentMetadata, sign_component};
    let account = KeyPair::new_account();
    let module = KeyPair::new_module();
    let metadata = ComponentMetadata {
        name: Some("Lattice Math".into()),
        tags: vec!["math".into()],
        revision: Some(2),
        version: Some("0.2.0".into()),
        call_alias: Some("lm".into()),
        expires_in: Some(86_400),
        not_before_in: None,
    };
    let signed = sign_component(&wat::parse_str(MATH)?, &metadata, &account, &module)?;
    let token = wascap::wasm::extract_claims(&signed)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .expect("wascap finds the claims");
    let validation =
        wascap::jwt::validate_token::<Component>(&token.jwt).map_err(|e| anyhow::anyhow!("{e}"))?;
    assert!(validation.signature_valid && !validation.expired && !validation.cannot_use_yet);
    let component = token.claims.metadata.expect("component metadata");
    assert_eq!(token.claims.issuer, account.public_key());
    assert_eq!(token.claims.subject, module.public_key());
    assert_eq!(component.name.as_deref(), Some("Lattice Math"));
    assert_eq!(component.tags, Some(vec!["math".to_string()]));
    assert_eq!(component.rev, Some(2));
    assert_eq!(component.call_alias.as_deref(), Some("lm"));
    Ok(())
}
