//! What `wasi:blobstore` handles hold on the host: a container's name, an object being
//! read (its `stream<u8>` and the `future` status that ends it), a listing of names,
//! and an object being written (the guest's `output-stream` feeds a task that sends the
//! `stream<u8>` parameter of `write-container-data`).

use bytes::{Bytes, BytesMut};
use lattice_runtime::wasmtime;
use lattice_runtime::wasmtime_wasi::p2::{
    InputStream, OutputStream, Pollable, StreamError, StreamResult,
};
use lattice_wrpc::value::{Async, Type, Value};
use lattice_wrpc::{IncomingChannel, Invocation, OutgoingChannel};
use tokio::sync::mpsc;

use super::wire::{Version, split_result};

/// The most bytes one message of an upload carries: what the guest wrote since the
/// last one, up to this.
const MAX_CHUNK: usize = 64 * 1024;

/// Chunks of the guest's `output-stream` waiting for the upload task.
const QUEUED_CHUNKS: usize = 128;

/// A container handle: its name.
pub(super) struct Container(pub(super) String);

/// A value that came inline, or the channel it comes on.
pub(super) enum Part<T> {
    Ready(T),
    Channel(IncomingChannel),
}

/// How an operation on a stream ended: the `future<result<_, string>>` of 0.2.0.
pub(super) struct Status(Part<Result<(), String>>);

impl Status {
    /// Done without a status to wait for (0.1.0).
    pub(super) fn done() -> Self {
        Status(Part::Ready(Ok(())))
    }

    /// The status in `value` (a `future<result<_, string>>`), or the call's channel
    /// `path` when it is pending.
    pub(super) fn of(value: Value, invocation: &Invocation, path: &[u32]) -> Self {
        match value {
            Value::Future(Async::Ready(Some(result))) => {
                Status(Part::Ready(split_result(*result).map(|_| ())))
            }
            Value::Future(Async::Pending) => Status(Part::Channel(invocation.result_channel(path))),
            other => Status(Part::Ready(Err(format!(
                "a status future was expected, got {other:?}"
            )))),
        }
    }

    /// Waits for the status.
    pub(super) async fn wait(self) -> Result<(), String> {
        match self.0 {
            Part::Ready(status) => status,
            Part::Channel(mut channel) => {
                let value = channel
                    .read_value(&super::wire::fallible(None))
                    .await
                    .map_err(|e| e.to_string())?;
                split_result(value).map(|_| ())
            }
        }
    }
}

/// The stream and the status of a stream function's `ok` value (`tuple<stream<T>,
/// future<…>>` at 0.2.0, `stream<T>` at 0.1.0).
pub(super) fn stream_parts(
    version: Version,
    ok: Option<Value>,
    invocation: &Invocation,
) -> (Part<Option<Value>>, Status) {
    let (stream, status) = match (version, ok) {
        (Version::V0_2, Some(Value::Tuple(mut parts))) if parts.len() == 2 => {
            let status = parts.pop().unwrap_or(Value::Future(Async::Ready(None)));
            let stream = parts.pop().unwrap_or(Value::Stream(Async::Pending));
            (stream, Status::of(status, invocation, &[0, 1]))
        }
        (Version::V0_1, Some(stream)) => (stream, Status::done()),
        (_, other) => {
            let error = format!("a stream was expected, got {other:?}");
            return (Part::Ready(None), Status(Part::Ready(Err(error))));
        }
    };
    let path: &[u32] = match version {
        Version::V0_2 => &[0, 0],
        Version::V0_1 => &[0],
    };
    let stream = match stream {
        Value::Stream(Async::Ready(items)) => Part::Ready(Some(*items)),
        _ => Part::Channel(invocation.result_channel(path)),
    };
    (stream, status)
}

/// The next chunk of a stream of `element`s (a list value), `None` at its end.
async fn next_chunk(
    stream: &mut Part<Option<Value>>,
    element: &Type,
) -> Result<Option<Value>, String> {
    match stream {
        Part::Ready(items) => Ok(items.take()),
        Part::Channel(channel) => channel
            .read_stream_chunk(element)
            .await
            .map_err(|e| e.to_string()),
    }
}

