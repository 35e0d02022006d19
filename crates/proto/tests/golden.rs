//! The JSON documents of the protocol reference (spec §1.2, §3.1, §3.1.1, §3.1.2, §4)
//! decode into lattice's types and re-encode to equal JSON values.

use lattice_proto::CtlResponse;
use lattice_proto::HostData;
use lattice_proto::ctl::{Host, StartProviderCommand, StopProviderCommand};
use lattice_proto::events::CloudEvent;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn golden(name: &str) -> Value {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn round_trip<T: Serialize + DeserializeOwned>(doc: &Value) -> T {
    let typed: T = serde_json::from_value(doc.clone()).expect("the document decodes");
    let again = serde_json::to_value(&typed).expect("the value encodes");
    assert_eq!(&again, doc, "re-encoding changed the document");
    typed
}

#[test]
fn host_data_example() {
    let data: HostData = round_trip(&golden("host_data.json"));
    assert_eq!(data.provider_key, "kv-redis");
    assert_eq!(
        data.link_definitions[0].target_config["URL"],
        "redis://127.0.0.1:6379"
    );
    assert_eq!(
        data.link_definitions[0]
            .target_secrets
            .as_ref()
            .map(Vec::len),
        Some(92)
    );
    // On stdin the document is one padded base64 line; it survives the trip.
    assert_eq!(
        HostData::from_stdin_line(&data.to_stdin_line()).unwrap(),
        data
    );
}

#[test]
fn start_and_stop_provider_examples() {
    let start: StartProviderCommand = round_trip(&golden("start_provider.json"));
    assert_eq!(start.config, ["redis-defaults", "SECRET_redis_password"]);
    let stop: StopProviderCommand = round_trip(&golden("stop_provider.json"));
    assert_eq!(stop.provider_id, "kv-redis");
}

#[test]
fn ctl_responses() {
    let ping: CtlResponse<Host> = round_trip(&golden("ctl_response_ping.json"));
    assert_eq!(ping.response.unwrap().uptime_seconds, 3723);
    let error: CtlResponse<()> = round_trip(&golden("ctl_response_error.json"));
    assert!(!error.success);
}

#[test]
fn every_event_example_decodes_typed_and_round_trips() {
    let Value::Array(events) = golden("events.json") else {
        panic!("events.json is an array")
    };
    assert_eq!(events.len(), 10);
    for doc in &events {
        let envelope: CloudEvent = round_trip(doc);
        let typed = envelope
            .decode()
            .unwrap_or_else(|e| panic!("{}: {e}", envelope.ty));
        assert_eq!(typed.name(), envelope.event_name());
        assert!(
            !matches!(typed, lattice_proto::events::Event::Other { .. }),
            "{} is a known event",
            envelope.ty
        );
        assert_eq!(typed.data(), doc["data"], "{} data re-encodes", envelope.ty);
    }
}
