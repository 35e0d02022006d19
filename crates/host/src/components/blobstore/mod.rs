//! `wasi:blobstore/{blobstore,container,types}@0.2.0-draft` as 1.9.2 provides them: every
//! operation is a `wrpc:blobstore/blobstore@0.2.0` call (tried at `0.1.0` when nothing
//! serves `0.2.0`) to the target of the component's link for `wasi:blobstore/blobstore`
//! under its link name (see [`super::bus`]), containers included.
//!
//! - A `container` is the invocation's handle on a name: `create-container` and
//!   `get-container` (which asks `container-exists`) make one.
//! - Object data travels as `stream<u8>`: `get-data` gives an `incoming-value` read whole
//!   (`consume-sync`) or as a WASI `input-stream` (`consume-async`); `write-data` sends
//!   what the guest writes to the `outgoing-value`'s `output-stream`, and `finish` waits
//!   for the upload and its status.
//! - Better than 1.9.2: the upload coalesces the guest's writes (at most 4 KiB each) into
//!   messages of up to 64 KiB, and `incoming-value.size` answers when the data came
//!   whole (1.9.2 always traps).

mod args;
mod values;
mod wire;

use lattice_runtime::wasmtime;
use lattice_runtime::wasmtime::component::{Linker, ResourceType, Val};
use lattice_runtime::wasmtime::{AsContextMut, StoreContextMut};
use lattice_runtime::wasmtime_wasi::p2::{DynInputStream, DynOutputStream};
use lattice_runtime::{ItemSignature, StoreState};
use lattice_wrpc::value::{Async, Type, Value};

use super::InvocationState;
use super::imports::Router;
use args::{container_name, drop_handle, give, handle, number, object_id_param, outcome, text};
use values::{Container, IncomingValue, ObjectNames, OutgoingValue, Upload};
use wire::{Remote, fallible, object_id, object_id_type, split_result, streamed, u64_field};

type Store<'a> = StoreContextMut<'a, StoreState<InvocationState>>;

/// Whether `instance` is one of the interfaces this module implements.
pub(crate) fn implements(instance: &str) -> bool {
    let name = instance.split('@').next().unwrap_or(instance);
    matches!(
        name,
        "wasi:blobstore/blobstore" | "wasi:blobstore/container" | "wasi:blobstore/types"
    )
}

/// One function of the interfaces.
#[derive(Clone, Copy, Debug)]
enum Op {
    CreateContainer,
    GetContainer,
    DeleteContainer,
    ContainerExists,
    CopyObject,
    MoveObject,
    Name,
    Info,
    GetData,
    WriteData,
    ListObjects,
    DeleteObject,
    DeleteObjects,
    HasObject,
    ObjectInfo,
    Clear,
    ReadNames,
    SkipNames,
    NewOutgoingValue,
    WriteBody,
    Finish,
    ConsumeSync,
    ConsumeAsync,
    Size,
}

impl Op {
    fn of(interface: &str, func: &str) -> Option<Op> {
        Some(match (interface, func) {
            ("blobstore", "create-container") => Op::CreateContainer,
            ("blobstore", "get-container") => Op::GetContainer,
            ("blobstore", "delete-container") => Op::DeleteContainer,
            ("blobstore", "container-exists") => Op::ContainerExists,
            ("blobstore", "copy-object") => Op::CopyObject,
            ("blobstore", "move-object") => Op::MoveObject,
            ("container", "[method]container.name") => Op::Name,
            ("container", "[method]container.info") => Op::Info,
            ("container", "[method]container.get-data") => Op::GetData,
            ("container", "[method]container.write-data") => Op::WriteData,
            ("container", "[method]container.list-objects") => Op::ListObjects,
            ("container", "[method]container.delete-object") => Op::DeleteObject,
            ("container", "[method]container.delete-objects") => Op::DeleteObjects,
            ("container", "[method]container.has-object") => Op::HasObject,
            ("container", "[method]container.object-info") => Op::ObjectInfo,
            ("container", "[method]container.clear") => Op::Clear,
            ("container", "[method]stream-object-names.read-stream-object-names") => Op::ReadNames,
            ("container", "[method]stream-object-names.skip-stream-object-names") => Op::SkipNames,
            ("types", "[static]outgoing-value.new-outgoing-value") => Op::NewOutgoingValue,
            ("types", "[method]outgoing-value.outgoing-value-write-body") => Op::WriteBody,
            ("types", "[static]outgoing-value.finish") => Op::Finish,
            ("types", "[static]incoming-value.incoming-value-consume-sync") => Op::ConsumeSync,
            ("types", "[static]incoming-value.incoming-value-consume-async") => Op::ConsumeAsync,
            ("types", "[method]incoming-value.size") => Op::Size,
            _ => return None,
        })
    }
}

