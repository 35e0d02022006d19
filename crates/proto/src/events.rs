//! Lattice events (spec §4): the CloudEvents 1.0 envelope and the data of every event
//! a host publishes on `wasmbus.evt.{lattice}.{event_name}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ctl::HostInventory;

/// The CloudEvents 1.0 type prefix; the full type is `com.wasmcloud.lattice.{event_name}`.
pub const EVENT_TYPE_PREFIX: &str = "com.wasmcloud.lattice.";

/// A CloudEvents 1.0 envelope in structured JSON mode, keys in the order the 1.x host writes them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    /// Always `"1.0"`.
    pub specversion: String,
    /// UUID-formatted string built from a fresh (time-ordered) ULID.
    pub id: String,
    /// `com.wasmcloud.lattice.{event_name}`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The publishing host's ID.
    pub source: String,
    /// Always `"application/json"`.
    #[serde(default)]
    pub datacontenttype: Option<String>,
    /// RFC 3339 UTC timestamp.
    #[serde(default)]
    pub time: Option<String>,
    /// The event's data, inline JSON.
    #[serde(default)]
    pub data: Value,
}

impl CloudEvent {
    /// Wraps an event's data in an envelope from `source` (a host ID), stamped now.
    pub fn new(source: &str, event: &Event) -> Self {
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .expect("the current UTC time always formats as RFC 3339");
        CloudEvent {
            specversion: "1.0".to_string(),
            id: uuid::Uuid::from_u128(ulid::Ulid::new().0)
                .hyphenated()
                .to_string(),
            ty: format!("{EVENT_TYPE_PREFIX}{}", event.name()),
            source: source.to_string(),
            datacontenttype: Some("application/json".to_string()),
            time: Some(now),
            data: event.data(),
        }
    }

    /// The event name (`host_started`, …), or the whole type if it is not a lattice event.
    pub fn event_name(&self) -> &str {
        self.ty.strip_prefix(EVENT_TYPE_PREFIX).unwrap_or(&self.ty)
    }

    /// Decodes the data as the typed event this envelope names.
    pub fn decode(&self) -> Result<Event, serde_json::Error> {
        Event::decode(self.event_name(), self.data.clone())
    }
}

/// Every event a lattice host publishes, with its data.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The host finished starting.
    HostStarted(HostStarted),
    /// Periodic inventory.
    HostHeartbeat(HostInventory),
    /// The host stopped.
    HostStopped(HostStopped),
    /// A label was put or deleted.
    LabelsChanged(LabelsChanged),
    /// A provider process was spawned.
    ProviderStarted(ProviderStarted),
    /// A provider could not be started.
    ProviderStartFailed(ProviderStartFailed),
    /// `component_scaled`
    ComponentScaled(ComponentScaled),
    /// `component_scale_failed`
    ComponentScaleFailed(ComponentScaleFailed),
    /// A provider was stopped (or, with `reason: "failed"`, gave up restarting).
    ProviderStopped(ProviderStopped),
    /// A provider is being restarted (lattice extension).
    ProviderRestarted(ProviderRestarted),
    /// A link was put.
    LinkdefSet(crate::link::Link),
    /// A link put failed.
    LinkdefSetFailed(LinkdefSetFailed),
    /// A link was deleted (or did not exist).
    LinkdefDeleted(LinkdefDeleted),
    /// A named config was put.
    ConfigSet(ConfigChanged),
    /// A named config was deleted.
    ConfigDeleted(ConfigChanged),
    /// A provider answered healthy after not being healthy.
    HealthCheckPassed(HealthCheck),
    /// A provider answered unhealthy after being healthy.
    HealthCheckFailed(HealthCheck),
    /// A provider answered without changing its health state.
    HealthCheckStatus(HealthCheck),
    /// A provider could not apply a link it was given (lattice extension: a port that
    /// cannot be bound, a path claimed twice; `linkdef_set` went out before).
    ProviderLinkFailed(ProviderLinkFailed),
    /// How the download of an artifact's layer from a registry is going (lattice
    /// extension; at most every half second, and once when it is done).
    ArtifactPullProgress(ArtifactPullProgress),
    /// An unsigned provider or component was started (lattice extension: a warning; with
    /// `--require-signed` the start is refused instead).
    ArtifactUnsigned(ArtifactUnsigned),
    /// An event name this crate does not know, kept as raw data.
    Other {
        /// The event name.
        name: String,
        /// The raw data.
        data: Value,
    },
}