/// The bytes of a `list<u8>` value.
fn bytes_of(value: Value) -> Bytes {
    match value {
        Value::Bytes(bytes) => bytes,
        Value::List(items) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::U8(b) => Some(b),
                _ => None,
            })
            .collect(),
        _ => Bytes::new(),
    }
}

/// An `incoming-value`: an object's data on its way.
pub(super) struct IncomingValue {
    data: Part<Option<Value>>,
    status: Status,
}

impl IncomingValue {
    pub(super) fn new(data: Part<Option<Value>>, status: Status) -> Self {
        IncomingValue { data, status }
    }

    /// The size when the whole object came inline.
    pub(super) fn size(&self) -> Option<u64> {
        match &self.data {
            Part::Ready(Some(Value::Bytes(bytes))) => Some(bytes.len() as u64),
            Part::Ready(Some(Value::List(items))) => Some(items.len() as u64),
            Part::Ready(_) => Some(0),
            Part::Channel(_) => None,
        }
    }

    /// All of the data (`incoming-value-consume-sync`).
    pub(super) async fn read_all(mut self) -> Result<Vec<u8>, String> {
        let mut all = Vec::new();
        while let Some(chunk) = next_chunk(&mut self.data, &Type::U8).await? {
            all.extend_from_slice(&bytes_of(chunk));
        }
        self.status.wait().await?;
        Ok(all)
    }

    /// The data as a WASI `input-stream` (`incoming-value-consume-async`).
    pub(super) fn into_reader(self) -> Reader {
        Reader {
            data: self.data,
            status: Some(self.status),
            buffered: Bytes::new(),
            error: None,
            closed: false,
        }
    }
}

/// An object's data read by the guest as an `input-stream`.
pub(super) struct Reader {
    data: Part<Option<Value>>,
    status: Option<Status>,
    buffered: Bytes,
    error: Option<String>,
    closed: bool,
}

impl InputStream for Reader {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        if let Some(error) = self.error.take() {
            self.closed = true;
            return Err(StreamError::LastOperationFailed(wasmtime::format_err!(
                "{error}"
            )));
        }
        if self.buffered.is_empty() && self.closed {
            return Err(StreamError::Closed);
        }
        let take = size.min(self.buffered.len());
        Ok(self.buffered.split_to(take))
    }
}

#[async_trait::async_trait]
impl Pollable for Reader {
    async fn ready(&mut self) {
        {
            if !self.buffered.is_empty() || self.closed || self.error.is_some() {
                return;
            }
            match next_chunk(&mut self.data, &Type::U8).await {
                Ok(Some(chunk)) => self.buffered = bytes_of(chunk),
                Ok(None) => match self.status.take() {
                    Some(status) => match status.wait().await {
                        Ok(()) => self.closed = true,
                        Err(error) => self.error = Some(error),
                    },
                    None => self.closed = true,
                },
                Err(error) => self.error = Some(error),
            }
        }
    }
}

/// A `stream-object-names`: the names of a container's objects, as they come.
pub(super) struct ObjectNames {
    data: Part<Option<Value>>,
    status: Option<Status>,
    names: std::collections::VecDeque<String>,
}

impl ObjectNames {
    pub(super) fn new(data: Part<Option<Value>>, status: Status) -> Self {
        ObjectNames {
            data,
            status: Some(status),
            names: Default::default(),
        }
    }

    /// The next name, `None` at the end.
    pub(super) async fn next(&mut self) -> Result<Option<String>, String> {
        loop {
            if let Some(name) = self.names.pop_front() {
                return Ok(Some(name));
            }
            if self.status.is_none() {
                return Ok(None);
            }
            match next_chunk(&mut self.data, &Type::String).await? {
                Some(Value::List(items)) => {
                    self.names.extend(items.into_iter().filter_map(|v| match v {
                        Value::String(name) => Some(name),
                        _ => None,
                    }))
                }
                Some(other) => return Err(format!("a list of names was expected, got {other:?}")),
                None => {
                    if let Some(status) = self.status.take() {
                        status.wait().await?;
                    }
                }
            }
        }
    }
}

