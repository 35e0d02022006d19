//! What a scale request asks for, once checked ([`ComponentSpec`]), and why a scale can
//! fail ([`ScaleError`], whose text is `component_scale_failed`'s `error`).

use std::collections::BTreeMap;
use std::time::Duration;

use lattice_proto::ctl::ScaleComponentCommand;
use lattice_runtime::ComponentLimits;

use crate::artifacts::ArtifactError;

/// Why a component could not be started, rescaled or updated; `Display` is the
/// `error` of `component_scale_failed`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScaleError {
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Config(#[from] crate::lattice::BootstrapError),
    #[error("cannot compile the component: {0}")]
    Load(#[from] lattice_runtime::LoadError),
    /// Its text already says what failed ("cannot link the component: …").
    #[error(transparent)]
    Prepare(#[from] lattice_runtime::PrepareError),
    #[error("cannot link the component: {0}")]
    Link(String),
    #[error("the engine refused the component: {0}")]
    Runtime(#[from] lattice_runtime::RuntimeError),
    #[error("cannot serve the component's exports: {0}")]
    Serve(String),
    #[error("a component runs with a count of at least 1")]
    ZeroCount,
    #[error("invalid component_limits: {0}")]
    Limits(String),
    #[error("invalid component claims: {0}")]
    Claims(#[from] crate::artifacts::ClaimsError),
    #[error("cannot store the component's claims: {0}")]
    StoreClaims(String),
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyDenied),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::ResolveError),
}

/// What a scale request asks for, once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ComponentSpec {
    pub(crate) id: String,
    /// The reference as sent.
    pub(crate) reference: String,
    pub(crate) count: u32,
    pub(crate) config: Vec<String>,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) limits: ComponentLimits,
    /// The limits as the request gave them, for inventory.
    pub(crate) limits_text: Option<BTreeMap<String, String>>,
}

impl ComponentSpec {
    /// Checks a scale request.
    pub(crate) fn from_scale(command: ScaleComponentCommand) -> Result<Self, ScaleError> {
        let limits = parse_limits(command.component_limits.as_ref())?;
        Ok(ComponentSpec {
            id: command.component_id,
            reference: command.component_ref,
            count: command.max_instances,
            config: command.config,
            annotations: command.annotations.unwrap_or_default(),
            limits,
            limits_text: command.component_limits,
        })
    }
}

/// `component_limits`: `max_memory_limit` in bytes, `max_execution_time` in seconds.
fn parse_limits(limits: Option<&BTreeMap<String, String>>) -> Result<ComponentLimits, ScaleError> {
    let mut parsed = ComponentLimits::default();
    let Some(limits) = limits else {
        return Ok(parsed);
    };
    for (key, value) in limits {
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| ScaleError::Limits(format!("`{key}` = `{value}`: {e}")))
        };
        match key.as_str() {
            "max_memory_limit" => parsed.max_memory_bytes = Some(number()?),
            "max_execution_time" => {
                parsed.max_execution_time = Some(Duration::from_secs(number()?))
            }
            other => {
                return Err(ScaleError::Limits(format!(
                    "unknown key `{other}` (expected max_memory_limit, max_execution_time)"
                )));
            }
        }
    }
    Ok(parsed)
}