impl Event {
    /// The event name used in the subject and the CloudEvents type.
    pub fn name(&self) -> &str {
        match self {
            Event::HostStarted(_) => "host_started",
            Event::HostHeartbeat(_) => "host_heartbeat",
            Event::HostStopped(_) => "host_stopped",
            Event::LabelsChanged(_) => "labels_changed",
            Event::ProviderStarted(_) => "provider_started",
            Event::ProviderStartFailed(_) => "provider_start_failed",
            Event::ComponentScaled(_) => "component_scaled",
            Event::ComponentScaleFailed(_) => "component_scale_failed",
            Event::ProviderStopped(_) => "provider_stopped",
            Event::ProviderRestarted(_) => "provider_restarted",
            Event::LinkdefSet(_) => "linkdef_set",
            Event::LinkdefSetFailed(_) => "linkdef_set_failed",
            Event::LinkdefDeleted(_) => "linkdef_deleted",
            Event::ConfigSet(_) => "config_set",
            Event::ConfigDeleted(_) => "config_deleted",
            Event::HealthCheckPassed(_) => "health_check_passed",
            Event::HealthCheckFailed(_) => "health_check_failed",
            Event::HealthCheckStatus(_) => "health_check_status",
            Event::ProviderLinkFailed(_) => "provider_link_failed",
            Event::ArtifactPullProgress(_) => "artifact_pull_progress",
            Event::ArtifactUnsigned(_) => "artifact_unsigned",
            Event::Other { name, .. } => name,
        }
    }

    /// The event's data as JSON.
    pub fn data(&self) -> Value {
        let value = match self {
            Event::HostStarted(d) => serde_json::to_value(d),
            Event::HostHeartbeat(d) => serde_json::to_value(d),
            Event::HostStopped(d) => serde_json::to_value(d),
            Event::LabelsChanged(d) => serde_json::to_value(d),
            Event::ProviderStarted(d) => serde_json::to_value(d),
            Event::ProviderStartFailed(d) => serde_json::to_value(d),
            Event::ComponentScaled(d) => serde_json::to_value(d),
            Event::ComponentScaleFailed(d) => serde_json::to_value(d),
            Event::ProviderStopped(d) => serde_json::to_value(d),
            Event::ProviderRestarted(d) => serde_json::to_value(d),
            Event::LinkdefSet(d) => serde_json::to_value(d),
            Event::LinkdefSetFailed(d) => serde_json::to_value(d),
            Event::LinkdefDeleted(d) => serde_json::to_value(d),
            Event::ConfigSet(d) | Event::ConfigDeleted(d) => serde_json::to_value(d),
            Event::HealthCheckPassed(d)
            | Event::HealthCheckFailed(d)
            | Event::HealthCheckStatus(d) => serde_json::to_value(d),
            Event::ProviderLinkFailed(d) => serde_json::to_value(d),
            Event::ArtifactPullProgress(d) => serde_json::to_value(d),
            Event::ArtifactUnsigned(d) => serde_json::to_value(d),
            Event::Other { data, .. } => return data.clone(),
        };
        value.expect("event data always serializes")
    }

    /// Decodes the data of the event called `name`.
    pub fn decode(name: &str, data: Value) -> Result<Event, serde_json::Error> {
        Ok(match name {
            "host_started" => Event::HostStarted(serde_json::from_value(data)?),
            "host_heartbeat" => Event::HostHeartbeat(serde_json::from_value(data)?),
            "host_stopped" => Event::HostStopped(serde_json::from_value(data)?),
            "labels_changed" => Event::LabelsChanged(serde_json::from_value(data)?),
            "provider_started" => Event::ProviderStarted(serde_json::from_value(data)?),
            "provider_start_failed" => Event::ProviderStartFailed(serde_json::from_value(data)?),
            "component_scaled" => Event::ComponentScaled(serde_json::from_value(data)?),
            "component_scale_failed" => Event::ComponentScaleFailed(serde_json::from_value(data)?),
            "provider_stopped" => Event::ProviderStopped(serde_json::from_value(data)?),
            "provider_restarted" => Event::ProviderRestarted(serde_json::from_value(data)?),
            "linkdef_set" => Event::LinkdefSet(serde_json::from_value(data)?),
            "linkdef_set_failed" => Event::LinkdefSetFailed(serde_json::from_value(data)?),
            "linkdef_deleted" => Event::LinkdefDeleted(serde_json::from_value(data)?),
            "config_set" => Event::ConfigSet(serde_json::from_value(data)?),
            "config_deleted" => Event::ConfigDeleted(serde_json::from_value(data)?),
            "health_check_passed" => Event::HealthCheckPassed(serde_json::from_value(data)?),
            "health_check_failed" => Event::HealthCheckFailed(serde_json::from_value(data)?),
            "health_check_status" => Event::HealthCheckStatus(serde_json::from_value(data)?),
            "provider_link_failed" => Event::ProviderLinkFailed(serde_json::from_value(data)?),
            "artifact_pull_progress" => Event::ArtifactPullProgress(serde_json::from_value(data)?),
            other => Event::Other {
                name: other.to_string(),
                data,
            },
        })
    }
}

