//! The control-interface server.
//!
//! Subjects answered (under `{ctl_prefix}.v1.{lattice}`), from the table in
//! [`lattice_proto::subjects`]:
//! - `host.ping` (every host), `host.get.{id}`, `host.stop.{id}`
//! - `label.put.{id}`, `label.del.{id}`
//! - `provider.start.{id}`, `provider.stop.{id}`, `provider.auction` (every host),
//!   and the lattice extension `provider.logs.{id}`
//! - `link.put`, `link.del`, `link.get` (queue group `….link`)
//! - `config.put.{name}`, `config.get.{name}`, `config.del.{name}` (queue group `….config`)
//! - `claims.get` (queue group `….claims`), answered from the bucket
//! - `registry.put` (every host): registry credentials for this host's pulls
//! - `component.auction` (every host; never bids) and `component.*.{id}`: refused with a
//!   clear message (lattice runs providers only)
//!
//! Every request with a reply subject gets exactly one `CtlResponse` reply; bad input
//! gets `{"success":false,"message":…}` and the server keeps serving. At most
//! `max_concurrent_ctl` requests are handled at once; further ones wait in NATS.

mod error;
mod handlers;

use std::sync::Arc;

use async_nats::{Message, Subscriber};
use futures::StreamExt as _;
use lattice_proto::subjects::CtlGroup;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::HostContext;
use crate::error::HostError;
pub(crate) use error::CtlError;

/// The operation families this host serves: all of them, but for the auctions that its
/// configuration turns off (`--enable-provider-auction`, `--enable-component-auction`).
fn served(config: &crate::HostConfig) -> Vec<CtlGroup> {
    let mut groups = vec![
        CtlGroup::Host,
        CtlGroup::Label,
        CtlGroup::Provider,
        CtlGroup::Component,
        CtlGroup::Link,
        CtlGroup::Config,
        CtlGroup::Claims,
        CtlGroup::Registry,
    ];
    if config.provider_auction {
        groups.push(CtlGroup::ProviderAuction);
    }
    if config.component_auction {
        groups.push(CtlGroup::ComponentAuction);
    }
    groups
}

/// What a handled request leads to once its reply is out.
pub(crate) enum AfterReply {
    /// Nothing more.
    Nothing,
    /// Stop the host within this deadline.
    StopHost(std::time::Duration),
}

/// Subscribes to every served subject. Returns once the server knows of all of them.
pub(crate) async fn subscribe(ctx: &HostContext) -> Result<Vec<Subscriber>, HostError> {
    let mut subscribers = Vec::new();
    for sub in ctx
        .ctl_subjects
        .subscriptions(&ctx.identity.id, &served(&ctx.config))
    {
        let fail = |e: &dyn std::fmt::Display| HostError::Subscribe {
            subject: sub.subject.clone(),
            reason: e.to_string(),
        };
        let subscriber = match &sub.queue_group {
            Some(group) => ctx
                .ctl
                .queue_subscribe(sub.subject.clone(), group.clone())
                .await
                .map_err(|e| fail(&e))?,
            None => ctx
                .ctl
                .subscribe(sub.subject.clone())
                .await
                .map_err(|e| fail(&e))?,
        };
        subscribers.push(subscriber);
    }
    crate::nats::server_round_trip(&ctx.ctl)
        .await
        .map_err(|e| HostError::Subscribe {
            subject: ctx.ctl_subjects.base().to_string(),
            reason: e.to_string(),
        })?;
    Ok(subscribers)
}

/// Serves requests until `token` is cancelled; each request runs as its own task on `tracker`.
pub(crate) async fn serve(
    ctx: Arc<HostContext>,
    subscribers: Vec<Subscriber>,
    token: CancellationToken,
    tracker: TaskTracker,
) {
    let mut requests = futures::stream::select_all(subscribers);
    let permits = Arc::new(Semaphore::new(ctx.config.max_concurrent_ctl));
    loop {
        let message = tokio::select! {
            _ = token.cancelled() => break,
            message = requests.next() => match message {
                Some(message) => message,
                None => break,
            },
        };
        let permit = tokio::select! {
            _ = token.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let ctx = ctx.clone();
        // A client that sent its trace context (the official client does) gets this
        // request's handling in its trace; the parent is set before the span is entered.
        let span = tracing::info_span!("ctl_request", subject = %message.subject);
        lattice_telemetry::propagation::set_parent(&span, message.headers.as_ref());
        tracker.spawn(
            async move {
                handle(&ctx, message).await;
                drop(permit);
            }
            .instrument(span),
        );
    }
    // Dropping the subscribers unsubscribes: no new requests reach this host.
}

async fn handle(ctx: &Arc<HostContext>, message: Message) {
    let started = std::time::Instant::now();
    let (op, outcome) = if message.payload.len() > ctx.config.max_ctl_payload {
        let too_large = CtlError::TooLarge {
            size: message.payload.len(),
            limit: ctx.config.max_ctl_payload,
        };
        ("too_large", Err(too_large))
    } else {
        match ctx.ctl_subjects.parse(&message.subject) {
            Ok(op) => (
                op.name(),
                handlers::dispatch(ctx, op, &message.payload).await,
            ),
            Err(_) => ("unsupported", Err(CtlError::Unsupported)),
        }
    };
    ctx.metrics
        .ctl_request(op, outcome.is_ok(), started.elapsed());
    let (body, after) = match outcome {
        Ok((body, after)) => (body, after),
        Err(error) => {
            tracing::info!(%error, "control request refused");
            (Some(error.to_reply()), AfterReply::Nothing)
        }
    };
    if let (Some(reply), Some(body)) = (message.reply, body) {
        if let Err(error) = ctx.ctl.publish(reply, body.into()).await {
            tracing::warn!(%error, "cannot send control reply");
        }
        if let Err(error) = ctx.ctl.flush().await {
            tracing::warn!(%error, "cannot flush control reply");
        }
    }
    if let AfterReply::StopHost(deadline) = after {
        ctx.request_stop(deadline);
    }
}
