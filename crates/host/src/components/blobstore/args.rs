//! Between the component's values and the host's table: parameters read, handles
//! given and taken.

use lattice_runtime::StoreState;
use lattice_runtime::wasmtime;
use lattice_runtime::wasmtime::AsContextMut;
use lattice_runtime::wasmtime::StoreContextMut;
use lattice_runtime::wasmtime::component::{Resource, ResourceAny, Val};
use lattice_wrpc::value::Value;

use super::Store;
use super::values::Container;
use super::wire::object_id;
use crate::components::InvocationState;

/// Drops the host side of a handle the guest dropped.
pub(super) fn drop_handle<T: Send + 'static>(
    mut store: StoreContextMut<'_, StoreState<InvocationState>>,
    rep: u32,
) -> wasmtime::Result<()> {
    let table = &mut store.data_mut().data_mut().table;
    table.delete(Resource::<T>::new_own(rep))?;
    Ok(())
}

/// `result<T, error>` with `ok` or the error text.
pub(super) fn outcome(result: Result<Option<Val>, String>) -> Val {
    Val::Result(match result {
        Ok(ok) => Ok(ok.map(Box::new)),
        Err(error) => Err(Some(Box::new(Val::String(error)))),
    })
}

/// The string parameter at `i`.
pub(super) fn text(params: &[Val], i: usize) -> String {
    match params.get(i) {
        Some(Val::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// The `u64` parameter at `i`.
pub(super) fn number(params: &[Val], i: usize) -> u64 {
    match params.get(i) {
        Some(Val::U64(n)) => *n,
        _ => 0,
    }
}

/// The `object-id` parameter at `i` as its wire value.
pub(super) fn object_id_param(params: &[Val], i: usize) -> Value {
    let field = |name: &str| match params.get(i) {
        Some(Val::Record(fields)) => fields
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| match v {
                Val::String(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default(),
        _ => String::new(),
    };
    object_id(&field("container"), &field("object"))
}

/// The handle parameter at `i` as a resource of the host's table.
pub(super) fn handle<T: 'static>(
    store: &mut Store<'_>,
    params: &[Val],
    i: usize,
) -> wasmtime::Result<Resource<T>> {
    match params.get(i) {
        Some(Val::Resource(any)) => {
            Resource::<T>::try_from_resource_any(*any, store.as_context_mut())
        }
        _ => Err(wasmtime::format_err!(
            "a handle was expected at parameter {i}"
        )),
    }
}

/// Puts `value` in the table and gives the guest its handle.
pub(super) fn give<T: Send + 'static>(store: &mut Store<'_>, value: T) -> wasmtime::Result<Val> {
    let made = store.data_mut().data_mut().table.push(value)?;
    let any: ResourceAny = made.try_into_resource_any(store.as_context_mut())?;
    Ok(Val::Resource(any))
}

/// The name of the container handle at `i`.
pub(super) fn container_name(
    store: &mut Store<'_>,
    params: &[Val],
    i: usize,
) -> wasmtime::Result<String> {
    let container = handle::<Container>(store, params, i)?;
    Ok(store.data().data().table.get(&container)?.0.clone())
}
