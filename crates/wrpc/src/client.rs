//! [`WrpcClient`]: one NATS connection's wRPC endpoint, and [`Invocation`], a call in
//! flight.
//!
//! A call (client side) publishes `{prefix}.wrpc.0.0.1.{instance}.{func}` with reply
//! `R_c = {inbox}.{token}`, waits for the empty accept on `R_c` whose reply is `R_s`,
//! sends the parameters that did not fit to `R_s.params` and closes it, then reads
//! `R_c.results` (and `R_c.results.{path}` for pending async results) and writes pending
//! async parameters to `R_s.params.{path}`. All of a client's calls share the one
//! subscription `{inbox}.>`.

use std::sync::Arc;
use std::time::Duration;

use async_nats::StatusCode;
use bytes::Bytes;
use tracing::instrument;

use crate::channel::{IncomingChannel, OutgoingChannel};
use crate::error::{InvokeError, InvokeErrorKind, ServeError, ServeErrorKind};
use crate::headers::InvocationHeaders;
use crate::router::{CallGuard, RouterHandle};
use crate::subjects::{Channel, Inbox, InvocationSubject};

/// A wRPC endpoint on a NATS connection: it invokes functions and serves them.
///
/// Cheap to clone; clones share the inbox subscription.
///
/// # Examples
///
/// ```no_run
/// # async fn t(nats: async_nats::Client) -> anyhow::Result<()> {
/// use lattice_wrpc::value::{Type, Value, encode_tuple};
/// use lattice_wrpc::{InvocationHeaders, InvocationSubject, SubjectPrefix, WrpcClient};
///
/// let wrpc = WrpcClient::new(nats).await?;
/// let add = InvocationSubject::new(SubjectPrefix::target("default", "adder"), "local:test/math@0.1.0", "add");
/// let mut params = bytes::BytesMut::new();
/// encode_tuple(&[Value::U32(1), Value::U32(2)], &[Type::U32, Type::U32], &mut params)?;
/// let headers = InvocationHeaders::new().with_source_id("caller").with_link_name("default");
/// let mut call = wrpc.invoke(&add, &headers, params.freeze()).await?;
/// assert_eq!(call.read_results(&[Type::U32]).await?, [Value::U32(3)]);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WrpcClient {
    pub(crate) nats: async_nats::Client,
    pub(crate) inbox: Inbox,
    pub(crate) router: RouterHandle,
    pub(crate) timeout: Duration,
}

impl WrpcClient {
    /// How long a call waits for its accept, and each read for a message, unless
    /// changed with [`with_timeout`](Self::with_timeout) (10 s, as wasmCloud 1.9.2).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Subscribes to a fresh inbox of `nats` (`{inbox prefix}.{nuid}.>`) and starts the
    /// task that routes its messages.
    pub async fn new(nats: async_nats::Client) -> Result<Self, ServeError> {
        let inbox = Inbox::new(nats.new_inbox());
        let subject = inbox.wildcard();
        let subscription = nats
            .subscribe(subject.clone())
            .await
            .map_err(|e| ServeError::new(ServeErrorKind::Subscribe, subject).with_source(e))?;
        let router = RouterHandle::spawn(inbox.clone(), subscription);
        Ok(WrpcClient {
            nats,
            inbox,
            router,
            timeout: Self::DEFAULT_TIMEOUT,
        })
    }

    /// How long a call waits for its accept, and then for each of its reads.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same client with another accept and read timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The NATS connection.
    pub fn nats(&self) -> &async_nats::Client {
        &self.nats
    }

