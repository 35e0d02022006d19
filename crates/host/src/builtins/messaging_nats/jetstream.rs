//! JetStream consumers of a handler link: the `consumers` config key, a JSON list of
//! `{"stream": S, "consumer": C, "max_messages": N?, "max_bytes": N?}` naming pull
//! consumers that exist already (1.9.2's format).
//!
//! Each consumer is pulled continuously in batches of at most `max_messages` (default
//! 100) and `max_bytes`; at most `max_messages` messages are with the component at once.
//! A message is acknowledged once the component handled it (`Ok`), and negatively when
//! it did not (its error, or the call failing), so JetStream redelivers it after
//! [`NAK_DELAY`] within the consumer's own limits (`max_deliver`, backoff). 1.9.2 pulls
//! one batch and acknowledges each message before the component sees it, so a message
//! the component fails on is lost.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::StreamExt as _;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::Delivery;

/// How long JetStream waits before redelivering a message the component failed on.
pub(super) const NAK_DELAY: Duration = Duration::from_secs(1);
/// Batch size (and messages in flight) when `max_messages` is not set.
const DEFAULT_MAX_MESSAGES: usize = 100;
/// The pause after a failed pull before the next one.
const PULL_RETRY: Duration = Duration::from_secs(1);

/// One entry of `consumers`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsumerConfig {
    stream: String,
    consumer: String,
    #[serde(default)]
    max_messages: Option<usize>,
    #[serde(default)]
    max_bytes: Option<usize>,
}

/// The consumers of a `consumers` value (none when the key is absent).
pub(super) fn parse(value: Option<&String>) -> Result<Vec<ConsumerConfig>, String> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    serde_json::from_str(value).map_err(|e| {
        format!(
            "`consumers` must be a JSON list of {{\"stream\", \"consumer\", \"max_messages\"?, \"max_bytes\"?}}: {e}"
        )
    })
}

/// Opens every consumer (an error names the stream and consumer that failed) and pulls
/// each on its own task until `stop`.
pub(super) async fn start(
    client: &async_nats::Client,
    consumers: &[ConsumerConfig],
    delivery: &Delivery,
    stop: &CancellationToken,
) -> Result<(), String> {
    if consumers.is_empty() {
        return Ok(());
    }
    let js = jetstream::new(client.clone());
    for config in consumers {
        let named = format!(
            "consumer `{}` of stream `{}`",
            config.consumer, config.stream
        );
        let stream = js
            .get_stream(&config.stream)
            .await
            .map_err(|e| format!("{named}: cannot get the stream: {e}"))?;
        let consumer = stream
            .get_consumer::<pull::Config>(&config.consumer)
            .await
            .map_err(|e| format!("{named}: cannot get the pull consumer: {e}"))?;
        let max_messages = config.max_messages.unwrap_or(DEFAULT_MAX_MESSAGES).max(1);
        let mut batches = consumer.stream().max_messages_per_batch(max_messages);
        if let Some(max_bytes) = config.max_bytes {
            batches = batches.max_bytes_per_batch(max_bytes);
        }
        let messages = batches
            .messages()
            .await
            .map_err(|e| format!("{named}: cannot pull: {e}"))?;
        tokio::spawn(pull(
            messages,
            named,
            delivery.clone(),
            max_messages,
            stop.clone(),
        ));
    }
    Ok(())
}

/// Hands every message of `messages` to the component, at most `in_flight` at once,
/// and acknowledges it by the outcome.
async fn pull(
    mut messages: pull::Stream,
    named: String,
    delivery: Delivery,
    in_flight: usize,
    stop: CancellationToken,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight));
    loop {
        let slot = tokio::select! {
            _ = stop.cancelled() => return,
            slot = slots.clone().acquire_owned() => slot.expect("never closed"),
        };
        let message = tokio::select! {
            _ = stop.cancelled() => return,
            message = messages.next() => message,
        };
        let message = match message {
            Some(Ok(message)) => message,
            Some(Err(error)) => {
                tracing::warn!(%named, %error, "cannot pull messages");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(PULL_RETRY) => continue,
                }
            }
            None => return,
        };
        let delivery = delivery.clone();
        tokio::spawn(async move {
            let (message, acker) = message.split();
            // A JetStream message has no reply subject of its own (its reply is the ack).
            let handled = delivery
                .call(message.subject.to_string(), message.payload, None)
                .await;
            let ack = match &handled {
                Ok(()) => AckKind::Ack,
                Err(reason) => {
                    tracing::warn!(%reason, "a JetStream message was not handled; it will be redelivered");
                    AckKind::Nak(Some(NAK_DELAY))
                }
            };
            if let Err(error) = acker.ack_with(ack).await {
                tracing::warn!(%error, "cannot acknowledge a JetStream message");
            }
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumers_parse_as_1_9_2_writes_them() {
        assert_eq!(parse(None), Ok(vec![]));
        let parsed = parse(Some(
            &r#"[{"stream":"S","consumer":"C"},{"stream":"T","consumer":"D","max_messages":5,"max_bytes":1024}]"#
                .to_string(),
        ))
        .unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].max_messages, Some(5));
        let error = parse(Some(&"S:C".to_string())).unwrap_err();
        assert!(error.contains("`consumers` must be a JSON list"), "{error}");
    }
}
