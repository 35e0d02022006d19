//! A property test of the control server under hostile input (issue #14, item 5): random
//! bytes, truncated valid requests and arbitrary JSON, on every control subject a host
//! serves. Every request gets a well-formed reply (a `CtlResponse`), a payload that is
//! not JSON is refused wherever one is read, and the host answers `host.ping` after
//! every case. Real `nats-server`, real host, raw NATS requests.

use std::time::Duration;

use lattice_proto::CtlResponse;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::TestNats;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// A served subject, and whether the host reads its payload.
struct Served {
    subject: String,
    reads_payload: bool,
}

/// Every subject the host serves, but `host.stop` (a valid one would stop it).
fn served(s: &CtlSubjects, id: &str) -> Vec<Served> {
    let reads = |subject: String| Served {
        subject,
        reads_payload: true,
    };
    let ignores = |subject: String| Served {
        subject,
        reads_payload: false,
    };
    vec![
        ignores(s.host_ping()),
        ignores(s.host_get(id)),
        reads(s.label_put(id)),
        reads(s.label_del(id)),
        reads(s.provider_start(id)),
        reads(s.provider_stop(id)),
        reads(s.provider_auction()),
        reads(s.provider_logs(id)),
        reads(s.link_put()),
        reads(s.link_del()),
        ignores(s.link_get()),
        reads(s.config_put("fuzzed")),
        ignores(s.config_get("fuzzed")),
        ignores(s.config_del("fuzzed")),
        reads(s.component_scale(id)),
        reads(s.component_update(id)),
        reads(s.component_describe(id)),
        reads(s.component_auction()),
        ignores(s.claims_get()),
        reads(s.registry_put()),
    ]
}

/// Valid requests of several operations, to be cut short.
const VALID: &[&str] = &[
    r#"{"provider_id":"p","provider_ref":"ghcr.io/x/y:1","host_id":"H","config":["a"],"annotations":{"k":"v"}}"#,
    r#"{"source_id":"a","target":"b","name":"default","wit_namespace":"wasi","wit_package":"http","interfaces":["incoming-handler"],"source_config":[],"target_config":[]}"#,
    r#"{"component_id":"c","component_ref":"file:///x.wasm","count":1,"host_id":"H","config":[],"allow_update":false}"#,
    r#"{"key":"zone","value":"eu"}"#,
    r#"{"provider_ref":"ghcr.io/x/y:1","provider_id":"p","constraints":{"zone":"eu"}}"#,
];

fn payloads() -> impl Strategy<Value = Vec<u8>> {
    let json = any::<i64>()
        .prop_map(serde_json::Value::from)
        .boxed()
        .prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
                "\\PC{0,16}".prop_map(serde_json::Value::from),
                any::<bool>().prop_map(serde_json::Value::from),
            ]
        });
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        (0..VALID.len(), any::<prop::sample::Index>()).prop_map(|(i, cut)| {
            let valid = VALID[i].as_bytes();
            valid[..cut.index(valid.len())].to_vec()
        }),
        json.prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ]
}

async fn reply(
    client: &async_nats::Client,
    subject: &str,
    payload: Vec<u8>,
) -> Result<CtlResponse<serde_json::Value>, String> {
    let message = tokio::time::timeout(
        Duration::from_secs(5),
        client.request(subject.to_string(), payload.into()),
    )
    .await
    .map_err(|_| format!("no reply on {subject}"))?
    .map_err(|e| format!("{subject}: {e}"))?;
    serde_json::from_slice(&message.payload)
        .map_err(|e| format!("the reply on {subject} is not a CtlResponse: {e}"))
}

#[test]
fn random_and_truncated_payloads_on_every_ctl_subject_get_replies_and_the_host_keeps_serving() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (nats, host, client) = runtime.block_on(async {
        let nats = TestNats::start().await.unwrap();
        let host = nats.start_host(|_| {}).await.unwrap();
        let client = nats.client().await.unwrap();
        (nats, host, client)
    });
    let s = CtlSubjects::new("wasmbus.ctl", "default");
    let served = served(&s, host.id());
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(0..served.len(), payloads()), |(i, payload)| {
        let Served {
            subject,
            reads_payload,
        } = &served[i];
        let is_json = serde_json::from_slice::<serde_json::Value>(&payload).is_ok();
        let (answer, pinged) = runtime.block_on(async {
            let answer = reply(&client, subject, payload.clone()).await;
            let pinged = reply(&client, &s.host_ping(), Vec::new()).await;
            (answer, pinged)
        });
        let answer = answer.map_err(TestCaseError::fail)?;
        if *reads_payload && !payload.is_empty() && !is_json {
            prop_assert!(
                !answer.success,
                "{subject} accepted a payload that is not JSON: {:?}",
                String::from_utf8_lossy(&payload)
            );
        }
        let pinged = pinged.map_err(TestCaseError::fail)?;
        prop_assert!(pinged.success, "the host stopped answering host.ping");
        Ok(())
    });
    runtime.block_on(async {
        host.shutdown(Duration::from_secs(5)).await;
        drop(nats);
    });
    result.unwrap();
}
