//! Resources across wRPC. On the wire a resource handle is opaque bytes (`list<u8>`), as
//! in wRPC and 1.9.2:
//!
//! - A resource a component **imports** from a link target (a provider or another
//!   component) is a [`RemoteResource`] in the store: the bytes its owner gave. It goes
//!   back as those bytes; dropping it in the guest forgets them (wRPC has no remote drop).
//! - A resource a component **exports** lives in its resident instance, which keeps every
//!   one a caller holds in a [`HeldResources`] table under a random 16-byte handle. A
//!   caller passing the handle as `own` takes it out of the table (the guest gets the
//!   resource); as `borrow` it stays. 1.9.2 serves no export that has one (it logs that
//!   they are unsupported).
//! - Other host resources (a `wasi:io` stream, say) do not cross.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use lattice_runtime::StoreState;
use lattice_runtime::wasmtime::StoreContextMut;
use lattice_runtime::wasmtime::component::types::{self, ComponentItem};
use lattice_runtime::wasmtime::component::{Linker, Resource, ResourceAny, ResourceType};
use lattice_runtime::{ComponentSignatures, wasmtime};

use super::InvocationState;
use super::glue::{GlueError, Handles};

/// A resource imported over wRPC: the handle its owner gave.
pub(crate) struct RemoteResource(Bytes);

/// How many exported resources a resident instance keeps for callers. wRPC has no
/// remote drop, so a caller that never passes a handle back as `own` leaves it held;
/// past this many the oldest is dropped in the guest (and logged).
pub(crate) const MAX_HELD: usize = 16_384;

/// The exported resources that callers hold, by handle, oldest first.
#[derive(Default)]
pub(crate) struct HeldResources {
    by_handle: HashMap<[u8; 16], ResourceAny>,
    order: VecDeque<[u8; 16]>,
    /// Resources pushed out by newer ones, to be dropped in the guest after the call.
    evicted: Vec<ResourceAny>,
}

impl HeldResources {
    fn hold(&mut self, resource: ResourceAny) -> [u8; 16] {
        let handle: [u8; 16] = rand::random();
        self.by_handle.insert(handle, resource);
        self.order.push_back(handle);
        while self.by_handle.len() > MAX_HELD {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(resource) = self.by_handle.remove(&oldest) {
                self.evicted.push(resource);
            }
        }
        // Handles given back leave stale entries in `order`; keep it bounded too.
        if self.order.len() > 2 * MAX_HELD {
            let held = &self.by_handle;
            self.order.retain(|h| held.contains_key(h));
        }
        handle
    }

    fn find(&mut self, handle: &[u8], take: bool) -> Option<ResourceAny> {
        let handle: [u8; 16] = handle.try_into().ok()?;
        match take {
            true => self.by_handle.remove(&handle),
            false => self.by_handle.get(&handle).copied(),
        }
    }

    /// The resources pushed out since the last call, to drop in the guest.
    pub(crate) fn take_evicted(&mut self) -> Vec<ResourceAny> {
        std::mem::take(&mut self.evicted)
    }

    /// How many are held.
    pub(crate) fn len(&self) -> usize {
        self.by_handle.len()
    }
}

/// The resource types `signatures` exports.
pub(crate) fn exported_types(signatures: &ComponentSignatures) -> Vec<types::ResourceType> {
    signatures
        .exports
        .iter()
        .filter_map(|item| match &item.item {
            ComponentItem::Resource(ty) => Some(*ty),
            _ => None,
        })
        .collect()
}

/// Whether a value of `ty` holds a resource of `exported` (then the export runs on the
/// resident instance, where such resources live).
pub(crate) fn mentions(ty: &types::Type, exported: &[types::ResourceType]) -> bool {
    use types::Type as T;
    match ty {
        T::Own(r) | T::Borrow(r) => exported.contains(r),
        T::List(list) => mentions(&list.ty(), exported),
        T::Record(record) => record.fields().any(|f| mentions(&f.ty, exported)),
        T::Tuple(tuple) => tuple.types().any(|t| mentions(&t, exported)),
        T::Variant(variant) => variant
            .cases()
            .any(|c| c.ty.as_ref().is_some_and(|t| mentions(t, exported))),
        T::Option(option) => mentions(&option.ty(), exported),
        T::Result(result) => {
            result.ok().is_some_and(|t| mentions(&t, exported))
                || result.err().is_some_and(|t| mentions(&t, exported))
        }
        _ => false,
    }
}

