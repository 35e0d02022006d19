//! lattice's wire types against the official wasmCloud crates (`wasmcloud-core` 0.21,
//! `wasmcloud-control-interface` 3.0): what lattice encodes the official types decode,
//! and what they encode lattice decodes, to the same JSON. Golden documents from the
//! spec, then property tests over generated values.

use std::collections::BTreeMap;

use lattice_proto::ctl::{
    Host, HostInventory, ProviderDescription, StartProviderCommand, StopProviderCommand,
};
use lattice_proto::{
    CtlResponse, HostData, InterfaceLinkDefinition, Level, Link, OtelConfig, OtelProtocol,
    SecretValue,
};
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use wasmcloud_control_interface as official_ctl;
use wasmcloud_core as official_core;

/// ours → JSON → theirs → JSON → ours; both JSON values equal, and ours comes back unchanged.
fn through_official<Ours, Theirs>(ours: &Ours) -> Result<(), TestCaseError>
where
    Ours: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    Theirs: Serialize + DeserializeOwned,
{
    let our_json = serde_json::to_value(ours).unwrap();
    let theirs: Theirs = serde_json::from_value(our_json.clone()).map_err(|e| {
        TestCaseError::fail(format!("the official type rejects ours: {e}\n{our_json}"))
    })?;
    let their_json = serde_json::to_value(&theirs).unwrap();
    prop_assert_eq!(&their_json, &our_json, "the official encoding differs");
    let back: Ours = serde_json::from_value(their_json)
        .map_err(|e| TestCaseError::fail(format!("we reject the official encoding: {e}")))?;
    prop_assert_eq!(&back, ours);
    Ok(())
}

fn golden(name: &str) -> Value {
    let path = format!(
        "{}/../proto/tests/golden/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn golden_documents_decode_with_the_official_types_too() {
    let doc = golden("host_data.json");
    let ours: HostData = serde_json::from_value(doc.clone()).unwrap();
    let theirs: official_core::HostData = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(serde_json::to_value(&theirs).unwrap(), doc);
    assert_eq!(serde_json::to_value(&ours).unwrap(), doc);

    let doc = golden("start_provider.json");
    let theirs: official_ctl::StartProviderCommand = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(serde_json::to_value(&theirs).unwrap(), doc);
    through_official::<StartProviderCommand, official_ctl::StartProviderCommand>(
        &serde_json::from_value(doc).unwrap(),
    )
    .unwrap();
    through_official::<StopProviderCommand, official_ctl::StopProviderCommand>(
        &serde_json::from_value(golden("stop_provider.json")).unwrap(),
    )
    .unwrap();
    through_official::<CtlResponse<Host>, official_ctl::CtlResponse<official_ctl::Host>>(
        &serde_json::from_value(golden("ctl_response_ping.json")).unwrap(),
    )
    .unwrap();
}

#[test]
fn our_stdin_line_is_what_the_official_sdk_expects() {
    // The SDK trims the line, decodes padded standard base64, then the JSON.
    use base64_engine::decode_standard;
    let ours: HostData = serde_json::from_value(golden("host_data.json")).unwrap();
    let line = ours.to_stdin_line();
    let text = std::str::from_utf8(&line).unwrap();
    assert!(text.ends_with("\r\n"));
    let json = decode_standard(text.trim());
    let theirs: official_core::HostData = serde_json::from_slice(&json).unwrap();
    assert_eq!(theirs.provider_key, "kv-redis");
    assert_eq!(theirs.link_definitions.len(), 1);
}

/// Standard padded base64 decoding, written out so this check does not share code with lattice.
mod base64_engine {
    pub(super) fn decode_standard(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        assert_eq!(text.len() % 4, 0, "padded");
        let mut out = Vec::new();
        for chunk in text.as_bytes().chunks(4) {
            let mut n = 0u32;
            let mut pad = 0;
            for &c in chunk {
                n <<= 6;
                if c == b'=' {
                    pad += 1;
                } else {
                    n |= ALPHABET
                        .iter()
                        .position(|&a| a == c)
                        .expect("base64 alphabet") as u32;
                }
            }
            let bytes = n.to_be_bytes();
            out.extend_from_slice(&bytes[1..4 - pad]);
        }
        out
    }
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_:/.-]{0,12}"
}

fn string_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(token(), ".{0,8}", 0..4)
}

