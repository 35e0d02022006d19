//! Publishing lattice events as CloudEvents on `wasmbus.evt.{lattice}.{event_name}`
//! (ctl connection, plain publish).

use async_nats::Client;
use lattice_proto::events::{CloudEvent, Event};
use lattice_proto::subjects::EventSubjects;

use crate::metrics::Metrics;

/// Publishes events from one host.
#[derive(Clone)]
pub(crate) struct EventPublisher {
    client: Client,
    subjects: EventSubjects,
    source: String,
    metrics: Metrics,
}

impl EventPublisher {
    pub(crate) fn new(client: Client, lattice: &str, host_id: &str, metrics: Metrics) -> Self {
        EventPublisher {
            client,
            subjects: EventSubjects::new(lattice),
            source: host_id.to_string(),
            metrics,
        }
    }

    /// Publishes `event`; failures are logged, never fatal.
    pub(crate) async fn publish(&self, event: Event) {
        let envelope = CloudEvent::new(&self.source, &event);
        let body = match serde_json::to_vec(&envelope) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(event = event.name(), %error, "cannot encode event");
                return;
            }
        };
        let max = self.client.server_info().max_payload;
        if body.len() > max {
            tracing::warn!(
                event = event.name(),
                size = body.len(),
                max,
                "event exceeds the server's max_payload"
            );
        }
        let subject = self.subjects.event(event.name());
        match self.client.publish(subject, body.into()).await {
            Ok(()) => self.metrics.event_published(event.name()),
            Err(error) => tracing::warn!(event = event.name(), %error, "cannot publish event"),
        }
    }

    /// Waits until everything published so far has reached the server.
    pub(crate) async fn flush(&self) {
        if let Err(error) = self.client.flush().await {
            tracing::warn!(%error, "cannot flush events");
        }
    }
}
