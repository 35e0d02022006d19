//! A component's call through a link to a component on the same host is made
//! in-process; one to a component on another host goes over NATS. Both give the same
//! answer; a subscription beside the target's own shows which of them crossed NATS.

use std::time::Duration;

use futures::StreamExt as _;
use lattice_test_support::components::{CALC, MATH, write_component};
use lattice_wrpc::subjects::{InvocationSubject, SubjectPrefix};
use lattice_wrpc::{InvocationHeaders, WrpcClient};
use serde_json::json;

use crate::components::{
    components, double_21_once_linked, lattice_for_components, put_link, scale_each,
};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_linked_component_on_the_same_host_is_called_in_process_and_one_elsewhere_over_nats() {
    let (nats, client, events, dir) = lattice_for_components().await;
    let math = write_component(dir.path(), "math.wasm", MATH);
    let calc = write_component(dir.path(), "calc.wasm", CALC);
    let a = nats.start_host(components(dir.path())).await.unwrap();
    let b = nats.start_host(components(dir.path())).await.unwrap();
    scale_each(&client, &events, a.id(), &["math"], &math).await;
    scale_each(&client, &events, a.id(), &["near"], &calc).await;
    scale_each(&client, &events, b.id(), &["far"], &calc).await;
    for source in ["near", "far"] {
        let link = json!({"source_id": source, "target": "math", "wit_namespace": "local",
            "wit_package": "test", "interfaces": ["math"]});
        put_link(&client, link).await;
    }
    // Every message to math's functions, seen beside math's own queue subscription.
    let mut seen = client.subscribe("default.math.wrpc.>").await.unwrap();
    client.flush().await.unwrap();
    let wrpc = WrpcClient::new(client.clone()).await.unwrap();

    assert_eq!(
        double_21_once_linked(&wrpc, "near").await,
        42,
        "21 + 21 by math"
    );
    // Sent after the answer: had near's call crossed NATS, it would have come first.
    client
        .publish("default.math.wrpc.marker", "after near".into())
        .await
        .unwrap();
    let first = tokio::time::timeout(WAIT, seen.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first.subject.as_str(),
        "default.math.wrpc.marker",
        "near (on math's host) called math in-process, not over NATS"
    );

    assert_eq!(
        double_21_once_linked(&wrpc, "far").await,
        42,
        "21 + 21 by math"
    );
    let call = tokio::time::timeout(WAIT, seen.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        call.subject.as_str(),
        "default.math.wrpc.0.0.1.local:test/math@0.1.0.add"
    );
    let source = call.headers.as_ref().and_then(|h| h.get("source-id"));
    assert_eq!(
        source.map(|v| v.as_str()),
        Some("far"),
        "far (on another host) called math over NATS"
    );
    for host in [a, b] {
        host.shutdown(Duration::from_secs(5)).await;
    }
}

