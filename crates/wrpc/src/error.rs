//! Errors with kinds a caller can match.

use std::time::Duration;

use crate::value::{DecodeError, EncodeError};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A call that could not be made.
#[derive(Debug, thiserror::Error)]
#[error("wRPC call to `{subject}` failed: {kind}")]
pub struct InvokeError {
    kind: InvokeErrorKind,
    subject: String,
    #[source]
    source: Option<BoxError>,
}

/// What went wrong with a call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvokeErrorKind {
    /// Nothing serves the subject (NATS "no responders").
    #[error("nothing serves it (no responders)")]
    NotFound,
    /// No server accepted the call in time.
    #[error("not accepted within {0:?}")]
    Timeout(Duration),
    /// The NATS server answered the call with another status.
    #[error("NATS status {code}: {description}")]
    Status {
        /// The status code
        code: u16,
        /// The server's description, if any
        description: String,
    },
    /// The call or its parameters could not be published.
    #[error("cannot publish")]
    Publish,
    /// The peer broke the protocol (an accept without a reply subject).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The client's inbox subscription has ended.
    #[error("the client's inbox is closed")]
    Closed,
}

impl InvokeError {
    pub(crate) fn new(kind: InvokeErrorKind, subject: impl Into<String>) -> Self {
        InvokeError {
            kind,
            subject: subject.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &InvokeErrorKind {
        &self.kind
    }

    /// The call subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// A byte channel of a call that failed.
#[derive(Debug, thiserror::Error)]
#[error("wRPC channel `{subject}`: {kind}")]
pub struct ChannelError {
    kind: ChannelErrorKind,
    subject: String,
    #[source]
    source: Option<BoxError>,
}

/// What went wrong on a channel.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChannelErrorKind {
    /// No message arrived in time.
    #[error("nothing arrived within {0:?}")]
    Timeout(Duration),
    /// The peer closed the channel (or the call ended) before a whole value arrived.
    #[error("closed before the value was complete")]
    Ended,
    /// The peer closed the channel before a whole value, saying why (lattice's
    /// [`FAILURE`](crate::headers::FAILURE) header): the callee failed.
    #[error("the callee failed: {0}")]
    Failed(String),
    /// The bytes are not a value of the expected type.
    #[error(transparent)]
    Decode(DecodeError),
    /// The value is not of the declared type.
    #[error(transparent)]
    Encode(EncodeError),
    /// A message could not be published.
    #[error("cannot publish")]
    Publish,
}

impl ChannelError {
    pub(crate) fn new(kind: ChannelErrorKind, subject: impl Into<String>) -> Self {
        ChannelError {
            kind,
            subject: subject.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ChannelErrorKind {
        &self.kind
    }

    /// The channel's subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// A served call that could not be accepted, or a subscription that failed.
#[derive(Debug, thiserror::Error)]
#[error("wRPC serving `{subject}`: {kind}")]
pub struct ServeError {
    kind: ServeErrorKind,
    subject: String,
    #[source]
    source: Option<BoxError>,
}

/// What went wrong while serving.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServeErrorKind {
    /// The subscription could not be made.
    #[error("cannot subscribe")]
    Subscribe,
    /// A call came without a reply subject.
    #[error("a call without a reply subject")]
    NoReply,
    /// The accept could not be published.
    #[error("cannot publish the accept")]
    Publish,
}

impl ServeError {
    pub(crate) fn new(kind: ServeErrorKind, subject: impl Into<String>) -> Self {
        ServeError {
            kind,
            subject: subject.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ServeErrorKind {
        &self.kind
    }

    /// The subject concerned.
    pub fn subject(&self) -> &str {
        &self.subject
    }
}
