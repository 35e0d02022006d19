//! A request sent over wRPC: `wrpc:http/outgoing-handler@0.1.0.handle` on a target that
//! is not in this host (an http-client provider binary, a builtin on another host).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::Body;
use http_body_util::{BodyExt as _, StreamBody};
use lattice_runtime::http::{ErrorCode, RequestOptions};
use lattice_wrpc::subjects::{InvocationSubject, SubjectPrefix};
use lattice_wrpc::value::encode_tuple;
use lattice_wrpc::{InvocationHeaders, InvokeErrorKind, WrpcClient};

use super::body::{Part, WireBodyError, frames, pump};
use super::client::DEFAULT_TIMEOUT;
use super::wire::{self, BODY_PATH, HANDLE, OUTGOING_HANDLER, TRAILERS_PATH};

/// The body of a response that came over wRPC.
pub(crate) type RemoteBody = StreamBody<
    std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<http_body::Frame<Bytes>, WireBodyError>> + Send>,
    >,
>;

/// Sends `request` to `target`'s `wrpc:http/outgoing-handler.handle` and returns the
/// response once its head is in; the request body streams from a task meanwhile.
pub(crate) async fn send<B>(
    wrpc: &WrpcClient,
    lattice: &str,
    target: &str,
    headers: &InvocationHeaders,
    request: http::Request<B>,
    options: Option<RequestOptions>,
) -> Result<http::Response<RemoteBody>, ErrorCode>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Send,
{
    let subject = InvocationSubject::new(
        SubjectPrefix::target(lattice, target),
        OUTGOING_HANDLER,
        HANDLE,
    );
    let (parts, body) = request.into_parts();
    let mut params = BytesMut::new();
    encode_tuple(
        &[wire::request_head(&parts), wire::options(options.as_ref())],
        &wire::handle_params(),
        &mut params,
    )
    .map_err(|e| ErrorCode::InternalError(Some(format!("cannot encode the request: {e}"))))?;
    let mut invocation = wrpc
        .invoke(&subject, headers, params.freeze())
        .await
        .map_err(|e| match e.kind() {
            InvokeErrorKind::NotFound => ErrorCode::InternalError(Some(format!(
                "nothing serves {OUTGOING_HANDLER}.{HANDLE} for `{target}` (is the http-client provider running?)"
            ))),
            _ => ErrorCode::InternalError(Some(format!("cannot call `{target}`: {e}"))),
        })?;
    tokio::spawn(pump(
        body,
        invocation.param_channel(&BODY_PATH),
        invocation.param_channel(&TRAILERS_PATH),
    ));
    let options = options.unwrap_or_default();
    let head_wait = options
        .connect_timeout
        .unwrap_or(DEFAULT_TIMEOUT)
        .saturating_add(options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT));
    invocation.results().set_timeout(Some(head_wait));
    let results = invocation
        .read_results(&wire::handle_results())
        .await
        .map_err(|e| ErrorCode::InternalError(Some(format!("no answer from `{target}`: {e}"))))?;
    let head = results
        .first()
        .ok_or_else(|| ErrorCode::InternalError(Some("an empty answer".into())))
        .and_then(|v| {
            wire::response_head_of(v).map_err(|e| ErrorCode::InternalError(Some(e.to_string())))
        })??;
    let between_bytes: Option<Duration> = options.between_bytes_timeout;
    let body = Part::of(head.body, || {
        let mut channel = invocation.result_channel(&BODY_PATH);
        channel.set_timeout(between_bytes);
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

/// `body` as a `wasi:http` response body.
pub(crate) fn wasi_body(body: RemoteBody) -> lattice_runtime::http::WasiBody {
    body.map_err(|e| lattice_runtime::http::BodyError::from(body_error(e)))
        .boxed_unsync()
}
