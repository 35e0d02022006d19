//! HostData: the bootstrap document a host hands a provider on stdin (spec §1).
//!
//! It travels as one line of padded standard base64 of its JSON, followed by `\r\n`
//! ([`HostData::to_stdin_line`]); the provider reads it back with
//! [`HostData::from_stdin_line`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::link::InterfaceLinkDefinition;

/// The bootstrap document for one provider process (`wasmcloud_core::HostData`).
///
/// `env_values` and `link_definitions` are required on decode, as in the official
/// decoder; every other field has a default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostData {
    /// Public nkey (`N…`) of the host that started the provider.
    #[serde(default)]
    pub host_id: String,
    /// Lattice name, used in every provider subject.
    #[serde(default)]
    pub lattice_rpc_prefix: String,
    /// Always `"default"` (legacy).
    #[serde(default)]
    pub link_name: String,
    /// NATS user JWT of the host's rpc connection, or `""`.
    #[serde(default)]
    pub lattice_rpc_user_jwt: String,
    /// NATS user nkey seed of the rpc connection, or `""`.
    #[serde(default)]
    pub lattice_rpc_user_seed: String,
    /// The rpc NATS URL.
    #[serde(default)]
    pub lattice_rpc_url: String,
    /// The provider ID from the start command.
    #[serde(default)]
    pub provider_key: String,
    /// Always `{}` from wasmCloud hosts; required on decode.
    pub env_values: BTreeMap<String, String>,
    /// Fresh UUID v4 on every spawn.
    #[serde(default)]
    pub instance_id: String,
    /// Links in which the provider is source or target, resolved. Required on decode.
    pub link_definitions: Vec<InterfaceLinkDefinition>,
    /// Always `[]`.
    #[serde(default)]
    pub cluster_issuers: Vec<String>,
    /// Merged named config of the provider.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Plaintext secrets resolved from the provider's `SECRET*` config names.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretValue>,
    /// The host's curve xkey public key (`X…`).
    #[serde(default)]
    pub host_xkey_public_key: String,
    /// Seed (`SX…`) of the curve xkey generated for this provider.
    #[serde(default)]
    pub provider_xkey_private_key: String,
    /// The host's rpc timeout in milliseconds; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_rpc_timeout_ms: Option<u64>,
    /// Whether the host asks for structured (JSON) logs.
    #[serde(default)]
    pub structured_logging: bool,
    /// Log level for the provider; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<Level>,
    /// OpenTelemetry settings copied from the host.
    #[serde(default)]
    pub otel_config: OtelConfig,
}

/// Why a stdin line could not be read as HostData.
#[derive(Debug, thiserror::Error)]
pub enum HostDataDecodeError {
    /// The line was empty (after trimming whitespace).
    #[error("stdin is empty: expected one line of base64-encoded HostData")]
    Empty,
    /// The line is not padded standard base64.
    #[error("HostData is not valid padded standard base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The decoded bytes are not a HostData JSON document.
    #[error("HostData JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
}

impl HostData {
    /// Encodes the document as the provider reads it: padded standard base64 of the
    /// JSON, followed by `\r\n`.
    pub fn to_stdin_line(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).expect("HostData always serializes");
        let mut line = STANDARD.encode(json).into_bytes();
        line.extend_from_slice(b"\r\n");
        line
    }

    /// Decodes one stdin line (surrounding whitespace ignored), exactly as the
    /// official provider SDK does: unpadded base64 is rejected.
    pub fn from_stdin_line(line: &[u8]) -> Result<Self, HostDataDecodeError> {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            return Err(HostDataDecodeError::Empty);
        }
        let json = STANDARD.decode(trimmed)?;
        Ok(serde_json::from_slice(&json)?)
    }
}

/// A secret value in HostData or in sealed link secrets. `Debug` shows its kind and
/// length, never the value, so a secret cannot reach a log by way of `{:?}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value")]
pub enum SecretValue {
    /// A UTF-8 secret.
    String(String),
    /// A binary secret, encoded as a JSON array of numbers.
    Bytes(Vec<u8>),
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretValue::String(s) => write!(f, "String(<{} bytes hidden>)", s.len()),
            SecretValue::Bytes(b) => write!(f, "Bytes(<{} bytes hidden>)", b.len()),
        }
    }
}

/// Log level, spelled lowercase on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// `error`
    Error,
    /// `warn`
    Warn,
    /// `info` (the default)
    #[default]
    Info,
    /// `debug`
    Debug,
    /// `trace`
    Trace,
    /// `critical`
    Critical,
}