/// Data of `host_started` (no host ID, as in 1.9.2: it is the envelope's `source`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostStarted {
    /// Human-friendly name.
    pub friendly_name: String,
    /// Host labels.
    pub labels: BTreeMap<String, String>,
    /// Always 0.
    pub uptime_seconds: u64,
    /// Host software version.
    pub version: String,
}

/// Data of `host_stopped`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostStopped {
    /// Host labels.
    pub labels: BTreeMap<String, String>,
}

/// Data of `labels_changed`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelsChanged {
    /// Host ID.
    pub host_id: String,
    /// The labels after the change.
    pub labels: BTreeMap<String, String>,
}

/// Claims summary in `provider_started`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderClaimsSummary {
    /// Claims issuer (`A…`).
    pub issuer: String,
    /// Always `null`.
    pub tags: Option<Vec<String>>,
    /// Provider name.
    pub name: Option<String>,
    /// Provider version.
    pub version: Option<String>,
    /// Epoch seconds as a string, or `"never"`.
    pub not_before_human: String,
    /// Epoch seconds as a string, or `"never"`.
    pub expires_human: String,
}

/// The claims summary in `component_scaled` (only for signed components).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentClaimsSummary {
    /// Call alias, if any.
    #[serde(default)]
    pub call_alias: Option<String>,
    /// Issuer (account key).
    pub issuer: String,
    /// Tags, if any.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Name, if any.
    #[serde(default)]
    pub name: Option<String>,
    /// Version, if any.
    #[serde(default)]
    pub version: Option<String>,
    /// Revision, if any.
    #[serde(default)]
    pub revision: Option<i32>,
    /// `nbf` as epoch seconds, or `never`.
    pub not_before_human: String,
    /// `exp` as epoch seconds, or `never`.
    pub expires_human: String,
}

/// Data of `component_scaled`: once per change of a component's scale on a host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentScaled {
    /// The component's subject key, when it is signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Its claims, when it is signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<ComponentClaimsSummary>,
    /// Annotations of the scale request.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Host ID.
    pub host_id: String,
    /// The reference as sent (scheme kept).
    pub image_ref: String,
    /// The new concurrency cap (0: stopped).
    pub max_instances: u32,
    /// Component ID.
    pub component_id: String,
}

/// Data of `component_scale_failed`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentScaleFailed {
    /// The component's subject key, when known and signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Component ID.
    pub component_id: String,
    /// Annotations of the scale request.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Host ID.
    pub host_id: String,
    /// The reference as sent.
    pub image_ref: String,
    /// The concurrency cap asked for.
    pub max_instances: u32,
    /// What went wrong, naming the cause.
    pub error: String,
}

/// Data of `provider_started`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderStarted {
    /// Host ID.
    pub host_id: String,
    /// The reference it was started from.
    pub image_ref: String,
    /// Provider ID.
    pub provider_id: String,
    /// Annotations from the start command.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Claims summary, when the provider came with claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<ProviderClaimsSummary>,
    /// Equal to the provider ID (1.x quirk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Equal to the provider ID (1.x quirk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Always `"default"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_name: Option<String>,
}

/// Data of `provider_start_failed`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderStartFailed {
    /// The reference from the request.
    pub provider_ref: String,
    /// Provider ID.
    pub provider_id: String,
    /// Host ID from the request.
    pub host_id: String,
    /// The error chain.
    pub error: String,
    /// Always `"default"`.
    #[serde(default)]
    pub link_name: String,
}

/// Data of `provider_stopped`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderStopped {
    /// Host ID.
    pub host_id: String,
    /// Provider ID.
    pub provider_id: String,
    /// Annotations from the start command.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// `"stop"` for a requested stop.
    pub reason: String,
    /// Equal to the provider ID.
    #[serde(default)]
    pub instance_id: String,
    /// Equal to the provider ID.
    #[serde(default)]
    pub public_key: String,
    /// Always `"default"`.
    #[serde(default)]
    pub link_name: String,
    /// How the process ended (lattice), e.g. `exit status: 0` or `signal: 9 (SIGKILL)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<String>,
    /// The stop stage that ended it (lattice): `shutdown_request`, `sigterm` or `sigkill`;
    /// for `reason: "failed"`, `exited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<String>,
    /// Restarts before it failed (lattice), for `reason: "failed"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u32>,
}