/// `local:test/math@0.1.0` `add`, and `spin`, which calls `local:test/signal@0.1.0`
/// `notify` (through its link) and then loops until its deadline: once `notify` is
/// called, the invocation holds one of the component's slots.
const BUSY_MATH: &str = r#"
(component
  (import "local:test/signal@0.1.0" (instance $signal (export "notify" (func))))
  (core func $notify (canon lower (func $signal "notify")))
  (core module $m
    (import "signal" "notify" (func $notify))
    (func (export "add") (param i32 i32) (result i32)
      local.get 0 local.get 1 i32.add)
    (func (export "spin") (call $notify) (loop $forever (br $forever))))
  (core instance $i (instantiate $m
    (with "signal" (instance (export "notify" (func $notify))))))
  (func $add (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
  (func $spin (canon lift (core func $i "spin")))
  (instance $math (export "add" (func $add)))
  (export "local:test/math@0.1.0" (instance $math))
  (export "spin" (func $spin))
)
"#;

#[tokio::test]
async fn a_call_to_a_component_on_the_same_host_with_no_free_slot_goes_over_nats() {
    let (nats, client, events, dir) = lattice_for_components().await;
    let busy = write_component(dir.path(), "busy.wasm", BUSY_MATH);
    let calc = write_component(dir.path(), "calc.wasm", CALC);
    // `busy` spins for its own limit of 1 s; `near`, which waits for it, has 10 s.
    let base = components(dir.path());
    let host = nats
        .start_host(move |c: &mut lattice_host::HostConfig| {
            base(c);
            c.runtime.max_execution_time = Duration::from_secs(10);
        })
        .await
        .unwrap();
    let scale = json!({"component_id": "busy", "component_ref": format!("file://{}", busy.display()),
        "count": 1, "host_id": host.id(), "component_limits": {"max_execution_time": "1"}});
    let reply = lattice_test_support::ctl_request(
        &client,
        crate::components::subjects().component_scale(host.id()),
        scale,
    )
    .await;
    assert!(reply.success, "{}", reply.message);
    events
        .next_matching("component_scaled", |e| e.data["component_id"] == "busy")
        .await
        .unwrap();
    scale_each(&client, &events, host.id(), &["near"], &calc).await;
    let links = [("near", "busy", "math"), ("busy", "signal", "signal")];
    for (source, target, interface) in links {
        let link = json!({"source_id": source, "target": target, "wit_namespace": "local",
            "wit_package": "test", "interfaces": [interface]});
        put_link(&client, link).await;
    }
    let wrpc = WrpcClient::new(client.clone()).await.unwrap();
    // `busy`'s one slot is free: near's call is made in-process.
    assert_eq!(double_21_once_linked(&wrpc, "near").await, 42);

    // `signal`, served by the test: its call says `spin` holds busy's only slot.
    let notify = InvocationSubject::new(
        SubjectPrefix::target("default", "signal"),
        "local:test/signal@0.1.0",
        "notify",
    );
    let mut notified = wrpc.serve(&notify).await.unwrap();
    let mut seen = client.subscribe("default.busy.wrpc.>").await.unwrap();
    client.flush().await.unwrap();
    let spin = InvocationSubject::new(SubjectPrefix::target("default", "busy"), "", "spin");
    // Until busy's link to `signal` has reached it, `spin` fails at once: try again.
    let deadline = tokio::time::Instant::now() + WAIT;
    let spinning = loop {
        let mut invocation = wrpc
            .invoke(&spin, &InvocationHeaders::new(), bytes::Bytes::new())
            .await
            .unwrap();
        let mut ended = tokio::spawn(async move { invocation.results().read_to_end().await });
        tokio::select! {
            call = notified.next() => {
                let mut call = call.unwrap().unwrap();
                call.write_results(&[], &[]).await.unwrap();
                break ended;
            }
            result = &mut ended => {
                assert!(tokio::time::Instant::now() < deadline, "spin never called notify: {result:?}");
            }
        }
    };
    // Near's call cannot be taken in-process now: it goes over NATS, and waits there
    // for the slot, which the deadline frees.
    assert_eq!(
        crate::components::call_u32s(&wrpc, "near", "local:test/calc@0.1.0", "double", &[21]).await,
        Ok(42)
    );
    let mut subjects = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout(WAIT, seen.next()).await {
        let source = message.headers.as_ref().and_then(|h| h.get("source-id"));
        let from = source.map(|v| v.as_str().to_string());
        subjects.push((message.subject.to_string(), from));
        if message.subject.ends_with(".add") {
            break;
        }
    }
    assert_eq!(
        subjects.last(),
        Some(&(
            "default.busy.wrpc.0.0.1.local:test/math@0.1.0.add".to_string(),
            Some("near".to_string())
        )),
        "near called busy over NATS: {subjects:?}"
    );
    // A trap closes the results without a value.
    spinning.await.unwrap().expect("spin ends at its deadline");
    host.shutdown(Duration::from_secs(5)).await;
}
