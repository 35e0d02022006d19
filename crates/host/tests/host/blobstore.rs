//! `wasi:blobstore` for components through a provider built with lattice's SDK: every
//! operation becomes a `wrpc:blobstore/blobstore@0.2.0` call on the linked provider
//! (lattice's test provider serves them from memory, sending object data and listings
//! as pending streams in small chunks), on a real `nats-server` with a real provider
//! process. Object data crosses both ways as `stream<u8>`: written through the
//! guest's `output-stream`, read whole or through an `input-stream`.

use std::time::Duration;

use lattice_test_support::components::{BLOBSTORE, call_one, write_component};
use lattice_wrpc::value::{Async, Type, Value};
use lattice_wrpc::{InvocationHeaders, InvocationSubject, SubjectPrefix, WrpcClient};
use serde_json::json;

use crate::components::{lattice_with_components, put_link, scale_each, start_test_provider};

#[tokio::test]
async fn a_component_uses_wasi_blobstore_through_a_provider_of_the_lattice_sdk() {
    let (_nats, client, events, dir, host) = lattice_with_components().await;
    let id = host.id().to_string();
    start_test_provider(&client, &events, &id, "blobprov").await;
    let path = write_component(dir.path(), "blobs.wasm", BLOBSTORE);
    scale_each(&client, &events, &id, &["blobs", "unlinked"], &path).await;
    let link = json!({"source_id": "blobs", "target": "blobprov", "wit_namespace": "wasi",
        "wit_package": "blobstore", "interfaces": ["blobstore"]});
    put_link(&client, link).await;
    let wrpc = WrpcClient::new(client.clone()).await.unwrap();
    let blobs = Blobs { wrpc: &wrpc };
    let ok = |value: Option<Value>| Ok(Value::Result(Ok(value.map(Box::new))));
    let data = |bytes: &[u8]| Some(Value::Bytes(bytes.to_vec().into()));

    // An object of many chunks: the guest writes 4 KiB at a time, the provider sends
    // 16 KiB chunks back.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    // The host that acknowledged the link follows it from then on.
    assert_eq!(blobs.put("photos", "a.bin", &big).await, ok(None));
    assert_eq!(blobs.get("get", "photos", "a.bin").await, ok(data(&big)));
    assert_eq!(
        blobs.get("get-streamed", "photos", "a.bin").await,
        ok(data(&big))
    );
    assert_eq!(
        blobs
            .object("size", "photos", "a.bin", Some(Type::U64))
            .await,
        ok(Some(Value::U64(big.len() as u64)))
    );

    // Small and empty objects; a listing that comes in several chunks.
    assert_eq!(blobs.put("photos", "b.txt", b"bee").await, ok(None));
    assert_eq!(blobs.put("photos", "empty", b"").await, ok(None));
    assert_eq!(blobs.get("get", "photos", "empty").await, ok(data(b"")));
    assert_eq!(
        blobs.get("get-streamed", "photos", "empty").await,
        ok(data(b""))
    );
    assert_eq!(
        blobs.copy(("photos", "b.txt"), ("photos", "c.txt")).await,
        ok(None)
    );
    assert_eq!(blobs.get("get", "photos", "c.txt").await, ok(data(b"bee")));
    let names = |names: &[&str]| {
        Some(Value::List(
            names.iter().map(|n| Value::String(n.to_string())).collect(),
        ))
    };
    assert_eq!(
        blobs.list("photos").await,
        ok(names(&["a.bin", "b.txt", "c.txt", "empty"]))
    );

    // Deleting, and asking about what is not there.
    let yes = |answer: bool| ok(Some(Value::Bool(answer)));
    assert_eq!(
        blobs
            .object("has", "photos", "a.bin", Some(Type::Bool))
            .await,
        yes(true)
    );
    assert_eq!(
        blobs.object("remove", "photos", "a.bin", None).await,
        ok(None)
    );
    assert_eq!(
        blobs
            .object("has", "photos", "a.bin", Some(Type::Bool))
            .await,
        yes(false)
    );
    let missing = Err(Some(Box::new(Value::String(
        "no object `a.bin` in `photos`".into(),
    ))));
    assert_eq!(
        blobs.get("get", "photos", "a.bin").await,
        Ok(Value::Result(missing))
    );
    assert_eq!(blobs.exists("photos").await, yes(true));
    assert_eq!(blobs.exists("nope").await, yes(false));
    let no_container = Err(Some(Box::new(Value::String(
        "container does not exist".into(),
    ))));
    assert_eq!(
        blobs.get("get", "nope", "x").await,
        Ok(Value::Result(no_container))
    );

    // The provider's errors reach the component as `wasi:blobstore`'s error.
    let denied = blobs.put("denied", "x", b"1").await.unwrap();
    assert!(
        matches!(&denied, Value::Result(Err(Some(e))) if matches!(&**e, Value::String(s) if s.contains("denied"))),
        "{denied:?}"
    );
    // Without a link the call fails, naming the interface.
    let unlinked = Blobs { wrpc: &wrpc }
        .call_on(
            "unlinked",
            "exists",
            &[Value::String("photos".into())],
            &[Type::String],
            bool_result(),
        )
        .await
        .unwrap_err();
    assert!(
        unlinked.contains("link not found") && unlinked.contains("wasi:blobstore/blobstore"),
        "{unlinked}"
    );
    host.shutdown(Duration::from_secs(5)).await;
}

fn bool_result() -> Type {
    Type::result(Some(Type::Bool), Some(Type::String))
}