/// Links one imported function of `wasi:blobstore`, and the resources of its instance
/// the first time one of its functions is linked (`defined` holds those instances).
pub(crate) fn link(
    linker: &mut Linker<StoreState<InvocationState>>,
    import: &ItemSignature,
    router: &Router,
    defined: &mut Vec<String>,
) -> wasmtime::Result<()> {
    let Some(instance) = import.instance.as_deref() else {
        return Ok(());
    };
    let name = instance.split('@').next().unwrap_or(instance);
    let Some(interface) = name.strip_prefix("wasi:blobstore/") else {
        return Ok(());
    };
    let mut linked = linker.instance(instance)?;
    if !defined.iter().any(|d| d == instance) {
        defined.push(instance.to_string());
        match interface {
            "types" => {
                linked.resource(
                    "outgoing-value",
                    ResourceType::host::<OutgoingValue>(),
                    drop_handle::<OutgoingValue>,
                )?;
                linked.resource(
                    "incoming-value",
                    ResourceType::host::<IncomingValue>(),
                    drop_handle::<IncomingValue>,
                )?;
            }
            "container" => {
                linked.resource(
                    "container",
                    ResourceType::host::<Container>(),
                    drop_handle::<Container>,
                )?;
                linked.resource(
                    "stream-object-names",
                    ResourceType::host::<ObjectNames>(),
                    drop_handle::<ObjectNames>,
                )?;
            }
            _ => {}
        }
    }
    let Some(op) = Op::of(interface, &import.name) else {
        return Ok(());
    };
    let router = router.clone();
    linked.func_new_async(&import.name, move |store, _ty, params, results| {
        let router = router.clone();
        Box::new(async move {
            let value = run(op, store, &router, params).await?;
            if let Some(slot) = results.first_mut() {
                *slot = value;
            }
            Ok(())
        })
    })
}

