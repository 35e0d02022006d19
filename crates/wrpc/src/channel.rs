//! The byte channels of a call: an [`IncomingChannel`] gathers the messages of one
//! subject until the empty message that closes it; an [`OutgoingChannel`] publishes
//! bytes to one subject in pieces of at most the server's `max_payload` and closes it
//! with an empty message.

use std::sync::Arc;
use std::time::Duration;

use async_nats::Subject;
use bytes::{Bytes, BytesMut};
use tracing::debug;

use crate::error::{ChannelError, ChannelErrorKind};
use crate::router::{CallGuard, FrameReceiver};
use crate::server::Accept;
use crate::value::{self, DecodeError, Type, Value};

/// The longest reason [`OutgoingChannel::fail`] sends, in bytes.
const MAX_FAILURE: usize = 2048;

/// Reads one channel of a call: the parameters (server side), the results (client
/// side), or an indexed channel of a pending `future` or `stream`.
#[derive(Debug)]
pub struct IncomingChannel {
    subject: String,
    rx: FrameReceiver,
    buffer: BytesMut,
    ended: bool,
    /// Why the peer closed the channel, when it said.
    failure: Option<String>,
    timeout: Option<Duration>,
    /// A server's channel: the call's accept, sent before waiting for a message.
    accept: Option<Arc<Accept>>,
    _call: Arc<CallGuard>,
}

impl IncomingChannel {
    pub(crate) fn new(
        subject: String,
        rx: FrameReceiver,
        initial: Bytes,
        timeout: Option<Duration>,
        call: Arc<CallGuard>,
    ) -> Self {
        IncomingChannel {
            subject,
            rx,
            buffer: BytesMut::from(initial),
            ended: false,
            failure: None,
            timeout,
            accept: None,
            _call: call,
        }
    }

    /// A server's channel: `accept` goes out before the first wait for a message.
    pub(crate) fn accepting(mut self, accept: Arc<Accept>) -> Self {
        self.accept = Some(accept);
        self
    }

    /// Decodes the members of a tuple from what has arrived, without waiting: `None`
    /// when more is needed.
    pub(crate) fn try_read_tuple(
        &mut self,
        types: &[Type],
    ) -> Option<Result<Vec<Value>, ChannelError>> {
        self.try_decode(|buf| value::decode_tuple(types, buf))
    }

    /// `decode` on what has arrived: `None` when it needs more.
    fn try_decode<T>(
        &mut self,
        decode: impl FnOnce(&mut BytesMut) -> Result<T, DecodeError>,
    ) -> Option<Result<T, ChannelError>> {
        match decode(&mut self.buffer) {
            Ok(value) => Some(Ok(value)),
            Err(DecodeError::Incomplete) => None,
            Err(e) => Some(Err(self.error(ChannelErrorKind::Decode(e)))),
        }
    }

    /// The subject this channel reads.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// How long to wait for each message (`None`: forever).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The next bytes: what is buffered, else the next message. `None` once the peer has
    /// closed the channel (or the call is gone).
    pub async fn next_bytes(&mut self) -> Result<Option<Bytes>, ChannelError> {
        if !self.buffer.is_empty() {
            return Ok(Some(self.buffer.split().freeze()));
        }
        self.recv().await
    }

    /// Everything up to the closing message.
    pub async fn read_to_end(&mut self) -> Result<Bytes, ChannelError> {
        while let Some(bytes) = self.recv().await? {
            self.buffer.extend_from_slice(&bytes);
        }
        Ok(self.buffer.split().freeze())
    }

    /// Waits for the closing message: an error when the peer closed it saying the call
    /// failed. What came before is dropped.
    pub async fn finish(&mut self) -> Result<(), ChannelError> {
        self.read_to_end().await?;
        match self.failure.take() {
            Some(reason) => Err(self.error(ChannelErrorKind::Failed(reason))),
            None => Ok(()),
        }
    }

