//! `wasmcloud:bus/lattice` (`@1.0.0` and `@2.0.x`): `set-link-name(name, interfaces)`
//! chooses the link name that calls to the listed interfaces follow (`default` until
//! then). The choice belongs to the invocation that made it, for the rest of that
//! invocation (1.9.2 keeps one choice per component, shared by its concurrent
//! invocations). `@2.0.x` refuses a name that no link of the component has for one of
//! the interfaces, with 1.9.2's message; `@1.0.0` takes any name, and a call under a
//! name with no link then fails with "link not found".

use lattice_runtime::StoreState;
use lattice_runtime::wasmtime;
use lattice_runtime::wasmtime::component::{Linker, Resource, ResourceType, Val};

use super::InvocationState;
use super::imports::{Router, split_interface};

/// The interface's name, without its version.
pub(crate) const LATTICE: &str = "wasmcloud:bus/lattice";

/// The host side of a `call-target-interface`: its rep indexes the invocation's
/// `call_targets`.
struct CallTarget;

/// Links `wasmcloud:bus/lattice` under `instance` (the versioned name the component
/// imports).
pub(crate) fn link(
    linker: &mut Linker<StoreState<InvocationState>>,
    instance: &str,
    router: &Router,
) -> wasmtime::Result<()> {
    let checked = !instance.starts_with("wasmcloud:bus/lattice@1.");
    let mut bus = linker.instance(instance)?;
    bus.resource(
        "call-target-interface",
        ResourceType::host::<CallTarget>(),
        |_, _| Ok(()),
    )?;
    bus.func_new_async(
        "[constructor]call-target-interface",
        |mut store, _ty, params, results| {
            let text = |i: usize| match params.get(i) {
                Some(Val::String(s)) => s.as_str(),
                _ => "",
            };
            let interface = format!("{}:{}/{}", text(0), text(1), text(2));
            let targets = &mut store.data_mut().data_mut().call_targets;
            targets.push(interface);
            let rep = targets.len() as u32 - 1;
            let made = Resource::<CallTarget>::new_own(rep).try_into_resource_any(&mut store);
            Box::new(async move {
                results[0] = Val::Resource(made?);
                Ok(())
            })
        },
    )?;
    let router = router.clone();
    bus.func_new_async("set-link-name", move |mut store, _ty, params, results| {
        let name = match params.first() {
            Some(Val::String(name)) => name.clone(),
            _ => String::new(),
        };
        let handles = match params.get(1) {
            Some(Val::List(items)) => items.clone(),
            _ => Vec::new(),
        };
        let interfaces = handles
            .into_iter()
            .map(|handle| {
                let Val::Resource(any) = handle else {
                    return Err(wasmtime::format_err!("set-link-name takes resources"));
                };
                let rep = Resource::<CallTarget>::try_from_resource_any(any, &mut store)?.rep();
                store
                    .data()
                    .data()
                    .call_targets
                    .get(rep as usize)
                    .cloned()
                    .ok_or_else(|| wasmtime::format_err!("unknown call-target-interface {rep}"))
            })
            .collect::<wasmtime::Result<Vec<String>>>();
        let router = router.clone();
        Box::new(async move {
            let interfaces = interfaces?;
            if checked && let Some(missing) = unlinked(&router, &interfaces, &name) {
                results[0] = Val::Result(Err(Some(Box::new(Val::String(format!(
                    "interface `{missing}` does not have an existing link with name `{name}`"
                ))))));
                return Ok(());
            }
            let state = store.data_mut().data_mut();
            for interface in interfaces {
                state.set_link_name(interface, &name);
            }
            if checked {
                results[0] = Val::Result(Ok(None));
            }
            Ok(())
        })
    })?;
    Ok(())
}

/// The first of `interfaces` for which the component has no link named `name`.
fn unlinked<'a>(router: &Router, interfaces: &'a [String], name: &str) -> Option<&'a str> {
    for interface in interfaces {
        let linked = match split_interface(interface) {
            Some((namespace, package, iface)) => router
                .lattice
                .link_target(&router.component_id, (namespace, package, iface), name)
                .is_some(),
            None => false,
        };
        if !linked {
            return Some(interface);
        }
    }
    None
}
