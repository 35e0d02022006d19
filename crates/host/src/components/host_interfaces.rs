//! Interfaces the host implements for components beyond WASI 0.2, linked by the names
//! the component actually imports (so any version of them links):
//!
//! - `wasi:config/store` and `wasi:config/runtime` (`get`, `get-all`): the merged named
//!   config of the scale request, read when the invocation starts, so a `config.put`
//!   reaches the next invocation without a rescale;
//! - `wasi:logging/logging` (`log`): into the host's log (target `lattice::component`,
//!   with the component ID), `critical` as error;
//! - `wasmcloud:secrets/store` (`get`, the `secret` resource) and
//!   `wasmcloud:secrets/reveal` (`reveal`): the secrets the component's config names
//!   reference, fetched at scale; `get` of a name it has none for is `not-found`;
//! - `wasmcloud:bus/lattice` (`set-link-name`): see [`super::bus`];
//! - `wasi:keyvalue/{store,atomics,batch}`: see [`super::keyvalue`];
//! - `wasi:blobstore/{blobstore,container,types}`: see [`super::blobstore`].

use lattice_runtime::wasmtime;
use lattice_runtime::wasmtime::component::{Linker, Resource, ResourceType, Val};
use lattice_runtime::{ComponentSignatures, StoreState};

use super::InvocationState;

/// Whether the host implements this import itself.
pub(crate) fn implements(instance: &str) -> bool {
    if super::keyvalue::implements(instance) || super::blobstore::implements(instance) {
        return true;
    }
    let name = instance.split('@').next().unwrap_or(instance);
    matches!(
        name,
        "wasi:config/store"
            | "wasi:config/runtime"
            | "wasi:logging/logging"
            | "wasmcloud:secrets/store"
            | "wasmcloud:secrets/reveal"
            | super::bus::LATTICE
    )
}

