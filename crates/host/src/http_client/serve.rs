//! The builtin http-client over wRPC: `wrpc:http/outgoing-handler@0.1.0.handle` at
//! `{lattice}.{provider_id}`, for callers that are not on this host.

use std::sync::Arc;

use http_body_util::{BodyExt as _, StreamBody};
use lattice_runtime::http::ErrorCode;
use lattice_wrpc::subjects::{InvocationSubject, SubjectPrefix};
use lattice_wrpc::{IncomingInvocation, WrpcClient};
use tokio_util::sync::CancellationToken;

use super::OutgoingClient;
use crate::wrpc_http::body::{Part, frames, pump};
use crate::wrpc_http::wire::{self, BODY_PATH, HANDLE, OUTGOING_HANDLER, TRAILERS_PATH};

/// Serves `handle` under `prefix` until `stop`; `client` is `Err(problem)` while the
/// provider's config is unusable (each call then gets `internal-error(problem)`).
pub(crate) async fn serve(
    wrpc: &WrpcClient,
    prefix: SubjectPrefix,
    client: Result<Arc<OutgoingClient>, String>,
    stop: CancellationToken,
) -> Result<(), String> {
    let subject = InvocationSubject::new(prefix, OUTGOING_HANDLER, HANDLE);
    let mut calls = wrpc
        .serve(&subject)
        .await
        .map_err(|e| format!("cannot serve {subject}: {e}"))?;
    tokio::spawn(async move {
        loop {
            let call = tokio::select! {
                _ = stop.cancelled() => return,
                call = calls.next() => match call {
                    Some(Ok(call)) => call,
                    Some(Err(error)) => {
                        tracing::debug!(%error, "a malformed wrpc:http call");
                        continue;
                    }
                    None => return,
                },
            };
            tokio::spawn(handle(call, client.clone()));
        }
    });
    Ok(())
}

async fn handle(mut call: IncomingInvocation, client: Result<Arc<OutgoingClient>, String>) {
    let params = match call.read_params(&wire::outgoing_params()).await {
        Ok(params) => params,
        Err(error) => {
            tracing::warn!(%error, "cannot read a wrpc:http request");
            return;
        }
    };
    let outcome = async {
        let client = client.map_err(|problem| ErrorCode::InternalError(Some(problem)))?;
        let head = params
            .first()
            .ok_or(ErrorCode::HttpRequestUriInvalid)
            .and_then(|v| {
                wire::request_head_of(v).map_err(|e| ErrorCode::InternalError(Some(e.to_string())))
            })?;
        let options = params.get(1).and_then(wire::options_of);
        let body = Part::of(head.body, || call.param_channel(&BODY_PATH));
        let trailers = Part::of(head.trailers, || call.param_channel(&TRAILERS_PATH));
        let mut parts = head.parts;
        // The call's trace goes on with the request (as 1.9.2's http-client does).
        if let Some(traceparent) = call.headers().traceparent()
            && let Ok(value) = http::HeaderValue::from_str(traceparent)
        {
            parts.headers.entry("traceparent").or_insert(value);
        }
        let request = http::Request::from_parts(parts, StreamBody::new(frames(body, trailers)));
        client.send(request, options).await
    };
    match outcome.await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let types = wire::handle_results();
            if let Err(error) = call
                .write_results(&[wire::response_head(&parts)], &types)
                .await
            {
                tracing::debug!(%error, "cannot answer a wrpc:http call");
                return;
            }
            let body = body.map_err(|code| format!("{code:?}"));
            pump(
                body,
                call.result_channel(&BODY_PATH),
                call.result_channel(&TRAILERS_PATH),
            )
            .await;
        }
        Err(code) => {
            tracing::debug!(?code, "an outgoing request failed");
            let _ = call
                .write_results(&[wire::error_result(code)], &wire::handle_results())
                .await;
        }
    }
}
