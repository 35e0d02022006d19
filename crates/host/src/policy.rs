//! The policy service (spec §19): with `--policy-topic`, the host asks before it starts
//! a provider or a component, and acts on the answer. Decisions are cached per key
//! (`{id}_{image_ref}`); a message on `--policy-changes-topic` replaces the cached
//! decision of the request it names. Requests and the changes subscription use the ctl
//! connection. A policy service that does not answer denies (fail closed), saying so.
//! Better than 1.9.2: the host information carries the host's current labels.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use lattice_proto::policy::{
    POLICY_VERSION, PolicyBody, PolicyClaims, PolicyComponent, PolicyHost, PolicyKind,
    PolicyProvider, PolicyRequest, PolicyResponse,
};
use tokio::sync::RwLock;

use crate::labels::LabelsHandle;

/// A start the policy service did not permit; the text is what events carry.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum PolicyDenied {
    /// The service said no.
    #[error("denied by policy: {0}")]
    Denied(String),
    /// The service could not be asked; starts are denied then (fail closed).
    #[error(
        "the policy service on `{topic}` did not answer ({reason}), so this is denied (fail closed)"
    )]
    Unanswered { topic: String, reason: String },
}

/// Asks the policy service. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Policy(Option<Arc<Inner>>);

struct Inner {
    ctl: async_nats::Client,
    topic: String,
    timeout: Duration,
    host_id: String,
    lattice: String,
    labels: LabelsHandle,
    /// Decisions by key, and the key each request ID was for.
    decisions: RwLock<HashMap<String, PolicyResponse>>,
    keys: RwLock<HashMap<String, String>>,
}

/// Where the policy service is (`--policy-topic`, `--policy-changes-topic`,
/// `--policy-timeout-ms`).
#[derive(Clone, Debug, Default)]
pub struct PolicySettings {
    /// Requests go here; none: everything is permitted.
    pub topic: Option<String>,
    /// Decision changes come here.
    pub changes_topic: Option<String>,
    /// How long an answer may take (default 1 s).
    pub timeout: Option<Duration>,
}

impl Policy {
    /// Starts following the changes topic (if any); the task ends with `stop`.
    pub(crate) async fn start(
        settings: &PolicySettings,
        ctl: async_nats::Client,
        host_id: &str,
        lattice: &str,
        labels: LabelsHandle,
        stop: tokio_util::sync::CancellationToken,
    ) -> Result<Self, crate::HostError> {
        let Some(topic) = settings.topic.clone() else {
            return Ok(Policy(None));
        };
        let inner = Arc::new(Inner {
            ctl: ctl.clone(),
            topic,
            timeout: settings.timeout.unwrap_or(Duration::from_secs(1)),
            host_id: host_id.to_string(),
            lattice: lattice.to_string(),
            labels,
            decisions: RwLock::new(HashMap::new()),
            keys: RwLock::new(HashMap::new()),
        });
        if let Some(changes) = &settings.changes_topic {
            let mut subscriber =
                ctl.subscribe(changes.clone())
                    .await
                    .map_err(|e| crate::HostError::Subscribe {
                        subject: changes.clone(),
                        reason: e.to_string(),
                    })?;
            lattice_nats::server_round_trip(&ctl).await.ok();
            let following = inner.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        message = subscriber.next() => {
                            let Some(message) = message else { break };
                            following.change(&message.payload).await;
                        }
                    }
                }
            });
        }
        Ok(Policy(Some(inner)))
    }

    /// May provider `provider_id` from `image_ref` (scheme stripped) start?
    pub(crate) async fn provider(
        &self,
        provider_id: &str,
        image_ref: &str,
        annotations: &BTreeMap<String, String>,
        claims: Option<PolicyClaims>,
    ) -> Result<(), PolicyDenied> {
        let Some(inner) = &self.0 else { return Ok(()) };
        let body = PolicyBody::Provider(PolicyProvider {
            provider_id: provider_id.to_string(),
            image_ref: image_ref.to_string(),
            annotations: annotations.clone(),
            claims,
        });
        inner
            .decide(
                format!("{provider_id}_{image_ref}"),
                PolicyKind::StartProvider,
                body,
            )
            .await
    }

    /// May component `component_id` from `image_ref` start (or scale)?
    pub(crate) async fn component(&self, component: PolicyComponent) -> Result<(), PolicyDenied> {
        let Some(inner) = &self.0 else { return Ok(()) };
        let key = format!("{}_{}", component.component_id, component.image_ref);
        inner
            .decide(
                key,
                PolicyKind::StartComponent,
                PolicyBody::Component(component),
            )
            .await
    }
}

