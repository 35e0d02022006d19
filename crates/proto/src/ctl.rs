//! Control-interface documents (spec §3.1): the [`CtlResponse`] envelope every reply
//! uses, and the requests and replies of the operations on `wasmbus.ctl.v1.{lattice}.…`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Reply envelope: `{"success":…,"message":…,"response":…}`, `response` omitted when `None`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtlResponse<T> {
    /// Whether the operation succeeded.
    pub success: bool,
    /// Human-readable outcome; the error text when `success` is false.
    #[serde(default)]
    pub message: String,
    /// The operation's result, if it has one.
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub response: Option<T>,
}

impl<T> CtlResponse<T> {
    /// A success carrying a result and an empty message.
    pub fn ok(response: T) -> Self {
        CtlResponse {
            success: true,
            message: String::new(),
            response: Some(response),
        }
    }
}

impl CtlResponse<()> {
    /// A success with a message and no result.
    pub fn success(message: impl Into<String>) -> Self {
        CtlResponse {
            success: true,
            message: message.into(),
            response: None,
        }
    }

    /// A failure with the error text.
    pub fn error(message: impl Into<String>) -> Self {
        CtlResponse {
            success: false,
            message: message.into(),
            response: None,
        }
    }
}

/// The reply to `host.ping`: one host's identity and labels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// The rpc NATS URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_host: Option<String>,
    /// Also the rpc NATS URL (a 1.x quirk kept for compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctl_host: Option<String>,
    /// Human-friendly name.
    #[serde(default)]
    pub friendly_name: String,
    /// Host ID (public nkey).
    #[serde(default)]
    pub id: String,
    /// JetStream domain, only when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js_domain: Option<String>,
    /// Host labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Lattice name.
    #[serde(default)]
    pub lattice: String,
    /// Uptime as text, e.g. `1h 2m 3s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_human: Option<String>,
    /// Uptime in seconds.
    #[serde(default)]
    pub uptime_seconds: u64,
    /// Host software version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The reply to `host.get` and the data of `host_heartbeat`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInventory {
    /// Running components (lattice runs none).
    #[serde(alias = "actors")]
    pub components: Vec<ComponentDescription>,
    /// Running providers.
    pub providers: Vec<ProviderDescription>,
    /// Host ID.
    #[serde(default)]
    pub host_id: String,
    /// Human-friendly name.
    #[serde(default)]
    pub friendly_name: String,
    /// Host labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Host software version.
    #[serde(default)]
    pub version: String,
    /// Uptime as text.
    #[serde(default)]
    pub uptime_human: String,
    /// Uptime in seconds.
    #[serde(default)]
    pub uptime_seconds: u64,
}

/// A component in an inventory and in heartbeats.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentDescription {
    /// Component ID.
    #[serde(default)]
    pub id: String,
    /// Image reference.
    #[serde(default)]
    pub image_ref: String,
    /// Name from the claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Revision from the claims.
    #[serde(default)]
    pub revision: i32,
    /// Maximum concurrent instances.
    #[serde(default)]
    pub max_instances: u32,
    /// Resource limits (wasmCloud 1.9+); always written, `null` when unset.
    #[serde(default)]
    pub limits: Option<BTreeMap<String, String>>,
}

/// Body of `component.scale.{host_id}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleComponentCommand {
    /// The reference to run.
    #[serde(default)]
    pub component_ref: String,
    /// The component ID.
    pub component_id: String,
    /// Annotations describing the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Maximum concurrent invocations; `0` stops the component.
    #[serde(default, alias = "count", rename = "count")]
    pub max_instances: u32,
    /// Per-component limits: `max_memory_limit` (bytes), `max_execution_time` (s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_limits: Option<BTreeMap<String, String>>,
    /// The host to scale on.
    #[serde(default)]
    pub host_id: String,
    /// Named configs (merged left to right) and secret references.
    #[serde(default)]
    pub config: Vec<String>,
    /// Whether a different reference for a running ID updates it.
    #[serde(default)]
    pub allow_update: bool,
}

/// Body of `component.update.{host_id}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateComponentCommand {
    /// The component ID.
    #[serde(default)]
    pub component_id: String,
    /// Annotations of the instances to update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The host.
    #[serde(default)]
    pub host_id: String,
    /// The new reference.
    #[serde(default)]
    pub new_component_ref: String,
}

/// Body of `component.auction`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentAuctionRequest {
    /// The reference to run.
    #[serde(default)]
    pub component_ref: String,
    /// The component ID.
    pub component_id: String,
    /// Labels a host must have.
    pub constraints: BTreeMap<String, String>,
}

