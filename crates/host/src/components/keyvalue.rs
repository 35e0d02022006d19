//! `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft` as 1.9.2 provides them: a `bucket`
//! is the invocation's handle on a name (`open` always succeeds), and every operation is
//! one wRPC call of `wrpc:keyvalue/{store,atomics,batch}@0.2.0-draft` with the bucket's
//! name first, to the target of the component's link for `wasi:keyvalue/{interface}`
//! (under its link name, see [`super::bus`]). The provider's `error` reaches the
//! component as its `error`, from batch operations too (1.9.2 traps on those).

use lattice_runtime::ItemSignature;
use lattice_runtime::StoreState;
use lattice_runtime::wasmtime;
use lattice_runtime::wasmtime::component::{Linker, Resource, ResourceType, Val};
use lattice_wrpc::value::{Type, Value};

use super::InvocationState;
use super::glue::{NoHandles, wrpc_types, wrpc_values};
use super::imports::{Call, Router, write_results};

/// The interfaces, without their version.
const INTERFACES: [&str; 3] = ["store", "atomics", "batch"];

/// What an exported `instance` is served as when it is `wasi:keyvalue/watcher`:
/// `wrpc:keyvalue/watcher@0.2.0-draft`, its `bucket` (the first parameter of `on-set` and
/// `on-delete`) going by name, as in 1.9.2, where keyvalue providers call it there.
pub(crate) fn watcher_served_as(instance: Option<&str>) -> Option<&'static str> {
    instance
        .is_some_and(|i| i.starts_with("wasi:keyvalue/watcher@0.2.0-draft"))
        .then_some("wrpc:keyvalue/watcher@0.2.0-draft")
}

/// A new `bucket` handle on `name` in the invocation's store (for a watcher's call).
pub(crate) fn bucket_for(
    mut store: wasmtime::StoreContextMut<'_, StoreState<InvocationState>>,
    name: String,
) -> wasmtime::Result<wasmtime::component::ResourceAny> {
    let buckets = &mut store.data_mut().data_mut().buckets;
    buckets.push(name);
    let rep = buckets.len() as u32 - 1;
    Resource::<Bucket>::new_own(rep).try_into_resource_any(&mut store)
}

/// Defines the store's `bucket` resource for a component that imports the type but none
/// of the store's functions (a watcher, say), unless it is defined already.
pub(crate) fn define_unused_bucket(
    linker: &mut Linker<StoreState<InvocationState>>,
    signatures: &lattice_runtime::ComponentSignatures,
    bucket_defined: bool,
) -> wasmtime::Result<()> {
    if bucket_defined {
        return Ok(());
    }
    for item in &signatures.imports {
        let Some(instance) = item.instance.as_deref() else {
            continue;
        };
        if interface_of(instance) == Some("store")
            && item.name == "bucket"
            && matches!(
                item.item,
                wasmtime::component::types::ComponentItem::Resource(_)
            )
        {
            linker.instance(instance)?.resource(
                "bucket",
                ResourceType::host::<Bucket>(),
                |_, _| Ok(()),
            )?;
        }
    }
    Ok(())
}

/// Whether `instance` is one of the interfaces this module implements.
pub(crate) fn implements(instance: &str) -> bool {
    interface_of(instance).is_some()
}

/// `wasi:keyvalue/{interface}@…` → `interface`.
fn interface_of(instance: &str) -> Option<&'static str> {
    let name = instance.split('@').next()?;
    let interface = name.strip_prefix("wasi:keyvalue/")?;
    INTERFACES.into_iter().find(|i| *i == interface)
}

/// The host side of a `bucket`: its rep indexes the invocation's `buckets`.
struct Bucket;

/// Links one imported function of `wasi:keyvalue`; the store's `bucket` resource with
/// the first function of the store (`bucket_defined` says whether that happened).
pub(crate) fn link(
    linker: &mut Linker<StoreState<InvocationState>>,
    import: &ItemSignature,
    router: &Router,
    bucket_defined: &mut bool,
) -> wasmtime::Result<()> {
    let Some(instance) = import.instance.as_deref() else {
        return Ok(());
    };
    let Some(interface) = interface_of(instance) else {
        return Ok(());
    };
    let mut linked = linker.instance(instance)?;
    if interface == "store" && !*bucket_defined {
        linked.resource("bucket", ResourceType::host::<Bucket>(), |_, _| Ok(()))?;
        *bucket_defined = true;
    }
    if interface == "store" && import.name == "open" {
        return linked.func_new_async("open", |mut store, _ty, params, results| {
            let name = match params.first() {
                Some(Val::String(name)) => name.clone(),
                _ => String::new(),
            };
            let buckets = &mut store.data_mut().data_mut().buckets;
            buckets.push(name);
            let rep = buckets.len() as u32 - 1;
            let made = Resource::<Bucket>::new_own(rep).try_into_resource_any(&mut store);
            Box::new(async move {
                results[0] = Val::Result(Ok(Some(Box::new(Val::Resource(made?)))));
                Ok(())
            })
        });
    }
    // `[method]bucket.get` of the store, `increment` of atomics, `get-many` of batch…
    let func = import
        .name
        .strip_prefix("[method]bucket.")
        .unwrap_or(&import.name)
        .to_string();
    let target = format!("wrpc:keyvalue/{interface}@0.2.0-draft");
    let router = router.clone();
    linked.func_new_async(&import.name, move |mut store, ty, params, results| {
        let param_types: Vec<_> = ty.params().map(|(_, t)| t).collect();
        let result_types: Vec<_> = ty.results().collect();
        // The bucket (the first parameter) goes as its name.
        let bucket = match params.first() {
            Some(Val::Resource(any)) => Resource::<Bucket>::try_from_resource_any(*any, &mut store)
                .map(|b| b.rep())
                .and_then(|rep| {
                    store
                        .data()
                        .data()
                        .buckets
                        .get(rep as usize)
                        .cloned()
                        .ok_or_else(|| wasmtime::format_err!("unknown bucket {rep}"))
                }),
            _ => Err(wasmtime::format_err!(
                "wasi:keyvalue `{func}` takes a bucket first"
            )),
        };
        let state = store.data().data();
        let link_name = state
            .link_name(&format!("wasi:keyvalue/{interface}"))
            .to_string();
        let trace = state.trace.clone();
        let (router, target, func) = (router.clone(), target.clone(), func.clone());
        Box::new(async move {
            let (rest, rest_types) = wrpc_values(
                params.get(1..).unwrap_or_default(),
                param_types.get(1..).unwrap_or_default(),
                &mut NoHandles,
            )?;
            let values = [vec![Value::String(bucket?)], rest].concat();
            let wrpc_params = [vec![Type::String], rest_types].concat();
            let wrpc_results = wrpc_types(&result_types)?;
            let call = Call {
                link: ("wasi", "keyvalue", interface),
                link_name: &link_name,
                trace: &trace,
                instance: &target,
                func: &func,
            };
            let returned = router
                .call(call, values, &wrpc_params, &wrpc_results)
                .await?;
            write_results(results, returned, &result_types, &mut NoHandles)
        })
    })
}