/// Links every import of `signatures` that this module implements.
pub(crate) fn link(
    linker: &mut Linker<StoreState<InvocationState>>,
    signatures: &ComponentSignatures,
    router: &super::imports::Router,
) -> wasmtime::Result<()> {
    let component_id = router.component_id.as_str();
    let (mut bus_linked, mut bucket_defined) = (false, false);
    let mut blobstore_defined = Vec::new();
    for import in signatures.import_funcs() {
        let Some(instance) = import.instance.as_deref() else {
            continue;
        };
        if super::keyvalue::implements(instance) {
            super::keyvalue::link(linker, import, router, &mut bucket_defined)?;
            continue;
        }
        if super::blobstore::implements(instance) {
            super::blobstore::link(linker, import, router, &mut blobstore_defined)?;
            continue;
        }
        let name = instance.split('@').next().unwrap_or(instance);
        match (name, import.name.as_str()) {
            ("wasi:config/store" | "wasi:config/runtime", "get") => {
                linker.instance(instance)?.func_new_async(
                    "get",
                    |store, _ty, params, results| {
                        let key = match params.first() {
                            Some(Val::String(key)) => key.clone(),
                            _ => String::new(),
                        };
                        let value = store.data().data().config.get(&key).cloned();
                        results[0] = Val::Result(Ok(Some(Box::new(Val::Option(
                            value.map(|v| Box::new(Val::String(v))),
                        )))));
                        Box::new(async { Ok(()) })
                    },
                )?;
            }
            ("wasi:config/store" | "wasi:config/runtime", "get-all") => {
                linker.instance(instance)?.func_new_async(
                    "get-all",
                    |store, _ty, _params, results| {
                        let pairs = store
                            .data()
                            .data()
                            .config
                            .iter()
                            .map(|(k, v)| {
                                Val::Tuple(vec![Val::String(k.clone()), Val::String(v.clone())])
                            })
                            .collect();
                        results[0] = Val::Result(Ok(Some(Box::new(Val::List(pairs)))));
                        Box::new(async { Ok(()) })
                    },
                )?;
            }
            ("wasi:logging/logging", "log") => {
                let component_id = component_id.to_string();
                linker.instance(instance)?.func_new_async("log", move |_store, _ty, params, _results| {
                    let text = |i: usize| match params.get(i) {
                        Some(Val::String(s)) => s.as_str(),
                        _ => "",
                    };
                    let (context, message) = (text(1), text(2));
                    match params.first() {
                        Some(Val::Enum(level)) => match level.as_str() {
                            "trace" => tracing::trace!(target: "lattice::component", component_id, context, "{message}"),
                            "debug" => tracing::debug!(target: "lattice::component", component_id, context, "{message}"),
                            "info" => tracing::info!(target: "lattice::component", component_id, context, "{message}"),
                            "warn" => tracing::warn!(target: "lattice::component", component_id, context, "{message}"),
                            _ => tracing::error!(target: "lattice::component", component_id, context, "{message}"),
                        },
                        _ => tracing::info!(target: "lattice::component", component_id, context, "{message}"),
                    }
                    Box::new(async { Ok(()) })
                })?;
            }
            ("wasmcloud:secrets/store", "get") => {
                let mut store_instance = linker.instance(instance)?;
                store_instance.resource(
                    "secret",
                    ResourceType::host::<SecretHandle>(),
                    |_, _| Ok(()),
                )?;
                store_instance.func_new_async("get", |mut store, _ty, params, results| {
                    let key = match params.first() {
                        Some(Val::String(key)) => key.clone(),
                        _ => String::new(),
                    };
                    let state = store.data_mut().data_mut();
                    let handle = match state.secrets.contains_key(&key) {
                        true => {
                            state.secret_handles.push(key);
                            Some(state.secret_handles.len() as u32 - 1)
                        }
                        false => None,
                    };
                    let result = match handle {
                        Some(rep) => match Resource::<SecretHandle>::new_own(rep)
                            .try_into_resource_any(&mut store)
                        {
                            Ok(any) => Ok(Some(Box::new(Val::Resource(any)))),
                            Err(error) => return Box::new(async move { Err(error) }),
                        },
                        None => Err(Some(Box::new(Val::Variant("not-found".into(), None)))),
                    };
                    results[0] = Val::Result(result);
                    Box::new(async { Ok(()) })
                })?;
            }
            (super::bus::LATTICE, _) if !bus_linked => {
                super::bus::link(linker, instance, router)?;
                bus_linked = true;
            }
            ("wasmcloud:secrets/reveal", "reveal") => {
                linker.instance(instance)?.func_new_async(
                    "reveal",
                    |mut store, _ty, params, results| {
                        let rep = match params.first() {
                            Some(Val::Resource(any)) => {
                                match Resource::<SecretHandle>::try_from_resource_any(
                                    *any, &mut store,
                                ) {
                                    Ok(handle) => handle.rep(),
                                    Err(error) => return Box::new(async move { Err(error) }),
                                }
                            }
                            _ => u32::MAX,
                        };
                        let state = store.data().data();
                        let value = state
                            .secret_handles
                            .get(rep as usize)
                            .and_then(|name| state.secrets.get(name));
                        results[0] = match value {
                            Some(lattice_proto::SecretValue::String(text)) => Val::Variant(
                                "string".into(),
                                Some(Box::new(Val::String(text.clone()))),
                            ),
                            Some(lattice_proto::SecretValue::Bytes(bytes)) => Val::Variant(
                                "bytes".into(),
                                Some(Box::new(Val::List(
                                    bytes.iter().map(|b| Val::U8(*b)).collect(),
                                ))),
                            ),
                            None => {
                                return Box::new(async {
                                    Err(wasmtime::format_err!(
                                        "reveal of a secret this invocation was not given"
                                    ))
                                });
                            }
                        };
                        Box::new(async { Ok(()) })
                    },
                )?;
            }
            _ => {}
        }
    }
    super::keyvalue::define_unused_bucket(linker, signatures, bucket_defined)
}

/// The host side of a `wasmcloud:secrets` `secret`: its rep indexes the invocation's
/// handles.
struct SecretHandle;
