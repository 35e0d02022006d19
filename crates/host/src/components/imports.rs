//! A component's imports that the host does not implement itself become wRPC calls,
//! routed by the component's links: the import `ns:pkg/iface@ver` `func` goes to the
//! target of the component's link for `ns:pkg` interface `iface` under the invocation's
//! link name for it (`default`, or what `wasmcloud:bus/lattice` `set-link-name` chose), on `{lattice}.{target}.wrpc.0.0.1.ns:pkg/iface@ver.func`, with
//! the headers `source-id` and `link-name`. A call without a link fails with "link not
//! found" naming the interface (a trap in the guest). When the link's target runs on
//! this host too, the call is made in-process (see [`super::local`]).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use lattice_runtime::wasmtime;
use lattice_runtime::wasmtime::AsContextMut as _;
use lattice_runtime::wasmtime::component::types::ResourceType;
use lattice_runtime::wasmtime::component::{Linker, Val};
use lattice_runtime::{ComponentSignatures, StoreState};
use lattice_wrpc::subjects::{InvocationSubject, SubjectPrefix};
use lattice_wrpc::value::{Type, Value, encode_tuple};
use lattice_wrpc::{Invocation, InvocationHeaders, InvokeError, WrpcClient};

use super::InvocationState;
use super::glue::{to_val, wrpc_types, wrpc_values};
use super::resources::StoreHandles;
use crate::lattice::LatticeState;

/// The default link name.
pub(crate) const DEFAULT_LINK: &str = "default";

/// What an outgoing call needs.
#[derive(Clone)]
pub(crate) struct Router {
    pub(crate) component_id: String,
    pub(crate) lattice_name: String,
    pub(crate) lattice: LatticeState,
    pub(crate) wrpc: WrpcClient,
    /// The components of this host, called in-process when a link targets one.
    pub(crate) local: super::LocalComponents,
}

/// One call an import makes over wRPC.
pub(crate) struct Call<'a> {
    /// The interface whose link it follows (`ns`, `pkg`, `iface`).
    pub(crate) link: (&'a str, &'a str, &'a str),
    /// The name of that link.
    pub(crate) link_name: &'a str,
    /// The invocation's trace context (see [`super::pass_on_trace`]).
    pub(crate) trace: &'a super::TraceContext,
    /// The instance and function called on the link's target.
    pub(crate) instance: &'a str,
    pub(crate) func: &'a str,
}

impl Router {
    /// The target of the component's link `link_name` for `ns:pkg/iface`, else "link not
    /// found" naming the interface and the link name.
    pub(crate) fn target(
        &self,
        (namespace, package, interface): (&str, &str, &str),
        link_name: &str,
    ) -> Result<String, String> {
        self.lattice
            .link_target(&self.component_id, (namespace, package, interface), link_name)
            .ok_or_else(|| {
                format!(
                    "link not found: {} has no `{link_name}` link for {namespace}:{package}/{interface}",
                    self.component_id
                )
            })
    }

    /// The headers of a call over link `link_name`: `source-id`, `link-name`, and the
    /// trace the call continues (the current span's, else the invocation's `trace`).
    pub(crate) fn headers(
        &self,
        link_name: &str,
        trace: &super::TraceContext,
    ) -> InvocationHeaders {
        let mut headers: async_nats::HeaderMap = InvocationHeaders::new()
            .with_source_id(&self.component_id)
            .with_link_name(link_name)
            .into();
        lattice_telemetry::propagation::inject(&tracing::Span::current(), &mut headers);
        super::pass_on_trace(trace, &mut headers);
        InvocationHeaders::from(headers)
    }

    /// Makes `call` with `params` and returns its results: in-process when the link's
    /// target runs on this host and can take it now, else over NATS.
    pub(crate) async fn call(
        &self,
        call: Call<'_>,
        params: Vec<Value>,
        param_types: &[Type],
        result_types: &[Type],
    ) -> wasmtime::Result<Vec<Value>> {
        let target = self
            .target(call.link, call.link_name)
            .map_err(|e| wasmtime::format_err!("{e}"))?;
        let local = self.local.get(&target).and_then(|component| {
            component.callable(call.instance, call.func, param_types, result_types)
        });
        if let Some(local) = local {
            let headers = self.headers(call.link_name, call.trace);
            return local
                .run(params, headers, self.wrpc.timeout())
                .await
                .map_err(|reason| {
                    wasmtime::format_err!(
                        "{target} {}.{} (on this host) failed: {reason}",
                        call.instance,
                        call.func
                    )
                });
        }
        let body = encode_params(&params, param_types)?;
        let mut invocation = self.invoke(&target, &call, body).await?;
        Ok(invocation.read_results(result_types).await?)
    }

