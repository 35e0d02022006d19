//! Calling a `wrpc:http` `handle` over wRPC: the request head goes in the call, its body
//! and trailers stream from a task, and the response comes back once its head is in, its
//! body read as the caller reads it.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::Body;
use http_body_util::{BodyExt as _, StreamBody};
use lattice_runtime::http::{ErrorCode, RequestOptions};
use lattice_wrpc::subjects::InvocationSubject;
use lattice_wrpc::value::encode_tuple;
use lattice_wrpc::{InvocationHeaders, InvokeErrorKind, WrpcClient};

use super::body::{Part, WireBodyError, frames, pump};
use super::wire::{self, BODY_PATH, TRAILERS_PATH};

/// The body of a response that came over wRPC.
pub(crate) type RemoteBody = StreamBody<
    std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<http_body::Frame<Bytes>, WireBodyError>> + Send>,
    >,
>;

/// Which `handle` is called.
pub(crate) enum Handler {
    /// `wrpc:http/outgoing-handler.handle`, with the request's options.
    Outgoing(Option<RequestOptions>),
    /// `wrpc:http/incoming-handler.handle`.
    Incoming,
}

/// Why a call got no response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// Nothing serves the subject.
    #[error("nothing serves {0}")]
    NotServed(String),
    /// The call or its answer failed on the way.
    #[error("{0}")]
    Transport(String),
    /// The callee answered with an error code.
    #[error("the callee answered {0:?}")]
    Code(ErrorCode),
}

/// How long to wait for the response head and for each piece of the body after it.
pub(crate) struct Waits {
    pub(crate) head: Duration,
    pub(crate) between_bytes: Option<Duration>,
}

/// Calls `subject` with `request`; the request body streams from a task meanwhile.
pub(crate) async fn call<B>(
    wrpc: &WrpcClient,
    subject: &InvocationSubject,
    headers: &InvocationHeaders,
    request: http::Request<B>,
    handler: Handler,
    waits: Waits,
) -> Result<http::Response<RemoteBody>, CallError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Send,
{
    let (parts, body) = request.into_parts();
    let mut params = BytesMut::new();
    let head = wire::request_head(&parts);
    let encoded = match &handler {
        Handler::Outgoing(options) => encode_tuple(
            &[head, wire::options(options.as_ref())],
            &wire::outgoing_params(),
            &mut params,
        ),
        Handler::Incoming => encode_tuple(&[head], &wire::incoming_params(), &mut params),
    };
    encoded.map_err(|e| CallError::Transport(format!("cannot encode the request: {e}")))?;
    let mut invocation = wrpc
        .invoke(subject, headers, params.freeze())
        .await
        .map_err(|e| match e.kind() {
            InvokeErrorKind::NotFound => CallError::NotServed(subject.to_string()),
            _ => CallError::Transport(e.to_string()),
        })?;
    tokio::spawn(pump(
        body,
        invocation.param_channel(&BODY_PATH),
        invocation.param_channel(&TRAILERS_PATH),
    ));
    invocation.results().set_timeout(Some(waits.head));
    let results = invocation
        .read_results(&wire::handle_results())
        .await
        .map_err(|e| CallError::Transport(format!("no answer from {subject}: {e}")))?;
    let head = results
        .first()
        .ok_or_else(|| CallError::Transport("an empty answer".into()))
        .and_then(|v| wire::response_head_of(v).map_err(|e| CallError::Transport(e.to_string())))?
        .map_err(CallError::Code)?;
    let body = Part::of(head.body, || {
        let mut channel = invocation.result_channel(&BODY_PATH);
        channel.set_timeout(waits.between_bytes);
        channel
    });
    let trailers = Part::of(head.trailers, || {
        let mut channel = invocation.result_channel(&TRAILERS_PATH);
        channel.set_timeout(None);
        channel
    });
    let stream: std::pin::Pin<Box<dyn futures::Stream<Item = _> + Send>> =
        Box::pin(frames(body, trailers));
    Ok(http::Response::from_parts(
        head.parts,
        StreamBody::new(stream),
    ))
}

/// A body error as `wasi:http` sees it.
pub(crate) fn body_error(error: WireBodyError) -> ErrorCode {
    match error {
        WireBodyError::Channel(e)
            if matches!(e.kind(), lattice_wrpc::ChannelErrorKind::Timeout(_)) =>
        {
            ErrorCode::ConnectionReadTimeout
        }
        WireBodyError::Channel(e) if matches!(e.kind(), lattice_wrpc::ChannelErrorKind::Ended) => {
            ErrorCode::HttpResponseIncomplete
        }
        other => ErrorCode::InternalError(Some(other.to_string())),
    }
}

/// `body` as a `wasi:http` body.
pub(crate) fn wasi_body(body: RemoteBody) -> lattice_runtime::http::WasiBody {
    body.map_err(|e| lattice_runtime::http::BodyError::from(body_error(e)))
        .boxed_unsync()
}
