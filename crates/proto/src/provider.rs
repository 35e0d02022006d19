//! Documents a host exchanges with a running provider over its rpc subjects (spec §3.2, §9).

use serde::{Deserialize, Serialize};

/// Reply to a health request: `{"healthy":…,"message":…}`, `message` omitted when `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheckResponse {
    /// Whether the provider considers itself healthy.
    #[serde(default)]
    pub healthy: bool,
    /// Optional detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Body of the shutdown request: the provider acts only if `host_id` is its host's ID.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShutdownRequest {
    /// ID of the host asking the provider to shut down.
    #[serde(default)]
    pub host_id: String,
}

/// What a provider replies to a shutdown request it accepts.
pub const SHUTDOWN_REPLY: &[u8] = b"shutting down";