/// Defines every resource that `instance` of `signatures` declares as a [`RemoteResource`].
pub(crate) fn link_remote(
    linker: &mut Linker<StoreState<InvocationState>>,
    signatures: &ComponentSignatures,
    instance: &str,
) -> wasmtime::Result<()> {
    for item in &signatures.imports {
        if item.instance.as_deref() != Some(instance)
            || !matches!(item.item, ComponentItem::Resource(_))
        {
            continue;
        }
        linker.instance(instance)?.resource(
            &item.name,
            ResourceType::host::<RemoteResource>(),
            |mut store, rep| {
                store
                    .data_mut()
                    .data_mut()
                    .table
                    .delete(Resource::<RemoteResource>::new_own(rep))?;
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// The handles of one store: remote resources in its table, exported ones in its
/// [`HeldResources`].
pub(crate) struct StoreHandles<'s, 'a> {
    pub(crate) store: StoreContextMut<'s, StoreState<InvocationState>>,
    /// The resource types the component exports.
    pub(crate) exported: &'a [types::ResourceType],
}

impl Handles for StoreHandles<'_, '_> {
    fn lower(
        &mut self,
        resource: ResourceAny,
        ty: &types::ResourceType,
    ) -> Result<Bytes, GlueError> {
        let failed = |e: wasmtime::Error| GlueError::Handle(format!("{e:#}"));
        if resource.ty() == ResourceType::host::<RemoteResource>() {
            let remote =
                Resource::<RemoteResource>::try_from_resource_any(resource, &mut self.store)
                    .map_err(failed)?;
            let table = &mut self.store.data_mut().data_mut().table;
            let RemoteResource(handle) = match remote.owned() {
                true => table.delete(remote).map_err(|e| failed(e.into()))?,
                false => {
                    RemoteResource(table.get(&remote).map_err(|e| failed(e.into()))?.0.clone())
                }
            };
            return Ok(handle);
        }
        if self.exported.contains(ty) {
            if !resource.owned() {
                return Err(GlueError::Handle(
                    "a borrowed resource the component exports cannot be passed on over wRPC"
                        .into(),
                ));
            }
            let handle = self.store.data_mut().data_mut().held.hold(resource);
            return Ok(Bytes::copy_from_slice(&handle));
        }
        Err(GlueError::Unsupported("host resource"))
    }

    fn lift(
        &mut self,
        handle: Bytes,
        ty: &types::ResourceType,
        own: bool,
    ) -> Result<ResourceAny, GlueError> {
        if self.exported.contains(ty) {
            return self
                .store
                .data_mut()
                .data_mut()
                .held
                .find(&handle, own)
                .ok_or_else(|| {
                    GlueError::Handle(format!(
                        "no resource has the handle {} here: it was given back, dropped, or \
                         made by an earlier instance (before a rescale or on another host)",
                        hex(&handle)
                    ))
                });
        }
        let table = &mut self.store.data_mut().data_mut().table;
        let remote = table
            .push(RemoteResource(handle))
            .map_err(|e| GlueError::Handle(e.to_string()))?;
        remote
            .try_into_resource_any(&mut self.store)
            .map_err(|e| GlueError::Handle(format!("{e:#}")))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_held_resource_is_pushed_out_past_the_limit() {
        let mut engine_config = wasmtime::Config::new();
        engine_config.wasm_component_model(true);
        let engine = wasmtime::Engine::new(&engine_config).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        let mut held = HeldResources::default();
        let mut handles = Vec::new();
        for rep in 0..(MAX_HELD as u32 + 2) {
            let any = Resource::<RemoteResource>::new_own(rep)
                .try_into_resource_any(&mut store)
                .unwrap();
            handles.push(held.hold(any));
        }
        assert_eq!(held.len(), MAX_HELD);
        assert_eq!(held.take_evicted().len(), 2);
        assert!(held.find(&handles[0], false).is_none(), "the oldest went");
        assert!(held.find(&handles[2], false).is_some());
        assert!(held.find(&handles[2], true).is_some(), "taken once");
        assert!(held.find(&handles[2], false).is_none(), "and gone");
        assert!(held.find(b"short", false).is_none());
    }
}
