//! The components running on this host, for callers in the host itself: the builtin
//! http-server hands them requests in-process, and a component's call through a link to
//! a component that runs here too is made in-process ([`LocalComponent::callable`])
//! instead of over NATS, while that component has a free slot of its `count`.
//!
//! An in-process call is the invocation a call over NATS would have been, on the same
//! path ([`super::serve_export::call_local`]): the policy is asked, the callee gets a
//! fresh instance (or its resident one), its trace continues the caller's, it counts
//! among the component's invocations (a stop drains it), and the caller waits for it
//! as long as a wRPC client would ([`lattice_wrpc::WrpcClient::timeout`]). What is left
//! out is the network: no encoding, no two trips through `nats-server`. Calls whose
//! values hold a `future` or a `stream`, and calls whose types differ from the export's,
//! still go over NATS.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lattice_runtime::http::{HttpResponse, HttpServeError, Scheme};
use lattice_wrpc::InvocationHeaders;
use lattice_wrpc::value::{Type, Value};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use super::runner::Export;
use super::{Serving, trace_context};

/// The components running on this host. Written only by the component runners as they
/// start and stop; read without waiting.
#[derive(Clone, Default)]
pub(crate) struct LocalComponents(Arc<std::sync::RwLock<HashMap<String, LocalComponent>>>);

impl LocalComponents {
    /// The component `id`, if it runs here.
    pub(crate) fn get(&self, id: &str) -> Option<LocalComponent> {
        self.0.read().expect("not poisoned").get(id).cloned()
    }

    pub(super) fn insert(&self, id: &str, component: LocalComponent) {
        self.0
            .write()
            .expect("not poisoned")
            .insert(id.to_string(), component);
    }

    pub(super) fn remove(&self, id: &str) {
        self.0.write().expect("not poisoned").remove(id);
    }
}

/// One running component, reached in-process.
#[derive(Clone)]
pub(crate) struct LocalComponent {
    current: watch::Receiver<Arc<Serving>>,
    invocations: TaskTracker,
}

impl LocalComponent {
    /// What serves now (`current`), and where its invocations are counted.
    pub(super) fn new(current: watch::Receiver<Arc<Serving>>, invocations: TaskTracker) -> Self {
        LocalComponent {
            current,
            invocations,
        }
    }

    /// Serves an HTTP request with the component's `wasi:http/incoming-handler`, in a
    /// fresh instance, counted with its other invocations (a stop drains it too).
    pub(crate) async fn handle_http<B>(
        &self,
        scheme: Scheme,
        request: hyper::Request<B>,
    ) -> Result<HttpResponse, HttpServeError>
    where
        B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<lattice_runtime::http::BodyError>,
    {
        let serving = self.current.borrow().clone();
        let mut state = serving.invocation_state().await;
        state.set_trace(trace_context(|name| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        }));
        self.invocations
            .track_future(serving.prepared.handle_http(state, scheme, request))
            .await
    }

    /// The call of `instance`.`func` (as on the wire) with these types, made in-process,
    /// if this component serves that function with exactly these types, none of them
    /// holds a `future` or a `stream`, and a slot of its `count` is free now; otherwise
    /// `None`, and the call goes over NATS (where another host may take it).
    pub(super) fn callable(
        &self,
        instance: &str,
        func: &str,
        params: &[Type],
        results: &[Type],
    ) -> Option<LocalCall> {
        let serving = self.current.borrow().clone();
        if !serving.prepared.has_free_slot() {
            return None;
        }
        let export = serving
            .exports
            .iter()
            .find(|export| export.served_as() == (instance, func))?;
        let same = |declared: &[(Type, _)], given: &[Type]| {
            declared.len() == given.len()
                && declared
                    .iter()
                    .zip(given)
                    .all(|((d, _), g)| d == g && !g.has_async())
        };
        if !same(&export.params, params) || !same(&export.results, results) {
            return None;
        }
        Some(LocalCall {
            export: Arc::clone(export),
            serving,
            invocations: self.invocations.clone(),
        })
    }
}

/// One call to a component of this host, made in-process (see [`LocalComponent::callable`]).
pub(super) struct LocalCall {
    serving: Arc<Serving>,
    export: Arc<Export>,
    invocations: TaskTracker,
}

impl LocalCall {
    /// Runs the invocation with `params` and the caller's `headers` (its trace), as its
    /// own task; waits for its results up to `timeout`, as a wRPC caller waits. A call
    /// that outlives that runs on to its end (as one over NATS would), unanswered.
    pub(super) async fn run(
        self,
        params: Vec<Value>,
        headers: InvocationHeaders,
        timeout: Duration,
    ) -> Result<Vec<Value>, String> {
        let LocalCall {
            serving,
            export,
            invocations,
        } = self;
        // The invocation's span is a child of the caller's (the current span).
        let span = tracing::info_span!(
            "invocation",
            component_id = %serving.spec.id,
            func = %export.func,
            in_process = true
        );
        let task = invocations.spawn(
            super::serve_export::call_local(serving, export, params, headers).instrument(span),
        );
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(ended)) => Err(format!("the invocation ended without an answer: {ended}")),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }
}
