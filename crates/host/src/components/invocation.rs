//! What one invocation of a component holds in its store: WASI and `wasi:http` state,
//! its config and secrets, where its outgoing requests go, the link names
//! `set-link-name` chose, its resource handles and its trace context.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use lattice_runtime::http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};
use lattice_runtime::wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

use super::{imports, outgoing_http};

/// What a component gets in its store for one invocation.
pub(crate) struct InvocationState {
    pub(super) wasi: WasiCtx,
    pub(super) http: WasiHttpCtx,
    pub(super) table: ResourceTable,
    /// The merged named config when the invocation started (`wasi:config`).
    pub(super) config: Arc<crate::lattice::ConfigMap>,
    /// The component's secrets, by the name it asks for them (`wasmcloud:secrets`).
    pub(super) secrets: Arc<BTreeMap<String, lattice_proto::SecretValue>>,
    /// The names of the `secret` handles given out in this invocation (a handle's rep
    /// is its index).
    pub(super) secret_handles: Vec<String>,
    /// Where `wasi:http/outgoing-handler` requests go.
    pub(super) outgoing: outgoing_http::OutgoingHttp,
    /// The link names `wasmcloud:bus/lattice` `set-link-name` chose in this invocation,
    /// by interface (`ns:pkg/iface`); the rest follow `default`.
    pub(super) link_names: HashMap<String, String>,
    /// The interfaces of the `call-target-interface` handles made in this invocation (a
    /// handle's rep is its index).
    pub(super) call_targets: Vec<String>,
    /// The names of the `wasi:keyvalue` buckets opened in this invocation (a handle's
    /// rep is its index).
    pub(super) buckets: Vec<String>,
    /// The resources the component exports that callers hold (its resident instance).
    pub(super) held: super::resources::HeldResources,
    /// The W3C trace context the invocation came with (`traceparent`, `tracestate`):
    /// passed on with the calls it makes when the host has no trace of its own (it
    /// exports no telemetry), so a trace runs through the host either way.
    pub(super) trace: TraceContext,
}

/// `traceparent` and `tracestate`, as they came.
pub(crate) type TraceContext = Vec<(&'static str, String)>;

/// The trace context among the headers that `get` reads.
pub(crate) fn trace_context(get: impl Fn(&str) -> Option<String>) -> TraceContext {
    ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|name| get(name).map(|value| (name, value)))
        .collect()
}

/// Adds `trace` to `headers` unless the current span put a trace context there already.
pub(crate) fn pass_on_trace(trace: &TraceContext, headers: &mut async_nats::HeaderMap) {
    if headers.get("traceparent").is_none() {
        for (name, value) in trace {
            headers.insert(*name, value.as_str());
        }
    }
}

impl InvocationState {
    pub(super) fn new(
        config: Arc<crate::lattice::ConfigMap>,
        secrets: Arc<BTreeMap<String, lattice_proto::SecretValue>>,
        outgoing: outgoing_http::OutgoingHttp,
    ) -> Self {
        InvocationState {
            outgoing,
            link_names: HashMap::new(),
            call_targets: Vec::new(),
            buckets: Vec::new(),
            held: Default::default(),
            trace: Vec::new(),
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            config,
            secrets,
            secret_handles: Vec::new(),
        }
    }
}

impl InvocationState {
    /// The trace context the invocation came with (see [`pass_on_trace`]).
    pub(crate) fn set_trace(&mut self, trace: TraceContext) {
        self.outgoing.trace = trace.clone();
        self.trace = trace;
    }

    /// A resident instance's next call: the named config and trace context of `next`
    /// (what it holds and the link names it chose stay).
    pub(crate) fn refresh(&mut self, next: InvocationState) {
        self.config = next.config;
        self.set_trace(next.trace);
    }

    /// The link name calls to `interface` (`ns:pkg/iface`) follow.
    pub(crate) fn link_name(&self, interface: &str) -> &str {
        self.link_names
            .get(interface)
            .map_or(imports::DEFAULT_LINK, String::as_str)
    }

    /// Calls to `interface` follow the link named `name` from now on.
    pub(super) fn set_link_name(&mut self, interface: String, name: &str) {
        if interface == outgoing_http::INTERFACE {
            self.outgoing.link_name = name.to_string();
        }
        self.link_names.insert(interface, name.to_string());
    }
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InvocationState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outgoing,
        }
    }
}
