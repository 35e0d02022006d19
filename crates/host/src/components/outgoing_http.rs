//! A component's `wasi:http/outgoing-handler.handle`: the request follows the
//! component's link for `wasi:http/outgoing-handler` (`default`, or the name
//! `wasmcloud:bus/lattice` `set-link-name` chose; see
//! [`crate::http_client`]): in-process to a builtin http-client on this host, over wRPC
//! to any other target, and `internal-error("link not found …")` without a link.

use std::future::Future;

use http_body_util::BodyExt as _;
use lattice_runtime::http::{BodyError, ErrorCode, RequestOptions, WasiBody, WasiHttpHooks};

use super::imports::Router;
use crate::http_client::{LocalHttpClients, head_wait};
use crate::wrpc_http::client::{self as wrpc_http, CallError, Handler, Waits};
use crate::wrpc_http::wire::{HANDLE, OUTGOING_HANDLER};
use lattice_wrpc::subjects::{InvocationSubject, SubjectPrefix};

/// What a component's outgoing requests need. Cheap to clone (one per invocation).
#[derive(Clone)]
pub(crate) struct OutgoingHttp {
    /// Shared: every invocation clones this.
    pub(crate) router: std::sync::Arc<Router>,
    pub(crate) clients: LocalHttpClients,
    /// The trace context of the invocation (see [`super::pass_on_trace`]).
    pub(crate) trace: super::TraceContext,
    /// The name of the link requests follow.
    pub(crate) link_name: String,
}

/// The interface whose link requests follow.
pub(crate) const INTERFACE: &str = "wasi:http/outgoing-handler";

type IoFuture = Box<dyn Future<Output = Result<(), BodyError>> + Send>;

impl OutgoingHttp {
    async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, ErrorCode> {
        let router = &self.router;
        let target = router
            .target(("wasi", "http", "outgoing-handler"), &self.link_name)
            .map_err(|e| ErrorCode::InternalError(Some(e)))?;
        if let Some(client) = self.clients.get(&target) {
            let response = client.send(request, options).await?;
            return Ok(response.map(|body| body.map_err(BodyError::from).boxed_unsync()));
        }
        let headers = router.headers(&self.link_name, &self.trace);
        let subject = InvocationSubject::new(
            SubjectPrefix::target(&router.lattice_name, &target),
            OUTGOING_HANDLER,
            HANDLE,
        );
        let opts = options.unwrap_or_default();
        let waits = Waits {
            head: head_wait(&opts),
            between_bytes: opts.between_bytes_timeout,
        };
        let called = wrpc_http::call(
            &router.wrpc,
            &subject,
            &headers,
            request,
            Handler::Outgoing(options),
            waits,
        )
        .await;
        match called {
            Ok(response) => Ok(response.map(wrpc_http::wasi_body)),
            Err(CallError::Code(code)) => Err(code),
            Err(CallError::NotServed(_)) => Err(ErrorCode::InternalError(Some(format!(
                "nothing serves {OUTGOING_HANDLER}.{HANDLE} for `{target}` (is the http-client provider running?)"
            )))),
            Err(CallError::Transport(e)) => Err(ErrorCode::InternalError(Some(format!(
                "cannot call `{target}`: {e}"
            )))),
        }
    }
}

impl WasiHttpHooks for OutgoingHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _request_errors: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), BodyError>> + Send>
    {
        let this = self.clone();
        Box::new(async move {
            let response = this.send(request, options).await.map_err(|code| {
                tracing::debug!(component_id = %this.router.component_id, ?code, "an outgoing request failed");
                BodyError::from(code)
            })?;
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}
