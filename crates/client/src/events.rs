//! [`EventStream`]: a lattice's events, followed from the moment the stream exists.

use std::time::Duration;

use async_nats::{Client, Message, Subscriber};
use futures::StreamExt as _;
use lattice_proto::events::CloudEvent;
use lattice_proto::subjects::EventSubjects;

use crate::ClientError;

/// Follows `wasmbus.evt.{lattice}.>`. Create it before acting, then wait for what the
/// action causes: no event is missed.
#[derive(Debug)]
pub struct EventStream {
    subscriber: Subscriber,
}

impl EventStream {
    /// Subscribes to every event of `lattice` and returns once the server has the
    /// subscription (a round trip).
    pub async fn subscribe(nats: &Client, lattice: &str) -> Result<Self, ClientError> {
        let subject = EventSubjects::new(lattice).all();
        let subscriber =
            nats.subscribe(subject.clone())
                .await
                .map_err(|e| ClientError::Subscribe {
                    subject,
                    reason: e.to_string(),
                })?;
        lattice_nats::server_round_trip(nats)
            .await
            .map_err(ClientError::Sync)?;
        Ok(EventStream { subscriber })
    }

    /// The next event message, as it came (cancel-safe).
    pub async fn next_message(&mut self) -> Result<Message, ClientError> {
        self.subscriber.next().await.ok_or(ClientError::EventsEnded)
    }

    /// The next event, skipping messages that are not CloudEvents (cancel-safe).
    pub async fn next_event(&mut self) -> Result<CloudEvent, ClientError> {
        loop {
            let message = self.next_message().await?;
            match serde_json::from_slice::<CloudEvent>(&message.payload) {
                Ok(event) => return Ok(event),
                Err(error) => {
                    tracing::debug!(subject = %message.subject, %error, "skipping a message that is not a CloudEvent")
                }
            }
        }
    }

    /// Skips events until one named `name` (`provider_started`, …) for which
    /// `predicate` holds arrives, for at most `timeout`.
    pub async fn wait_for(
        &mut self,
        name: &str,
        predicate: impl Fn(&CloudEvent) -> bool,
        timeout: Duration,
    ) -> Result<CloudEvent, ClientError> {
        let wanted = async {
            loop {
                let event = self.next_event().await?;
                if event.event_name() == name && predicate(&event) {
                    return Ok(event);
                }
            }
        };
        tokio::time::timeout(timeout, wanted)
            .await
            .map_err(|_| ClientError::NoEvent {
                name: name.to_string(),
                timeout,
            })?
    }
}
