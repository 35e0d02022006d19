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

/// Why a lattice host sent a `linkdefs.del`, carried in this NATS header.
///
/// Official SDKs ignore headers. The lattice SDK reads it: a delete whose reason is
/// [`LinkDeleteReason::ConfigChanged`] only retracts the link so that it can be put again
/// with re-resolved config, and the lattice SDK applies that put as a change instead.
pub const LINK_DELETE_REASON_HEADER: &str = "Lattice-Link-Delete-Reason";

/// The value of [`LINK_DELETE_REASON_HEADER`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkDeleteReason {
    /// A named config the link uses changed; a put of the re-resolved link follows.
    ConfigChanged,
}

impl LinkDeleteReason {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConfigChanged => "config-changed",
        }
    }

    /// Parses a header value; unknown reasons are `None` (a plain delete).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "config-changed" => Some(Self::ConfigChanged),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_reasons_round_trip_and_unknown_ones_are_plain_deletes() {
        let reason = LinkDeleteReason::ConfigChanged;
        assert_eq!(LinkDeleteReason::parse(reason.as_str()), Some(reason));
        assert_eq!(LinkDeleteReason::parse("something-else"), None);
    }
}
