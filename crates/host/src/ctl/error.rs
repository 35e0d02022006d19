//! Every way a control request can fail, and the one place that turns a failure into
//! its reply text.

use lattice_proto::CtlResponse;

/// A control request that cannot be carried out. `Display` is the reply message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CtlError {
    /// The subject names no operation this host serves (the 1.x wording).
    #[error("unsupported subject")]
    Unsupported,
    /// The payload is larger than the host accepts.
    #[error("payload of {size} bytes exceeds this host's {limit}-byte limit for control requests")]
    TooLarge { size: usize, limit: usize },
    /// The payload is empty where a document is required.
    #[error("invalid {op} request: the payload is empty; expected {expected}")]
    Empty {
        op: &'static str,
        expected: &'static str,
    },
    /// The payload is not the expected JSON document.
    #[error("invalid {op} request: {source}")]
    Malformed {
        op: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The body names another host.
    #[error("host ID mismatch: the request names {requested} but this host is {actual}")]
    WrongHost { requested: String, actual: String },
    /// `hostcore.*` labels belong to the host (the 1.x wording).
    #[error("hostcore.* labels cannot be set dynamically")]
    ReservedLabel,
    /// A label key is empty.
    #[error("invalid label: the key must not be empty")]
    EmptyLabelKey,
    /// A request that is well formed but cannot be carried out.
    #[error("invalid {op} request: {reason}")]
    Invalid { op: &'static str, reason: String },
    /// An unknown `component.{op}`.
    #[error(
        "component.{0} is not a control operation (expected component.scale, component.update or component.auction)"
    )]
    ComponentsUnsupported(String),
    /// The host is shutting down.
    #[error("the host is shutting down")]
    ShuttingDown,
    /// A required field is empty.
    #[error("invalid {op} request: `{field}` must not be empty")]
    MissingField {
        op: &'static str,
        field: &'static str,
    },
    /// A provider ID cannot be used in subjects.
    #[error(
        "invalid provider ID `{0}`: it must be one NATS subject token (no `.`, `*`, `>` or spaces)"
    )]
    BadProviderId(String),
    /// The 1.x wording.
    #[error("provider with that ID is already running")]
    AlreadyRunning,
    /// The 1.x wording.
    #[error("provider with that ID is not running")]
    NotRunning,
    /// A link operation failed.
    #[error(transparent)]
    Link(#[from] crate::lattice::links::LinkError),
    /// A config operation failed.
    #[error(transparent)]
    Config(#[from] crate::lattice::named_config::NamedConfigError),
    /// A builtin provider that is off, unknown or not built.
    #[error(transparent)]
    Builtin(#[from] crate::builtins::BuiltinRefused),
}

impl From<crate::providers::StartRefused> for CtlError {
    fn from(refused: crate::providers::StartRefused) -> Self {
        match refused {
            crate::providers::StartRefused::AlreadyRunning => CtlError::AlreadyRunning,
            crate::providers::StartRefused::ShuttingDown => CtlError::ShuttingDown,
            crate::providers::StartRefused::Builtin(refused) => CtlError::Builtin(refused),
        }
    }
}

impl From<crate::error::HostError> for CtlError {
    fn from(_: crate::error::HostError) -> Self {
        CtlError::ShuttingDown
    }
}

impl CtlError {
    /// The reply body: `{"success":false,"message":"…"}`.
    pub(crate) fn to_reply(&self) -> Vec<u8> {
        serde_json::to_vec(&CtlResponse::error(self.to_string())).expect("replies always encode")
    }
}

/// Decodes a JSON request body, naming the operation when it is wrong.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    op: &'static str,
    expected: &'static str,
    payload: &[u8],
) -> Result<T, CtlError> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Err(CtlError::Empty { op, expected });
    }
    serde_json::from_slice(payload).map_err(|source| CtlError::Malformed { op, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_carry_the_message() {
        let reply: serde_json::Value =
            serde_json::from_slice(&CtlError::ReservedLabel.to_reply()).unwrap();
        assert_eq!(
            reply,
            serde_json::json!({"success":false,"message":"hostcore.* labels cannot be set dynamically"})
        );
    }

    #[test]
    fn decode_names_the_operation() {
        let err =
            decode::<lattice_proto::ctl::HostLabel>("label.put", "a HostLabel", b"{\"key\":1}")
                .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid label.put request: invalid type"),
            "{err}"
        );
        let err =
            decode::<lattice_proto::ctl::HostLabel>("label.put", "a HostLabel", b"").unwrap_err();
        assert!(err.to_string().contains("payload is empty"), "{err}");
    }
}
