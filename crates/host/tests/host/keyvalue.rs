//! `wasi:keyvalue` for components through a provider built with lattice's SDK: bucket
//! operations become `wrpc:keyvalue` calls on the linked provider (lattice's test
//! provider serves them from memory), on a real `nats-server` with a real provider
//! process.

use std::time::Duration;

use lattice_test_support::components::{KEYVALUE, WATCHER, call_one, write_component};
use lattice_wrpc::value::{Type, Value};
use lattice_wrpc::{InvocationHeaders, WrpcClient};
use serde_json::json;

use crate::components::{lattice_with_components, put_link, scale_each, start_test_provider};

#[tokio::test]
async fn a_component_uses_wasi_keyvalue_through_a_provider_of_the_lattice_sdk() {
    let (_nats, client, events, dir, host) = lattice_with_components().await;
    let id = host.id().to_string();
    start_test_provider(&client, &events, &id, "kvprov").await;
    let path = write_component(dir.path(), "kv.wasm", KEYVALUE);
    scale_each(&client, &events, &id, &["kv", "unlinked"], &path).await;
    let link = json!({"source_id": "kv", "target": "kvprov", "wit_namespace": "wasi",
        "wit_package": "keyvalue", "interfaces": ["store", "atomics", "batch"]});
    put_link(&client, link).await;
    let wrpc = WrpcClient::new(client.clone()).await.unwrap();
    let kv = Kv { wrpc: &wrpc };
    let ok = |value: Option<Value>| Ok(Value::Result(Ok(value.map(Box::new))));
    // The host that acknowledged the link follows it from then on.
    assert_eq!(kv.put("kv", "b1", "greeting", b"hello").await, ok(None));
    let some = |bytes: &[u8]| Value::Option(Some(Box::new(Value::Bytes(bytes.to_vec().into()))));
    assert_eq!(
        kv.get("kv", "b1", "greeting").await,
        ok(Some(some(b"hello")))
    );
    assert_eq!(
        kv.get("kv", "b1", "missing").await,
        ok(Some(Value::Option(None)))
    );
    // Buckets are the provider's: another name, another bucket.
    assert_eq!(
        kv.get("kv", "b2", "greeting").await,
        ok(Some(Value::Option(None)))
    );
    // `wasi:keyvalue/atomics` over the same link.
    for n in 1..=3 {
        assert_eq!(
            kv.count("kv", "b1", "visits").await,
            ok(Some(Value::U64(n)))
        );
    }
    assert_eq!(kv.get("kv", "b1", "visits").await, ok(Some(some(b"3"))));
    // `wasi:keyvalue/batch`.
    let entries = [("a", b"1".as_slice()), ("b", b"2".as_slice())];
    assert_eq!(kv.put_many("kv", "b3", &entries).await, ok(None));
    let entry = |key: &str, value: &[u8]| {
        Value::Option(Some(Box::new(Value::Tuple(vec![
            Value::String(key.into()),
            Value::Bytes(value.to_vec().into()),
        ]))))
    };
    assert_eq!(
        kv.get_many("kv", "b3", &["a", "nope", "b"]).await,
        ok(Some(Value::List(vec![
            entry("a", b"1"),
            Value::Option(None),
            entry("b", b"2")
        ])))
    );
    // The provider's error reaches the component as `wasi:keyvalue`'s (access-denied),
    // from batch operations too (1.9.2 traps on those).
    let denied = Value::Result(Err(Some(Box::new(Value::Variant {
        case: 1,
        payload: None,
    }))));
    assert_eq!(kv.get("kv", "denied", "x").await, Ok(denied.clone()));
    assert_eq!(kv.count("kv", "denied", "x").await, Ok(denied.clone()));
    assert_eq!(kv.get_many("kv", "denied", &["x"]).await, Ok(denied));
    // Without a link the call fails, naming the interface.
    let unlinked = kv.get("unlinked", "b1", "greeting").await.unwrap_err();
    assert!(
        unlinked.contains("link not found") && unlinked.contains("wasi:keyvalue/store"),
        "{unlinked}"
    );
    host.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_exported_watcher_is_served_as_wrpc_keyvalue_watcher() {
    let (_nats, client, events, dir, host) = lattice_with_components().await;
    let id = host.id().to_string();
    start_test_provider(&client, &events, &id, "kvprov").await;
    let kv_path = write_component(dir.path(), "kv.wasm", KEYVALUE);
    let watcher_path = write_component(dir.path(), "watcher.wasm", WATCHER);
    scale_each(&client, &events, &id, &["kv"], &kv_path).await;
    scale_each(&client, &events, &id, &["watcher"], &watcher_path).await;
    for source in ["kv", "watcher"] {
        let link = json!({"source_id": source, "target": "kvprov", "wit_namespace": "wasi",
            "wit_package": "keyvalue", "interfaces": ["store", "atomics", "batch"]});
        put_link(&client, link).await;
    }
    // Described as callers reach it.
    let subject = crate::components::subjects().component_describe(&id);
    let reply =
        lattice_test_support::ctl_request(&client, subject, json!({"component_id": "watcher"}))
            .await;
    assert!(reply.success, "{}", reply.message);
    let on_set = &reply.response.as_ref().unwrap()["exports"][0];
    assert_eq!(on_set["instance"], "wrpc:keyvalue/watcher@0.2.0-draft");
    assert_eq!(on_set["params"][0]["type"]["kind"], "string");
    let wrpc = WrpcClient::new(client.clone()).await.unwrap();
    // What a keyvalue provider that watches sends: the bucket by its name.
    let watch = |func: &'static str, params: Vec<Value>| {
        let wrpc = &wrpc;
        async move {
            let types = [Type::String, Type::String, Type::list(Type::U8)];
            let mut body = bytes::BytesMut::new();
            lattice_wrpc::value::encode_tuple(&params, &types[..params.len()], &mut body).unwrap();
            let subject = lattice_wrpc::subjects::InvocationSubject::new(
                lattice_wrpc::subjects::SubjectPrefix::target("default", "watcher"),
                "wrpc:keyvalue/watcher@0.2.0-draft",
                func,
            );
            let mut call = wrpc
                .invoke(&subject, &InvocationHeaders::new(), body.freeze())
                .await
                .map_err(|e| e.to_string())?;
            call.read_results(&[]).await.map_err(|e| e.to_string())
        }
    };
    let name = |s: &str| Value::String(s.into());
    let set = vec![name("w1"), name("k"), Value::Bytes(b"v".to_vec().into())];
    assert_eq!(watch("on-set", set).await, Ok(Vec::new()));
    // The watcher wrote it through its own link: `kv` reads it from the provider.
    let kv = Kv { wrpc: &wrpc };
    let some = |bytes: &[u8]| Value::Option(Some(Box::new(Value::Bytes(bytes.to_vec().into()))));
    let ok = |value: Value| Ok(Value::Result(Ok(Some(Box::new(value)))));
    assert_eq!(kv.get("kv", "w1", "k").await, ok(some(b"v")));
    assert_eq!(
        watch("on-delete", vec![name("w1"), name("k")]).await,
        Ok(Vec::new())
    );
    assert_eq!(kv.get("kv", "w1", "k").await, ok(some(b"deleted")));
    host.shutdown(Duration::from_secs(5)).await;
}