impl Level {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
            Level::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Ok(Level::Error),
            "warn" | "warning" => Ok(Level::Warn),
            "info" => Ok(Level::Info),
            "debug" => Ok(Level::Debug),
            "trace" => Ok(Level::Trace),
            "critical" => Ok(Level::Critical),
            other => Err(format!(
                "unknown log level `{other}` (expected error, warn, info, debug, trace or critical)"
            )),
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// OTLP transport, serialized capitalized (`Http`, `Grpc`); lowercase is accepted on decode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OtelProtocol {
    /// gRPC
    #[serde(alias = "grpc")]
    Grpc,
    /// HTTP (the default)
    #[default]
    #[serde(alias = "http")]
    Http,
}

/// OpenTelemetry settings passed to providers (`wasmcloud_core::OtelConfig`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtelConfig {
    /// Master switch.
    #[serde(default)]
    pub enable_observability: bool,
    /// Traces switch; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_traces: Option<bool>,
    /// Metrics switch; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_metrics: Option<bool>,
    /// Logs switch; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_logs: Option<bool>,
    /// Endpoint for all signals; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observability_endpoint: Option<String>,
    /// Traces endpoint; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces_endpoint: Option<String>,
    /// Metrics endpoint; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_endpoint: Option<String>,
    /// Logs endpoint; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_endpoint: Option<String>,
    /// OTLP transport.
    #[serde(default)]
    pub protocol: OtelProtocol,
    /// Extra CA certificates.
    #[serde(default)]
    pub additional_ca_paths: Vec<PathBuf>,
    /// Trace level.
    #[serde(default)]
    pub trace_level: Level,
    /// Sampler name; hosts never set it for providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces_sampler: Option<String>,
    /// Sampler argument; hosts never set it for providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces_sampler_arg: Option<String>,
    /// Batch queue size; hosts never set it for providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch_queue_size: Option<usize>,
    /// Concurrent exports; hosts never set it for providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_exports: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_requires_env_values_then_link_definitions() {
        let err = serde_json::from_str::<HostData>("{}").unwrap_err();
        assert!(
            err.to_string().contains("missing field `env_values`"),
            "{err}"
        );
        let err = serde_json::from_str::<HostData>(r#"{"env_values":{}}"#).unwrap_err();
        assert!(
            err.to_string().contains("missing field `link_definitions`"),
            "{err}"
        );
        let ok: HostData =
            serde_json::from_str(r#"{"env_values":{},"link_definitions":[]}"#).unwrap();
        assert_eq!(ok.otel_config.protocol, OtelProtocol::Http);
        assert_eq!(ok.log_level, None);
    }

    #[test]
    fn stdin_line_is_padded_base64_with_crlf() {
        let data = HostData {
            provider_key: "p".into(),
            ..Default::default()
        };
        let line = data.to_stdin_line();
        assert!(line.ends_with(b"\r\n"));
        let body = &line[..line.len() - 2];
        assert!(!body.contains(&b'\n'));
        assert_eq!(
            body.len() % 4,
            0,
            "padded base64 has a length divisible by 4"
        );
        assert_eq!(HostData::from_stdin_line(&line).unwrap(), data);
    }

    #[test]
    fn unpadded_and_empty_lines_are_rejected() {
        let line = HostData::default().to_stdin_line();
        let text = String::from_utf8(line).unwrap();
        let unpadded = text.trim_end().trim_end_matches('=');
        assert_ne!(
            unpadded.len(),
            text.trim_end().len(),
            "test needs a padded line"
        );
        assert!(matches!(
            HostData::from_stdin_line(unpadded.as_bytes()),
            Err(HostDataDecodeError::Base64(_))
        ));
        assert!(matches!(
            HostData::from_stdin_line(b" \r\n"),
            Err(HostDataDecodeError::Empty)
        ));
    }

    #[test]
    fn omitted_when_none_fields_are_absent() {
        let json = serde_json::to_value(HostData::default()).unwrap();
        let obj = json.as_object().unwrap();
        assert!(!obj.contains_key("default_rpc_timeout_ms"));
        assert!(!obj.contains_key("log_level"));
        let otel = obj["otel_config"].as_object().unwrap();
        assert_eq!(otel["protocol"], "Http");
        assert_eq!(otel["trace_level"], "info");
        assert!(!otel.contains_key("enable_traces"));
    }

    #[test]
    fn protocol_accepts_lowercase_and_serializes_capitalized() {
        let p: OtelProtocol = serde_json::from_str(r#""grpc""#).unwrap();
        assert_eq!(p, OtelProtocol::Grpc);
        assert_eq!(serde_json::to_string(&p).unwrap(), r#""Grpc""#);
    }

    #[test]
    fn secret_values_are_tagged() {
        assert!(!format!("{:?}", SecretValue::String("hunter2".into())).contains("hunter2"));
        let s = serde_json::to_string(&SecretValue::Bytes(vec![1, 2])).unwrap();
        assert_eq!(s, r#"{"kind":"Bytes","value":[1,2]}"#);
    }
}
