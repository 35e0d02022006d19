//! Signed components end to end (real `nats-server`, real host): the test signs claims
//! itself with `nkeys` in wascap 0.16's format (an account issuer, a module subject, the
//! module hash of the unsigned bytes) and embeds them as a custom section, as
//! `wascap::wasm::embed_claims` does. Valid claims show in `component_scaled`, inventory
//! and `claims.get`; each fault fails the scale with an `error` naming it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lattice_host::HostConfig;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::components::MATH;
use lattice_test_support::{EventWatcher, TestNats, ctl_request};
use nkeys::KeyPair;
use serde_json::{Value as Json, json};
use sha2::{Digest as _, Sha256};

/// The same component, multiplying: other bytes under the same token.
const TAMPERED: &str = r#"
(component
  (core module $m
    (func (export "add") (param i32 i32) (result i32)
      local.get 0 local.get 1 i32.mul))
  (core instance $i (instantiate $m))
  (func $add (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
  (instance $math (export "add" (func $add)))
  (export "local:test/math@0.1.0" (instance $math))
)
"#;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// wascap's module hash: uppercase hex SHA-256 of the bytes without claims sections
/// (`wat` output is minimally encoded, so stripping nothing re-encodes it unchanged).
fn module_hash(wasm: &[u8]) -> String {
    Sha256::digest(wasm)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// The claims `wascap::jwt::Claims::<Component>::with_dates` builds (revision 3).
fn claims(issuer: &KeyPair, subject: &KeyPair, hash: &str) -> Json {
    json!({
        "jti": "ULKHZO6TUZB3XAV6LQ8GTH",
        "iat": now(),
        "iss": issuer.public_key(),
        "sub": subject.public_key(),
        "wascap": {
            "name": "Math", "hash": hash, "tags": ["wasmcloud.com/experimental", "math"],
            "rev": 7, "ver": "0.3.1", "call_alias": "math_alias", "prov": false
        },
        "wascap_revision": 3
    })
}

/// `Claims::encode`: base64url header and claims, signed together with Ed25519.
fn sign(claims: &Json, key: &KeyPair) -> String {
    let segment = |v: &Json| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let signed = format!(
        "{}.{}",
        segment(&json!({"typ": "jwt", "alg": "Ed25519"})),
        segment(claims)
    );
    let signature = URL_SAFE_NO_PAD.encode(key.sign(signed.as_bytes()).unwrap());
    format!("{signed}.{signature}")
}

/// Appends a custom section (id 0, size, name, data) as `wasm_gen::write_custom_section`.
fn with_section(wasm: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
    fn leb(out: &mut Vec<u8>, mut n: usize) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut body = Vec::new();
    leb(&mut body, name.len());
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    let mut out = wasm.to_vec();
    out.push(0);
    leb(&mut out, body.len());
    out.extend(body);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn components(dir: &Path) -> impl FnOnce(&mut HostConfig) + '_ {
    move |c: &mut HostConfig| {
        c.allow_file_load = true;
        c.runtime.cache_dir = Some(dir.join("compiled"));
    }
}

fn subjects() -> CtlSubjects {
    CtlSubjects::new("wasmbus.ctl", "default")
}

async fn scale(client: &async_nats::Client, host: &str, id: &str, path: &Path) {
    let body = json!({"component_id": id, "component_ref": format!("file://{}", path.display()), "count": 1, "host_id": host});
    let reply = ctl_request(client, subjects().component_scale(host), body).await;
    assert!(reply.success, "{}", reply.message);
}

async fn claims_list(client: &async_nats::Client) -> Vec<Json> {
    let reply = ctl_request(client, subjects().claims_get(), Json::Null).await;
    assert!(reply.success, "{}", reply.message);
    reply.response.unwrap().as_array().unwrap().clone()
}

#[tokio::test]
async fn signed_components_start_with_their_claims_and_unsigned_ones_start_too() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let host = nats.start_host(components(dir.path())).await.unwrap();
    let host_id = host.id().to_string();

    let account = KeyPair::new_account();
    let module = KeyPair::new_module();
    let legacy_module = KeyPair::new_module();
    let unsigned = wat::parse_str(MATH).unwrap();
    let hash = module_hash(&unsigned);
    // wascap 0.16 writes `wasmcloud_jwt`; tokens in the older `jwt` section are read too.
    let token = sign(&claims(&account, &module, &hash), &account);
    let signed = write(
        dir.path(),
        "signed.wasm",
        &with_section(&unsigned, "wasmcloud_jwt", token.as_bytes()),
    );
    let legacy_token = sign(&claims(&account, &legacy_module, &hash), &account);
    let legacy = write(
        dir.path(),
        "legacy.wasm",
        &with_section(&unsigned, "jwt", legacy_token.as_bytes()),
    );
    let plain = write(dir.path(), "unsigned.wasm", &unsigned);

    scale(&client, &host_id, "signed", &signed).await;
    let scaled = events.next_named("component_scaled").await.unwrap();
    assert_eq!(scaled.data["component_id"], "signed");
    assert_eq!(scaled.data["public_key"], module.public_key());
    let summary = &scaled.data["claims"];
    assert_eq!(summary["issuer"], account.public_key());
    assert_eq!(summary["name"], "Math");
    assert_eq!(summary["revision"], 7);
    assert_eq!(summary["version"], "0.3.1");
    assert_eq!(summary["call_alias"], "math_alias");
    assert_eq!(
        summary["tags"],
        json!(["wasmcloud.com/experimental", "math"])
    );
    assert_eq!(
        (
            summary["not_before_human"].as_str(),
            summary["expires_human"].as_str()
        ),
        (Some("never"), Some("never"))
    );

    scale(&client, &host_id, "legacy", &legacy).await;
    let scaled = events.next_named("component_scaled").await.unwrap();
    assert_eq!(scaled.data["component_id"], "legacy");
    assert_eq!(scaled.data["public_key"], legacy_module.public_key());

    scale(&client, &host_id, "unsigned", &plain).await;
    let scaled = events.next_named("component_scaled").await.unwrap();
    assert_eq!(scaled.data["component_id"], "unsigned");
    let fields = scaled.data.as_object().unwrap();
    assert!(
        !fields.contains_key("public_key") && !fields.contains_key("claims"),
        "{fields:?}"
    );

    let inventory = ctl_request(&client, subjects().host_get(&host_id), Json::Null).await;
    let listed = inventory.response.unwrap()["components"].clone();
    let by_id = |id: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {listed}"))
            .clone()
    };
    assert_eq!(
        (
            by_id("signed")["name"].clone(),
            by_id("signed")["revision"].clone()
        ),
        (json!("Math"), json!(7))
    );
    assert!(by_id("unsigned").get("name").is_none_or(Json::is_null));
    assert_eq!(by_id("unsigned")["revision"], 0);

    let stored = claims_list(&client).await;
    let entry = stored
        .iter()
        .find(|c| c["sub"] == module.public_key())
        .unwrap_or_else(|| panic!("{stored:?}"));
    assert_eq!(entry["iss"], account.public_key());
    assert_eq!(entry["name"], "Math");
    assert_eq!(entry["rev"], "7");
    assert_eq!(entry["version"], "0.3.1");
    assert_eq!(entry["call_alias"], "math_alias");
    assert_eq!(entry["tags"], "wasmcloud.com/experimental,math");
    assert!(
        stored
            .iter()
            .any(|c| c["sub"] == legacy_module.public_key())
    );
    assert_eq!(
        stored.len(),
        2,
        "the unsigned component has none: {stored:?}"
    );

    // Stopping reports the claims of what ran.
    let body = json!({"component_id": "signed", "component_ref": format!("file://{}", signed.display()), "count": 0, "host_id": host_id});
    assert!(
        ctl_request(&client, subjects().component_scale(&host_id), body)
            .await
            .success
    );
    let stopped = events.next_named("component_scaled").await.unwrap();
    assert_eq!(
        (
            stopped.data["max_instances"].clone(),
            stopped.data["public_key"].clone()
        ),
        (json!(0), json!(module.public_key()))
    );
    host.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn faulty_claims_fail_the_scale_naming_the_reason() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let host = nats.start_host(components(dir.path())).await.unwrap();
    let host_id = host.id().to_string();

    let account = KeyPair::new_account();
    let module = KeyPair::new_module();
    let unsigned = wat::parse_str(MATH).unwrap();
    let hash = module_hash(&unsigned);
    let embed = |wasm: &[u8], token: &str| with_section(wasm, "wasmcloud_jwt", token.as_bytes());

    let mut expired = claims(&account, &module, &hash);
    expired["exp"] = json!(now() - 3 * 86_400 - 60);
    let mut early = claims(&account, &module, &hash);
    early["nbf"] = json!(now() + 2 * 86_400 + 60);
    let impostor = KeyPair::new_account();
    let valid = sign(&claims(&account, &module, &hash), &account);
    let tampered = wat::parse_str(TAMPERED).unwrap();

    let cases = [
        (
            "expired",
            embed(&unsigned, &sign(&expired, &account)),
            "token expired at `3days ago`",
        ),
        (
            "early",
            embed(&unsigned, &sign(&early, &account)),
            "token not valid before `in 2days`",
        ),
        (
            "impostor",
            embed(
                &unsigned,
                &sign(&claims(&account, &module, &hash), &impostor),
            ),
            "bad signature",
        ),
        ("tampered", embed(&tampered, &valid), "hash mismatch"),
        (
            "garbage",
            embed(&unsigned, "not-a-jwt"),
            "undecodable claims token",
        ),
    ];
    for (id, bytes, expected) in cases {
        let path = write(dir.path(), &format!("{id}.wasm"), &bytes);
        scale(&client, &host_id, id, &path).await;
        let failed = events.next_named("component_scale_failed").await.unwrap();
        assert_eq!(failed.data["component_id"], id);
        let error = failed.data["error"].as_str().unwrap();
        assert!(
            error.starts_with("invalid component claims: ") && error.contains(expected),
            "{id}: {error}"
        );
    }

    let inventory = ctl_request(&client, subjects().host_get(&host_id), Json::Null).await;
    assert_eq!(inventory.response.unwrap()["components"], json!([]));
    assert_eq!(claims_list(&client).await, Vec::<Json>::new());
    host.shutdown(Duration::from_secs(5)).await;
}