    /// Reads one value of `ty`, waiting for as many messages as it spans.
    pub async fn read_value(&mut self, ty: &Type) -> Result<Value, ChannelError> {
        self.read_with(|buf| value::decode(ty, buf)).await
    }

    /// Reads the members of a tuple: a function's parameters or results.
    pub async fn read_tuple(&mut self, types: &[Type]) -> Result<Vec<Value>, ChannelError> {
        self.read_with(|buf| value::decode_tuple(types, buf)).await
    }

    /// Reads the next chunk of a pending `stream<element>`: a non-empty list value, or
    /// `None` at the empty chunk that ends the stream.
    pub async fn read_stream_chunk(
        &mut self,
        element: &Type,
    ) -> Result<Option<Value>, ChannelError> {
        let list = Type::List(Box::new(element.clone()));
        let chunk = self.read_value(&list).await?;
        Ok(match &chunk {
            Value::List(items) if items.is_empty() => None,
            Value::Bytes(bytes) if bytes.is_empty() => None,
            _ => Some(chunk),
        })
    }

    async fn read_with<T>(
        &mut self,
        mut decode: impl FnMut(&mut BytesMut) -> Result<T, DecodeError>,
    ) -> Result<T, ChannelError> {
        loop {
            if let Some(read) = self.try_decode(&mut decode) {
                return read;
            }
            match self.recv().await? {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => {
                    let kind = match self.failure.take() {
                        Some(reason) => ChannelErrorKind::Failed(reason),
                        None => ChannelErrorKind::Ended,
                    };
                    return Err(self.error(kind));
                }
            }
        }
    }

    async fn recv(&mut self) -> Result<Option<Bytes>, ChannelError> {
        if self.ended {
            return Ok(None);
        }
        if let Some(accept) = &self.accept {
            accept.send().await?;
        }
        let frame = match self.timeout {
            Some(timeout) => tokio::time::timeout(timeout, self.rx.recv())
                .await
                .map_err(|_| self.error(ChannelErrorKind::Timeout(timeout)))?,
            None => self.rx.recv().await,
        };
        match frame {
            Some(frame) if !frame.payload.is_empty() => Ok(Some(frame.payload)),
            frame => {
                self.ended = true;
                self.failure = frame.and_then(|f| f.failure);
                Ok(None)
            }
        }
    }

    fn error(&self, kind: ChannelErrorKind) -> ChannelError {
        ChannelError::new(kind, self.subject.clone())
    }
}

/// Writes one channel of a call: the rest of the parameters (client side), the results
/// (server side), or an indexed channel of a pending `future` or `stream`.
///
/// [`close`](Self::close) sends the empty closing message; a channel dropped unclosed
/// sends it from a spawned task (inside a Tokio runtime), as `wrpc-transport-nats` does.
#[derive(Debug)]
pub struct OutgoingChannel {
    nats: async_nats::Client,
    subject: Subject,
    closed: bool,
    /// A server's channel: the call's accept, sent before anything else.
    accept: Option<Arc<Accept>>,
}

impl OutgoingChannel {
    pub(crate) fn new(nats: async_nats::Client, subject: String) -> Self {
        OutgoingChannel {
            nats,
            subject: Subject::from(subject),
            closed: false,
            accept: None,
        }
    }

    /// A server's channel: `accept` goes out before its first message.
    pub(crate) fn accepting(mut self, accept: Arc<Accept>) -> Self {
        self.accept = Some(accept);
        self
    }

    async fn accepted(&self) -> Result<(), ChannelError> {
        match &self.accept {
            Some(accept) => accept.send().await,
            None => Ok(()),
        }
    }

    /// The subject this channel writes.
    pub fn subject(&self) -> &str {
        self.subject.as_str()
    }

