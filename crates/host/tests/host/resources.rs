//! Resources across wRPC: a component uses a resource that another component exports,
//! and a wRPC client holds one by its handle.

use lattice_test_support::components::{COUNTERS, TALLY, call_one, write_component};
use lattice_wrpc::value::{Type, Value};
use lattice_wrpc::{InvocationHeaders, WrpcClient};
use serde_json::json;

use crate::components::{call_u32s, lattice_with_components, put_link, scale_each};

const COUNTERS_IFACE: &str = "local:test/counters@0.1.0";

#[tokio::test]
async fn a_component_uses_a_resource_that_another_component_exports() {
    let (_nats, client, events, dir, host) = lattice_with_components().await;
    let counters = write_component(dir.path(), "counters.wasm", COUNTERS);
    let tally = write_component(dir.path(), "tally.wasm", TALLY);
    scale_each(&client, &events, host.id(), &["counters"], &counters).await;
    scale_each(&client, &events, host.id(), &["tally"], &tally).await;
    put_link(
        &client,
        json!({"source_id": "tally", "target": "counters", "wit_namespace": "local",
            "wit_package": "test", "interfaces": ["counters"]}),
    )
    .await;
    let wrpc = WrpcClient::new(client.clone()).await.unwrap();

    // `tally` makes a counter in `counters`, increments it through borrowed handles and
    // gives it back to `total`; then makes one, increments it and drops it.
    let tally_iface = "local:test/tally@0.1.0";
    assert_eq!(
        call_u32s(&wrpc, "tally", tally_iface, "count", &[5, 3]).await,
        Ok(8)
    );
    assert_eq!(
        call_u32s(&wrpc, "tally", tally_iface, "once", &[10]).await,
        Ok(11)
    );

    // A client holds a counter by its handle across calls (the resident instance keeps it).
    let headers = InvocationHeaders::new();
    let call = |func: &'static str, param: Value, ty: Type, result: Type| {
        let (wrpc, headers) = (&wrpc, &headers);
        async move {
            call_one(
                wrpc,
                headers,
                "counters",
                (COUNTERS_IFACE, func),
                &[param],
                &[ty],
                result,
            )
            .await
        }
    };
    let own = Type::Own(String::new());
    let borrow = Type::Borrow(String::new());
    let made = call("counter", Value::U32(40), Type::U32, own.clone()).await;
    let Ok(Value::Own(handle)) = made else {
        panic!("a handle: {made:?}")
    };
    let other = call("counter", Value::U32(0), Type::U32, own.clone()).await;
    let Ok(Value::Own(other)) = other else {
        panic!("a second handle: {other:?}")
    };
    for expected in [41, 42] {
        let next = call(
            "counter.increment",
            Value::Borrow(handle.clone()),
            borrow.clone(),
            Type::U32,
        )
        .await;
        assert_eq!(next, Ok(Value::U32(expected)));
    }
    let total = call(
        "counter.total",
        Value::Own(handle.clone()),
        own.clone(),
        Type::U32,
    )
    .await;
    assert_eq!(total, Ok(Value::U32(42)));
    // Given up with `total`: the handle names nothing now.
    let gone = call(
        "counter.increment",
        Value::Borrow(handle),
        borrow.clone(),
        Type::U32,
    )
    .await;
    let error = gone.expect_err("the counter was given back");
    assert!(error.contains("no resource has the handle"), "{error}");
    // A handle the component never gave out names nothing either.
    let forged = call(
        "counter.increment",
        Value::Borrow(bytes::Bytes::from_static(b"0123456789abcdef")),
        borrow.clone(),
        Type::U32,
    )
    .await;
    assert!(forged.is_err(), "{forged:?}");
    // Neither took the other counter away: the resident instance keeps it.
    let other = call(
        "counter.increment",
        Value::Borrow(other),
        borrow.clone(),
        Type::U32,
    )
    .await;
    assert_eq!(other, Ok(Value::U32(1)));

    // A call that traps gives the resident instance up, with what it held; the next
    // call gets a new one.
    let Ok(Value::Own(kept)) = call("counter", Value::U32(1), Type::U32, own.clone()).await else {
        panic!("a handle")
    };
    let mut body = bytes::BytesMut::new();
    lattice_wrpc::value::encode_tuple(
        &[Value::Borrow(kept.clone())],
        std::slice::from_ref(&borrow),
        &mut body,
    )
    .unwrap();
    let subject = lattice_wrpc::subjects::InvocationSubject::new(
        lattice_wrpc::subjects::SubjectPrefix::target("default", "counters"),
        COUNTERS_IFACE,
        "counter.fail",
    );
    let failed = async {
        let mut invocation = wrpc
            .invoke(&subject, &headers, body.freeze())
            .await
            .map_err(|e| e.to_string())?;
        invocation
            .read_results(&[])
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    assert!(failed.is_err(), "it traps: {failed:?}");
    let lost = call(
        "counter.increment",
        Value::Borrow(kept),
        borrow.clone(),
        Type::U32,
    )
    .await;
    assert!(lost.is_err(), "{lost:?}");
    let Ok(Value::Own(fresh)) = call("counter", Value::U32(100), Type::U32, own).await else {
        panic!("a handle from the new instance")
    };
    let next = call("counter.increment", Value::Borrow(fresh), borrow, Type::U32).await;
    assert_eq!(next, Ok(Value::U32(101)));
    host.shutdown(std::time::Duration::from_secs(5)).await;
}
