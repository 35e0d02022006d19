//! Sending one control request, and gathering the replies of a scatter request (host
//! pings, auctions).

use std::time::Duration;

use async_nats::{Client, RequestErrorKind};
use futures::StreamExt as _;
use lattice_proto::CtlResponse;
use serde::de::DeserializeOwned;

use crate::ClientError;

/// Sends a control request with `body` on `subject` (a subject the caller built; the
/// typed [`crate::CtlClient`] methods build theirs) and decodes the reply envelope,
/// whatever its `success`.
pub async fn request<T: DeserializeOwned>(
    nats: &Client,
    subject: String,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<CtlResponse<T>, ClientError> {
    send(nats, "control request", subject, body, timeout).await
}

/// [`request`], with `what` naming the operation in errors.
#[tracing::instrument(name = "ctl_send", skip(nats, subject, body, timeout), fields(%subject))]
pub(crate) async fn send<T: DeserializeOwned>(
    nats: &Client,
    what: &str,
    subject: String,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<CtlResponse<T>, ClientError> {
    let mut request = async_nats::Request::new()
        .payload(body.into())
        .timeout(Some(timeout));
    // The caller's trace (if it has one) continues in the host's handling.
    if let Some(headers) = lattice_telemetry::propagation::current_headers() {
        request = request.headers(headers);
    }
    let what = what.to_string();
    let reply = match nats.send_request(subject.clone(), request).await {
        Ok(reply) => reply,
        Err(e) => {
            return Err(match e.kind() {
                RequestErrorKind::NoResponders => ClientError::NoResponders { what, subject },
                RequestErrorKind::TimedOut => ClientError::TimedOut {
                    what,
                    subject,
                    timeout,
                },
                _ => ClientError::Request {
                    what,
                    subject,
                    timeout,
                    reason: e.to_string(),
                },
            });
        }
    };
    serde_json::from_slice(&reply.payload).map_err(|e| ClientError::Undecodable {
        what,
        payload: String::from_utf8_lossy(&reply.payload).into_owned(),
        reason: e.to_string(),
    })
}

/// Publishes `body` on `subject` and collects the decodable replies that arrive within
/// `window` (or only the first, with `first_only`).
pub(crate) async fn gather<T: DeserializeOwned>(
    nats: &Client,
    subject: String,
    body: Vec<u8>,
    window: Duration,
    first_only: bool,
) -> Result<Vec<T>, ClientError> {
    let replies = gather_replies(nats, subject, body, window, first_only).await?;
    Ok(replies.into_iter().filter_map(|r| r.response).collect())
}

/// Like [`gather`], keeping every decodable reply whole (successes without a payload and
/// failures too).
pub(crate) async fn gather_replies<T: DeserializeOwned>(
    nats: &Client,
    subject: String,
    body: Vec<u8>,
    window: Duration,
    first_only: bool,
) -> Result<Vec<CtlResponse<T>>, ClientError> {
    let inbox = nats.new_inbox();
    let mut replies = nats
        .subscribe(inbox.clone())
        .await
        .map_err(|e| ClientError::Subscribe {
            subject: inbox.clone(),
            reason: e.to_string(),
        })?;
    nats.publish_with_reply(subject.clone(), inbox, body.into())
        .await
        .map_err(|e| ClientError::Publish {
            subject,
            reason: e.to_string(),
        })?;
    let mut gathered = Vec::new();
    let window = tokio::time::sleep(window);
    tokio::pin!(window);
    loop {
        tokio::select! {
            _ = &mut window => break,
            reply = replies.next() => {
                let Some(reply) = reply else { break };
                match serde_json::from_slice::<CtlResponse<T>>(&reply.payload) {
                    Ok(response) => gathered.push(response),
                    Err(_) => tracing::warn!(payload = %String::from_utf8_lossy(&reply.payload), "ignoring an undecodable reply"),
                }
                if first_only {
                    break;
                }
            }
        }
    }
    Ok(gathered)
}