async fn run(
    op: Op,
    mut store: Store<'_>,
    router: &Router,
    params: &[Val],
) -> wasmtime::Result<Val> {
    let state = store.data().data();
    let remote = Remote {
        router,
        link_name: state.link_name("wasi:blobstore/blobstore").to_string(),
        trace: state.trace.clone(),
    };
    let plain = |func: &'static str, params: Vec<Value>, types: Vec<Type>, result: Type| {
        let remote = &remote;
        async move {
            let value = remote.call_plain(func, &params, &types, result).await?;
            Ok::<_, wasmtime::Error>(split_result(value))
        }
    };
    let unit = |r: Result<Option<Value>, String>| outcome(r.map(|_| None));
    let flag = |r: Result<Option<Value>, String>| {
        outcome(r.map(|v| Some(Val::Bool(matches!(v, Some(Value::Bool(true)))))))
    };
    let by_name = |name: String| (vec![Value::String(name)], vec![Type::String]);
    let by_id = |container: String, object: String| {
        (vec![object_id(&container, &object)], vec![object_id_type()])
    };
    Ok(match op {
        Op::CreateContainer | Op::GetContainer => {
            let name = text(params, 0);
            let (values, types) = by_name(name.clone());
            let made = match op {
                Op::CreateContainer => plain("create-container", values, types, fallible(None))
                    .await?
                    .map(|_| ()),
                _ => match plain(
                    "container-exists",
                    values,
                    types,
                    fallible(Some(Type::Bool)),
                )
                .await?
                {
                    Ok(Some(Value::Bool(true))) => Ok(()),
                    Ok(_) => Err("container does not exist".to_string()),
                    Err(e) => Err(e),
                },
            };
            match made {
                Ok(()) => outcome(Ok(Some(give(&mut store, Container(name))?))),
                Err(e) => outcome(Err(e)),
            }
        }
        Op::DeleteContainer | Op::Clear => {
            let name = match op {
                Op::Clear => container_name(&mut store, params, 0)?,
                _ => text(params, 0),
            };
            let func = match op {
                Op::Clear => "clear-container",
                _ => "delete-container",
            };
            let (values, types) = by_name(name);
            unit(plain(func, values, types, fallible(None)).await?)
        }
        Op::ContainerExists => {
            let (values, types) = by_name(text(params, 0));
            flag(
                plain(
                    "container-exists",
                    values,
                    types,
                    fallible(Some(Type::Bool)),
                )
                .await?,
            )
        }
        Op::CopyObject | Op::MoveObject => {
            let func = match op {
                Op::CopyObject => "copy-object",
                _ => "move-object",
            };
            let values = vec![object_id_param(params, 0), object_id_param(params, 1)];
            let types = vec![object_id_type(), object_id_type()];
            unit(plain(func, values, types, fallible(None)).await?)
        }
        Op::Name => outcome(Ok(Some(Val::String(container_name(
            &mut store, params, 0,
        )?)))),
        Op::Info => {
            let name = container_name(&mut store, params, 0)?;
            let metadata = Type::record([("created-at", Type::U64)]);
            let (values, types) = by_name(name.clone());
            let info = plain(
                "get-container-info",
                values,
                types,
                fallible(Some(metadata)),
            )
            .await?;
            outcome(info.map(|record| {
                Some(Val::Record(vec![
                    ("name".into(), Val::String(name)),
                    ("created-at".into(), Val::U64(u64_field(&record, 0))),
                ]))
            }))
        }
        Op::ObjectInfo => {
            let container = container_name(&mut store, params, 0)?;
            let object = text(params, 1);
            let metadata = Type::record([("created-at", Type::U64), ("size", Type::U64)]);
            let (values, types) = by_id(container.clone(), object.clone());
            let info = plain("get-object-info", values, types, fallible(Some(metadata))).await?;
            outcome(info.map(|record| {
                Some(Val::Record(vec![
                    ("name".into(), Val::String(object)),
                    ("container".into(), Val::String(container)),
                    ("created-at".into(), Val::U64(u64_field(&record, 0))),
                    ("size".into(), Val::U64(u64_field(&record, 1))),
                ]))
            }))
        }
        Op::HasObject => {
            let container = container_name(&mut store, params, 0)?;
            let (values, types) = by_id(container, text(params, 1));
            flag(plain("has-object", values, types, fallible(Some(Type::Bool))).await?)
        }
        Op::DeleteObject | Op::DeleteObjects => {
            let container = container_name(&mut store, params, 0)?;
            let objects = match (op, params.get(1)) {
                (Op::DeleteObject, _) => vec![Value::String(text(params, 1))],
                (_, Some(Val::List(names))) => names
                    .iter()
                    .map(|n| match n {
                        Val::String(s) => Value::String(s.clone()),
                        _ => Value::String(String::new()),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let values = vec![Value::String(container), Value::List(objects)];
            let types = vec![Type::String, Type::list(Type::String)];
            unit(plain("delete-objects", values, types, fallible(None)).await?)
        }
        Op::GetData => {
            let container = container_name(&mut store, params, 0)?;
            let (start, end) = (number(params, 2), number(params, 3));
            let values = vec![
                object_id(&container, &text(params, 1)),
                Value::U64(start),
                Value::U64(end),
            ];
            let types = vec![object_id_type(), Type::U64, Type::U64];
            let (version, results, invocation) = remote
                .call("get-container-data", &values, &types, streamed(Type::U8))
                .await?;
            match results.into_iter().next().map(split_result) {
                Some(Ok(ok)) => {
                    let (data, status) = values::stream_parts(version, ok, &invocation);
                    outcome(Ok(Some(give(
                        &mut store,
                        IncomingValue::new(data, status),
                    )?)))
                }
                Some(Err(e)) => outcome(Err(e)),
                None => outcome(Err("`get-container-data` returned nothing".into())),
            }
        }
        Op::ListObjects => {
            let container = container_name(&mut store, params, 0)?;
            let values = vec![
                Value::String(container),
                Value::Option(None),
                Value::Option(None),
            ];
            let types = vec![
                Type::String,
                Type::option(Type::U64),
                Type::option(Type::U64),
            ];
            let (version, results, invocation) = remote
                .call(
                    "list-container-objects",
                    &values,
                    &types,
                    streamed(Type::String),
                )
                .await?;
            match results.into_iter().next().map(split_result) {
                Some(Ok(ok)) => {
                    let (names, status) = values::stream_parts(version, ok, &invocation);
                    outcome(Ok(Some(give(&mut store, ObjectNames::new(names, status))?)))
                }
                Some(Err(e)) => outcome(Err(e)),
                None => outcome(Err("`list-container-objects` returned nothing".into())),
            }
        }
        Op::WriteData => write_data(&mut store, &remote, params).await?,
        Op::ReadNames | Op::SkipNames => {
            let names = handle::<ObjectNames>(&mut store, params, 0)?;
            let wanted = number(params, 1);
            let listing = store.data_mut().data_mut().table.get_mut(&names)?;
            let (mut got, mut ended) = (Vec::new(), false);
            let mut failed = None;
            while (got.len() as u64) < wanted {
                match listing.next().await {
                    Ok(Some(name)) => got.push(name),
                    Ok(None) => {
                        ended = true;
                        break;
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            match (failed, op) {
                (Some(e), _) => outcome(Err(e)),
                (None, Op::ReadNames) => outcome(Ok(Some(Val::Tuple(vec![
                    Val::List(got.into_iter().map(Val::String).collect()),
                    Val::Bool(ended),
                ])))),
                (None, _) => outcome(Ok(Some(Val::Tuple(vec![
                    Val::U64(got.len() as u64),
                    Val::Bool(ended),
                ])))),
            }
        }
        Op::NewOutgoingValue => give(&mut store, OutgoingValue::new())?,
        Op::WriteBody => {
            let value = handle::<OutgoingValue>(&mut store, params, 0)?;
            let table = &mut store.data_mut().data_mut().table;
            match table.get_mut(&value)?.body() {
                Some(writer) => {
                    let stream: DynOutputStream = Box::new(writer);
                    let stream = table.push_child(stream, &value)?;
                    let any = stream.try_into_resource_any(store.as_context_mut())?;
                    Val::Result(Ok(Some(Box::new(Val::Resource(any)))))
                }
                None => Val::Result(Err(None)),
            }
        }
        Op::Finish => {
            let value = handle::<OutgoingValue>(&mut store, params, 0)?;
            match store.data_mut().data_mut().table.delete(value) {
                Ok(value) => outcome(value.finish().await.map(|()| None)),
                Err(e) => outcome(Err(format!(
                    "cannot finish the value (drop its output-stream first): {e}"
                ))),
            }
        }
        Op::ConsumeSync | Op::ConsumeAsync => {
            let value = handle::<IncomingValue>(&mut store, params, 0)?;
            let value = store.data_mut().data_mut().table.delete(value)?;
            match op {
                Op::ConsumeSync => outcome(
                    value
                        .read_all()
                        .await
                        .map(|bytes| Some(Val::List(bytes.into_iter().map(Val::U8).collect()))),
                ),
                _ => {
                    let stream: DynInputStream = Box::new(value.into_reader());
                    outcome(Ok(Some(give(&mut store, stream)?)))
                }
            }
        }
        Op::Size => {
            let value = handle::<IncomingValue>(&mut store, params, 0)?;
            match store.data().data().table.get(&value)?.size() {
                Some(size) => Val::U64(size),
                None => {
                    return Err(wasmtime::format_err!(
                        "the size of an object that is still arriving is unknown"
                    ));
                }
            }
        }
    })
}

/// `container.write-data(name, data)`: starts the upload of what the guest writes to
/// `data`'s body.
async fn write_data(
    store: &mut Store<'_>,
    remote: &Remote<'_>,
    params: &[Val],
) -> wasmtime::Result<Val> {
    let container = container_name(store, params, 0)?;
    let object = text(params, 1);
    let value = handle::<OutgoingValue>(store, params, 2)?;
    let Some(data) = store
        .data_mut()
        .data_mut()
        .table
        .get_mut(&value)?
        .take_data()
    else {
        return Ok(outcome(Err(
            "write-data was already called for this value".into()
        )));
    };
    let values = vec![
        object_id(&container, &object),
        Value::Stream(Async::Pending),
    ];
    let types = vec![object_id_type(), Type::stream(Type::U8)];
    let results = |version| match version {
        wire::Version::V0_2 => vec![fallible(Some(wire::status_type()))],
        wire::Version::V0_1 => vec![fallible(None)],
    };
    // The upload starts once a server accepted the call, before its results come (a
    // 0.2.0 server answers at once with the status as a future; a 0.1.0 server may
    // answer only once the data is in).
    let (version, mut invocation) = remote
        .invoke("write-container-data", &values, &types)
        .await?;
    let task = tokio::spawn(values::upload(data, invocation.param_channel(&[1])));
    let results = match invocation.read_results(&results(version)).await {
        Ok(results) => results,
        Err(e) => {
            task.abort();
            return Err(e.into());
        }
    };
    Ok(match results.into_iter().next().map(split_result) {
        Some(Ok(ok)) => {
            let status = match (version, ok) {
                (wire::Version::V0_2, Some(future)) => {
                    values::Status::of(future, &invocation, &[0])
                }
                _ => values::Status::done(),
            };
            let upload = Upload { task, status };
            store
                .data_mut()
                .data_mut()
                .table
                .get_mut(&value)?
                .set_upload(upload);
            outcome(Ok(None))
        }
        Some(Err(e)) => {
            task.abort();
            outcome(Err(e))
        }
        None => {
            task.abort();
            outcome(Err("`write-container-data` returned nothing".into()))
        }
    })
}
