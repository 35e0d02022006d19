//! `wrpc:blobstore/blobstore@0.2.0` served from memory, as a blobstore provider serves
//! components' `wasi:blobstore` (the host turns each operation into one of these
//! calls). Object data and listings go as pending streams on their own channels, in
//! small chunks, with the status future after them, so every async path is used. The
//! container `denied` answers every operation with an error.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use lattice_provider_sdk::wrpc::value::{Async, Type, Value};
use lattice_provider_sdk::wrpc::{IncomingInvocation, InvocationSubject};
use lattice_provider_sdk::{BoxError, ProviderContext};

const INSTANCE: &str = "wrpc:blobstore/blobstore@0.2.0";

/// Bytes per chunk of an object's data stream.
const DATA_CHUNK: usize = 16 * 1024;

/// Names per chunk of a listing.
const NAMES_CHUNK: usize = 2;

#[derive(Default)]
struct Container {
    created_at: u64,
    objects: BTreeMap<String, (u64, Vec<u8>)>,
}

type Containers = Arc<Mutex<BTreeMap<String, Container>>>;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn fallible(ok: Option<Type>) -> Type {
    Type::result(ok, Some(Type::String))
}

fn status() -> Type {
    Type::future(Some(fallible(None)))
}

fn object_id() -> Type {
    Type::record([("container", Type::String), ("object", Type::String)])
}

fn ok(value: Option<Value>) -> Value {
    Value::Result(Ok(value.map(Box::new)))
}

