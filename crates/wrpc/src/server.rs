//! Serving a function: [`Invocations`] yields every accepted call as an
//! [`IncomingInvocation`].
//!
//! A server queue-subscribes `{lattice}.{target_id}.wrpc.0.0.1.{instance}.{func}` with
//! the group `{lattice}.{target_id}`. For each call it registers `R_s = {inbox}.{token}`,
//! publishes the empty accept to the caller's `R_c` with reply `R_s`, reads the
//! parameters from the call's payload and then `R_s.params` (async ones from
//! `R_s.params.{path}`), and writes results to `R_c.results` (async ones to
//! `R_c.results.{path}`).
//!
//! The accept goes out once, before anything else the server sends and before it waits
//! for a parameter message. [`IncomingInvocation::read_params`] sends it at once;
//! [`IncomingInvocation::read_params_deferred`] leaves it for later when the payload
//! held every parameter, so a quick call's accept, results and close leave together
//! (the server then sends it with [`IncomingInvocation::accept`] if the call takes
//! long, as the caller waits for it a limited time).

use std::sync::Arc;

use async_nats::Subject;
use bytes::Bytes;
use futures::StreamExt as _;
use tracing::instrument;

use crate::channel::{IncomingChannel, OutgoingChannel};
use crate::client::WrpcClient;
use crate::error::{ChannelError, ChannelErrorKind, ServeError, ServeErrorKind};
use crate::headers::InvocationHeaders;
use crate::router::CallGuard;
use crate::subjects::{Channel, InvocationSubject};
use crate::value::{Type, Value};

impl WrpcClient {
    /// Serves `subject`: queue-subscribes it with the group of its prefix
    /// (`{lattice}.{target_id}`). The subscription exists when this returns.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn t(wrpc: lattice_wrpc::WrpcClient) -> anyhow::Result<()> {
    /// use lattice_wrpc::value::{Type, Value};
    /// use lattice_wrpc::{InvocationSubject, SubjectPrefix};
    ///
    /// let add = InvocationSubject::new(SubjectPrefix::target("default", "adder"), "local:test/math@0.1.0", "add");
    /// let mut calls = wrpc.serve(&add).await?;
    /// while let Some(call) = calls.next().await {
    ///     let mut call = call?;
    ///     let params = call.read_params(&[Type::U32, Type::U32]).await?;
    ///     let [Value::U32(a), Value::U32(b)] = params[..] else { unreachable!() };
    ///     call.write_results(&[Value::U32(a + b)], &[Type::U32]).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn serve(&self, subject: &InvocationSubject) -> Result<Invocations, ServeError> {
        let text = subject.to_string();
        let group = subject.prefix.queue_group().to_owned();
        let subscription = self
            .nats
            .queue_subscribe(text.clone(), group)
            .await
            .map_err(|e| ServeError::new(ServeErrorKind::Subscribe, text.clone()).with_source(e))?;
        // A message through the server to our own inbox: once it is back, the server has
        // the subscription sent before it on this connection.
        self.round_trip()
            .await
            .map_err(|kind| ServeError::new(kind, text.clone()))?;
        Ok(Invocations {
            subject: text,
            subscription,
            wrpc: self.clone(),
        })
    }
}

impl WrpcClient {
    async fn round_trip(&self) -> Result<(), ServeErrorKind> {
        let (reply, token) = self.inbox.reply();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        if !self.router.open(&token, vec![(Channel::Accept, tx)]) {
            return Err(ServeErrorKind::Subscribe);
        }
        let _call = CallGuard {
            token,
            router: self.router.clone(),
        };
        self.nats
            .publish(reply, Bytes::new())
            .await
            .map_err(|_| ServeErrorKind::Publish)?;
        match tokio::time::timeout(self.timeout, rx.recv()).await {
            Ok(Some(_)) => Ok(()),
            _ => Err(ServeErrorKind::Subscribe),
        }
    }
}

/// The calls to one served function, in arrival order.
#[derive(Debug)]
pub struct Invocations {
    subject: String,
    subscription: async_nats::Subscriber,
    wrpc: WrpcClient,
}

impl Invocations {
    /// The served subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Takes the next call (its accept goes out when the call is read or answered, see
    /// the module's documentation); `None` when the subscription has ended. An `Err`
    /// concerns one call only: keep calling `next`.
    pub async fn next(&mut self) -> Option<Result<IncomingInvocation, ServeError>> {
        let message = self.subscription.next().await?;
        Some(self.take(message).await)
    }