/// Calls of `local:test/kv@0.1.0` over wRPC: the result value, or the call's error as text.
struct Kv<'a> {
    wrpc: &'a WrpcClient,
}

impl Kv<'_> {
    fn error() -> Type {
        Type::variant([
            ("no-such-store", None),
            ("access-denied", None),
            ("other", Some(Type::String)),
        ])
    }

    async fn get(&self, target: &str, bucket: &str, key: &str) -> Result<Value, String> {
        let result = Type::result(
            Some(Type::option(Type::list(Type::U8))),
            Some(Self::error()),
        );
        let params = [Value::String(bucket.into()), Value::String(key.into())];
        self.call(
            target,
            "get",
            &params,
            &[Type::String, Type::String],
            result,
        )
        .await
    }

    async fn put(
        &self,
        target: &str,
        bucket: &str,
        key: &str,
        value: &[u8],
    ) -> Result<Value, String> {
        let result = Type::result(None, Some(Self::error()));
        let params = [
            Value::String(bucket.into()),
            Value::String(key.into()),
            Value::Bytes(value.to_vec().into()),
        ];
        let types = [Type::String, Type::String, Type::list(Type::U8)];
        self.call(target, "put", &params, &types, result).await
    }

    async fn count(&self, target: &str, bucket: &str, key: &str) -> Result<Value, String> {
        let result = Type::result(Some(Type::U64), Some(Self::error()));
        let params = [Value::String(bucket.into()), Value::String(key.into())];
        self.call(
            target,
            "count",
            &params,
            &[Type::String, Type::String],
            result,
        )
        .await
    }

    async fn get_many(&self, target: &str, bucket: &str, keys: &[&str]) -> Result<Value, String> {
        let pair = Type::Tuple(vec![Type::String, Type::list(Type::U8)]);
        let result = Type::result(Some(Type::list(Type::option(pair))), Some(Self::error()));
        let keys = keys.iter().map(|k| Value::String(k.to_string())).collect();
        let params = [Value::String(bucket.into()), Value::List(keys)];
        let types = [Type::String, Type::list(Type::String)];
        self.call(target, "get-many", &params, &types, result).await
    }

    async fn put_many(
        &self,
        target: &str,
        bucket: &str,
        entries: &[(&str, &[u8])],
    ) -> Result<Value, String> {
        let pair = Type::Tuple(vec![Type::String, Type::list(Type::U8)]);
        let result = Type::result(None, Some(Self::error()));
        let entries = entries
            .iter()
            .map(|(k, v)| {
                Value::Tuple(vec![
                    Value::String(k.to_string()),
                    Value::Bytes(v.to_vec().into()),
                ])
            })
            .collect();
        let params = [Value::String(bucket.into()), Value::List(entries)];
        let types = [Type::String, Type::list(pair)];
        self.call(target, "put-many", &params, &types, result).await
    }

    async fn call(
        &self,
        target: &str,
        func: &str,
        params: &[Value],
        types: &[Type],
        result: Type,
    ) -> Result<Value, String> {
        let headers = InvocationHeaders::new();
        let func = ("local:test/kv@0.1.0", func);
        call_one(self.wrpc, &headers, target, func, params, types, result).await
    }
}
