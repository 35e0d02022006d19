//! The events a provider's supervisor publishes about it.

use lattice_proto::DEFAULT_LINK_NAME;
use lattice_proto::events::{Event, HealthCheck, ProviderStarted, ProviderStopped};

use super::super::health::HealthEvent;
use super::{Launch, StopReason, Supervisor};

impl Supervisor {
    /// `provider_stopped` data with the 1.x fields filled and lattice's extras empty.
    pub(super) fn stopped(&self, reason: StopReason) -> ProviderStopped {
        ProviderStopped {
            host_id: self.env.host_id().to_string(),
            provider_id: self.spec.provider_id.clone(),
            annotations: self.spec.annotations.clone(),
            reason: reason.as_str().to_string(),
            instance_id: self.spec.provider_id.clone(),
            public_key: self.spec.provider_id.clone(),
            link_name: DEFAULT_LINK_NAME.to_string(),
            ..ProviderStopped::default()
        }
    }

    pub(super) async fn publish_started(&self, loaded: &Launch) {
        let claims = match loaded {
            Launch::Executable(loaded) => loaded.claims.as_ref(),
            Launch::Builtin(_) => None,
        };
        self.env
            .events
            .publish(Event::ProviderStarted(ProviderStarted {
                host_id: self.env.host_id().to_string(),
                image_ref: lattice_proto::reference::without_scheme(&self.spec.provider_ref)
                    .to_string(),
                provider_id: self.spec.provider_id.clone(),
                annotations: self.spec.annotations.clone(),
                claims: claims.map(|c| c.summary()),
                instance_id: claims.map(|_| self.spec.provider_id.clone()),
                public_key: claims.map(|_| self.spec.provider_id.clone()),
                link_name: claims.map(|_| DEFAULT_LINK_NAME.to_string()),
            }))
            .await;
    }

    pub(super) async fn publish_health(&self, event: HealthEvent) {
        let data = HealthCheck {
            host_id: self.env.host_id().to_string(),
            provider_id: self.spec.provider_id.clone(),
        };
        let event = match event {
            HealthEvent::Passed => Event::HealthCheckPassed(data),
            HealthEvent::Failed => Event::HealthCheckFailed(data),
            HealthEvent::Status => Event::HealthCheckStatus(data),
        };
        self.env.events.publish(event).await;
    }
}
