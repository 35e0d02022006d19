//! HTTP bodies over wRPC: a `stream<u8>` and a `future<option<fields>>` read as an
//! [`http_body::Body`], and a body written to them.

use bytes::Bytes;
use futures::Stream;
use http::HeaderMap;
use http_body::{Body, Frame};
use http_body_util::BodyExt as _;
use lattice_wrpc::value::{Type, Value};
use lattice_wrpc::{IncomingChannel, OutgoingChannel};

use super::wire::{self, Inline, Malformed};

/// Why a body read over wRPC ended badly.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireBodyError {
    #[error(transparent)]
    Channel(#[from] lattice_wrpc::ChannelError),
    #[error(transparent)]
    Malformed(#[from] Malformed),
}

/// Where a body part comes from: inline in the synchronous value, or its channel.
pub(crate) enum Part<T> {
    Ready(T),
    Channel(IncomingChannel),
}

impl<T> Part<T> {
    /// `inline` if it came inline, else the channel `open` gives.
    pub(crate) fn of(inline: Inline<T>, open: impl FnOnce() -> IncomingChannel) -> Self {
        match inline {
            Inline::Ready(value) => Part::Ready(value),
            Inline::Pending => Part::Channel(open()),
        }
    }
}

enum State {
    Body(Part<Bytes>, Part<Option<HeaderMap>>),
    Trailers(Part<Option<HeaderMap>>),
    Done,
}

/// The frames of a body: its data, then its trailers if any.
pub(crate) fn frames(
    body: Part<Bytes>,
    trailers: Part<Option<HeaderMap>>,
) -> impl Stream<Item = Result<Frame<Bytes>, WireBodyError>> + Send + 'static {
    futures::stream::try_unfold(State::Body(body, trailers), |mut state| async move {
        loop {
            state = match state {
                State::Body(Part::Ready(bytes), trailers) => {
                    if !bytes.is_empty() {
                        return Ok(Some((Frame::data(bytes), State::Trailers(trailers))));
                    }
                    State::Trailers(trailers)
                }
                State::Body(Part::Channel(mut channel), trailers) => {
                    match channel.read_stream_chunk(&Type::U8).await? {
                        Some(chunk) => {
                            let bytes = wire::bytes_of(&chunk)
                                .ok_or_else(|| Malformed("a body chunk is not bytes".into()))?;
                            let next = State::Body(Part::Channel(channel), trailers);
                            return Ok(Some((Frame::data(bytes), next)));
                        }
                        None => State::Trailers(trailers),
                    }
                }
                State::Trailers(Part::Ready(trailers)) => {
                    return Ok(trailers.map(|t| (Frame::trailers(t), State::Done)));
                }
                State::Trailers(Part::Channel(mut channel)) => {
                    let value = channel.read_value(&wire::trailers_type()).await?;
                    return Ok(
                        wire::trailers_of(&value)?.map(|t| (Frame::trailers(t), State::Done))
                    );
                }
                State::Done => return Ok(None),
            }
        }
    })
}

/// Writes `body` to its channels: the data as `stream<u8>` chunks ending with the empty
/// chunk, then the trailers. A body that fails is cut off (the channel closes without
/// the final chunk, so the reader sees it end early) and its trailers are none.
pub(crate) async fn pump<B>(body: B, mut data: OutgoingChannel, mut trailers: OutgoingChannel)
where
    B: Body<Data = Bytes> + Send,
    B::Error: std::fmt::Display + Send,
{
    let mut body = std::pin::pin!(body);
    let mut sent_trailers = None;
    let mut complete = true;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => match frame.into_data() {
                Ok(bytes) => {
                    if let Err(error) = data
                        .write_stream_chunk(&Value::Bytes(bytes), &Type::U8)
                        .await
                    {
                        tracing::debug!(%error, "cannot send a body chunk");
                        complete = false;
                        break;
                    }
                }
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        sent_trailers = Some(t);
                    }
                }
            },
            Err(error) => {
                tracing::debug!(%error, "a body failed while it was sent");
                complete = false;
                break;
            }
        }
    }
    let ended = match complete {
        true => data.finish_stream().await,
        false => data.close().await,
    };
    if let Err(error) = ended {
        tracing::debug!(%error, "cannot end a body");
    }
    let value = wire::trailers(sent_trailers.as_ref());
    let written = async {
        trailers.write_value(&value, &wire::trailers_type()).await?;
        trailers.close().await
    };
    if let Err(error) = written.await {
        tracing::debug!(%error, "cannot send trailers");
    }
}
