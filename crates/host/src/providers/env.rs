//! What a provider supervisor may use: the few handles it needs, built before the host
//! context, so no supervisor reaches the control server, the labels or the table that
//! spawned it (it reports its end on the channel it is handed).

use std::sync::Arc;

use lattice_proto::subjects::ProviderSubjects;

use super::ProviderSettings;
use super::host_data::HostDataTemplate;
use crate::artifacts::Artifacts;
use crate::events::EventPublisher;
use crate::lattice::LatticeState;
use crate::metrics::Metrics;

/// The narrow environment of every provider supervisor on one host. Cheap to clone.
#[derive(Clone)]
pub(crate) struct SupervisorEnv(Arc<Inner>);

pub(crate) struct Inner {
    /// The rpc connection: health checks and shutdown requests.
    pub(crate) rpc: async_nats::Client,
    /// Moves when the rpc connection is back after a loss ([`lattice_nats::reconnects`]).
    pub(crate) reconnects: tokio::sync::watch::Receiver<u64>,
    /// The ctl connection: the live log subject.
    pub(crate) ctl: async_nats::Client,
    pub(crate) events: EventPublisher,
    pub(crate) metrics: Metrics,
    pub(crate) lattice: LatticeState,
    pub(crate) artifacts: Artifacts,
    /// Asked before a provider starts.
    pub(crate) policy: crate::policy::Policy,
    /// Secrets for providers' `SECRET*` config names.
    pub(crate) secrets: crate::secrets::HostSecrets,
    pub(crate) settings: ProviderSettings,
    pub(crate) host_data: HostDataTemplate,
    pub(crate) subjects: ProviderSubjects,
    /// `{ctl_prefix}` of the live log subject.
    pub(crate) ctl_prefix: String,
    /// What builtin providers may use, and which are on.
    pub(crate) builtins: crate::builtins::BuiltinEnv,
}

impl SupervisorEnv {
    pub(crate) fn new(inner: Inner) -> Self {
        SupervisorEnv(Arc::new(inner))
    }

    /// This host's ID.
    pub(crate) fn host_id(&self) -> &str {
        &self.0.host_data.host_id
    }
}

impl std::ops::Deref for SupervisorEnv {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
