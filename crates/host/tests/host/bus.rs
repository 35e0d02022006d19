//! `wasmcloud:bus/lattice` `set-link-name`: a component routes its calls of one
//! interface to a second target by link name, per invocation, on a real `nats-server`
//! with a real provider process.

use std::time::Duration;

use lattice_test_support::components::{MATH, ROUTER, ROUTER_V1, call_one, write_component};
use lattice_test_support::ctl_request;
use lattice_wrpc::value::{Type, Value};
use lattice_wrpc::{InvocationHeaders, WrpcClient};
use serde_json::json;

use crate::components::{lattice_with_components, scale, start_test_provider, subjects};

/// Two targets of `local:test/math` for the components `router` (bus 2.0.1) and
/// `router1` (bus 1.0.0): the component `math` (a + b) under the link name `default`,
/// the lattice SDK's test provider (a + b + 1000) under `plus`.
#[tokio::test]
async fn set_link_name_routes_an_invocations_calls_to_a_second_target() {
    let (_nats, client, events, dir, host) = lattice_with_components().await;
    let id = host.id().to_string();
    start_test_provider(&client, &events, &id, "mathprov").await;
    for (name, text) in [("math", MATH), ("router", ROUTER), ("router1", ROUTER_V1)] {
        let path = write_component(dir.path(), &format!("{name}.wasm"), text);
        scale(&client, &id, name, &path, 4).await;
        events
            .next_matching("component_scaled", |e| e.data["component_id"] == name)
            .await
            .unwrap();
    }
    for source in ["router", "router1"] {
        for (target, name) in [("math", "default"), ("mathprov", "plus")] {
            let link = json!({"source_id": source, "target": target, "name": name,
                "wit_namespace": "local", "wit_package": "test", "interfaces": ["math"]});
            assert!(
                ctl_request(&client, subjects().link_put(), link)
                    .await
                    .success
            );
        }
    }
    let wrpc = WrpcClient::new(client.clone()).await.unwrap();
    let ok = |n: u32| Ok(Value::Result(Ok(Some(Box::new(Value::U32(n))))));
    // The host that acknowledged the links follows them from then on.
    assert_eq!(add_via(&wrpc, "router", "plus", 1, 2).await, ok(1003));
    assert_eq!(
        add_via(&wrpc, "router1", "plus", 1, 2).await,
        Ok(Value::U32(1003))
    );
    assert_eq!(add_via(&wrpc, "router", "default", 1, 2).await, ok(3));
    // 2.0.1 refuses a name with no link, with 1.9.2's message.
    assert_eq!(
        add_via(&wrpc, "router", "nope", 1, 2).await,
        Ok(Value::Result(Err(Some(Box::new(Value::String(
            "interface `local:test/math` does not have an existing link with name `nope`".into()
        ))))))
    );
    // 1.0.0 takes it, and the call under it fails, naming the link.
    let unlinked = add_via(&wrpc, "router1", "nope", 1, 2).await.unwrap_err();
    assert!(
        unlinked.contains("link not found") && unlinked.contains("`nope`"),
        "{unlinked}"
    );
    assert_eq!(
        add_via(&wrpc, "router1", "default", 1, 2).await,
        Ok(Value::U32(3))
    );
    // The choice belongs to the invocation: concurrent invocations choosing differently
    // each reach their own target (in 1.9.2 they share one choice per component).
    let calls = (0..40u32).map(|i| {
        let wrpc = wrpc.clone();
        async move {
            let (link, expected) = match i % 2 {
                0 => ("default", i + 1),
                _ => ("plus", i + 1 + 1000),
            };
            (add_via(&wrpc, "router", link, i, 1).await, ok(expected))
        }
    });
    for (got, expected) in futures::future::join_all(calls).await {
        assert_eq!(got, expected);
    }
    host.shutdown(Duration::from_secs(5)).await;
}

/// `target`'s `local:test/router@0.1.0.add-via(link, a, b)` over wRPC; the result value
/// (`result<u32, string>` for bus 2.0.1, `u32` for 1.0.0) or the call's error as text.
async fn add_via(
    wrpc: &WrpcClient,
    target: &str,
    link: &str,
    a: u32,
    b: u32,
) -> Result<Value, String> {
    let result = match target {
        "router1" => Type::U32,
        _ => Type::result(Some(Type::U32), Some(Type::String)),
    };
    let params = [Value::String(link.into()), Value::U32(a), Value::U32(b)];
    let types = [Type::String, Type::U32, Type::U32];
    let func = ("local:test/router@0.1.0", "add-via");
    let headers = InvocationHeaders::new();
    call_one(wrpc, &headers, target, func, &params, &types, result).await
}
