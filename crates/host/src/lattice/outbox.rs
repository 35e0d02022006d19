//! Each local provider's outbox: one task per provider publishes what lattice state
//! queues for it, in order, while the owner goes on; link puts that reference secrets
//! get them fetched for that provider and sealed to its xkey first.

use lattice_proto::InterfaceLinkDefinition;
use tokio::sync::mpsc;

use super::resolve;

/// What the owner needs to seal link secrets for local providers and to report a link
/// it had to drop (`provider_link_failed`).
#[derive(Clone)]
pub(crate) struct LinkSealing {
    pub(crate) secrets: crate::secrets::HostSecrets,
    pub(crate) events: crate::events::EventPublisher,
    pub(crate) host_id: String,
}

/// What a provider's outbox publishes, in order.
pub(super) enum Outgoing {
    /// A document, ready.
    Document(String, bytes::Bytes),
    /// A link put whose secrets are sealed first (fetched for the provider).
    Link {
        subject: String,
        link: Box<InterfaceLinkDefinition>,
        refs: resolve::LinkSecretRefs,
    },
}

/// Who an outbox delivers to, for sealing link secrets.
pub(super) struct Recipient {
    pub(super) provider_id: String,
    pub(super) xkey_public: String,
    pub(super) entity_jwt: Option<String>,
}

/// Publishes one provider's queued documents in order; ends when the provider is
/// forgotten (its sender dropped) and the queue is empty. A link with secret
/// references gets them fetched and sealed first; if that fails the link is not sent
/// and `provider_link_failed` says why.
pub(super) async fn outbox(
    rpc: async_nats::Client,
    recipient: Recipient,
    sealing: LinkSealing,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
) {
    let provider_id = &recipient.provider_id;
    while let Some(outgoing) = queue.recv().await {
        let (subject, body) = match outgoing {
            Outgoing::Document(subject, body) => (subject, body),
            Outgoing::Link {
                subject,
                mut link,
                refs,
            } => {
                let sealed = sealing
                    .secrets
                    .seal_link(
                        &mut link,
                        &refs,
                        recipient.entity_jwt.as_deref(),
                        &recipient.xkey_public,
                    )
                    .await;
                if let Err(error) = sealed {
                    sealing
                        .link_failed(provider_id, &link, &error.to_string())
                        .await;
                    continue;
                }
                let body = serde_json::to_vec(&link).expect("links encode");
                (subject, body.into())
            }
        };
        if let Err(error) = rpc.publish(subject, body).await {
            tracing::warn!(%provider_id, %error, "cannot publish to provider");
        }
    }
}

impl LinkSealing {
    /// `provider_link_failed`: `link` could not be given to `provider_id`.
    pub(crate) async fn link_failed(
        &self,
        provider_id: &str,
        link: &InterfaceLinkDefinition,
        reason: &str,
    ) {
        link_failed(&self.events, &self.host_id, provider_id, link, reason).await
    }
}

/// Publishes `provider_link_failed`: `link` could not be given to `provider_id`.
pub(crate) async fn link_failed(
    events: &crate::events::EventPublisher,
    host_id: &str,
    provider_id: &str,
    link: &InterfaceLinkDefinition,
    reason: &str,
) {
    {
        tracing::warn!(provider_id, source_id = %link.source_id, target = %link.target, name = %link.name, reason, "link dropped for this provider");
        events
            .publish(lattice_proto::events::Event::ProviderLinkFailed(
                lattice_proto::events::ProviderLinkFailed {
                    host_id: host_id.to_string(),
                    provider_id: provider_id.to_string(),
                    source_id: link.source_id.clone(),
                    target: link.target.clone(),
                    name: link.name.clone(),
                    wit_namespace: link.wit_namespace.clone(),
                    wit_package: link.wit_package.clone(),
                    reason: reason.to_string(),
                },
            ))
            .await;
    }
}