/// Reply data of `component.auction` from a host that can run the component.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentAuctionAck {
    /// The reference from the request.
    #[serde(default)]
    pub component_ref: String,
    /// The component ID from the request.
    #[serde(default)]
    pub component_id: String,
    /// The bidding host.
    #[serde(default)]
    pub host_id: String,
    /// The constraints from the request.
    #[serde(default)]
    pub constraints: BTreeMap<String, String>,
}

/// A provider in an inventory.
///
/// Fields after `annotations` are lattice's own additions; the official decoders
/// ignore them, and they are omitted when unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderDescription {
    /// Provider ID.
    #[serde(default)]
    pub id: String,
    /// The reference it was started from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<String>,
    /// Name from the claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Revision from the claims (`rev`), 0 when absent.
    #[serde(default)]
    pub revision: i32,
    /// Annotations from the start command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Supervision state (lattice): `starting`, `running`, `backoff`, `stopping`,
    /// `stopped` or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Last health answer (lattice); `None` before the first one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// How often the process was restarted (lattice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u32>,
    /// How the previous process ended, e.g. `exit status: 1` (lattice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<String>,
    /// Process ID of the running process (lattice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// Body of `provider.logs.{host_id}` (lattice extension).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderLogsRequest {
    /// The provider ID.
    pub provider_id: String,
    /// At most this many of the latest lines; all kept lines when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<usize>,
}

/// One line a provider printed (lattice extension).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Sequence number per provider entry, from 1, across restarts.
    pub seq: u64,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 time the host read it.
    pub time: String,
    /// The line, without its newline.
    pub line: String,
}

/// Reply data of `provider.logs.{host_id}`: the kept lines, oldest first, and the subject
/// on which the host publishes new lines as they come.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderLogs {
    /// The provider ID.
    pub provider_id: String,
    /// Kept lines, oldest first.
    pub lines: Vec<LogLine>,
    /// Where new lines are published, one [`LogLine`] JSON per message.
    pub follow_subject: String,
}

/// Body of `provider.start.{host_id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartProviderCommand {
    /// The provider ID (any string; used in every provider subject).
    pub provider_id: String,
    /// Where to load the provider from.
    #[serde(default)]
    pub provider_ref: String,
    /// The host that should start it.
    #[serde(default)]
    pub host_id: String,
    /// Named configs (and `SECRET*` references), merged in order.
    #[serde(default)]
    pub config: Vec<String>,
    /// Annotations, reported back in events and inventory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Body of `provider.stop.{host_id}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopProviderCommand {
    /// The host that runs it.
    #[serde(default)]
    pub host_id: String,
    /// The provider ID (`provider_ref` accepted as an alias on decode).
    #[serde(default, alias = "provider_ref")]
    pub provider_id: String,
}

/// Body of `host.stop.{host_id}` (an empty body means all defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopHostCommand {
    /// When non-empty, must equal the host ID.
    #[serde(default)]
    pub host_id: String,
    /// Deadline for the graceful stop, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// Body of `provider.auction`: which host can run this provider?
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderAuctionRequest {
    /// The reference to run.
    #[serde(default)]
    pub provider_ref: String,
    /// The provider ID.
    pub provider_id: String,
    /// Labels a host must have, all of them, with these values.
    pub constraints: BTreeMap<String, String>,
}

/// Reply data of `provider.auction` from a host that can run the provider.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderAuctionAck {
    /// The bidding host.
    #[serde(default)]
    pub host_id: String,
    /// The reference from the request.
    #[serde(default)]
    pub provider_ref: String,
    /// The provider ID from the request.
    #[serde(default)]
    pub provider_id: String,
    /// The constraints from the request.
    #[serde(default)]
    pub constraints: BTreeMap<String, String>,
}

/// Body of `label.put.{host_id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostLabel {
    /// Label key.
    pub key: String,
    /// Label value.
    pub value: String,
}

/// Body of `label.del.{host_id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostLabelIdentifier {
    /// Label key.
    pub key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_is_omitted_when_none() {
        let s = serde_json::to_string(&CtlResponse::error("nope")).unwrap();
        assert_eq!(s, r#"{"success":false,"message":"nope"}"#);
        let r: CtlResponse<Host> =
            serde_json::from_str(r#"{"success":true,"message":""}"#).unwrap();
        assert!(r.response.is_none());
    }

    #[test]
    fn stop_provider_accepts_provider_ref_alias() {
        let c: StopProviderCommand = serde_json::from_str(r#"{"provider_ref":"kv"}"#).unwrap();
        assert_eq!(c.provider_id, "kv");
        assert_eq!(c.host_id, "");
    }

    #[test]
    fn inventory_accepts_actors_alias() {
        let inv: HostInventory = serde_json::from_str(r#"{"actors":[],"providers":[]}"#).unwrap();
        assert!(inv.components.is_empty());
    }
}
