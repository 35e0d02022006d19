//! `wrpc:keyvalue/{store,atomics,batch}@0.2.0-draft` served from memory, as a keyvalue
//! provider serves components' `wasi:keyvalue` (the host turns each bucket operation
//! into one of these calls, the bucket's name first). The bucket `denied` answers every
//! operation with `access-denied`. `increment` keeps its counter as decimal text.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use lattice_provider_sdk::wrpc::InvocationSubject;
use lattice_provider_sdk::wrpc::value::{Type, Value};
use lattice_provider_sdk::{BoxError, ProviderContext};

type Buckets = Arc<Mutex<BTreeMap<String, BTreeMap<String, Vec<u8>>>>>;

/// `variant error { no-such-store, access-denied, other(string) }`.
fn error_type() -> Type {
    Type::variant([
        ("no-such-store", None),
        ("access-denied", None),
        ("other", Some(Type::String)),
    ])
}

fn access_denied() -> Value {
    Value::Result(Err(Some(Box::new(Value::Variant {
        case: 1,
        payload: None,
    }))))
}

fn ok(value: Option<Value>) -> Value {
    Value::Result(Ok(value.map(Box::new)))
}

fn bytes(value: &[u8]) -> Value {
    Value::Bytes(value.to_vec().into())
}

/// One operation: its function name, parameter types after the bucket name, result
/// type, and what it does to a bucket.
struct Operation {
    instance: &'static str,
    func: &'static str,
    params: Vec<Type>,
    result: Type,
    run: fn(&mut BTreeMap<String, Vec<u8>>, &[Value]) -> Value,
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

fn data(value: &Value) -> Vec<u8> {
    match value {
        Value::Bytes(b) => b.to_vec(),
        Value::List(items) => items
            .iter()
            .map(|v| if let Value::U8(b) = v { *b } else { 0 })
            .collect(),
        _ => Vec::new(),
    }
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::List(items) => items.iter().map(text).collect(),
        _ => Vec::new(),
    }
}

fn operations() -> Vec<Operation> {
    const STORE: &str = "wrpc:keyvalue/store@0.2.0-draft";
    const ATOMICS: &str = "wrpc:keyvalue/atomics@0.2.0-draft";
    const BATCH: &str = "wrpc:keyvalue/batch@0.2.0-draft";
    let err = || Some(error_type());
    let pair = || Type::Tuple(vec![Type::String, Type::list(Type::U8)]);
    vec![
        Operation {
            instance: STORE,
            func: "get",
            params: vec![Type::String],
            result: Type::result(Some(Type::option(Type::list(Type::U8))), err()),
            run: |bucket, p| {
                let found = bucket.get(&text(&p[0])).map(|v| Box::new(bytes(v)));
                ok(Some(Value::Option(found)))
            },
        },
        Operation {
            instance: STORE,
            func: "set",
            params: vec![Type::String, Type::list(Type::U8)],
            result: Type::result(None, err()),
            run: |bucket, p| {
                bucket.insert(text(&p[0]), data(&p[1]));
                ok(None)
            },
        },
        Operation {
            instance: STORE,
            func: "delete",
            params: vec![Type::String],
            result: Type::result(None, err()),
            run: |bucket, p| {
                bucket.remove(&text(&p[0]));
                ok(None)
            },
        },
        Operation {
            instance: STORE,
            func: "exists",
            params: vec![Type::String],
            result: Type::result(Some(Type::Bool), err()),
            run: |bucket, p| ok(Some(Value::Bool(bucket.contains_key(&text(&p[0]))))),
        },
        Operation {
            instance: STORE,
            func: "list-keys",
            params: vec![Type::option(Type::U64)],
            result: Type::result(
                Some(Type::record([
                    ("keys", Type::list(Type::String)),
                    ("cursor", Type::option(Type::U64)),
                ])),
                err(),
            ),
            run: |bucket, _| {
                let keys = bucket.keys().cloned().map(Value::String).collect();
                ok(Some(Value::Record(vec![
                    Value::List(keys),
                    Value::Option(None),
                ])))
            },
        },
        Operation {
            instance: ATOMICS,
            func: "increment",
            params: vec![Type::String, Type::U64],
            result: Type::result(Some(Type::U64), err()),
            run: |bucket, p| {
                let key = text(&p[0]);
                let delta = if let Value::U64(d) = p[1] { d } else { 0 };
                let now = bucket
                    .get(&key)
                    .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok())
                    .unwrap_or(0)
                    .wrapping_add(delta);
                bucket.insert(key, now.to_string().into_bytes());
                ok(Some(Value::U64(now)))
            },
        },
        Operation {
            instance: BATCH,
            func: "get-many",
            params: vec![Type::list(Type::String)],
            result: Type::result(Some(Type::list(Type::option(pair()))), err()),
            run: |bucket, p| {
                let found = strings(&p[0])
                    .into_iter()
                    .map(|key| {
                        let entry = bucket.get(&key).map(|v| {
                            Box::new(Value::Tuple(vec![Value::String(key.clone()), bytes(v)]))
                        });
                        Value::Option(entry)
                    })
                    .collect();
                ok(Some(Value::List(found)))
            },
        },
        Operation {
            instance: BATCH,
            func: "set-many",
            params: vec![Type::list(pair())],
            result: Type::result(None, err()),
            run: |bucket, p| {
                if let Value::List(entries) = &p[0] {
                    for entry in entries {
                        if let Value::Tuple(kv) = entry {
                            bucket.insert(text(&kv[0]), data(&kv[1]));
                        }
                    }
                }
                ok(None)
            },
        },
        Operation {
            instance: BATCH,
            func: "delete-many",
            params: vec![Type::list(Type::String)],
            result: Type::result(None, err()),
            run: |bucket, p| {
                for key in strings(&p[0]) {
                    bucket.remove(&key);
                }
                ok(None)
            },
        },
    ]
}

/// Serves every operation for components linked to this provider.
pub(crate) async fn serve(ctx: &ProviderContext) -> Result<(), BoxError> {
    let buckets = Buckets::default();
    let wrpc = ctx.wrpc().await?;
    let operations = operations();
    let subjects = operations
        .iter()
        .map(|op| InvocationSubject::new(ctx.wrpc_prefix(), op.instance, op.func));
    let served = crate::serve_all(&wrpc, subjects).await?;
    for (op, mut calls) in operations.into_iter().zip(served) {
        let (buckets, wrpc) = (buckets.clone(), wrpc.clone());
        tokio::spawn(async move {
            let _wrpc = wrpc;
            let op = Arc::new(op);
            while let Some(call) = calls.next().await {
                let Ok(mut call) = call else { continue };
                let (op, buckets) = (op.clone(), buckets.clone());
                tokio::spawn(async move {
                    let mut types = vec![Type::String];
                    types.extend(op.params.iter().cloned());
                    let Ok(params) = call.read_params(&types).await else {
                        return;
                    };
                    let name = text(&params[0]);
                    let result = match name.as_str() {
                        "denied" => access_denied(),
                        _ => {
                            let mut buckets = buckets.lock().unwrap();
                            (op.run)(buckets.entry(name).or_default(), &params[1..])
                        }
                    };
                    let _ = call
                        .write_results(&[result], std::slice::from_ref(&op.result))
                        .await;
                });
            }
        });
    }
    Ok(())
}
