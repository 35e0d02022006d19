//! `wasi:http` 0.2 for components: the imports (`types`, `outgoing-handler`) and
//! serving one HTTP request with a component's `wasi:http/incoming-handler` export,
//! in a fresh instance with the component's limits and deadline.
//!
//! The response head comes back as soon as the guest sets it; the guest keeps running
//! (and holds its slot of the concurrency cap) while it streams the body, up to its
//! execution deadline.

use tokio::sync::oneshot;
use wasmtime_wasi::WasiView;
use wasmtime_wasi_http::p2::bindings::ProxyIndices;

use crate::error::InvokeError;
use crate::prepared::{Prepared, StoreState};

/// What a request body's errors must turn into ([`Prepared::handle_http`]).
pub use wasmtime_wasi_http::Error as BodyError;
pub use wasmtime_wasi_http::p2::bindings::http::types::{
    DnsErrorPayload, ErrorCode, FieldSizePayload, Scheme, TlsAlertReceivedPayload,
};
pub use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
/// How a component's outgoing requests are sent ([`WasiHttpHooks::send_request`]).
pub use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};
pub use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// A response the guest produced, streaming its body.
pub type HttpResponse = hyper::Response<HyperOutgoingBody>;

/// Why a request got no response from the component.
#[derive(Debug, thiserror::Error)]
pub enum HttpServeError {
    /// The component does not export `wasi:http/incoming-handler`.
    #[error("the component does not export wasi:http/incoming-handler")]
    NoHandler,
    /// The request could not be handed to the guest (e.g. no authority).
    #[error("cannot pass the request to the component: {0}")]
    Request(String),
    /// Instantiation or the call failed: a trap, a limit, the deadline.
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    /// The guest answered with an error code instead of a response.
    #[error("the component answered with an error: {0:?}")]
    Guest(ErrorCode),
    /// The guest returned without setting a response.
    #[error("the component returned without a response")]
    NoResponse,
}

impl<T: WasiView> WasiHttpView for StoreState<T>
where
    T: WasiHttpView,
{
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        self.data_mut().http()
    }
}

/// Adds the `wasi:http` imports (`types`, `outgoing-handler`) to `linker`.
///
/// # Errors
///
/// If wasmtime refuses the definitions (a clash with ones already there).
pub(crate) fn add_to_linker<T: WasiHttpView + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}

/// Where the `incoming-handler` export sits, found once per prepared component.
pub(crate) fn indices<T>(pre: &wasmtime::component::InstancePre<T>) -> Option<ProxyIndices> {
    ProxyIndices::new(pre).ok()
}

impl<T: WasiView + WasiHttpView + Send + 'static> Prepared<T> {
    /// Whether the component exports `wasi:http/incoming-handler`.
    pub fn handles_http(&self) -> bool {
        self.http_indices().is_some()
    }

    /// Serves `request` with the component's `wasi:http/incoming-handler` in a fresh
    /// instance (waiting for a free slot first), `data` as its store data.
    ///
    /// # Errors
    ///
    /// [`HttpServeError`]: no handler, a trap or a limit, a guest error code, no response.
    pub async fn handle_http<B>(
        &self,
        data: T,
        scheme: Scheme,
        request: hyper::Request<B>,
    ) -> Result<HttpResponse, HttpServeError>
    where
        B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let indices = self
            .http_indices()
            .ok_or(HttpServeError::NoHandler)?
            .clone();
        let mut invocation = self.instantiate(data).await?;
        let (sender, receiver) = oneshot::channel();
        let (req, out) = {
            let mut http = invocation.store().data_mut().http();
            let req = http
                .new_incoming_request(scheme, request)
                .map_err(|e| HttpServeError::Request(format!("{e:#}")))?;
            let out = http
                .new_response_outparam(sender)
                .map_err(|e| HttpServeError::Request(format!("{e:#}")))?;
            (req, out)
        };
        let instance = invocation.instance();
        let proxy = indices
            .load(invocation.store(), &instance)
            .map_err(|e| HttpServeError::Invoke(InvokeError::Call(format!("{e:#}"))))?;
        // The guest runs on its own task: it may go on streaming the body after it
        // has set the response.
        let guest = tokio::spawn(async move {
            invocation
                .run(|store| {
                    Box::pin(async move {
                        proxy
                            .wasi_http_incoming_handler()
                            .call_handle(store, req, out)
                            .await
                    })
                })
                .await
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(HttpServeError::Guest(code)),
            // The outparam was dropped unset: the guest's end says why.
            Err(_) => match guest.await {
                Ok(Err(error)) => Err(HttpServeError::Invoke(error)),
                Ok(Ok(())) => Err(HttpServeError::NoResponse),
                Err(join) => Err(HttpServeError::Invoke(InvokeError::Call(join.to_string()))),
            },
        }
    }
}