    #[instrument(level = "debug", skip_all, fields(subject = %self.subject))]
    async fn take(&self, message: async_nats::Message) -> Result<IncomingInvocation, ServeError> {
        let wrpc = &self.wrpc;
        let client_reply = message
            .reply
            .ok_or_else(|| ServeError::new(ServeErrorKind::NoReply, self.subject.clone()))?
            .to_string();
        let (server_reply, token) = wrpc.inbox.reply();
        let (params_tx, params_rx) = tokio::sync::mpsc::unbounded_channel();
        // Registered before the accept goes out, so no parameter message is missed.
        if !wrpc
            .router
            .open(&token, vec![(Channel::Params(vec![]), params_tx)])
        {
            return Err(ServeError::new(
                ServeErrorKind::Subscribe,
                self.subject.clone(),
            ));
        }
        let call = Arc::new(CallGuard {
            token,
            router: wrpc.router.clone(),
        });
        let accept = Arc::new(Accept {
            nats: wrpc.nats.clone(),
            client_reply: Subject::from(client_reply.as_str()),
            server_reply: Subject::from(server_reply.as_str()),
            sent: tokio::sync::OnceCell::new(),
        });
        let params = IncomingChannel::new(
            Channel::Params(vec![]).subject(&server_reply),
            params_rx,
            message.payload,
            Some(wrpc.timeout),
            call.clone(),
        )
        .accepting(accept.clone());
        let results = OutgoingChannel::new(
            wrpc.nats.clone(),
            Channel::Results(vec![]).subject(&client_reply),
        )
        .accepting(accept.clone());
        Ok(IncomingInvocation {
            headers: message
                .headers
                .map(InvocationHeaders::from)
                .unwrap_or_default(),
            wrpc: wrpc.clone(),
            client_reply,
            server_reply,
            params,
            results,
            accept,
            call,
        })
    }
}

/// The accept of one call: sent once, before anything else the server sends the caller
/// and before the server waits for a parameter message.
#[derive(Debug)]
pub(crate) struct Accept {
    nats: async_nats::Client,
    client_reply: Subject,
    server_reply: Subject,
    sent: tokio::sync::OnceCell<()>,
}

impl Accept {
    /// Publishes the accept unless it went out already.
    pub(crate) async fn send(&self) -> Result<(), ChannelError> {
        self.sent
            .get_or_try_init(|| async {
                self.nats
                    .publish_with_reply(
                        self.client_reply.clone(),
                        self.server_reply.clone(),
                        Bytes::new(),
                    )
                    .await
                    .map_err(|e| {
                        ChannelError::new(ChannelErrorKind::Publish, self.client_reply.as_str())
                            .with_source(e)
                    })
            })
            .await
            .map(|_| ())
    }
}

/// Sends the accept of one call (see [`IncomingInvocation::acceptor`]).
#[derive(Clone, Debug)]
pub struct Acceptor(Arc<Accept>);

impl Acceptor {
    /// Sends the accept, unless it went out already.
    pub async fn accept(&self) -> Result<(), ChannelError> {
        self.0.send().await
    }
}

/// A call this server has taken.
#[derive(Debug)]
pub struct IncomingInvocation {
    headers: InvocationHeaders,
    wrpc: WrpcClient,
    client_reply: String,
    server_reply: String,
    params: IncomingChannel,
    results: OutgoingChannel,
    accept: Arc<Accept>,
    call: Arc<CallGuard>,
}

impl IncomingInvocation {
    /// The call's headers (`source-id`, `link-name`, `traceparent`, …).
    pub fn headers(&self) -> &InvocationHeaders {
        &self.headers
    }

    /// The parameters channel: the call's payload, then `R_s.params`.
    pub fn params(&mut self) -> &mut IncomingChannel {
        &mut self.params
    }

    /// Sends the accept, unless it went out already.
    pub async fn accept(&self) -> Result<(), ChannelError> {
        self.accept.send().await
    }

    /// A handle that sends this call's accept (as [`accept`](Self::accept)) while the
    /// call is borrowed elsewhere.
    pub fn acceptor(&self) -> Acceptor {
        Acceptor(self.accept.clone())
    }

    /// Accepts the call and reads the synchronous parameters.
    pub async fn read_params(&mut self, types: &[Type]) -> Result<Vec<Value>, ChannelError> {
        self.accept.send().await?;
        self.params.read_tuple(types).await
    }

    /// Reads the synchronous parameters, accepting the call only if they did not all
    /// come with it (the accept then goes out with the first thing sent back, or when
    /// a pending async parameter is read). Whoever defers must still
    /// [`accept`](Self::accept) a call that takes long: its caller waits for the accept
    /// a limited time.
    pub async fn read_params_deferred(
        &mut self,
        types: &[Type],
    ) -> Result<Vec<Value>, ChannelError> {
        match self.params.try_read_tuple(types) {
            Some(read) => read,
            None => self.read_params(types).await,
        }
    }

    /// The results channel `R_c.results`.
    pub fn results(&mut self) -> &mut OutgoingChannel {
        &mut self.results
    }

    /// Writes the synchronous results and closes the results channel. Send pending
    /// async results afterwards on [`result_channel`](Self::result_channel).
    pub async fn write_results(
        &mut self,
        values: &[Value],
        types: &[Type],
    ) -> Result<(), ChannelError> {
        self.results.write_tuple(values, types).await?;
        self.results.close().await
    }

    /// The indexed parameter channel `R_s.params.{path}` of a pending async parameter.
    /// Messages that came before this call are kept for it.
    pub fn param_channel(&self, path: &[u32]) -> IncomingChannel {
        let channel = Channel::Params(path.to_vec());
        let rx = self.call.router.listen(&self.call.token, channel.clone());
        IncomingChannel::new(
            channel.subject(&self.server_reply),
            rx,
            Bytes::new(),
            Some(self.wrpc.timeout),
            self.call.clone(),
        )
        .accepting(self.accept.clone())
    }

    /// The indexed result channel `R_c.results.{path}` of a pending async result.
    pub fn result_channel(&self, path: &[u32]) -> OutgoingChannel {
        OutgoingChannel::new(
            self.wrpc.nats.clone(),
            Channel::Results(path.to_vec()).subject(&self.client_reply),
        )
        .accepting(self.accept.clone())
    }
}
