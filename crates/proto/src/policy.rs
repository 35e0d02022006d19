//! The policy service's documents (spec §19), as wasmCloud 1.9.2 writes and reads them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The version of every request body.
pub const POLICY_VERSION: &str = "v1";

/// A request for a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRequest {
    /// Echoed in the response (and named by change messages).
    #[serde(rename = "requestId")]
    pub request_id: String,
    /// What is asked about.
    pub kind: PolicyKind,
    /// Always [`POLICY_VERSION`].
    pub version: String,
    /// The body for `kind`.
    pub request: PolicyBody,
    /// The host asking.
    pub host: PolicyHost,
}

/// What a request is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PolicyKind {
    /// Starting a provider.
    #[serde(rename = "startProvider")]
    StartProvider,
    /// Starting (scaling) a component.
    #[serde(rename = "startComponent")]
    StartComponent,
    /// Serving one invocation.
    #[serde(rename = "performInvocation")]
    PerformInvocation,
}

/// The body of a request, by kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PolicyBody {
    /// An invocation of a component.
    Invocation(PolicyInvocation),
    /// A component.
    Component(PolicyComponent),
    /// A provider.
    Provider(PolicyProvider),
}

/// Claims as a policy sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyClaims {
    /// The subject.
    #[serde(rename = "publicKey")]
    pub public_key: String,
    /// The issuer.
    pub issuer: String,
    /// `iat`, as text.
    #[serde(rename = "issuedAt")]
    pub issued_at: String,
    /// `exp` (always written, `null` when absent).
    #[serde(rename = "expiresAt")]
    pub expires_at: Option<u64>,
    /// Whether `exp` has passed.
    pub expired: bool,
}

/// A provider to be started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyProvider {
    /// Its ID.
    #[serde(rename = "providerId")]
    pub provider_id: String,
    /// Its reference, without scheme (spec §4).
    #[serde(rename = "imageRef")]
    pub image_ref: String,
    /// The start's annotations.
    pub annotations: BTreeMap<String, String>,
    /// Its claims (always written, `null` when unsigned).
    pub claims: Option<PolicyClaims>,
}

/// A component to be started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyComponent {
    /// Its ID.
    #[serde(rename = "componentId")]
    pub component_id: String,
    /// Its reference, as sent.
    #[serde(rename = "imageRef")]
    pub image_ref: String,
    /// Its concurrency cap.
    #[serde(rename = "maxInstances")]
    pub max_instances: u32,
    /// The scale's annotations.
    pub annotations: BTreeMap<String, String>,
    /// Its claims (always written, `null` when unsigned).
    pub claims: Option<PolicyClaims>,
}

/// An invocation of a component's export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInvocation {
    /// The exported interface (`ns:pkg/iface@ver`).
    pub interface: String,
    /// The function.
    pub function: String,
    /// The component invoked.
    pub target: PolicyComponent,
}

/// The host asking. lattice sends its current labels (1.9.2: those set at start).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyHost {
    /// The host ID.
    #[serde(rename = "publicKey")]
    pub public_key: String,
    /// The lattice.
    pub lattice: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// A decision (the answer to a request, or a change message that replaces one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyResponse {
    /// The request it answers.
    #[serde(rename = "requestId")]
    pub request_id: String,
    /// Whether it may go on.
    pub permitted: bool,
    /// Why (for a denial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