fn level() -> impl Strategy<Value = Level> {
    prop_oneof![
        Just(Level::Error),
        Just(Level::Warn),
        Just(Level::Info),
        Just(Level::Debug),
        Just(Level::Trace),
        Just(Level::Critical)
    ]
}

fn link_def() -> impl Strategy<Value = InterfaceLinkDefinition> {
    (
        (token(), token(), token(), token(), token()),
        prop::collection::vec(token(), 0..3),
        (string_map(), string_map()),
        (
            prop::option::of(prop::collection::vec(any::<u8>(), 0..48)),
            prop::option::of(prop::collection::vec(any::<u8>(), 0..48)),
        ),
    )
        .prop_map(
            |(
                (source_id, target, name, wit_namespace, wit_package),
                interfaces,
                (source_config, target_config),
                (source_secrets, target_secrets),
            )| {
                InterfaceLinkDefinition {
                    source_id,
                    target,
                    name,
                    wit_namespace,
                    wit_package,
                    interfaces,
                    source_config,
                    target_config,
                    source_secrets,
                    target_secrets,
                }
            },
        )
}

fn ctl_link() -> impl Strategy<Value = Link> {
    (
        (token(), token(), token(), token(), token()),
        prop::collection::vec(token(), 0..3),
        prop::collection::vec(token(), 0..3),
        prop::collection::vec(token(), 0..3),
    )
        .prop_map(
            |(
                (source_id, target, name, wit_namespace, wit_package),
                interfaces,
                source_config,
                target_config,
            )| Link {
                source_id,
                target,
                name,
                wit_namespace,
                wit_package,
                interfaces,
                source_config,
                target_config,
            },
        )
}

fn otel() -> impl Strategy<Value = OtelConfig> {
    (
        any::<bool>(),
        (
            prop::option::of(any::<bool>()),
            prop::option::of(any::<bool>()),
            prop::option::of(any::<bool>()),
        ),
        (
            prop::option::of(token()),
            prop::option::of(token()),
            prop::option::of(token()),
            prop::option::of(token()),
        ),
        prop_oneof![Just(OtelProtocol::Http), Just(OtelProtocol::Grpc)],
        prop::collection::vec(token().prop_map(std::path::PathBuf::from), 0..2),
        level(),
    )
        .prop_map(
            |(
                enable_observability,
                (enable_traces, enable_metrics, enable_logs),
                (observability_endpoint, traces_endpoint, metrics_endpoint, logs_endpoint),
                protocol,
                additional_ca_paths,
                trace_level,
            )| OtelConfig {
                enable_observability,
                enable_traces,
                enable_metrics,
                enable_logs,
                observability_endpoint,
                traces_endpoint,
                metrics_endpoint,
                logs_endpoint,
                protocol,
                additional_ca_paths,
                trace_level,
                ..OtelConfig::default()
            },
        )
}

fn secret() -> impl Strategy<Value = SecretValue> {
    prop_oneof![
        ".{0,8}".prop_map(SecretValue::String),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(SecretValue::Bytes),
    ]
}

fn host_data() -> impl Strategy<Value = HostData> {
    (
        (
            token(),
            token(),
            token(),
            token(),
            token(),
            token(),
            token(),
            token(),
        ),
        (
            string_map(),
            prop::collection::vec(link_def(), 0..3),
            string_map(),
        ),
        prop::collection::btree_map(token(), secret(), 0..3),
        (
            token(),
            token(),
            prop::option::of(any::<u64>()),
            any::<bool>(),
            prop::option::of(level()),
        ),
        otel(),
    )
        .prop_map(
            |(
                (host_id, lattice_rpc_prefix, link_name, jwt, seed, url, provider_key, instance_id),
                (env_values, link_definitions, config),
                secrets,
                (hx, px, timeout, structured_logging, log_level),
                otel_config,
            )| HostData {
                host_id,
                lattice_rpc_prefix,
                link_name,
                lattice_rpc_user_jwt: jwt,
                lattice_rpc_user_seed: seed,
                lattice_rpc_url: url,
                provider_key,
                env_values,
                instance_id,
                link_definitions,
                cluster_issuers: Vec::new(),
                config,
                secrets,
                host_xkey_public_key: hx,
                provider_xkey_private_key: px,
                default_rpc_timeout_ms: timeout,
                structured_logging,
                log_level,
                otel_config,
            },
        )
}