/// An `outgoing-value`: the guest writes its body; `write-data` starts the upload.
pub(super) struct OutgoingValue {
    body: Option<mpsc::Sender<Bytes>>,
    data: Option<mpsc::Receiver<Bytes>>,
    upload: Option<Upload>,
}

/// An upload under way: the task sending the data, and the call's status.
pub(super) struct Upload {
    pub(super) task: tokio::task::JoinHandle<Result<(), String>>,
    pub(super) status: Status,
}

impl Drop for Upload {
    /// An upload the guest never finished is cut off: its stream closes without its end.
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OutgoingValue {
    pub(super) fn new() -> Self {
        let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
        OutgoingValue {
            body: Some(tx),
            data: Some(rx),
            upload: None,
        }
    }

    /// The body's `output-stream`, once.
    pub(super) fn body(&mut self) -> Option<Writer> {
        self.body.take().map(Writer::Waiting)
    }

    /// The data the guest writes, once (for `write-data`).
    pub(super) fn take_data(&mut self) -> Option<mpsc::Receiver<Bytes>> {
        self.data.take()
    }

    pub(super) fn set_upload(&mut self, upload: Upload) {
        self.upload = Some(upload);
    }

    /// Waits for the upload (`finish`): `Ok` when there was none.
    pub(super) async fn finish(mut self) -> Result<(), String> {
        let Some(mut upload) = self.upload.take() else {
            return Ok(());
        };
        match (&mut upload.task).await {
            Ok(sent) => sent?,
            Err(e) => return Err(format!("the upload task failed: {e}")),
        }
        let status = std::mem::replace(&mut upload.status, Status::done());
        status.wait().await
    }
}

/// Sends what the guest writes as the chunks of a `stream<u8>` parameter, then its end.
pub(super) async fn upload(
    mut data: mpsc::Receiver<Bytes>,
    mut channel: OutgoingChannel,
) -> Result<(), String> {
    let failed = |e: lattice_wrpc::ChannelError| format!("cannot send the object's data: {e}");
    while let Some(first) = data.recv().await {
        let mut chunk = BytesMut::from(first);
        while chunk.len() < MAX_CHUNK {
            match data.try_recv() {
                Ok(more) => chunk.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        channel
            .write_stream_chunk(&Value::Bytes(chunk.freeze()), &Type::U8)
            .await
            .map_err(failed)?;
    }
    channel.finish_stream().await.map_err(failed)
}

/// The guest's `output-stream` of an `outgoing-value`.
pub(super) enum Writer {
    /// Waiting for room in the queue.
    Waiting(mpsc::Sender<Bytes>),
    /// Room for one chunk.
    Ready(mpsc::OwnedPermit<Bytes>),
    /// The upload went away.
    Closed,
}

impl OutputStream for Writer {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        match std::mem::replace(self, Writer::Closed) {
            Writer::Ready(permit) => {
                *self = Writer::Waiting(permit.send(bytes));
                Ok(())
            }
            Writer::Waiting(sender) => {
                *self = Writer::Waiting(sender);
                Err(StreamError::Trap(wasmtime::format_err!(
                    "write without room: call check-write first"
                )))
            }
            Writer::Closed => Err(StreamError::Closed),
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        match self {
            Writer::Ready(_) => Ok(MAX_CHUNK),
            Writer::Waiting(_) => Ok(0),
            Writer::Closed => Err(StreamError::Closed),
        }
    }
}

#[async_trait::async_trait]
impl Pollable for Writer {
    async fn ready(&mut self) {
        {
            if let Writer::Waiting(sender) = self {
                *self = match sender.clone().reserve_owned().await {
                    Ok(permit) => Writer::Ready(permit),
                    Err(_) => Writer::Closed,
                };
            }
        }
    }
}