/// Calls of `local:test/blobs@0.1.0` on the component `blobs` over wRPC: the result
/// value, or the call's error as text.
struct Blobs<'a> {
    wrpc: &'a WrpcClient,
}

impl Blobs<'_> {
    async fn put(&self, container: &str, name: &str, data: &[u8]) -> Result<Value, String> {
        let params = [
            Value::String(container.into()),
            Value::String(name.into()),
            Value::Bytes(data.to_vec().into()),
        ];
        let types = [Type::String, Type::String, Type::list(Type::U8)];
        let result = Type::result(None, Some(Type::String));
        self.call("put", &params, &types, result).await
    }

    /// `get` or `get-streamed`.
    async fn get(&self, func: &str, container: &str, name: &str) -> Result<Value, String> {
        self.object(func, container, name, Some(Type::list(Type::U8)))
            .await
    }

    /// A function of a container and an object name returning `result<ok, string>`.
    async fn object(
        &self,
        func: &str,
        container: &str,
        name: &str,
        ok: Option<Type>,
    ) -> Result<Value, String> {
        let result = Type::result(ok, Some(Type::String));
        let params = [Value::String(container.into()), Value::String(name.into())];
        self.call(func, &params, &[Type::String, Type::String], result)
            .await
    }

    async fn list(&self, container: &str) -> Result<Value, String> {
        let result = Type::result(Some(Type::list(Type::String)), Some(Type::String));
        self.call(
            "list",
            &[Value::String(container.into())],
            &[Type::String],
            result,
        )
        .await
    }

    async fn exists(&self, container: &str) -> Result<Value, String> {
        let params = [Value::String(container.into())];
        self.call("exists", &params, &[Type::String], bool_result())
            .await
    }

    async fn copy(&self, from: (&str, &str), to: (&str, &str)) -> Result<Value, String> {
        let params = [from.0, from.1, to.0, to.1].map(|s| Value::String(s.into()));
        let types = [Type::String, Type::String, Type::String, Type::String];
        let result = Type::result(None, Some(Type::String));
        self.call("copy", &params, &types, result).await
    }

    async fn call(
        &self,
        func: &str,
        params: &[Value],
        types: &[Type],
        result: Type,
    ) -> Result<Value, String> {
        self.call_on("blobs", func, params, types, result).await
    }

    async fn call_on(
        &self,
        target: &str,
        func: &str,
        params: &[Value],
        types: &[Type],
        result: Type,
    ) -> Result<Value, String> {
        let headers = InvocationHeaders::new();
        let func = ("local:test/blobs@0.1.0", func);
        call_one(self.wrpc, &headers, target, func, params, types, result).await
    }
}

/// A provider that serves only `wrpc:blobstore/blobstore@0.1.0` (as blobstore providers
/// before wasmCloud 1.5 did) is still used: a function nothing serves at 0.2.0 is called
/// at 0.1.0, whose streams come without a status future (as 1.9.2 falls back).
#[tokio::test]
async fn a_provider_of_wrpc_blobstore_0_1_0_still_serves_wasi_blobstore() {
    let (_nats, client, events, dir, host) = lattice_with_components().await;
    let id = host.id().to_string();
    let path = write_component(dir.path(), "blobs.wasm", BLOBSTORE);
    scale_each(&client, &events, &id, &["blobs"], &path).await;
    // The old provider, served from this test: `container-exists` and
    // `get-container-data` (`result<stream<u8>, string>`, the data inline).
    let wrpc = WrpcClient::new(client.clone()).await.unwrap();
    let old = |func| {
        InvocationSubject::new(
            SubjectPrefix::target("default", "oldblobs"),
            "wrpc:blobstore/blobstore@0.1.0",
            func,
        )
    };
    let mut exists = wrpc.serve(&old("container-exists")).await.unwrap();
    let mut data = wrpc.serve(&old("get-container-data")).await.unwrap();
    let server = tokio::spawn(async move {
        let object_id = Type::record([("container", Type::String), ("object", Type::String)]);
        loop {
            tokio::select! {
                Some(Ok(mut call)) = exists.next() => {
                    call.read_params(&[Type::String]).await.unwrap();
                    let yes = Value::Result(Ok(Some(Box::new(Value::Bool(true)))));
                    let result = Type::result(Some(Type::Bool), Some(Type::String));
                    call.write_results(&[yes], &[result]).await.unwrap();
                }
                Some(Ok(mut call)) = data.next() => {
                    call.read_params(&[object_id.clone(), Type::U64, Type::U64]).await.unwrap();
                    let stream = Value::Stream(Async::Ready(Box::new(Value::Bytes("from 0.1.0".into()))));
                    let ok = Value::Result(Ok(Some(Box::new(stream))));
                    let result = Type::result(Some(Type::stream(Type::U8)), Some(Type::String));
                    call.write_results(&[ok], &[result]).await.unwrap();
                }
                else => break,
            }
        }
    });
    let link = json!({"source_id": "blobs", "target": "oldblobs", "wit_namespace": "wasi",
        "wit_package": "blobstore", "interfaces": ["blobstore"]});
    put_link(&client, link).await;
    let blobs = Blobs { wrpc: &wrpc };
    let got = Value::Result(Ok(Some(Box::new(Value::Bytes("from 0.1.0".into())))));
    assert_eq!(blobs.get("get", "photos", "old.txt").await, Ok(got.clone()));
    assert_eq!(
        blobs.get("get-streamed", "photos", "old.txt").await,
        Ok(got)
    );
    server.abort();
    host.shutdown(Duration::from_secs(5)).await;
}