impl Policy {
    /// Whether a policy service is asked at all (the invocation path checks this first,
    /// so without one it builds no request).
    pub(crate) fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// May `component` serve `interface.function` (an invocation over wRPC)?
    pub(crate) async fn invocation(
        &self,
        component: PolicyComponent,
        interface: &str,
        function: &str,
    ) -> Result<(), PolicyDenied> {
        let Some(inner) = &self.0 else { return Ok(()) };
        let key = format!(
            "{}_{}_{interface}_{function}",
            component.component_id, component.image_ref
        );
        let body = PolicyBody::Invocation(lattice_proto::policy::PolicyInvocation {
            interface: interface.to_string(),
            function: function.to_string(),
            target: component,
        });
        inner.decide(key, PolicyKind::PerformInvocation, body).await
    }
}

impl Inner {
    async fn decide(
        &self,
        key: String,
        kind: PolicyKind,
        body: PolicyBody,
    ) -> Result<(), PolicyDenied> {
        if let Some(decision) = self.decisions.read().await.get(&key) {
            return verdict(decision);
        }
        let unanswered = |reason: String| PolicyDenied::Unanswered {
            topic: self.topic.clone(),
            reason,
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        let request = PolicyRequest {
            request_id: request_id.clone(),
            kind,
            version: POLICY_VERSION.to_string(),
            request: body,
            host: PolicyHost {
                public_key: self.host_id.clone(),
                lattice: self.lattice.clone(),
                labels: self.labels.labels().await.unwrap_or_default(),
            },
        };
        let payload = serde_json::to_vec(&request).expect("policy requests encode");
        let reply = tokio::time::timeout(
            self.timeout,
            self.ctl.request(self.topic.clone(), payload.into()),
        )
        .await
        .map_err(|_| unanswered(format!("nothing within {} ms", self.timeout.as_millis())))?
        .map_err(|e| unanswered(e.to_string()))?;
        let decision: PolicyResponse = serde_json::from_slice(&reply.payload)
            .map_err(|e| unanswered(format!("its answer is not a policy response: {e}")))?;
        tracing::debug!(%key, permitted = decision.permitted, "policy decision");
        self.keys.write().await.insert(request_id, key.clone());
        self.decisions.write().await.insert(key, decision.clone());
        verdict(&decision)
    }

    /// A change message: it replaces the decision of the request it names.
    async fn change(&self, payload: &[u8]) {
        let change: PolicyResponse = match serde_json::from_slice(payload) {
            Ok(change) => change,
            Err(error) => {
                tracing::warn!(%error, "ignoring an undecodable policy change");
                return;
            }
        };
        let Some(key) = self.keys.read().await.get(&change.request_id).cloned() else {
            tracing::warn!(request_id = %change.request_id, "policy change for an unknown request");
            return;
        };
        tracing::info!(%key, permitted = change.permitted, "policy decision changed");
        self.decisions.write().await.insert(key, change);
    }
}

fn verdict(decision: &PolicyResponse) -> Result<(), PolicyDenied> {
    match decision.permitted {
        true => Ok(()),
        false => Err(PolicyDenied::Denied(
            decision
                .message
                .clone()
                .unwrap_or_else(|| "no reason given".to_string()),
        )),
    }
}

/// Claims as a policy request carries them.
pub(crate) fn claims(
    subject: &str,
    issuer: &str,
    issued_at: Option<u64>,
    expires: Option<u64>,
) -> PolicyClaims {
    let now = lattice_artifacts::jwt::now().as_secs();
    PolicyClaims {
        public_key: subject.to_string(),
        issuer: issuer.to_string(),
        issued_at: issued_at.unwrap_or_default().to_string(),
        expires_at: expires,
        expired: expires.is_some_and(|exp| exp < now),
    }
}