/// Data of `provider_restarted` (lattice extension): the process ended unexpectedly, or
/// failed its health checks, and is being started again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRestarted {
    /// Host ID.
    pub host_id: String,
    /// Provider ID.
    pub provider_id: String,
    /// Why: `exited` or `unhealthy`.
    pub reason: String,
    /// How the previous process ended, e.g. `exit status: 3` or `signal: 9 (SIGKILL)`.
    pub exit_status: String,
    /// Its exit code, if it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Restarts so far, this one included.
    pub restarts: u32,
    /// Milliseconds until the new process starts.
    pub delay_ms: u64,
}

/// Data of `linkdef_set_failed`: the link and the error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkdefSetFailed {
    /// The link that was not set.
    #[serde(flatten)]
    pub link: crate::link::Link,
    /// Why.
    pub error: String,
}

/// Data of `linkdef_deleted`: the whole link if it existed, else its identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkdefDeleted {
    /// Source of the link.
    pub source_id: String,
    /// Target, if the link existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Link name.
    pub name: String,
    /// WIT namespace.
    pub wit_namespace: String,
    /// WIT package.
    pub wit_package: String,
    /// Interfaces, if the link existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interfaces: Option<Vec<String>>,
}

/// Data of `config_set` and `config_deleted`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChanged {
    /// The config name.
    pub config_name: String,
}

/// Data of the `health_check_*` events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Host ID.
    pub host_id: String,
    /// Provider ID.
    pub provider_id: String,
}

/// Data of `provider_link_failed` (lattice extension).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderLinkFailed {
    /// Host ID.
    pub host_id: String,
    /// The provider that could not apply the link.
    pub provider_id: String,
    /// The link's source.
    pub source_id: String,
    /// The link's target.
    pub target: String,
    /// The link's name.
    pub name: String,
    /// `wit_namespace` of the link.
    pub wit_namespace: String,
    /// `wit_package` of the link.
    pub wit_package: String,
    /// What went wrong.
    pub reason: String,
}

/// Data of `artifact_pull_progress` (lattice extension).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactPullProgress {
    /// Host ID.
    pub host_id: String,
    /// The reference being pulled, as the start command gave it.
    pub reference: String,
    /// The layer being downloaded (`sha256:…`).
    pub digest: String,
    /// Bytes received so far.
    pub bytes: u64,
    /// The layer's size.
    pub total: u64,
    /// Average download rate so far.
    pub bytes_per_second: u64,
    /// True once every byte is in and its digest checked.
    pub done: bool,
}

/// Data of `artifact_unsigned` (lattice extension).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactUnsigned {
    /// Host ID.
    pub host_id: String,
    /// `provider` or `component`.
    pub kind: String,
    /// The provider's or component's ID.
    pub id: String,
    /// Its reference, as the start command gave it.
    pub reference: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_type_id_and_time() {
        let ev = Event::HostStopped(HostStopped::default());
        let ce = CloudEvent::new("NHOST", &ev);
        assert_eq!(ce.ty, "com.wasmcloud.lattice.host_stopped");
        assert_eq!(ce.event_name(), "host_stopped");
        assert!(uuid::Uuid::parse_str(&ce.id).is_ok());
        let t = ce.time.as_deref().unwrap();
        assert!(t.ends_with('Z'), "{t}");
        assert!(OffsetDateTime::parse(t, &Rfc3339).is_ok());
        assert_eq!(ce.decode().unwrap(), ev);
    }

    #[test]
    fn ids_carry_a_time_ordered_ulid() {
        let ev = Event::HostStopped(HostStopped::default());
        let millis = |id: &str| {
            let u = uuid::Uuid::parse_str(id).unwrap();
            ulid::Ulid::from(u.as_u128()).timestamp_ms()
        };
        let a = millis(&CloudEvent::new("N", &ev).id);
        let b = millis(&CloudEvent::new("N", &ev).id);
        assert!(a <= b, "{a} > {b}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(now.abs_diff(b) < 60_000, "the ULID holds the current time");
    }

    #[test]
    fn unknown_events_round_trip_raw() {
        let data = serde_json::json!({"config_name":"x"});
        let ev = Event::decode("config_set", data.clone()).unwrap();
        assert_eq!(ev.name(), "config_set");
        assert_eq!(ev.data(), data);
    }
}