fn err(text: String) -> Value {
    Value::Result(Err(Some(Box::new(Value::String(text)))))
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// (container, object) of an `object-id`.
fn id(value: &Value) -> (String, String) {
    match value {
        Value::Record(fields) if fields.len() == 2 => (text(&fields[0]), text(&fields[1])),
        _ => Default::default(),
    }
}

fn bytes(value: Value) -> Vec<u8> {
    match value {
        Value::Bytes(b) => b.to_vec(),
        Value::List(items) => items
            .into_iter()
            .map(|v| if let Value::U8(b) = v { b } else { 0 })
            .collect(),
        _ => Vec::new(),
    }
}

/// The functions: name, parameter types, result types.
fn functions() -> Vec<(&'static str, Vec<Type>, Vec<Type>)> {
    let stream_of = |element| {
        vec![fallible(Some(Type::Tuple(vec![
            Type::stream(element),
            status(),
        ])))]
    };
    vec![
        ("clear-container", vec![Type::String], vec![fallible(None)]),
        (
            "container-exists",
            vec![Type::String],
            vec![fallible(Some(Type::Bool))],
        ),
        ("create-container", vec![Type::String], vec![fallible(None)]),
        ("delete-container", vec![Type::String], vec![fallible(None)]),
        (
            "get-container-info",
            vec![Type::String],
            vec![fallible(Some(Type::record([("created-at", Type::U64)])))],
        ),
        (
            "list-container-objects",
            vec![
                Type::String,
                Type::option(Type::U64),
                Type::option(Type::U64),
            ],
            stream_of(Type::String),
        ),
        (
            "copy-object",
            vec![object_id(), object_id()],
            vec![fallible(None)],
        ),
        (
            "move-object",
            vec![object_id(), object_id()],
            vec![fallible(None)],
        ),
        ("delete-object", vec![object_id()], vec![fallible(None)]),
        (
            "delete-objects",
            vec![Type::String, Type::list(Type::String)],
            vec![fallible(None)],
        ),
        (
            "get-container-data",
            vec![object_id(), Type::U64, Type::U64],
            stream_of(Type::U8),
        ),
        (
            "get-object-info",
            vec![object_id()],
            vec![fallible(Some(Type::record([
                ("created-at", Type::U64),
                ("size", Type::U64),
            ])))],
        ),
        (
            "has-object",
            vec![object_id()],
            vec![fallible(Some(Type::Bool))],
        ),
        (
            "write-container-data",
            vec![object_id(), Type::stream(Type::U8)],
            vec![fallible(Some(status()))],
        ),
    ]
}

/// Serves every function for components linked to this provider.
pub(crate) async fn serve(ctx: &ProviderContext) -> Result<(), BoxError> {
    let containers = Containers::default();
    let wrpc = ctx.wrpc().await?;
    let functions = functions();
    let subjects = functions
        .iter()
        .map(|(func, ..)| InvocationSubject::new(ctx.wrpc_prefix(), INSTANCE, *func));
    let served = crate::serve_all(&wrpc, subjects).await?;
    for ((func, params, results), mut calls) in functions.into_iter().zip(served) {
        let (containers, wrpc) = (containers.clone(), wrpc.clone());
        tokio::spawn(async move {
            let _wrpc = wrpc;
            while let Some(call) = calls.next().await {
                let Ok(mut call) = call else { continue };
                let (containers, params, results) =
                    (containers.clone(), params.clone(), results.clone());
                tokio::spawn(async move {
                    let Ok(values) = call.read_params(&params).await else {
                        return;
                    };
                    answer(func, values, &results, call, &containers).await;
                });
            }
        });
    }
    Ok(())
}

/// Runs `func` on the containers and answers the call.
async fn answer(
    func: &str,
    params: Vec<Value>,
    results: &[Type],
    mut call: IncomingInvocation,
    containers: &Containers,
) {
    let container_of = |p: &[Value]| match func {
        "copy-object"
        | "move-object"
        | "delete-object"
        | "get-container-data"
        | "get-object-info"
        | "has-object"
        | "write-container-data" => id(&p[0]).0,
        _ => text(&p[0]),
    };
    if container_of(&params) == "denied" {
        refuse(&mut call, results, "access to `denied` is denied".into()).await;
        return;
    }
    let reply = match func {
        "get-container-data" => return send_data(params, call, results, containers).await,
        "list-container-objects" => return send_names(params, call, results, containers).await,
        "write-container-data" => return receive_data(params, call, results, containers).await,
        _ => run(func, params, &mut containers.lock().unwrap()),
    };
    let _ = call.write_results(&[reply], results).await;
}

/// Answers the call with the error `text`.
async fn refuse(call: &mut IncomingInvocation, results: &[Type], text: String) {
    let _ = call.write_results(&[err(text)], results).await;
}

/// The functions with plain results.
fn run(func: &str, p: Vec<Value>, containers: &mut BTreeMap<String, Container>) -> Value {
    let missing = |name: &str| err(format!("container `{name}` does not exist"));
    match func {
        "container-exists" => ok(Some(Value::Bool(containers.contains_key(&text(&p[0]))))),
        "create-container" => {
            containers.entry(text(&p[0])).or_insert_with(|| Container {
                created_at: now(),
                objects: BTreeMap::new(),
            });
            ok(None)
        }
        "delete-container" => {
            containers.remove(&text(&p[0]));
            ok(None)
        }
        "clear-container" | "get-container-info" | "delete-objects" => {
            let name = text(&p[0]);
            let Some(container) = containers.get_mut(&name) else {
                return missing(&name);
            };
            match func {
                "clear-container" => {
                    container.objects.clear();
                    ok(None)
                }
                "get-container-info" => {
                    ok(Some(Value::Record(vec![Value::U64(container.created_at)])))
                }
                _ => {
                    if let Value::List(names) = &p[1] {
                        for name in names {
                            container.objects.remove(&text(name));
                        }
                    }
                    ok(None)
                }
            }
        }
        "copy-object" | "move-object" => {
            let ((from, object), (to, target)) = (id(&p[0]), id(&p[1]));
            let taken = containers.get_mut(&from).and_then(|c| match func {
                "move-object" => c.objects.remove(&object),
                _ => c.objects.get(&object).cloned(),
            });
            let Some((_, data)) = taken else {
                return err(format!("no object `{object}` in `{from}`"));
            };
            let Some(dest) = containers.get_mut(&to) else {
                return missing(&to);
            };
            dest.objects.insert(target, (now(), data));
            ok(None)
        }
        _ => {
            let (name, object) = id(&p[0]);
            let Some(container) = containers.get_mut(&name) else {
                return missing(&name);
            };
            match func {
                "delete-object" => {
                    container.objects.remove(&object);
                    ok(None)
                }
                "has-object" => ok(Some(Value::Bool(container.objects.contains_key(&object)))),
                _ => match container.objects.get(&object) {
                    Some((created_at, data)) => ok(Some(Value::Record(vec![
                        Value::U64(*created_at),
                        Value::U64(data.len() as u64),
                    ]))),
                    None => err(format!("no object `{object}` in `{name}`")),
                },
            }
        }
    }
}

/// `get-container-data`: bytes `start..end` in chunks, then the status.
async fn send_data(
    p: Vec<Value>,
    mut call: IncomingInvocation,
    results: &[Type],
    containers: &Containers,
) {
    let (name, object) = id(&p[0]);
    let (Value::U64(start), Value::U64(end)) = (&p[1], &p[2]) else {
        return;
    };
    let found = containers
        .lock()
        .unwrap()
        .get(&name)
        .and_then(|c| c.objects.get(&object).map(|(_, data)| data.clone()));
    let Some(data) = found else {
        refuse(
            &mut call,
            results,
            format!("no object `{object}` in `{name}`"),
        )
        .await;
        return;
    };
    let from = (*start as usize).min(data.len());
    let to = (*end as usize).clamp(from, data.len());
    let chunks = data[from..to]
        .chunks(DATA_CHUNK)
        .map(|chunk| Value::Bytes(chunk.to_vec().into()));
    send_stream(call, results, chunks, &Type::U8).await;
}

/// `list-container-objects`: the names in chunks, then the status.
async fn send_names(
    p: Vec<Value>,
    mut call: IncomingInvocation,
    results: &[Type],
    containers: &Containers,
) {
    let name = text(&p[0]);
    let found = containers
        .lock()
        .unwrap()
        .get(&name)
        .map(|c| c.objects.keys().cloned().collect::<Vec<_>>());
    let Some(names) = found else {
        refuse(
            &mut call,
            results,
            format!("container `{name}` does not exist"),
        )
        .await;
        return;
    };
    let chunks = names
        .chunks(NAMES_CHUNK)
        .map(|chunk| Value::List(chunk.iter().cloned().map(Value::String).collect()));
    send_stream(call, results, chunks, &Type::String).await;
}

/// Answers a stream function: `ok((pending stream, pending status))`, then the stream's
/// `chunks` of `element`s, its end, and the status `ok`.
async fn send_stream(
    mut call: IncomingInvocation,
    results: &[Type],
    chunks: impl Iterator<Item = Value>,
    element: &Type,
) {
    let mut stream = call.result_channel(&[0, 0]);
    let mut status = call.result_channel(&[0, 1]);
    let pending = ok(Some(Value::Tuple(vec![
        Value::Stream(Async::Pending),
        Value::Future(Async::Pending),
    ])));
    if call.write_results(&[pending], results).await.is_err() {
        return;
    }
    for chunk in chunks {
        if stream.write_stream_chunk(&chunk, element).await.is_err() {
            return;
        }
    }
    let _ = stream.finish_stream().await;
    let _ = status.write_value(&ok(None), &fallible(None)).await;
    let _ = status.close().await;
}

/// `write-container-data`: answers at once with a pending status, reads the data, keeps
/// the object, then sends the status.
async fn receive_data(
    mut p: Vec<Value>,
    mut call: IncomingInvocation,
    results: &[Type],
    containers: &Containers,
) {
    let (name, object) = id(&p[0]);
    if !containers.lock().unwrap().contains_key(&name) {
        refuse(
            &mut call,
            results,
            format!("container `{name}` does not exist"),
        )
        .await;
        return;
    }
    let mut status = call.result_channel(&[0]);
    let pending = ok(Some(Value::Future(Async::Pending)));
    if call.write_results(&[pending], results).await.is_err() {
        return;
    }
    let mut data = Vec::new();
    let outcome = match p.pop() {
        Some(Value::Stream(Async::Ready(items))) => {
            data = bytes(*items);
            ok(None)
        }
        _ => {
            let mut channel = call.param_channel(&[1]);
            loop {
                match channel.read_stream_chunk(&Type::U8).await {
                    Ok(Some(chunk)) => data.extend(bytes(chunk)),
                    Ok(None) => break ok(None),
                    Err(e) => break err(format!("the data did not all come: {e}")),
                }
            }
        }
    };
    if matches!(outcome, Value::Result(Ok(_))) {
        let mut containers = containers.lock().unwrap();
        if let Some(container) = containers.get_mut(&name) {
            container.objects.insert(object, (now(), data));
        }
    }
    let _ = status.write_value(&outcome, &fallible(None)).await;
    let _ = status.close().await;
}