    /// Sends `call` with the encoded `params` to `target`, with the call's headers;
    /// returns once a server accepted it.
    pub(crate) async fn invoke(
        &self,
        target: &str,
        call: &Call<'_>,
        params: Bytes,
    ) -> Result<Invocation, InvokeError> {
        let subject = InvocationSubject::new(
            SubjectPrefix::target(&self.lattice_name, target),
            call.instance,
            call.func,
        );
        let headers = self.headers(call.link_name, call.trace);
        self.wrpc.invoke(&subject, &headers, params).await
    }
}

/// `params` (typed `types`) encoded as a call's parameters.
pub(crate) fn encode_params(params: &[Value], types: &[Type]) -> wasmtime::Result<Bytes> {
    let mut body = BytesMut::new();
    encode_tuple(params, types, &mut body)?;
    Ok(body.freeze())
}

/// Puts what a call returned into an import's result slots, typed `types`.
pub(crate) fn write_results(
    slots: &mut [Val],
    returned: Vec<Value>,
    types: &[wasmtime::component::types::Type],
    handles: &mut dyn super::glue::Handles,
) -> wasmtime::Result<()> {
    for ((slot, value), ty) in slots.iter_mut().zip(returned).zip(types) {
        *slot = to_val(value, ty, handles)?;
    }
    Ok(())
}

/// `ns:pkg/iface@ver` → (`ns`, `pkg`, `iface`).
pub(crate) fn split_interface(instance: &str) -> Option<(&str, &str, &str)> {
    let unversioned = instance.split('@').next()?;
    let (namespace, rest) = unversioned.split_once(':')?;
    let (package, interface) = rest.split_once('/')?;
    Some((namespace, package, interface))
}

/// Whether `instance` is WASI 0.2 proper, which the runtime links.
pub(crate) fn host_implemented(instance: &str) -> bool {
    [
        "wasi:cli/",
        "wasi:clocks/",
        "wasi:filesystem/",
        "wasi:http/",
        "wasi:io/",
        "wasi:random/",
        "wasi:sockets/",
    ]
    .iter()
    .any(|prefix| instance.starts_with(prefix))
}

/// Defines every import of `signatures` that the host does not implement as a wRPC call,
/// and the resources of those interfaces as remote handles (see [`super::resources`]);
/// `exported` are the resource types the component exports.
pub(crate) fn polyfill(
    linker: &mut Linker<StoreState<InvocationState>>,
    signatures: &ComponentSignatures,
    router: &Router,
    exported: &Arc<[ResourceType]>,
) -> wasmtime::Result<()> {
    let mut with_resources = std::collections::BTreeSet::new();
    for import in signatures.import_funcs() {
        let Some(instance) = import.instance.clone() else {
            continue;
        };
        if host_implemented(&instance) || super::host_interfaces::implements(&instance) {
            continue;
        }
        let Some((namespace, package, interface)) = split_interface(&instance) else {
            continue;
        };
        if with_resources.insert(instance.clone()) {
            super::resources::link_remote(linker, signatures, &instance)?;
        }
        let (namespace, package, interface) = (
            namespace.to_string(),
            package.to_string(),
            interface.to_string(),
        );
        let func_name = lattice_wrpc::subjects::wire_func_name(&import.name).to_string();
        let router = router.clone();
        let exported = Arc::clone(exported);
        linker.instance(&instance)?.func_new_async(
            &import.name,
            move |mut store, ty, params, results| {
                let router = router.clone();
                let state = store.data().data();
                let trace = state.trace.clone();
                let link_name = state
                    .link_name(&format!("{namespace}:{package}/{interface}"))
                    .to_string();
                let (namespace, package, interface) =
                    (namespace.clone(), package.clone(), interface.clone());
                let instance = instance.clone();
                let func_name = func_name.clone();
                let exported = Arc::clone(&exported);
                Box::new(async move {
                    let param_types: Vec<_> = ty.params().map(|(_, t)| t).collect();
                    let result_types: Vec<_> = ty.results().collect();
                    let mut handles = StoreHandles {
                        store: store.as_context_mut(),
                        exported: &exported,
                    };
                    let (values, wrpc_params) = wrpc_values(params, &param_types, &mut handles)?;
                    let wrpc_results = wrpc_types(&result_types)?;
                    let call = Call {
                        link: (&namespace, &package, &interface),
                        link_name: &link_name,
                        trace: &trace,
                        instance: &instance,
                        func: &func_name,
                    };
                    let returned = router
                        .call(call, values, &wrpc_params, &wrpc_results)
                        .await?;
                    let mut handles = StoreHandles {
                        store: store.as_context_mut(),
                        exported: &exported,
                    };
                    write_results(results, returned, &result_types, &mut handles)
                }) as Box<dyn Future<Output = wasmtime::Result<()>> + Send>
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_split_without_their_version() {
        assert_eq!(
            split_interface("local:test/math@0.1.0"),
            Some(("local", "test", "math"))
        );
        assert_eq!(
            split_interface("wasi:keyvalue/store@0.2.0-draft"),
            Some(("wasi", "keyvalue", "store"))
        );
        assert_eq!(split_interface("plain"), None);
    }
}