    /// Publishes `bytes`, split into messages of at most `max_payload` bytes. Nothing is
    /// sent for no bytes (an empty message would close the channel).
    pub async fn write(&mut self, mut bytes: Bytes) -> Result<(), ChannelError> {
        let max = self.nats.max_payload().max(1);
        while !bytes.is_empty() {
            let piece = bytes.split_to(max.min(bytes.len()));
            self.publish(piece).await?;
        }
        Ok(())
    }

    /// Encodes and publishes a value.
    pub async fn write_value(&mut self, value: &Value, ty: &Type) -> Result<(), ChannelError> {
        let mut buf = BytesMut::new();
        value::encode(value, ty, &mut buf).map_err(|e| self.error(ChannelErrorKind::Encode(e)))?;
        self.write(buf.freeze()).await
    }

    /// Encodes and publishes the members of a tuple: a function's parameters or results.
    pub async fn write_tuple(
        &mut self,
        values: &[Value],
        types: &[Type],
    ) -> Result<(), ChannelError> {
        let mut buf = BytesMut::new();
        value::encode_tuple(values, types, &mut buf)
            .map_err(|e| self.error(ChannelErrorKind::Encode(e)))?;
        self.write(buf.freeze()).await
    }

    /// Publishes one chunk of a pending `stream<element>`: `items` is a non-empty
    /// `list<element>` value ([`Value::List`] or, for `u8`, [`Value::Bytes`]).
    pub async fn write_stream_chunk(
        &mut self,
        items: &Value,
        element: &Type,
    ) -> Result<(), ChannelError> {
        let empty = matches!(items, Value::List(v) if v.is_empty())
            || matches!(items, Value::Bytes(b) if b.is_empty());
        if empty {
            return Ok(());
        }
        self.write_value(items, &Type::List(Box::new(element.clone())))
            .await
    }

    /// Ends a pending stream (the empty chunk) and closes the channel.
    pub async fn finish_stream(&mut self) -> Result<(), ChannelError> {
        self.publish(Bytes::from_static(&[0])).await?;
        self.close().await
    }

    /// Sends the empty message that closes the channel. Closing twice sends nothing.
    pub async fn close(&mut self) -> Result<(), ChannelError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.publish(Bytes::new()).await
    }

    /// Closes the channel before a whole value, saying why: clients of lattice-wrpc get
    /// [`ChannelErrorKind::Failed`] with `reason`, others the plain close.
    pub async fn fail(&mut self, reason: &str) -> Result<(), ChannelError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        // One line (a header cannot hold a line break), of bounded size.
        let mut line: String = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if line.len() > MAX_FAILURE {
            let cut = (0..=MAX_FAILURE)
                .rev()
                .find(|i| line.is_char_boundary(*i))
                .unwrap_or(0);
            line.truncate(cut);
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(crate::headers::FAILURE, line.as_str());
        self.accepted().await?;
        self.nats
            .publish_with_headers(self.subject.clone(), headers, Bytes::new())
            .await
            .map_err(|e| self.error(ChannelErrorKind::Publish).with_source(e))
    }

    async fn publish(&self, payload: Bytes) -> Result<(), ChannelError> {
        self.accepted().await?;
        self.nats
            .publish(self.subject.clone(), payload)
            .await
            .map_err(|e| self.error(ChannelErrorKind::Publish).with_source(e))
    }

    fn error(&self, kind: ChannelErrorKind) -> ChannelError {
        ChannelError::new(kind, self.subject.as_str())
    }
}

impl Drop for OutgoingChannel {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            debug!(subject = %self.subject, "no runtime to close a dropped channel");
            return;
        };
        let nats = self.nats.clone();
        let subject = self.subject.clone();
        let accept = self.accept.take();
        runtime.spawn(async move {
            if let Some(accept) = accept
                && let Err(e) = accept.send().await
            {
                debug!(%subject, error = %e, "cannot accept before closing a dropped channel");
                return;
            }
            if let Err(e) = nats.publish(subject.clone(), Bytes::new()).await {
                debug!(%subject, error = %e, "cannot close a dropped channel");
            }
        });
    }
}
