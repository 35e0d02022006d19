//! The bodies of lattice's fuzz targets: every decoder of bytes that arrive from NATS.
//! Each takes arbitrary bytes and must return without panicking, whatever they are.
//!
//! `fuzz/` (cargo-fuzz, nightly) runs each under libFuzzer:
//!
//! ```sh
//! cargo +nightly fuzz run ctl_payloads      # also: subjects, events, health_replies, host_data, wrpc_values
//! ```
//!
//! On stable, this crate's tests feed each thousands of random and mutated inputs
//! (CI runs them).

use lattice_proto::ctl::{
    ComponentAuctionRequest, HostLabel, HostLabelIdentifier, ProviderAuctionRequest,
    ProviderLogsRequest, ScaleComponentCommand, StartProviderCommand, StopHostCommand,
    StopProviderCommand, UpdateComponentCommand,
};
use lattice_proto::events::CloudEvent;
use lattice_proto::link::DeleteInterfaceLinkDefinitionRequest;
use lattice_proto::provider::{HealthCheckResponse, ShutdownRequest};
use lattice_proto::subjects::CtlSubjects;
use lattice_proto::{HostData, InterfaceLinkDefinition};
use lattice_wrpc::value::{Type, decode_tuple};

fn json<T: serde::de::DeserializeOwned>(data: &[u8]) {
    let _ = serde_json::from_slice::<T>(data);
}

/// Every control request body the host decodes (as its handlers do).
pub fn ctl_payloads(data: &[u8]) {
    json::<StartProviderCommand>(data);
    json::<StopProviderCommand>(data);
    json::<StopHostCommand>(data);
    json::<ScaleComponentCommand>(data);
    json::<UpdateComponentCommand>(data);
    json::<ProviderAuctionRequest>(data);
    json::<ComponentAuctionRequest>(data);
    json::<ProviderLogsRequest>(data);
    json::<HostLabel>(data);
    json::<HostLabelIdentifier>(data);
    json::<InterfaceLinkDefinition>(data);
    json::<DeleteInterfaceLinkDefinitionRequest>(data);
    json::<std::collections::BTreeMap<String, String>>(data);
    json::<lattice_proto::policy::PolicyResponse>(data);
}

/// Control subjects, as the host parses them (under two prefixes).
pub fn subjects(data: &[u8]) {
    let Ok(subject) = std::str::from_utf8(data) else {
        return;
    };
    for subjects in [
        CtlSubjects::new("wasmbus.ctl", "default"),
        CtlSubjects::new("a.b.c", "lattice-1"),
    ] {
        let _ = subjects.parse(subject);
    }
}

/// Events, as the client and the tests read them: the envelope, then its data.
pub fn events(data: &[u8]) {
    if let Ok(event) = serde_json::from_slice::<CloudEvent>(data) {
        let _ = event.decode();
    }
}

/// A provider's answers: health replies and the shutdown request it receives.
pub fn health_replies(data: &[u8]) {
    json::<HealthCheckResponse>(data);
    json::<ShutdownRequest>(data);
}

/// HostData as a provider reads it from stdin (the SDK's decoder).
pub fn host_data(data: &[u8]) {
    let _ = HostData::from_stdin_line(data);
}

/// wRPC values of a few shapes, as a component server and client decode them (the
/// first byte picks the shape).
pub fn wrpc_values(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let shapes = [
        vec![Type::U32, Type::String],
        vec![Type::list(Type::U8)],
        vec![Type::record([
            ("body", Type::stream(Type::U8)),
            (
                "trailers",
                Type::future(Some(Type::option(Type::list(Type::U8)))),
            ),
            ("status", Type::U16),
        ])],
        vec![Type::result(
            Some(Type::option(Type::S64)),
            Some(Type::variant([("a", None), ("b", Some(Type::Char))])),
        )],
        vec![
            Type::Flags((0..20).map(|i| format!("f{i}")).collect()),
            Type::F64,
        ],
    ];
    let shape = &shapes[usize::from(pick) % shapes.len()];
    let mut buf = bytes::BytesMut::from(rest);
    let _ = decode_tuple(shape, &mut buf);
}

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("ctl_payloads", ctl_payloads),
    ("subjects", subjects),
    ("events", events),
    ("health_replies", health_replies),
    ("host_data", host_data),
    ("wrpc_values", wrpc_values),
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Valid inputs, mutated by the strategies below.
    const SEEDS: &[&[u8]] = &[
        br#"{"provider_id":"p","provider_ref":"ghcr.io/x/y:1","host_id":"H","config":["a"]}"#,
        br#"{"component_id":"c","component_ref":"file:///x.wasm","count":1,"host_id":"H"}"#,
        br#"{"healthy":true,"message":null}"#,
        b"wasmbus.ctl.v1.default.provider.start.NHOST",
        br#"{"specversion":"1.0","id":"1","type":"com.wasmcloud.lattice.host_heartbeat","source":"h","data":{}}"#,
        b"eyJob3N0X2lkIjoiaCJ9\r\n",
        b"\x00\x2a\x05hello",
    ];

    fn inputs() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            (
                prop::sample::select(SEEDS),
                prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
                any::<prop::sample::Index>(),
            )
                .prop_map(|(seed, flips, cut)| {
                    let mut bytes = seed.to_vec();
                    for (at, byte) in flips {
                        let i = at.index(bytes.len());
                        bytes[i] = byte;
                    }
                    bytes.truncate(cut.index(bytes.len() + 1));
                    bytes
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn no_target_panics_on_random_or_mutated_input(data in inputs()) {
            for (_, target) in TARGETS {
                target(&data);
            }
        }
    }

    #[test]
    fn every_seed_goes_through_every_target() {
        for seed in SEEDS {
            for (_, target) in TARGETS {
                target(seed);
            }
        }
    }
}
