//! The one error type of the client.

use std::time::Duration;

use lattice_nats::NatsError;

/// Why a control request or an event wait failed. `what` names the operation
/// (`get inventory of N…`), so every message says what was being done.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection could not be opened.
    #[error(transparent)]
    Nats(#[from] NatsError),
    /// The server could not confirm a subscription.
    #[error("cannot sync with NATS: {0}")]
    Sync(NatsError),
    /// Nobody subscribes to the subject: no such host, or another lattice or prefix.
    #[error("{what}: no host answers on {subject} (wrong host ID or lattice?)")]
    NoResponders {
        /// The operation.
        what: String,
        /// The request subject.
        subject: String,
    },
    /// No reply within the timeout.
    #[error("{what}: request timed out after {timeout:?} on {subject}")]
    TimedOut {
        /// The operation.
        what: String,
        /// The request subject.
        subject: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// The request failed otherwise.
    #[error("{what}: {reason} after {timeout:?} on {subject}")]
    Request {
        /// The operation.
        what: String,
        /// The request subject.
        subject: String,
        /// The request's timeout.
        timeout: Duration,
        /// What async-nats said.
        reason: String,
    },
    /// The reply is not a control-interface reply of the expected type.
    #[error("{what}: undecodable reply {payload:?}: {reason}")]
    Undecodable {
        /// The operation.
        what: String,
        /// The reply, as text.
        payload: String,
        /// What serde said.
        reason: String,
    },
    /// The host answered `success: false`.
    #[error("{what}: {message}")]
    Refused {
        /// The operation.
        what: String,
        /// The host's message.
        message: String,
    },
    /// A successful reply without the data it should carry.
    #[error("{what}: the reply carries no data")]
    NoData {
        /// The operation.
        what: String,
    },
    /// A subscription failed.
    #[error("cannot subscribe to {subject}: {reason}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// What async-nats said.
        reason: String,
    },
    /// A publish failed.
    #[error("cannot publish on {subject}: {reason}")]
    Publish {
        /// The subject.
        subject: String,
        /// What async-nats said.
        reason: String,
    },
    /// The awaited event did not come in time.
    #[error("no {name} event within {timeout:?}")]
    NoEvent {
        /// The event name (`provider_started`, …).
        name: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// The event subscription ended (the connection closed).
    #[error("the event subscription ended")]
    EventsEnded,
}
