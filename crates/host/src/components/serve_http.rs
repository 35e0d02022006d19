//! A component's `wasi:http/incoming-handler@0.2.*` export served over wRPC as
//! `wrpc:http/incoming-handler@0.1.0.handle` (as 1.9.2 serves it): callers on other
//! hosts (a builtin http-server there, an http-server provider binary) reach it through
//! NATS, the request and response bodies streamed. Each call is a fresh instance, counted
//! with the component's other invocations; with a policy topic each is asked first.

use std::sync::Arc;

use http_body_util::{BodyExt as _, StreamBody};
use lattice_runtime::http::{BodyError, ErrorCode, HttpServeError, Scheme};
use lattice_wrpc::IncomingInvocation;

use super::runner::{Serving, policy_component};
use crate::wrpc_http::body::{Part, frames, pump};
use crate::wrpc_http::client::body_error;
use crate::wrpc_http::wire::{self, BODY_PATH, HANDLE, INCOMING_HANDLER, TRAILERS_PATH};

/// Serves one call.
pub(super) async fn invoke_http(serving: Arc<Serving>, mut invocation: IncomingInvocation) {
    let result_types = wire::handle_results();
    if serving.policy.enabled() {
        let permitted = serving
            .policy
            .invocation(
                policy_component(&serving.spec, serving.claims.as_deref()),
                INCOMING_HANDLER,
                HANDLE,
            )
            .await;
        if let Err(denied) = permitted {
            tracing::info!(%denied, "invocation refused");
            let denied = wire::error_result(ErrorCode::HttpRequestDenied);
            let _ = invocation.write_results(&[denied], &result_types).await;
            return;
        }
    }
    let params = match invocation.read_params(&wire::incoming_params()).await {
        Ok(params) => params,
        Err(error) => {
            tracing::warn!(%error, "cannot read a wrpc:http request");
            return;
        }
    };
    let head = match params.first().map(wire::request_head_of) {
        Some(Ok(head)) => head,
        Some(Err(error)) => {
            let code = wire::error_result(ErrorCode::InternalError(Some(error.to_string())));
            let _ = invocation.write_results(&[code], &result_types).await;
            return;
        }
        None => return,
    };
    let scheme = match head.parts.uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") | None => Scheme::Https,
        Some(other) => Scheme::Other(other.to_string()),
    };
    let body = Part::of(head.body, || invocation.param_channel(&BODY_PATH));
    let trailers = Part::of(head.trailers, || invocation.param_channel(&TRAILERS_PATH));
    let body = StreamBody::new(frames(body, trailers)).map_err(|e| BodyError::from(body_error(e)));
    let request = http::Request::from_parts(head.parts, body);
    let mut state = serving.invocation_state().await;
    state.set_trace(super::trace_context(|name| {
        invocation.headers().get(name).map(str::to_string)
    }));
    match serving.prepared.handle_http(state, scheme, request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let head = wire::response_head(&parts);
            if let Err(error) = invocation.write_results(&[head], &result_types).await {
                tracing::debug!(%error, "cannot answer a wrpc:http call");
                return;
            }
            pump(
                body.map_err(|code| format!("{code:?}")),
                invocation.result_channel(&BODY_PATH),
                invocation.result_channel(&TRAILERS_PATH),
            )
            .await;
        }
        Err(error) => {
            tracing::warn!(%error, "a wrpc:http request got no response");
            let code = match error {
                HttpServeError::Guest(code) => code,
                other => ErrorCode::InternalError(Some(other.to_string())),
            };
            let _ = invocation
                .write_results(&[wire::error_result(code)], &result_types)
                .await;
        }
    }
}