    /// Calls `subject` with the encoded parameters (see
    /// [`encode_tuple`](crate::value::encode_tuple)) and returns once a server has
    /// accepted the call and has been sent all of `params`.
    ///
    /// Errors: [`InvokeErrorKind::NotFound`] when nothing serves the subject,
    /// [`InvokeErrorKind::Timeout`] when no server accepts in time.
    #[instrument(level = "debug", skip_all, fields(subject = %subject))]
    pub async fn invoke(
        &self,
        subject: &InvocationSubject,
        headers: &InvocationHeaders,
        mut params: Bytes,
    ) -> Result<Invocation, InvokeError> {
        let call_subject = subject.to_string();
        let fail = |kind| InvokeError::new(kind, call_subject.clone());
        let (reply, token) = self.inbox.reply();
        let (accept_tx, mut accept_rx) = tokio::sync::mpsc::unbounded_channel();
        let (results_tx, results_rx) = tokio::sync::mpsc::unbounded_channel();
        let channels = vec![
            (Channel::Accept, accept_tx),
            (Channel::Results(vec![]), results_tx),
        ];
        if !self.router.open(&token, channels) {
            return Err(fail(InvokeErrorKind::Closed));
        }
        let call = Arc::new(CallGuard {
            token,
            router: self.router.clone(),
        });

        // The first message carries as much of the parameters as fits beside the headers.
        let room = self.nats.max_payload().saturating_sub(headers.wire_len());
        let first = params.split_to(room.min(params.len()));
        let published = if headers.is_empty() {
            self.nats
                .publish_with_reply(call_subject.clone(), reply.clone(), first)
                .await
        } else {
            self.nats
                .publish_with_reply_and_headers(
                    call_subject.clone(),
                    reply.clone(),
                    headers.as_map().clone(),
                    first,
                )
                .await
        };
        published.map_err(|e| fail(InvokeErrorKind::Publish).with_source(e))?;

        let accept = tokio::time::timeout(self.timeout, accept_rx.recv())
            .await
            .map_err(|_| fail(InvokeErrorKind::Timeout(self.timeout)))?
            .ok_or_else(|| fail(InvokeErrorKind::Closed))?;
        match accept.status {
            Some(StatusCode::NO_RESPONDERS) => return Err(fail(InvokeErrorKind::NotFound)),
            Some(StatusCode::TIMEOUT) => return Err(fail(InvokeErrorKind::Timeout(self.timeout))),
            Some(code) if !code.is_success() => {
                return Err(fail(InvokeErrorKind::Status {
                    code: code.as_u16(),
                    description: accept.description.unwrap_or_default(),
                }));
            }
            _ => {}
        }
        let server_reply = accept
            .reply
            .ok_or_else(|| {
                fail(InvokeErrorKind::Protocol(
                    "an accept without a reply subject".into(),
                ))
            })?
            .to_string();

        let mut root_params = OutgoingChannel::new(
            self.nats.clone(),
            Channel::Params(vec![]).subject(&server_reply),
        );
        root_params
            .write(params)
            .await
            .map_err(|e| fail(InvokeErrorKind::Publish).with_source(e))?;
        root_params
            .close()
            .await
            .map_err(|e| fail(InvokeErrorKind::Publish).with_source(e))?;

        let results = IncomingChannel::new(
            Channel::Results(vec![]).subject(&reply),
            results_rx,
            Bytes::new(),
            Some(self.timeout),
            call.clone(),
        );
        Ok(Invocation {
            nats: self.nats.clone(),
            subject: call_subject,
            client_reply: reply,
            server_reply,
            results,
            timeout: self.timeout,
            call,
        })
    }
}

/// A call that a server has accepted.
#[derive(Debug)]
pub struct Invocation {
    nats: async_nats::Client,
    subject: String,
    client_reply: String,
    server_reply: String,
    results: IncomingChannel,
    timeout: Duration,
    call: Arc<CallGuard>,
}

impl Invocation {
    /// The call subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The results channel `R_c.results`.
    pub fn results(&mut self) -> &mut IncomingChannel {
        &mut self.results
    }

    /// Reads the synchronous results (pending async results come as
    /// [`Async::Pending`](crate::value::Async::Pending): read them from
    /// [`result_channel`](Self::result_channel)). A function without results has ended
    /// when the results channel closes: that close is waited for (and is an error when
    /// the callee says it failed).
    pub async fn read_results(
        &mut self,
        types: &[crate::value::Type],
    ) -> Result<Vec<crate::value::Value>, crate::ChannelError> {
        if types.is_empty() {
            self.results.finish().await?;
            return Ok(Vec::new());
        }
        self.results.read_tuple(types).await
    }

    /// The indexed result channel `R_c.results.{path}` of a pending async result.
    /// Messages that came before this call are kept for it.
    pub fn result_channel(&self, path: &[u32]) -> IncomingChannel {
        let channel = Channel::Results(path.to_vec());
        let rx = self.call.router.listen(&self.call.token, channel.clone());
        IncomingChannel::new(
            channel.subject(&self.client_reply),
            rx,
            Bytes::new(),
            Some(self.timeout),
            self.call.clone(),
        )
    }

    /// The indexed parameter channel `R_s.params.{path}` of a pending async parameter.
    pub fn param_channel(&self, path: &[u32]) -> OutgoingChannel {
        OutgoingChannel::new(
            self.nats.clone(),
            Channel::Params(path.to_vec()).subject(&self.server_reply),
        )
    }
}