fn provider_description() -> impl Strategy<Value = ProviderDescription> {
    (
        token(),
        prop::option::of(token()),
        prop::option::of(token()),
        any::<i32>(),
        prop::option::of(string_map()),
    )
        .prop_map(
            |(id, image_ref, name, revision, annotations)| ProviderDescription {
                id,
                image_ref,
                name,
                revision,
                annotations,
                ..ProviderDescription::default()
            },
        )
}

/// A description with lattice's supervision fields set.
fn supervised_description() -> impl Strategy<Value = ProviderDescription> {
    (
        provider_description(),
        prop_oneof![Just("running"), Just("backoff"), Just("failed")],
        (
            prop::option::of(any::<bool>()),
            any::<u32>(),
            prop::option::of(token()),
            prop::option::of(any::<u32>()),
        ),
    )
        .prop_map(
            |(base, state, (healthy, restarts, last_exit, pid))| ProviderDescription {
                state: Some(state.to_string()),
                healthy,
                restarts: Some(restarts),
                last_exit,
                pid,
                ..base
            },
        )
}

fn host() -> impl Strategy<Value = Host> {
    (
        (
            prop::option::of(token()),
            prop::option::of(token()),
            token(),
            token(),
            prop::option::of(token()),
        ),
        (
            string_map(),
            token(),
            prop::option::of(token()),
            any::<u64>(),
            prop::option::of(token()),
        ),
    )
        .prop_map(
            |(
                (rpc_host, ctl_host, friendly_name, id, js_domain),
                (labels, lattice, uptime_human, uptime_seconds, version),
            )| Host {
                rpc_host,
                ctl_host,
                friendly_name,
                id,
                js_domain,
                labels,
                lattice,
                uptime_human,
                uptime_seconds,
                version,
            },
        )
}

fn inventory() -> impl Strategy<Value = HostInventory> {
    (
        prop::collection::vec(provider_description(), 0..3),
        (
            token(),
            token(),
            string_map(),
            token(),
            token(),
            any::<u64>(),
        ),
    )
        .prop_map(
            |(
                providers,
                (host_id, friendly_name, labels, version, uptime_human, uptime_seconds),
            )| HostInventory {
                components: Vec::new(),
                providers,
                host_id,
                friendly_name,
                labels,
                version,
                uptime_human,
                uptime_seconds,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn host_data_matches_wasmcloud_core(data in host_data()) {
        through_official::<HostData, official_core::HostData>(&data)?;
    }

    #[test]
    fn provider_links_match_wasmcloud_core(link in link_def()) {
        through_official::<InterfaceLinkDefinition, official_core::InterfaceLinkDefinition>(&link)?;
    }

    #[test]
    fn ctl_links_match_the_control_interface(link in ctl_link()) {
        through_official::<Link, official_ctl::Link>(&link)?;
    }

    #[test]
    fn ping_replies_match_the_control_interface(host in host(), success in any::<bool>(), message in ".{0,10}") {
        let reply = CtlResponse { success, message, response: Some(host) };
        through_official::<CtlResponse<Host>, official_ctl::CtlResponse<official_ctl::Host>>(&reply)?;
    }

    #[test]
    fn inventories_match_the_control_interface(inv in inventory()) {
        through_official::<HostInventory, official_ctl::HostInventory>(&inv)?;
        let reply = CtlResponse::ok(inv);
        through_official::<CtlResponse<HostInventory>, official_ctl::CtlResponse<official_ctl::HostInventory>>(&reply)?;
    }

    #[test]
    fn lattice_inventory_extras_are_ignored_by_the_official_decoder(desc in supervised_description()) {
        let json = serde_json::to_value(&desc).unwrap();
        let theirs: official_ctl::ProviderDescription = serde_json::from_value(json.clone())
            .map_err(|e| TestCaseError::fail(format!("the official type rejects ours: {e}")))?;
        let official_fields = ProviderDescription {
            state: None,
            healthy: None,
            restarts: None,
            last_exit: None,
            pid: None,
            ..desc.clone()
        };
        prop_assert_eq!(serde_json::to_value(&theirs).unwrap(), serde_json::to_value(&official_fields).unwrap());
        let back: ProviderDescription = serde_json::from_value(json).unwrap();
        prop_assert_eq!(back, desc);
    }

    #[test]
    fn errors_match_the_control_interface(message in ".{0,20}") {
        through_official::<CtlResponse<()>, official_ctl::CtlResponse<()>>(&CtlResponse::error(message))?;
    }
}
